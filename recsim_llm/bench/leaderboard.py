"""Headline long-term numbers of each run, and the leaderboard over seeds with CIs.

Per run (one policy, scenario and seed), from its ``daily.csv`` / ``groups.csv`` rows:

* ``retention_d120``, ``retention_d180``: share of the joined users still active on day 120 /
  180 (NaN when the horizon is shorter); ``retention_final`` on the last day;
* ``cum_clicks_per_initial_user``: clicks of the day-0 cohort (churned users counted as zeros)
  divided by its size, on the last day: the recorder's ``cumulative_clicks_per_initial_user``
  column; for tables without it, all clicks divided by the users present on day 1;
* ``topic_entropy_final``, ``homogenization_final``: mean over the last :data:`FINAL_WINDOW`
  days (daily values are noisy; the window smooths a single day's draw);
* ``provider_disparity_final``: ``disparity:<g>`` (exposure share / merit share, 1 = exposure
  proportional to merit) of the provider group with the smallest merit share, mean over the
  last :data:`FINAL_WINDOW` days; NaN with a single provider group;
* ``group_retention_gap``: retention of the focus user group (``minority`` if present, else the
  smallest) minus the size-weighted rest, on the last day (:func:`recsim_llm.analysis.stats.
  group_gap`), for the scenario's ``group_key`` (default: the first key).

The leaderboard gives per (scenario, policy) the mean over seeds and an interval that stays in
the metric's range (:data:`RANGES`, :func:`recsim_llm.analysis.stats.range_ci`: Student-t on
the logit scale for a bounded metric, on the log scale for a non-negative one, a percentile
bootstrap where a seed sits on a bound; plain Student-t for an unbounded one); one seed has no
interval.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from recsim_llm.analysis import stats as S

FINAL_WINDOW = 7
"""days averaged for the 'final' flow metrics"""

METRICS = ("retention_d120", "retention_d180", "retention_final", "cum_clicks_per_initial_user",
           "topic_entropy_final", "homogenization_final", "provider_disparity_final",
           "group_retention_gap")
"""headline columns of ``results.csv`` and the leaderboard"""

LABELS = {"retention_d120": "retention day 120", "retention_d180": "retention day 180",
          "retention_final": "retention last day",
          "cum_clicks_per_initial_user": "cum. clicks / initial user",
          "topic_entropy_final": "topic entropy (bits)", "homogenization_final": "homogenization",
          "provider_disparity_final": "provider disparity", "group_retention_gap":
          "group retention gap"}

RANGES: dict[str, tuple[float | None, float | None]] = {
    "retention_d120": (0.0, 1.0), "retention_d180": (0.0, 1.0), "retention_final": (0.0, 1.0),
    "cum_clicks_per_initial_user": (0.0, None), "topic_entropy_final": (0.0, None),
    "homogenization_final": (0.0, 1.0), "provider_disparity_final": (0.0, None),
    "group_retention_gap": (-1.0, 1.0)}
"""the range each headline metric can take (lower, upper; None = unbounded): a difference of
two shares lies in [-1, 1], the homogenization is a Jaccard index, disparity and entropy are
non-negative"""

ID_COLUMNS = ("scenario_id", "policy", "seed")


def _at_day(daily: pd.DataFrame, day: int, col: str) -> float:
    v = daily.loc[daily["day"] == day, col]
    return float(v.iloc[0]) if len(v) else math.nan


def _final_mean(daily: pd.DataFrame, col: str) -> float:
    if col not in daily.columns:
        return math.nan
    last = int(daily["day"].max())
    v = daily.loc[daily["day"] > last - FINAL_WINDOW, col].astype(float)
    return float(v.mean()) if v.notna().any() else math.nan


def minority_provider_group(daily: pd.DataFrame) -> str | None:
    """Provider group with the smallest merit share on day 1 (a property of the catalog, the
    same for every policy), or None with fewer than two groups."""
    cols = [c for c in daily.columns if c.startswith("merit_share:")]
    if len(cols) < 2:
        return None
    first = daily[daily["day"] == daily["day"].min()]
    return str(first[cols].mean().idxmin()).removeprefix("merit_share:")


def run_headline(daily: pd.DataFrame, groups: pd.DataFrame | None,
                 group_key: str | None = None) -> dict[str, float]:
    """The headline numbers of one run (rows of a single policy and seed)."""
    if daily.empty:
        raise ValueError("a run without daily rows has no headline numbers")
    last = int(daily["day"].max())
    out: dict[str, float] = {
        "retention_d120": _at_day(daily, 120, "retention"),
        "retention_d180": _at_day(daily, 180, "retention"),
        "retention_final": _at_day(daily, last, "retention"),
    }
    if "cumulative_clicks_per_initial_user" in daily.columns:
        out["cum_clicks_per_initial_user"] = _at_day(daily, last,
                                                     "cumulative_clicks_per_initial_user")
    else:
        initial = _at_day(daily, int(daily["day"].min()), "joined_users")
        out["cum_clicks_per_initial_user"] = (float(daily["clicks"].sum()) / initial
                                              if initial > 0 else math.nan)
    out["topic_entropy_final"] = _final_mean(daily, "topic_entropy")
    out["homogenization_final"] = _final_mean(daily, "homogenization")
    g = minority_provider_group(daily)
    out["provider_disparity_final"] = (math.nan if g is None
                                       else _final_mean(daily, f"disparity:{g}"))
    out["group_retention_gap"] = math.nan
    if groups is not None and not groups.empty:
        keys = [str(k) for k in pd.unique(groups["group_key"])]
        key = group_key or keys[0]
        if key not in keys:
            raise ValueError(f"group_key {key!r} not in the run's groups; valid keys: {keys}")
        sub = groups[groups["group_key"] == key]
        if sub["group"].nunique() >= 2:
            gap = S.group_gap(sub.drop(columns=["scenario_id"], errors="ignore"), key,
                              "retention")
            at = gap.loc[gap["day"] == gap["day"].max(), "gap"]
            out["group_retention_gap"] = float(at.iloc[0]) if len(at) else math.nan
    return out


def interval(values: Sequence[float], metric: str, level: float = 0.95
             ) -> tuple[float, float, float, int]:
    """Mean of the finite values and an interval inside ``metric``'s range (:data:`RANGES`):
    (mean, lo, hi, n); NaN bounds if n < 2, lo = hi = mean if every value is equal."""
    x = np.asarray([v for v in values if np.isfinite(v)], np.float64)
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    if n >= 2 and np.all(x == x[0]):
        return float(x[0]), float(x[0]), float(x[0]), n
    lower, upper = RANGES[metric]
    mean, lo, hi = S.range_ci(x, level, lower, upper)
    return mean, lo, hi, n


def leaderboard(results: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per (scenario_id, policy): ``n_seeds`` and, per metric, ``<m>``, ``<m>_lo``, ``<m>_hi``.

    Rows keep the order in which scenarios and policies first appear in ``results``.
    """
    rows: list[dict[str, Any]] = []
    for (sid, pol), sub in results.groupby(["scenario_id", "policy"], sort=False):
        row: dict[str, Any] = {"scenario_id": sid, "policy": pol, "n_seeds": len(sub)}
        for m in METRICS:
            mean, lo, hi, _n = interval(sub[m].tolist(), m, level)
            row.update({m: mean, f"{m}_lo": lo, f"{m}_hi": hi})
        rows.append(row)
    return pd.DataFrame(rows)


