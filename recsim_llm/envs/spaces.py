"""The slate action space: k *distinct* item ids.

A plain ``MultiDiscrete([n_items] * k)`` samples slates with repeated items, which the simulator
rejects; :class:`SlateSpace` is a ``MultiDiscrete`` (so SB3 and Gymnasium's checkers accept it)
whose ``sample`` draws without replacement and whose ``contains`` rejects duplicates.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces


class SlateSpace(spaces.MultiDiscrete):
    """Slates of ``slate_size`` distinct ids in ``[0, n_items)``; shape [slate_size] or
    [n_slates, slate_size] for a batch."""

    def __init__(self, n_items: int, slate_size: int, n_slates: int | None = None,
                 seed: int | np.random.Generator | None = None) -> None:
        if slate_size > n_items:
            raise ValueError(f"slate_size {slate_size} exceeds n_items {n_items}")
        shape = (slate_size,) if n_slates is None else (n_slates, slate_size)
        super().__init__(np.full(shape, n_items, dtype=np.int64), dtype=np.int64, seed=seed)
        self.n_items, self.slate_size, self.n_slates = n_items, slate_size, n_slates

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        if mask is not None or probability is not None:
            return super().sample(mask=mask, probability=probability)
        rows = 1 if self.n_slates is None else self.n_slates
        keys = self.np_random.random((rows, self.n_items))
        out = np.argpartition(keys, self.slate_size - 1, axis=1)[:, : self.slate_size]
        return out[0].astype(np.int64) if self.n_slates is None else out.astype(np.int64)

    def contains(self, x: Any) -> bool:
        if not super().contains(x):
            return False
        arr = np.sort(np.asarray(x).reshape(-1, self.slate_size), axis=1)
        return bool(not np.any(arr[:, 1:] == arr[:, :-1]))

    def __repr__(self) -> str:
        batch = "" if self.n_slates is None else f", n_slates={self.n_slates}"
        return f"SlateSpace(n_items={self.n_items}, slate_size={self.slate_size}{batch})"

    def __eq__(self, other: Any) -> bool:
        return (isinstance(other, SlateSpace) and self.n_items == other.n_items
                and self.slate_size == other.slate_size and self.n_slates == other.n_slates)

    __hash__ = None  # type: ignore[assignment]
