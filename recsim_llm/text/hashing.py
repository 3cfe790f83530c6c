"""A dependency-free, deterministic text encoder based on signed feature hashing.

Useful for fast tests and as a lexical baseline: lower-cased word unigrams and bigrams are hashed
into ``dim`` buckets with a sign, weighted by sublinear term frequency, and L2-normalised.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from recsim_llm.text.base import FloatArray

_TOKEN_RE = re.compile(r"\w+")


class HashingEncoder:
    """Signed feature hashing of word unigrams + bigrams with ``1 + log(tf)`` weights.

    Hashes come from ``hashlib.blake2b`` keyed by the seed, so vectors are identical across
    processes and machines (Python's ``hash()`` is salted per process and must not be used).

    Args:
        dim: Number of hash buckets (embedding width), >= 1.
        seed: Selects an independent hash function; different seeds give different embeddings.

    Raises:
        ValueError: If ``dim < 1`` or ``seed < 0``.
    """

    def __init__(self, dim: int = 256, seed: int = 0) -> None:
        if int(dim) != dim or dim < 1:
            raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
        if int(seed) != seed or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self._dim = int(dim)
        self._seed = int(seed)
        # blake2b accepts a key of up to 64 bytes; keying by the seed gives independent hashes.
        self._key = self._seed.to_bytes(8, "little")
        # feature string -> (bucket, sign); vocabularies are small, so this is a big speed-up.
        self._feature_cache: dict[str, tuple[int, float]] = {}
        self._empty = self._empty_vector()

    @property
    def identity(self) -> str:
        """``hashing:d{dim}:s{seed}``."""
        return f"hashing:d{self._dim}:s{self._seed}"

    @property
    def dim(self) -> int:
        """Embedding width."""
        return self._dim

    @property
    def seed(self) -> int:
        """Hash seed."""
        return self._seed

    def _hash(self, feature: str) -> tuple[int, float]:
        """Bucket and sign of one feature string (memoised)."""
        hit = self._feature_cache.get(feature)
        if hit is not None:
            return hit
        h = int.from_bytes(
            hashlib.blake2b(feature.encode("utf-8"), digest_size=8, key=self._key).digest(),
            "little",
        )
        # Low bit -> sign, remaining bits -> bucket, so sign and bucket are independent.
        entry = ((h >> 1) % self._dim, 1.0 if h & 1 else -1.0)
        self._feature_cache[feature] = entry
        return entry

    def _empty_vector(self) -> FloatArray:
        """Fixed unit vector for texts without tokens, derived from the seed only.

        A constant (rather than zeros) keeps the unit-norm contract and cosine similarities finite.
        """
        rng = np.random.default_rng([self._seed, 0x5EED])
        v = rng.standard_normal(self._dim)
        v /= np.linalg.norm(v)
        return v.astype(np.float32)

    @staticmethod
    def tokenize(text: str) -> list[str]:
        """Lower-cased ``\\w+`` tokens of ``text``."""
        return _TOKEN_RE.findall(text.lower())

    def _features(self, text: str) -> Counter[str]:
        """Unigram and bigram counts; bigrams get a separator no ``\\w`` token can contain."""
        tokens = self.tokenize(text)
        feats: Counter[str] = Counter(tokens)
        feats.update(f"{a} {b}" for a, b in itertools.pairwise(tokens))
        return feats

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """Embed ``texts``.

        Args:
            texts: n strings.

        Returns:
            float32 array of shape [n, dim] with unit-norm rows.
        """
        if isinstance(texts, str):
            raise TypeError("encode expects a sequence of strings, not a single string")
        n = len(texts)
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for i, text in enumerate(texts):
            for feat, tf in self._features(str(text)).items():
                col, sign = self._hash(feat)
                rows.append(i)
                cols.append(col)
                vals.append(sign * (1.0 + math.log(tf)))
        # Flat bincount accumulates colliding features (np.add.at semantics, but faster).
        flat = np.asarray(rows, dtype=np.int64) * self._dim + np.asarray(cols, dtype=np.int64)
        # (astype: bincount returns int64 when there are no features at all.)
        out = (
            np.bincount(flat, weights=np.asarray(vals, dtype=np.float64), minlength=n * self._dim)
            .astype(np.float64, copy=False)
            .reshape(n, self._dim)
        )
        norms = np.linalg.norm(out, axis=1)
        # Rows with no tokens, or whose signed features cancelled exactly, get the fixed vector.
        empty = norms <= 1e-12
        out[~empty] /= norms[~empty, None]
        result = out.astype(np.float32)
        result[empty] = self._empty
        return result

    def __repr__(self) -> str:
        return f"HashingEncoder(dim={self._dim}, seed={self._seed})"