def _cell(mean: float, lo: float, hi: float) -> str:
    if not np.isfinite(mean):
        return "–"
    digits = 3 if abs(mean) < 100 else 1
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def leaderboard_markdown(board: pd.DataFrame, suite_name: str, level: float = 0.95,
                         notes: Sequence[str] = ()) -> str:
    """One table per scenario; metrics with no value in a scenario are left out."""
    lines = [f"# Leaderboard: suite `{suite_name}`", "",
             f"Mean over seeds [{level:.0%} interval inside the metric's range: Student-t on "
             f"the logit scale for shares and gaps, on the log scale for non-negative amounts, "
             f"a percentile bootstrap where a seed sits on a bound]. Retention on the given day; "
             f"flow metrics (topic entropy, homogenization, provider disparity) averaged over "
             f"the last {FINAL_WINDOW} days; group retention gap = focus group minus the rest "
             f"on the last day. Definitions: `recsim_llm/bench/leaderboard.py`.", ""]
    lines += [f"* {n}" for n in notes]
    if notes:
        lines.append("")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for sid, sub in board.groupby("scenario_id", sort=False):
            shown = [m for m in METRICS if sub[m].notna().any()]
            lines += [f"## {sid}", "",
                      "| policy | seeds | " + " | ".join(LABELS[m] for m in shown) + " |",
                      "|---|---:|" + "---:|" * len(shown)]
            for _, r in sub.iterrows():
                cells = [_cell(r[m], r[f"{m}_lo"], r[f"{m}_hi"]) for m in shown]
                lines.append(f"| {r['policy']} | {int(r['n_seeds'])} | " + " | ".join(cells)
                             + " |")
            lines.append("")
    return "\n".join(lines)
