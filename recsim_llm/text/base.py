"""The text-encoder protocol: texts in, unit-norm float32 embeddings out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


@runtime_checkable
class TextEncoder(Protocol):
    """Anything that turns texts into L2-normalised vectors.

    ``identity`` names the encoder *and its weights/settings* so that an embedding cache keyed by
    (identity, text) never mixes two encoders.
    """

    @property
    def identity(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """Embed ``texts``; returns shape [len(texts), dim], float32, rows of unit norm."""
        ...
