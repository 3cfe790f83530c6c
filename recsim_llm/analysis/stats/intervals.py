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
    Student-t quantile with n-1 degrees of freedom (``method="t"``, from
    :func:`scipy.stats.ttest_1samp`) or the normal one (``"normal"``). NaNs are dropped first.
    This interval ignores any range the quantity has; :func:`range_ci` respects it.

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
    _crit(level, max(n - 1, 0), method)  # validates level and method
    if n == 0:
        return (math.nan, math.nan, math.nan)
    m = float(v.mean())
    if n == 1:
        return (m, math.nan, math.nan)
    if np.all(v == v[0]):
        return (m, m, m)  # no spread: the interval is the point
    if method == "t":
        ci = sps.ttest_1samp(v, 0.0).confidence_interval(confidence_level=level)
        return (m, float(ci.low), float(ci.high))
    half = float(_crit(level, n - 1, method)) * float(v.std(ddof=1)) / math.sqrt(n)
    return (m, m - half, m + half)


def bootstrap_ci(values: npt.ArrayLike, level: float = 0.95, n_boot: int = 2000,
                 rng: np.random.Generator | None = None) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap confidence interval (:func:`scipy.stats.bootstrap`).

    The percentile interval lies within the range of the data, so it never leaves the range of
    the quantity; with few replicates it is too narrow (it cannot reach beyond the extremes).

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
    lo, hi = _bootstrap_rows(v[None, :], level, n_boot, rng)
    return (float(v.mean()), float(lo[0]), float(hi[0]))


