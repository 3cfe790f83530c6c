"""Compare two suite results: the change B - A of each headline number, paired by seed.

Runs of the same (scenario, policy, seed) in A and B start from the same users and exogenous
draws, so the difference is taken per seed first; its mean gets a paired bootstrap interval
(``scipy.stats.bootstrap`` with ``paired=True``, percentile method, a seeded generator).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from recsim_llm.bench.leaderboard import ID_COLUMNS, LABELS, METRICS


class CompareError(ValueError):
    """The two folders cannot be compared (missing results, nothing in common)."""


def read_results(folder: str | Path) -> pd.DataFrame:
    path = Path(folder) / "results.csv"
    if not path.is_file():
        raise CompareError(f"{path} not found: give folders written by `recsim-llm bench`")
    df = pd.read_csv(path)
    missing = [c for c in ID_COLUMNS if c not in df.columns]
    if missing:
        raise CompareError(f"{path} lacks the column(s) {missing}")
    return df


def paired_bootstrap(a: np.ndarray, b: np.ndarray, level: float = 0.95,
                     n_resamples: int = 9999, seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``b - a`` and its paired bootstrap interval (NaN bounds with < 2 pairs)."""
    diff = b - a
    mean = float(diff.mean()) if len(diff) else math.nan
    if len(diff) < 2:
        return mean, math.nan, math.nan
    if np.all(diff == diff[0]):
        return mean, mean, mean  # every resample gives the same mean

    def stat(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean(y - x, axis=axis)

    res = sps.bootstrap((a, b), stat, paired=True, vectorized=True, confidence_level=level,
                        n_resamples=n_resamples, method="percentile",
                        rng=np.random.default_rng(seed))
    return mean, float(res.confidence_interval.low), float(res.confidence_interval.high)


def compare(folder_a: str | Path, folder_b: str | Path, level: float = 0.95,
            n_resamples: int = 9999) -> pd.DataFrame:
    """Per (scenario, policy, metric): A mean, B mean, mean change B - A, its interval, pairs.

    Raises:
        CompareError: no (scenario, policy, seed) in common.
    """
    a, b = read_results(folder_a), read_results(folder_b)
    both = a.merge(b, on=list(ID_COLUMNS), suffixes=("_a", "_b"))
    if both.empty:
        raise CompareError(f"{folder_a} and {folder_b} have no (scenario, policy, seed) run in "
                           f"common; nothing to pair")
    rows: list[dict[str, Any]] = []
    metrics = [m for m in METRICS if f"{m}_a" in both.columns and f"{m}_b" in both.columns]
    for (sid, pol), sub in both.groupby(["scenario_id", "policy"], sort=False):
        for m in metrics:
            x, y = sub[f"{m}_a"].to_numpy(float), sub[f"{m}_b"].to_numpy(float)
            ok = np.isfinite(x) & np.isfinite(y)
            if not ok.any():
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                d, lo, hi = paired_bootstrap(x[ok], y[ok], level, n_resamples)
            rows.append({"scenario_id": sid, "policy": pol, "metric": m,
                         "a": float(x[ok].mean()), "b": float(y[ok].mean()), "change": d,
                         "lo": lo, "hi": hi, "pairs": int(ok.sum()),
                         "significant": bool(np.isfinite(lo) and (lo > 0 or hi < 0))})
    return pd.DataFrame(rows)


def compare_markdown(table: pd.DataFrame, folder_a: str | Path, folder_b: str | Path,
                     level: float = 0.95) -> str:
    lines = [f"# Change from `{folder_a}` (A) to `{folder_b}` (B)", "",
             f"Mean of the per-seed change B - A [{level:.0%} paired bootstrap interval]; "
             f"* marks an interval that excludes 0.", ""]
    for sid, sub in table.groupby("scenario_id", sort=False):
        lines += [f"## {sid}", "", "| policy | metric | A | B | B - A | pairs |",
                  "|---|---|---:|---:|---:|---:|"]
        for _, r in sub.iterrows():
            ci = (f" [{r['lo']:+.4f}, {r['hi']:+.4f}]" if np.isfinite(r["lo"]) else "")
            star = " *" if r["significant"] else ""
            lines.append(f"| {r['policy']} | {LABELS.get(r['metric'], r['metric'])} | "
                         f"{r['a']:.4f} | {r['b']:.4f} | {r['change']:+.4f}{ci}{star} | "
                         f"{int(r['pairs'])} |")
        lines.append("")
    return "\n".join(lines)
