"""Text layer: encoders that embed item descriptions and user personas, a disk cache, and PCA.

Importing this package is cheap: torch and transformers are imported only when a transformer
encoder first encodes.
"""

from __future__ import annotations

from pathlib import Path

from recsim_llm.text.base import FloatArray, TextEncoder
from recsim_llm.text.cache import CachedEncoder, EmbeddingCache, default_cache_dir
from recsim_llm.text.hashing import HashingEncoder
from recsim_llm.text.projection import PCAProjection
from recsim_llm.text.transformer import TransformerEncoder, default_model_path

__all__ = [
    "CachedEncoder",
    "EmbeddingCache",
    "FloatArray",
    "HashingEncoder",
    "PCAProjection",
    "TextEncoder",
    "TransformerEncoder",
    "default_cache_dir",
    "default_model_path",
    "make_encoder",
]

_SPEC_FORMS = (
    "'minilm' (bundled all-MiniLM-L6-v2), 'hashing' or 'hashing:<dim>' (e.g. 'hashing:128'), "
    "or the path of an existing local Hugging Face model folder"
)


def make_encoder(spec: str = "minilm", *, cache: bool | Path | str = True) -> TextEncoder:
    """Build a text encoder from a short spec string.

    Args:
        spec: ``"minilm"`` for the bundled all-MiniLM-L6-v2 :class:`TransformerEncoder`;
            ``"hashing"`` / ``"hashing:<dim>"`` for a :class:`HashingEncoder` (default dim 256);
            or an existing local model directory, loaded with :class:`TransformerEncoder`.
        cache: ``True`` wraps the encoder in a :class:`CachedEncoder` on the default cache dir,
            a path uses that cache dir, ``False`` returns the bare encoder.

    Returns:
        The encoder (``identity``, ``dim``, ``encode``).

    Raises:
        ValueError: If ``spec`` matches none of the forms above.
        FileNotFoundError: If the bundled model is missing or the folder has no config.json.
    """
    if not isinstance(spec, str):
        raise ValueError(f"encoder spec must be a string: {_SPEC_FORMS}; got {spec!r}")
    name = spec.strip()
    lowered = name.lower()
    encoder: TextEncoder
    if lowered == "minilm":
        encoder = TransformerEncoder()
    elif lowered == "hashing" or lowered.startswith("hashing:"):
        _, _, dim_text = lowered.partition(":")
        if not dim_text:
            encoder = HashingEncoder()
        elif dim_text.isdigit() and int(dim_text) >= 1:
            encoder = HashingEncoder(dim=int(dim_text))
        else:
            raise ValueError(f"invalid hashing dim in encoder spec {spec!r}; valid: {_SPEC_FORMS}")
    elif name and Path(name).expanduser().is_dir():
        encoder = TransformerEncoder(Path(name).expanduser())
    else:
        raise ValueError(f"unknown encoder spec {spec!r}; valid: {_SPEC_FORMS}")

    if cache is False or cache is None:
        return encoder
    if cache is True:
        return CachedEncoder(encoder)
    return CachedEncoder(encoder, EmbeddingCache(Path(cache)))