def _bootstrap_rows(x: np.ndarray, level: float, n_boot: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Percentile-bootstrap interval of the mean of each row of ``x`` [G, n], vectorised."""
    lo = x.mean(axis=1)
    hi = lo.copy()
    spread = ~np.all(x == x[:, :1], axis=1)  # constant rows: the interval is the point
    if spread.any():
        res = sps.bootstrap((x[spread],), np.mean, axis=-1, vectorized=True,
                            confidence_level=level, n_resamples=n_boot, method="percentile",
                            rng=rng)
        lo[spread] = res.confidence_interval.low
        hi[spread] = res.confidence_interval.high
    return lo, hi


def wilson_ci(successes: npt.ArrayLike, trials: npt.ArrayLike,
              level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion, vectorised; inside [0, 1] always.

    For a proportion over counted trials (e.g. the clicks of one day over its slates).
    ``(p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)``; NaN where ``trials == 0``.
    """
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    z = float(sps.norm.ppf((1.0 + level) / 2.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        den = 1.0 + z * z / n
        centre = (p + z * z / (2 * n)) / den
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    ok = n > 0
    return (np.where(ok, np.clip(centre - half, 0.0, 1.0), np.nan),
            np.where(ok, np.clip(centre + half, 0.0, 1.0), np.nan))


# ------------------------------------------------------------------ range-respecting intervals

BOOTSTRAP_RESAMPLES = 4000
"""resamples of the bootstrap fallback of :func:`range_ci` (fixed seed 0: reproducible)"""


def interval_method(lower: float | None, upper: float | None) -> str:
    """The interval :func:`range_ci` uses for a quantity in [lower, upper], in words."""
    if lower is not None and upper is not None:
        return ("Student-t interval on the logit scale of the range (percentile bootstrap "
                "where a seed sits on a bound)")
    if lower is not None or upper is not None:
        return ("Student-t interval on the log scale (percentile bootstrap where a seed sits "
                "on the bound)")
    return "Student-t interval"


def _to_unbounded(x: np.ndarray, lower: float | None, upper: float | None) -> np.ndarray:
    """logit of the position in [lower, upper], log of the distance to one bound, or x."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if lower is not None and upper is not None:
            u = (x - lower) / (upper - lower)
            return np.log(u) - np.log1p(-u)
        if lower is not None:
            return np.log(x - lower)
        if upper is not None:
            return np.log(upper - x)
    return x


def _from_unbounded(y: np.ndarray, lower: float | None, upper: float | None) -> np.ndarray:
    if lower is not None and upper is not None:
        return lower + (upper - lower) * sps.logistic.cdf(y)
    if lower is not None:
        return lower + np.exp(y)
    if upper is not None:
        return upper - np.exp(y)
    return y


def range_ci_rows(x: np.ndarray, level: float, lower: float | None = None,
                  upper: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`range_ci` of each row of ``x`` [G, n] (NaN entries are not replicates).

    Returns (lo, hi), each [G]; NaN for rows with fewer than two values.
    """
    x = np.asarray(x, dtype=np.float64)
    count = (~np.isnan(x)).sum(axis=1)
    g = x.shape[0]
    lo, hi = np.full(g, np.nan), np.full(g, np.nan)
    y = _to_unbounded(x, lower, upper)
    finite = np.where(np.isnan(x), True, np.isfinite(y)).all(axis=1)  # no seed on a bound
    t_rows = (count >= 2) & finite
    if t_rows.any():
        yy = y[t_rows]
        ybar = np.nanmean(yy, axis=1)
        half = _crit(level, count[t_rows] - 1) * np.nanstd(yy, axis=1, ddof=1) / np.sqrt(
            count[t_rows])
        lo[t_rows] = _from_unbounded(ybar - half, lower, upper)
        hi[t_rows] = _from_unbounded(ybar + half, lower, upper)
    boot = (count >= 2) & ~finite
    if boot.any():
        rng = np.random.default_rng(0)
        for n in np.unique(count[boot]):  # rows of equal seed counts go in one call
            rows = np.flatnonzero(boot & (count == n))
            data = np.array([r[~np.isnan(r)] for r in x[rows]])
            blo, bhi = _bootstrap_rows(data, level, BOOTSTRAP_RESAMPLES, rng)
            lo[rows], hi[rows] = blo, bhi
    return lo, hi


def range_ci(values: npt.ArrayLike, level: float = 0.95, lower: float | None = None,
             upper: float | None = None) -> tuple[float, float, float]:
    """Mean and a confidence interval that stays inside the quantity's range [lower, upper].

    A t interval over 3 seeds is not bounded: it put retention at ``0.0753 [-0.0461, 0.197]``.
    Here the t interval is taken on a scale where the range is the whole real line -- the logit
    of the position in [lower, upper] for a two-sided range, the log of the distance to the
    bound for a one-sided one -- and transformed back, so both ends stay inside. Where a seed
    sits exactly on a bound that scale is infinite; then a percentile bootstrap of the mean
    (:func:`scipy.stats.bootstrap`, fixed seed) is used, which lies within the data. Without a
    range this is :func:`mean_ci`.

    Returns:
        (mean, lo, hi): the arithmetic mean of the seeds and the interval; lo = hi = NaN for
        one value, all NaN for none.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[~np.isnan(v)]
    if v.size == 0:
        return (math.nan, math.nan, math.nan)
    lo, hi = range_ci_rows(v[None, :], level, lower, upper)
    return (float(v.mean()), float(lo[0]), float(hi[0]))


def _summarise(grouped: pd.api.typing.SeriesGroupBy, level: float,
               lower: float | None = None, upper: float | None = None) -> pd.DataFrame:
    """mean / lo / hi / n_seeds of each group (:func:`range_ci`), vectorised over groups."""
    agg = grouped.agg(["mean", "count"])
    if lower is None and upper is None:
        # The plain t interval, in closed form for all groups at once.
        sd = grouped.std()
        half = _crit(level, agg["count"].to_numpy() - 1) * sd.to_numpy() / np.sqrt(
            np.maximum(agg["count"].to_numpy(), 1))
        lo, hi = agg["mean"].to_numpy() - half, agg["mean"].to_numpy() + half
    else:
        # One row per group, seeds as columns (NaN-padded), for the vectorised intervals.
        frame = grouped.obj.to_frame("v").assign(_g=grouped.ngroup().to_numpy())
        frame["_i"] = frame.groupby("_g").cumcount()
        wide = frame.pivot(index="_g", columns="_i", values="v").to_numpy(np.float64)
        lo, hi = range_ci_rows(wide, level, lower, upper)
    out = pd.DataFrame({"mean": agg["mean"], "lo": lo, "hi": hi,
                        "n_seeds": agg["count"].astype(np.int64)}, index=agg.index)
    return out.reset_index()
