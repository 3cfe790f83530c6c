"""Confidence intervals across seeds."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats as sps

# --------------------------------------------------------------------------- intervals


def _crit(level: float, dof: npt.ArrayLike, method: str = "t") -> np.ndarray:
    """Two-sided critical value; NaN where dof < 1 (fewer than two observations)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    dof = np.asarray(dof, dtype=np.float64)
    q = (1.0 + level) / 2.0
    if method == "t":
        return np.where(dof >= 1, sps.t.ppf(q, np.maximum(dof, 1)), np.nan)
    if method in ("normal", "z"):
        return np.where(dof >= 1, sps.norm.ppf(q), np.nan)
    raise ValueError(f"method must be 't' or 'normal', got {method!r}")


def mean_ci(values: npt.ArrayLike, level: float = 0.95,
            method: str = "t") -> tuple[float, float, float]:
    """Mean and confidence interval of independent replicates (e.g. one value per seed).

    ``mean +- q * s / sqrt(n)`` with ``s`` the sample standard deviation (ddof=1) and ``q`` the
    Student-t quantile with n-1 degrees of freedom (``method="t"``) or the normal one
    (``"normal"``). NaNs are dropped first.

    Args:
        values: the replicates.
        level: confidence level in (0, 1).
        method: "t" or "normal".
    Returns:
        (mean, lo, hi); lo = hi = NaN for one value, all NaN for none.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[~np.isnan(v)]
    n = v.size
    if n == 0:
        return (math.nan, math.nan, math.nan)
    m = float(v.mean())
    if n == 1:
        _crit(level, 0, method)  # still validate the arguments
        return (m, math.nan, math.nan)
    half = float(_crit(level, n - 1, method)) * float(v.std(ddof=1)) / math.sqrt(n)
    return (m, m - half, m + half)


def bootstrap_ci(values: npt.ArrayLike, level: float = 0.95, n_boot: int = 2000,
                 rng: np.random.Generator | None = None) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap confidence interval.

    Args:
        values: the replicates (NaNs dropped).
        level: confidence level in (0, 1).
        n_boot: bootstrap resamples.
        rng: an explicit generator, e.g. ``np.random.default_rng(0)``; required so results are
            reproducible (the global NumPy RNG is never used).
    Returns:
        (mean, lo, hi); lo = hi = NaN for fewer than two values.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError("bootstrap_ci needs rng=np.random.default_rng(seed), "
                        f"got {type(rng).__name__}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot!r}")
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[~np.isnan(v)]
    if v.size == 0:
        return (math.nan, math.nan, math.nan)
    if v.size == 1:
        return (float(v[0]), math.nan, math.nan)
    means = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return (float(v.mean()), float(lo), float(hi))


def _summarise(grouped: pd.api.typing.SeriesGroupBy, level: float) -> pd.DataFrame:
    """mean / lo / hi / n_seeds of each group (t interval), vectorised over groups."""
    agg = grouped.agg(["mean", "std", "count"])
    half = _crit(level, agg["count"].to_numpy() - 1) * agg["std"].to_numpy() / np.sqrt(
        np.maximum(agg["count"].to_numpy(), 1))
    out = pd.DataFrame({"mean": agg["mean"], "lo": agg["mean"] - half,
                        "hi": agg["mean"] + half, "n_seeds": agg["count"].astype(np.int64)},
                       index=agg.index)
    return out.reset_index()


