"""Curves, windows, headline tables and paired differences of the daily table."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats as sps

from recsim_llm.analysis.stats.info import (
    DEFAULT_WINDOW,
    EARLY_WINDOW,
    HEADLINE_METRICS,
    MINORITY_EXPOSURE,
    metric_info,
)
from recsim_llm.analysis.stats.intervals import _summarise, interval_method
from recsim_llm.analysis.stats.validate import (
    _check_one_scenario,
    _check_unique,
    _source,
    minority_exposure_column,
    policy_order,
    require_columns,
    resolve_metric,
)


def metric_range(df: pd.DataFrame, col: str, metric: str | None = None
                 ) -> tuple[float | None, float | None]:
    """The range [lower, upper] of a metric (see :class:`MetricInfo`), checked on the data.

    Raises:
        ValueError: a value lies outside the range (the column is not what its name says).
    """
    info = metric_info(metric or col)
    lower, upper = info.lower, info.upper
    v = df[col].to_numpy(np.float64)
    v = v[~np.isnan(v)]
    tol = 1e-9
    if v.size and ((lower is not None and v.min() < lower - tol)
                   or (upper is not None and v.max() > upper + tol)):
        bad = v.min() if lower is not None and v.min() < lower - tol else v.max()
        raise ValueError(f"metric {metric or col!r} of {_source(df)} has a value {float(bad)!r} "
                         f"outside its range [{lower}, {upper}]")
    return lower, upper


def interval_text(metric: str, level: float = 0.95) -> str:
    """The interval method used for ``metric`` (for captions and tables)."""
    info = metric_info(metric)
    return f"{level:.0%} {interval_method(info.lower, info.upper)}"


def curve_with_ci(daily: pd.DataFrame, metric: str, by: Sequence[str] = ("policy",),
                  level: float = 0.95) -> pd.DataFrame:
    """Per-day mean of a metric across seeds, with a range-respecting confidence interval.

    The interval is :func:`~recsim_llm.analysis.stats.intervals.range_ci` for the metric's
    range (a logit-scale t interval for shares, a log-scale one for non-negative amounts, the
    plain t interval for unbounded quantities), so no band leaves what the quantity can be.

    Args:
        daily: rows per (policy, seed, day), e.g. ``daily.csv``.
        metric: a numeric column (or :data:`MINORITY_EXPOSURE`).
        by: grouping columns besides ``day`` (seeds are the replicates).
        level: confidence level.
    Returns:
        Columns ``*by, day, mean, lo, hi, n_seeds`` sorted by ``by`` and day; NaN values (e.g. a
        metric undefined that day) do not count as seeds; lo/hi are NaN with one seed.
    """
    by = list(by)
    require_columns(daily, [*by, "seed", "day"])
    col = resolve_metric(daily, metric)
    if "scenario" not in by:
        _check_one_scenario(daily)
    _check_unique(daily, [*by, "seed", "day"])
    lower, upper = metric_range(daily, col)
    out = _summarise(daily.groupby([*by, "day"], sort=True)[col], level, lower, upper)
    return out


WINDOW_FORMS = ("'last N days'", "'first N days'", "'all'", "'last'", "a day number 'D'",
                "a range 'A-B' (inclusive)")
"""The window strings :func:`parse_window` accepts (the CLI's ``--window`` help lists them)."""

_RANGE = re.compile(r"\s*(\d+)\s*(?:-|\.\.|:|to)\s*(\d+)\s*")
_LAST_FIRST = re.compile(r"\s*(last|first)\s+(\d+)\s+days?\s*", re.IGNORECASE)


def parse_window(window: Any, days: npt.ArrayLike) -> tuple[int, int]:
    """Turn a window description into an inclusive (first_day, last_day) range.

    Accepted: None / "all" (every day), "last" (the final day), an int or a digit string (that
    day), "last N days" / ("last", N) (the final N days, all days if fewer), "first N days"
    (the first N), "A-B" (also "A..B", "A:B") or (start, end).
    """
    d = np.asarray(days)
    if d.size == 0:
        raise ValueError("no days to take a window of")
    lo, hi = int(d.min()), int(d.max())
    forms = ", ".join(WINDOW_FORMS)
    if window is None or (isinstance(window, str) and window.strip().lower() == "all"):
        return (lo, hi)
    if isinstance(window, str) and window.strip().lower() == "last":
        return (hi, hi)
    if isinstance(window, (int, np.integer)) and not isinstance(window, bool):
        start = end = int(window)
    elif isinstance(window, str):
        m = _LAST_FIRST.fullmatch(window)
        r = _RANGE.fullmatch(window)
        if m:
            n = int(m.group(2))
            if n < 1:
                raise ValueError(f"window {window!r} must cover at least one day")
            if m.group(1).lower() == "last":
                start, end = max(lo, hi - n + 1), hi
            else:
                start, end = lo, min(hi, lo + n - 1)
        elif r:
            start, end = int(r.group(1)), int(r.group(2))
        elif window.strip().isdigit():
            start = end = int(window)
        else:
            raise ValueError(f"window {window!r}: use {forms}")
    elif isinstance(window, Sequence) and len(window) == 2:
        if window[0] == "last":
            return parse_window(f"last {int(window[1])} days", d)
        start, end = int(window[0]), int(window[1])
    else:
        raise ValueError(f"window {window!r}: use {forms}")
    if start > end:
        raise ValueError(f"window {window!r} starts after it ends")
    if end < lo or start > hi:
        raise ValueError(f"window {window!r} lies outside the recorded days {lo}..{hi}")
    return (start, end)


def seed_values(daily: pd.DataFrame, metric: str, window: Any = None,
                by: Sequence[str] = ("policy",)) -> pd.DataFrame:
    """One value per (``by``, seed): the metric averaged over the days of ``window``.

    Returns:
        Columns ``*by, seed, value`` (value NaN where the metric is undefined on every day).
    """
    by = list(by)
    require_columns(daily, [*by, "seed", "day"])
    col = resolve_metric(daily, metric)
    _check_one_scenario(daily)
    _check_unique(daily, [*by, "seed", "day"])
    start, end = parse_window(window, daily["day"])
    sub = daily[(daily["day"] >= start) & (daily["day"] <= end)]
    out = sub.groupby([*by, "seed"], sort=True)[col].mean().rename("value").reset_index()
    out.attrs["window"] = (start, end)
    return out


def _paired_stats(a: np.ndarray, b: np.ndarray, level: float,
                  span: float | None = None) -> tuple[float, float, float, float]:
    """mean, lo, hi and two-sided p-value of the paired t-test (:func:`scipy.stats.ttest_rel`)
    of ``a - b``; the interval is cut to [-span, span] when the quantity's range has width
    ``span`` (a difference cannot exceed it)."""
    diff = a - b
    n = diff.size
    if n == 0:
        return (math.nan, math.nan, math.nan, math.nan)
    mean = float(diff.mean())
    if n < 2:
        return (mean, math.nan, math.nan, math.nan)
    if float(diff.std(ddof=1)) == 0.0:
        # Identical differences on every seed: no sampling variation to test against.
        return (mean, mean, mean, math.nan if mean == 0 else 0.0)
    res = sps.ttest_rel(a, b)
    ci = res.confidence_interval(confidence_level=level)
    lo, hi = float(ci.low), float(ci.high)
    if span is not None:
        lo, hi = max(lo, -span), min(hi, span)
    return (mean, lo, hi, float(res.pvalue))


def paired_difference(daily: pd.DataFrame, metric: str, policy_a: str, policy_b: str,
                      day: Any = None, level: float = 0.95) -> dict[str, Any]:
    """Difference ``a - b`` of a metric between two policies, paired by seed.

    Each seed runs both policies on the same world with common random numbers, so the per-seed
    difference removes the between-world variance; the CI is a t interval of those differences.

    Args:
        daily: rows per (policy, seed, day).
        metric: a numeric column (or :data:`MINORITY_EXPOSURE`).
        policy_a: the policy whose value comes first.
        policy_b: the policy subtracted (the reference).
        day: None (mean over every day), "last", a day number, "last N days" or (start, end).
        level: confidence level.
    Returns:
        dict with ``metric, policy_a, policy_b, window (first, last day), mean, lo, hi, n``
        (pairs), ``p_value`` (paired t-test), ``mean_a, mean_b`` and ``differences`` (a Series of
        a - b indexed by seed). Seeds missing for either policy (or NaN) are left out.
    Raises:
        ValueError: unknown policy or metric, naming the valid ones.
    """
    require_columns(daily, ["policy", "seed", "day"])
    col = resolve_metric(daily, metric)
    policy_order(daily, [policy_a, policy_b])
    if policy_a == policy_b:
        raise ValueError(f"cannot compare policy {policy_a!r} with itself")
    vals = seed_values(daily[daily["policy"].isin([policy_a, policy_b])], col, day)
    wide = vals.pivot(index="seed", columns="policy", values="value")
    wide = wide.reindex(columns=[policy_a, policy_b]).dropna()
    diff = (wide[policy_a] - wide[policy_b]).rename("difference")
    info = metric_info(col)
    span = (info.upper - info.lower if info.lower is not None and info.upper is not None
            else None)
    mean, lo, hi, p = _paired_stats(wide[policy_a].to_numpy(np.float64),
                                    wide[policy_b].to_numpy(np.float64), level, span)
    return {"metric": col, "policy_a": policy_a, "policy_b": policy_b,
            "window": vals.attrs["window"], "mean": mean, "lo": lo, "hi": hi,
            "n": int(diff.size), "p_value": p, "level": level,
            "mean_a": float(wide[policy_a].mean()) if len(wide) else math.nan,
            "mean_b": float(wide[policy_b].mean()) if len(wide) else math.nan,
            "differences": diff}


def _metrics_present(daily: pd.DataFrame, metrics: Sequence[str]) -> list[str]:
    """Resolve metric names; the minority alias is dropped silently when there is no minority
    provider group (a one-group catalog), every other unknown name is an error."""
    out = []
    for m in metrics:
        if m == MINORITY_EXPOSURE and minority_exposure_column(daily) is None:
            continue
        out.append(resolve_metric(daily, m))
    return list(dict.fromkeys(out))


def _default_metrics(daily: pd.DataFrame, metrics: Sequence[str] | None) -> Sequence[str]:
    # The defaults adapt to the table (a catalog or recorder may lack some columns); metrics
    # named explicitly must exist.
    if metrics is not None:
        return metrics
    return [m for m in HEADLINE_METRICS if m == MINORITY_EXPOSURE or m in daily.columns]


def headline_table(daily: pd.DataFrame, metrics: Sequence[str] | None = None,
                   window: Any = DEFAULT_WINDOW, level: float = 0.95,
                   policies: Sequence[str] | None = None) -> pd.DataFrame:
    """Per policy and metric: the mean over seeds of the metric averaged over ``window``.

    Args:
        daily: rows per (policy, seed, day).
        metrics: metric columns (default: those of :data:`HEADLINE_METRICS` present; the
            minority-exposure alias is skipped if not applicable).
        window: see :func:`parse_window`; default the final 10 days.
        level: confidence level.
        policies: row order (default: order of first appearance, i.e. the manifest's).
    Returns:
        Long table with columns ``policy, metric, label, unit, mean, lo, hi, n_seeds,
        first_day, last_day``.
    """
    require_columns(daily, ["policy", "seed", "day"])
    order = policy_order(daily, policies)
    rows = []
    for col in _metrics_present(daily, _default_metrics(daily, metrics)):
        vals = seed_values(daily, col, window)
        lower, upper = metric_range(vals, "value", col)
        s = _summarise(vals.groupby("policy")["value"], level, lower, upper)
        s.insert(1, "metric", col)
        s["first_day"], s["last_day"] = vals.attrs["window"]
        rows.append(s)
    out = pd.concat(rows, ignore_index=True)
    info = out["metric"].map(metric_info)
    out.insert(2, "label", info.map(lambda i: i.label))
    out.insert(3, "unit", info.map(lambda i: i.unit))
    out = out[out["policy"].isin(order)]
    rank = {p: i for i, p in enumerate(order)}
    mrank = {m: i for i, m in enumerate(pd.unique(out["metric"]))}
    return out.sort_values(["policy", "metric"], key=lambda s: s.map(
        rank if s.name == "policy" else mrank), kind="stable").reset_index(drop=True)


def paired_table(daily: pd.DataFrame, metrics: Sequence[str] | None = None,
                 reference: str | None = None, window: Any = DEFAULT_WINDOW,
                 level: float = 0.95, policies: Sequence[str] | None = None) -> pd.DataFrame:
    """Paired difference (policy - reference) of every other policy, per metric.

    Args:
        daily: rows per (policy, seed, day).
        metrics: metric columns (default as in :func:`headline_table`).
        reference: the baseline policy (default: the first of ``policies`` / of the table).
        window: see :func:`parse_window`.
        level: confidence level.
        policies: order of the compared policies.
    Returns:
        Columns ``policy, reference, metric, label, mean_policy, mean_reference, diff, lo, hi,
        n_pairs, p_value, first_day, last_day`` (empty if there is only one policy).
    """
    require_columns(daily, ["policy", "seed", "day"])
    order = policy_order(daily, policies)
    ref = order[0] if reference is None else reference
    policy_order(daily, [ref])
    rows = []
    for col in _metrics_present(daily, _default_metrics(daily, metrics)):
        for p in order:
            if p == ref:
                continue
            d = paired_difference(daily, col, p, ref, window, level)
            rows.append({"policy": p, "reference": ref, "metric": col,
                         "label": metric_info(col).label, "mean_policy": d["mean_a"],
                         "mean_reference": d["mean_b"], "diff": d["mean"], "lo": d["lo"],
                         "hi": d["hi"], "n_pairs": d["n"], "p_value": d["p_value"],
                         "first_day": d["window"][0], "last_day": d["window"][1]})
    cols = ["policy", "reference", "metric", "label", "mean_policy", "mean_reference", "diff",
            "lo", "hi", "n_pairs", "p_value", "first_day", "last_day"]
    return pd.DataFrame(rows, columns=cols)




FINDING_METRICS = ("retention", "cumulative_clicks_per_initial_user", "ctr", "mean_satisfaction",
                   "topic_entropy", "homogenization", MINORITY_EXPOSURE)
"""Metrics the generated key findings speak about (those present)."""


def _num(x: float, sign: bool = False) -> str:
    return "–" if not np.isfinite(x) else (f"{x:+.3g}" if sign else f"{x:.3g}")


def key_findings(daily: pd.DataFrame, reference: str | None = None,
                 late: Any = DEFAULT_WINDOW, early: Any = EARLY_WINDOW, level: float = 0.95,
                 policies: Sequence[str] | None = None,
                 metrics: Sequence[str] | None = None) -> list[str]:
    """A few sentences on what changed, generated from the paired differences (no judgement is
    written in: every number is a paired difference ``policy - reference`` with its interval).

    One sentence per compared policy: the metrics whose interval over the ``late`` window
    excludes 0 (largest relative change first), each with its early-window difference, then the
    metrics whose interval includes 0.
    """
    order = policy_order(daily, policies)
    ref = order[0] if reference is None else reference
    policy_order(daily, [ref])
    wanted = [m for m in (metrics or FINDING_METRICS)
              if m in daily.columns or (m == MINORITY_EXPOSURE
                                        and minority_exposure_column(daily) is not None)]
    late_t = paired_table(daily, wanted, ref, late, level, order)
    early_t = paired_table(daily, wanted, ref, early, level, order)
    if late_t.empty:
        return ["Only one policy: nothing to compare."]
    (l0, l1), (e0, e1) = parse_window(late, daily["day"]), parse_window(early, daily["day"])
    out = []
    for p in order:
        if p == ref:
            continue
        lt = late_t[late_t["policy"] == p].set_index("metric")
        et = early_t[early_t["policy"] == p].set_index("metric")
        n = int(lt["n_pairs"].max()) if len(lt) else 0
        clear, unclear = [], []
        for m, r in lt.iterrows():
            label = metric_info(str(m)).label.lower()
            if n < 2 or not np.isfinite(r["lo"]):
                unclear.append(label)
                continue
            if r["lo"] > 0 or r["hi"] < 0:
                rel = (abs(r["diff"] / r["mean_reference"]) if r["mean_reference"]
                       else abs(r["diff"]))
                e = et.loc[m] if m in et.index else None
                early_txt = ("" if e is None else
                             f"; days {e0}–{e1}: {_num(e['diff'], True)} "
                             f"[{_num(e['lo'], True)}, {_num(e['hi'], True)}]")
                clear.append((rel, f"{label} {_num(r['diff'], True)} [{_num(r['lo'], True)}, "
                                   f"{_num(r['hi'], True)}] ({_num(r['mean_policy'])} vs "
                                   f"{_num(r['mean_reference'])}{early_txt})"))
            else:
                unclear.append(label)
        clear.sort(key=lambda c: -c[0])
        head = (f"{p} against {ref} over days {l0}–{l1} ({n} paired seed{'s' if n != 1 else ''}, "
                f"{level:.0%} intervals): ")
        if n < 2:
            out.append(head + "one seed only, so no interval: no finding is stated.")
            continue
        body = ("; ".join(c[1] for c in clear) + "." if clear
                else "no metric differs clearly (every interval includes 0).")
        if clear and unclear:
            body += f" No clear difference in {', '.join(unclear)}."
        out.append(head + body)
    return out
