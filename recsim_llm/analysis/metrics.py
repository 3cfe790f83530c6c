"""Metrics as pure functions of arrays (formulas in ``docs/metrics.md``)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating]


def gini(x: npt.ArrayLike) -> float:
    """Gini coefficient of non-negative amounts, in [0, 1) (0 = perfectly equal).

    ``G = sum_i (2i - n - 1) x_(i) / (n sum x)`` over the sorted values, i = 1..n. Zero total -> 0.
    """
    v = np.sort(np.asarray(x, dtype=np.float64).ravel())
    n, total = v.size, v.sum()
    if n == 0 or total <= 0:
        return 0.0
    if np.any(v < 0):
        raise ValueError("gini needs non-negative amounts")
    i = np.arange(1, n + 1)
    return float(np.sum((2 * i - n - 1) * v) / (n * total))


def intra_list_diversity(slate_mean_emb: FloatArray, k: int) -> FloatArray:
    """ILD of each slate, ``1 - mean pairwise cosine`` of its k unit-norm item embeddings.

    Uses ``|sum e|^2 = k + 2 sum_{i<j} cos_ij`` so it needs only the slate's mean embedding.

    Args:
        slate_mean_emb: [m, d] mean embedding of each slate.
        k: slate size (>= 2; a one-item slate has ILD 0).
    Returns:
        [m] ILD values.
    """
    if k < 2:
        return np.zeros(len(slate_mean_emb))
    sq = (k * k) * np.einsum("md,md->m", slate_mean_emb, slate_mean_emb)
    return 1.0 - (sq - k) / (k * (k - 1))


def entropy_bits(counts: FloatArray, axis: int = -1) -> FloatArray:
    """Shannon entropy (bits) of count vectors along ``axis``; all-zero rows give 0."""
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum(axis=axis, keepdims=True)
    p = c / np.where(total > 0, total, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log2(p), 0.0)
    return terms.sum(axis=axis)


def mean_pairwise_cosine(vectors: FloatArray) -> float:
    """Mean cosine over distinct pairs of unit vectors: ``(|sum v|^2 - n) / (n (n - 1))``.

    O(n d): no pairwise matrix is formed.
    """
    v = np.asarray(vectors, dtype=np.float64)
    n = len(v)
    if n < 2:
        return float("nan")
    s = v.sum(axis=0)
    return float((s @ s - np.einsum("nd,nd->", v, v)) / (n * (n - 1)))


def coverage(impressions: npt.ArrayLike) -> float:
    """Share of items shown at least once."""
    imp = np.asarray(impressions)
    return float((imp > 0).mean()) if imp.size else 0.0


def dedupe_rows(sets: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Rows of item ids (-1 = empty) with repeated ids within a row replaced by -1, sorted."""
    srt = np.sort(sets, axis=1)
    dup = np.zeros_like(srt, dtype=bool)
    dup[:, 1:] = srt[:, 1:] == srt[:, :-1]
    return np.where(dup, -1, srt)


def jaccard_rows(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> FloatArray:
    """Jaccard similarity of the item sets in rows of ``a`` and ``b`` ([n, r], -1 = empty).

    Returns [n] values; rows where both sets are empty give NaN.
    """
    a, b = dedupe_rows(a), dedupe_rows(b)
    inter = ((a[:, :, None] == b[:, None, :]) & (a[:, :, None] >= 0)).sum(axis=(1, 2))
    size_a, size_b = (a >= 0).sum(axis=1), (b >= 0).sum(axis=1)
    union = size_a + size_b - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.maximum(union, 1), np.nan)


def nearest_neighbours(vectors: FloatArray) -> npt.NDArray[np.int64]:
    """Index of each row's most cosine-similar other row (rows unit norm), shape [n]."""
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return sims.argmax(axis=1)
