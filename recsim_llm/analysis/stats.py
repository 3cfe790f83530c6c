"""Statistics over the daily tables of an experiment: confidence intervals across seeds, paired
policy differences, headline tables, and survival (Kaplan-Meier, churn hazard).

The unit of replication is the **seed**: each seed builds one world on which every policy runs
with common random numbers (:mod:`recsim_llm.runner`), so a confidence interval is taken across
seeds, and two policies are compared by the per-seed difference (a paired design, much tighter
than comparing two independent means).

Everything here is a pure function of DataFrames / arrays: no global RNG, no plotting.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats as sps

ID_COLUMNS = ("scenario", "policy", "seed", "day")
"""Identifier columns of ``daily.csv`` (not metrics)."""

GROUP_ID_COLUMNS = (*ID_COLUMNS, "group_key", "group")
"""Identifier columns of ``groups.csv`` (not metrics)."""

EXPOSURE_PREFIX = "exposure_share:"
"""Prefix of the per-provider-group exposure-share columns of ``daily.csv``."""

MINORITY_EXPOSURE = "minority_exposure_share"
"""Alias accepted wherever a metric is named: the exposure share of the minority provider group
(resolved by :func:`minority_exposure_column`)."""

HEADLINE_METRICS = (
    "retention", "ctr", "mean_satisfaction", "topic_entropy", "intra_list_diversity",
    "coverage", "exposure_gini", "homogenization", MINORITY_EXPOSURE, "provider_exposure_gini",
    "ndcg_at_k",
)
"""Metrics of :func:`headline_table` / :func:`paired_table` by default (those present)."""

DEFAULT_WINDOW = "last 10 days"


@dataclass(frozen=True)
class MetricInfo:
    """How to present a metric.

    Attributes:
        name: the column name.
        label: human name, e.g. "Click-through rate".
        unit: unit or scale of the values, e.g. "clicks / slate".
        higher_is_better: True / False where one direction is desirable, None where it is not.
    """

    name: str
    label: str
    unit: str
    higher_is_better: bool | None = None


_INFO = {m.name: m for m in (
    MetricInfo("active_users", "Active users", "users", True),
    MetricInfo("retention", "Retention", "share of joined users not churned", True),
    MetricInfo("ctr", "Click-through rate", "clicks / slate", True),
    MetricInfo("clicks_per_active_user", "Clicks per active user", "clicks / user / day", True),
    MetricInfo("mean_satisfaction", "Mean satisfaction", "score in [-1, 1]", True),
    MetricInfo("intra_list_diversity", "Intra-list diversity", "1 - mean pairwise cosine", True),
    MetricInfo("topic_entropy", "Exposure topic entropy", "bits", True),
    MetricInfo("coverage", "Catalog coverage", "share of items shown", True),
    MetricInfo("exposure_gini", "Exposure Gini", "Gini in [0, 1)", False),
    MetricInfo("homogenization", "Homogenization", "Jaccard of neighbours' clicks", False),
    MetricInfo("interest_homogenization", "Interest homogenization", "mean pairwise cosine",
               False),
    MetricInfo("consumed_topic_entropy", "Consumed topic entropy", "bits", True),
    MetricInfo("active_share", "Active share", "share of joined users active", True),
    MetricInfo("joined_users", "Joined users", "users"),
    MetricInfo("requests", "Requests", "slates / day"),
    MetricInfo("clicks", "Clicks", "clicks / day", True),
    MetricInfo("satisfaction_ema", "Satisfaction (EMA)", "score in [-1, 1]", True),
    MetricInfo("drift_from_persona", "Drift from persona", "1 - cos(interest, persona)"),
    MetricInfo("available_items", "Available items", "items"),
    MetricInfo("users", "Users", "users"),
    MetricInfo("hazard", "Daily churn hazard", "share of at-risk users churned", False),
    MetricInfo("provider_exposure_gini", "Provider exposure Gini", "Gini in [0, 1)", False),
    MetricInfo("precision_at_k", "Precision@k", "share of slate relevant", True),
    MetricInfo("recall_at_k", "Recall@k", "share of relevant items shown", True),
    MetricInfo("map_at_k", "MAP@k", "mean average precision", True),
    MetricInfo("ndcg_at_k", "NDCG@k", "normalised DCG in [0, 1]", True),
    MetricInfo("gap", "Group gap", "difference"),
    MetricInfo("survival", "Survival (not churned)", "share of users", True),
)}

_PREFIXED = {
    EXPOSURE_PREFIX: ("Exposure share: {}", "share of impressions"),
    "merit_share:": ("Merit share: {}", "share of total item quality"),
    "disparity:": ("Exposure / merit: {}", "exposure share / merit share (1 = fair)"),
}


def metric_info(metric: str) -> MetricInfo:
    """Human name and unit of a metric column (a generic one for columns not known here)."""
    if metric in _INFO:
        return _INFO[metric]
    for prefix, (label, unit) in _PREFIXED.items():
        if metric.startswith(prefix):
            return MetricInfo(metric, label.format(metric[len(prefix):]), unit)
    if metric == MINORITY_EXPOSURE:
        return MetricInfo(metric, "Minority provider exposure share", "share of impressions")
    return MetricInfo(metric, metric.replace("_", " ").capitalize(), "")


class NoConfidenceBandWarning(UserWarning):
    """Only one seed: means are shown without a confidence band."""


# --------------------------------------------------------------------------- validation


def _source(df: pd.DataFrame, default: str = "daily table") -> str:
    # read_run() stores the file name in attrs so messages can say "daily.csv".
    return str(df.attrs.get("source", default))


def valid_metrics(df: pd.DataFrame, id_columns: Sequence[str] = GROUP_ID_COLUMNS) -> list[str]:
    """Numeric columns of ``df`` that are metrics (everything numeric but the identifiers)."""
    return [c for c in df.columns
            if c not in id_columns and pd.api.types.is_numeric_dtype(df[c])]


def minority_exposure_column(daily: pd.DataFrame) -> str | None:
    """The ``exposure_share:<group>`` column of the minority provider group, or None.

    The minority group is the one with the smallest mean exposure share over the whole table
    (e.g. ``independent`` on the synthetic catalog). With fewer than two provider groups there is
    no minority: its share would be 1 on every day, so None.
    """
    cols = [c for c in daily.columns if c.startswith(EXPOSURE_PREFIX)]
    if len(cols) < 2 or daily.empty:
        return None
    means = daily[cols].mean()
    return str(means.idxmin()) if means.notna().any() else cols[-1]


def resolve_metric(df: pd.DataFrame, metric: str,
                   id_columns: Sequence[str] = GROUP_ID_COLUMNS) -> str:
    """Check ``metric`` names a numeric column of ``df`` (resolving the minority alias).

    Raises:
        ValueError: unknown metric, listing the valid ones.
    """
    valid = valid_metrics(df, id_columns)
    if metric == MINORITY_EXPOSURE:
        col = minority_exposure_column(df)
        if col is None:
            have = [c for c in df.columns if c.startswith(EXPOSURE_PREFIX)]
            raise ValueError(f"{_source(df)} has no minority provider group (exposure-share "
                             f"columns: {have}; two or more are needed)")
        return col
    if metric not in valid:
        why = "is not numeric" if metric in df.columns else "missing"
        raise ValueError(f"column {metric!r} {why} in {_source(df)}; valid metrics: {valid}")
    return metric


def require_columns(df: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise ValueError naming the first of ``columns`` absent from ``df``, or if it is empty."""
    for c in columns:
        if c not in df.columns:
            raise ValueError(f"column {c!r} missing in {_source(df)} "
                             f"(columns: {list(df.columns)})")
    if df.empty:
        raise ValueError(f"{_source(df)} has no rows")


def _check_one_scenario(df: pd.DataFrame) -> None:
    # Seeds of different scenarios are not replicates of one another: refuse to pool them.
    if "scenario" in df.columns and df["scenario"].nunique() > 1:
        raise ValueError(f"{_source(df)} mixes scenarios {sorted(df['scenario'].unique())}: "
                         "select one first, e.g. daily[daily.scenario == name]")


def _check_unique(df: pd.DataFrame, keys: Sequence[str]) -> None:
    dup = df.duplicated(list(keys))
    if dup.any():
        first = df.loc[dup, list(keys)].iloc[0].to_dict()
        raise ValueError(f"{_source(df)} has {int(dup.sum())} duplicate rows for {list(keys)} "
                         f"(first: {first}); were two runs concatenated?")


def policy_order(df: pd.DataFrame, policies: Sequence[str] | None = None) -> list[str]:
    """Policies in the given order (checked to exist), else in order of first appearance.

    ``simulate`` writes rows in manifest order, so first appearance is the manifest order.
    """
    present = list(pd.unique(df["policy"]))
    if policies is None:
        return [str(p) for p in present]
    missing = [p for p in policies if p not in present]
    if missing:
        raise ValueError(f"policies {missing} not in {_source(df)}; valid policies: {present}")
    return list(policies)


def completeness_issues(daily: pd.DataFrame, policies: Sequence[str] | None = None,
                        seeds: Sequence[int] | None = None,
                        days: int | None = None) -> list[str]:
    """What is missing from a (policy x seed x day) grid, as sentences (empty if complete).

    The expected policies and seeds are those given (e.g. by the manifest) plus those present;
    the expected days are 1..max(``days``, the last recorded day).

    Args:
        daily: rows per (policy, seed, day).
        policies: policies the run should hold.
        seeds: seeds the run should hold.
        days: the horizon the run should reach (e.g. the config's ``horizon_days``).
    """
    require_columns(daily, ["policy", "seed", "day"])
    issues = []
    for c in ("policy", "seed", "day"):
        if daily[c].isna().any():
            issues.append(f"{_source(daily)} has {int(daily[c].isna().sum())} rows without a {c}")
    if issues:
        return issues
    present_p = [str(p) for p in pd.unique(daily["policy"])]
    want_p = list(dict.fromkeys([*(policies or []), *present_p]))
    want_s = sorted({*(int(s) for s in (seeds or [])), *(int(s) for s in daily["seed"].unique())})
    last = max(int(daily["day"].max()), int(days or 0))
    runs = daily.groupby(["policy", "seed"])["day"]
    n_days = runs.nunique()
    for p in want_p:
        have = set(n_days.loc[p].index.astype(int)) if p in n_days.index.get_level_values(0) \
            else set()
        if not have:
            issues.append(f"policy {p!r} has no rows in {_source(daily)}")
            continue
        lacking = [s for s in want_s if s not in have]
        if lacking:
            issues.append(f"policy {p!r} lacks seeds {lacking}")
    short = n_days[n_days < last]
    for (p, s), _ in short.items():
        days = set(runs.get_group((p, s)).astype(int))
        gone = [d for d in range(1, last + 1) if d not in days]
        shown = gone if len(gone) <= 10 else [*gone[:10], "..."]
        issues.append(f"policy {p!r} seed {int(s)} lacks days {shown} (of 1..{last})")
    return issues


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


def curve_with_ci(daily: pd.DataFrame, metric: str, by: Sequence[str] = ("policy",),
                  level: float = 0.95) -> pd.DataFrame:
    """Per-day mean of a metric across seeds, with a t confidence interval.

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
    out = _summarise(daily.groupby([*by, "day"], sort=True)[col], level)
    return out


def parse_window(window: Any, days: npt.ArrayLike) -> tuple[int, int]:
    """Turn a window description into an inclusive (first_day, last_day) range.

    Accepted: None / "all" (every day), "last" (the final day), an int (that day),
    "last N days" or ("last", N) (the final N days, all days if fewer), or (start, end).
    """
    d = np.asarray(days)
    if d.size == 0:
        raise ValueError("no days to take a window of")
    lo, hi = int(d.min()), int(d.max())
    if window is None or window == "all":
        return (lo, hi)
    if window == "last":
        return (hi, hi)
    if isinstance(window, (int, np.integer)) and not isinstance(window, bool):
        start = end = int(window)
    elif isinstance(window, str):
        m = re.fullmatch(r"\s*last\s+(\d+)\s+days?\s*", window)
        if not m:
            raise ValueError(f"window {window!r}: use None, 'all', 'last', 'last N days', "
                             "a day number or (start, end)")
        n = int(m.group(1))
        if n < 1:
            raise ValueError(f"window {window!r} must cover at least one day")
        start, end = max(lo, hi - n + 1), hi
    elif isinstance(window, Sequence) and len(window) == 2:
        if window[0] == "last":
            return parse_window(f"last {int(window[1])} days", d)
        start, end = int(window[0]), int(window[1])
    else:
        raise ValueError(f"window {window!r}: use None, 'all', 'last', 'last N days', "
                         "a day number or (start, end)")
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


def _paired_stats(diff: np.ndarray, level: float) -> tuple[float, float, float, float]:
    """mean, lo, hi, two-sided paired-t p-value of per-seed differences."""
    mean, lo, hi = mean_ci(diff, level)
    n = diff.size
    if n < 2:
        return (mean, lo, hi, math.nan)
    sd = float(diff.std(ddof=1))
    if sd == 0.0:
        # Identical differences on every seed: no sampling variation to test against.
        return (mean, lo, hi, math.nan if mean == 0 else 0.0)
    t = mean / (sd / math.sqrt(n))
    return (mean, lo, hi, float(2.0 * sps.t.sf(abs(t), n - 1)))


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
    mean, lo, hi, p = _paired_stats(diff.to_numpy(), level)
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
        s = _summarise(vals.groupby("policy")["value"], level)
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


# --------------------------------------------------------------------------- groups


def default_focus_group(groups: pd.DataFrame, key: str) -> str:
    """The group compared with the rest by default: "minority" if present, else the smallest."""
    sub = groups[groups["group_key"] == key]
    names = [str(g) for g in pd.unique(sub["group"])]
    if "minority" in names:
        return "minority"
    return str(sub.groupby("group")["users"].mean().idxmin())


def group_gap(groups: pd.DataFrame, key: str, metric: str, focus: str | None = None,
              versus: str | None = None) -> pd.DataFrame:
    """Per (policy, seed, day): metric of the ``focus`` group minus that of ``versus``.

    ``versus=None`` compares with the rest of the population: the other groups' values averaged
    with weights that make it the population value -- users for ``retention``/``active_share``
    (both are shares of the group's users) and active users (users x active_share) for ``ctr``
    and ``mean_satisfaction`` (averages over active users; for ctr, requests would be exact but
    are not recorded per group).

    Returns:
        Columns ``policy, seed, day, gap``; ``attrs`` hold key, focus and versus.
    """
    require_columns(groups, ["policy", "seed", "day", "group_key", "group", "users"])
    col = resolve_metric(groups, metric)
    _check_one_scenario(groups)
    keys = [str(k) for k in pd.unique(groups["group_key"])]
    if key not in keys:
        raise ValueError(f"group key {key!r} not in {_source(groups, 'groups table')}; "
                         f"valid keys: {keys}")
    sub = groups[groups["group_key"] == key].copy()
    sub["group"] = sub["group"].astype(str)
    names = list(pd.unique(sub["group"]))
    focus = default_focus_group(sub, key) if focus is None else str(focus)
    for g in (focus, versus):
        if g is not None and str(g) not in names:
            raise ValueError(f"group {g!r} not in group key {key!r}; valid groups: {names}")
    if versus is not None and str(versus) == focus:
        raise ValueError(f"cannot compare group {focus!r} with itself")
    if len(names) < 2:
        raise ValueError(f"group key {key!r} has one group ({names}): no gap to show")
    ids = ["policy", "seed", "day"]
    _check_unique(sub, [*ids, "group"])
    a = sub[sub["group"] == focus].set_index(ids)[col]
    if versus is not None:
        b = sub[sub["group"] == str(versus)].set_index(ids)[col]
    else:
        rest = sub[sub["group"] != focus]
        w = rest["users"].astype(np.float64)
        if col in ("ctr", "mean_satisfaction") and "active_share" in rest.columns:
            w = w * rest["active_share"]
        x = rest[col].astype(np.float64)
        w = w.where(x.notna(), 0.0)
        tmp = rest[ids].assign(wx=(w * x.fillna(0.0)), w=w)
        s = tmp.groupby(ids)[["wx", "w"]].sum()
        b = (s["wx"] / s["w"].where(s["w"] > 0)).rename(col)
    gap = (a - b).rename("gap").dropna().reset_index()
    gap.attrs.update(key=key, focus=focus, versus="rest" if versus is None else str(versus),
                     metric=col)
    return gap


# --------------------------------------------------------------------------- survival


def kaplan_meier(durations: npt.ArrayLike, events: npt.ArrayLike | None = None,
                 level: float = 0.95) -> pd.DataFrame:
    """Kaplan-Meier survival curve with Greenwood variance and a log-log confidence interval.

    ``S(t) = prod_{t_i <= t} (1 - d_i / n_i)``; Greenwood ``Var S = S^2 sum d_i / (n_i (n_i -
    d_i))``; the log-log interval (Kalbfleisch & Prentice) ``S^exp(+-z se_v)`` with ``se_v =
    sqrt(sum d/(n(n-d))) / |log S|`` stays inside [0, 1], unlike the plain one.

    Args:
        durations: time of each subject's event or censoring (e.g. the churn day), >= 0.
        events: 1/True where the event (churn) was observed, 0/False where censored (still
            active at the end); default all observed.
        level: confidence level.
    Returns:
        One row per distinct time: ``time, at_risk, events, censored, hazard (d/n), survival,
        se`` (Greenwood standard error of S), ``lo, hi``. Before the first event lo = hi = 1;
        where S reaches 0 se, lo and hi are NaN (the log-log interval is undefined).
    """
    t = np.asarray(durations, dtype=np.float64).ravel()
    e = (np.ones_like(t, dtype=bool) if events is None
         else np.asarray(events).ravel())
    if t.size == 0:
        raise ValueError("kaplan_meier needs at least one duration")
    if e.shape != t.shape:
        raise ValueError(f"durations ({t.size}) and events ({e.size}) differ in length")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("durations must be finite and >= 0")
    if not np.all(np.isin(e, (0, 1))):
        raise ValueError("events must be 0/1 or booleans")
    e = e.astype(bool)
    times, inv = np.unique(t, return_inverse=True)
    total = np.bincount(inv, minlength=times.size)
    d = np.bincount(inv, weights=e, minlength=times.size).astype(np.int64)
    at_risk = t.size - np.concatenate(([0], np.cumsum(total)[:-1]))
    hazard = d / at_risk
    surv = np.cumprod(1.0 - hazard)
    with np.errstate(divide="ignore", invalid="ignore"):
        gw = np.cumsum(np.where(d > 0, d / (at_risk * (at_risk - d)), 0.0))
        se = np.where(surv > 0, surv * np.sqrt(gw), np.nan)
        se_v = np.sqrt(gw) / np.abs(np.log(surv))
        z = float(sps.norm.ppf((1.0 + level) / 2.0)) if 0 < level < 1 else math.nan
        if math.isnan(z):
            raise ValueError(f"level must be in (0, 1), got {level!r}")
        lo = surv ** np.exp(z * se_v)
        hi = surv ** np.exp(-z * se_v)
    none_yet = surv >= 1.0  # no event so far: S = 1 exactly, zero variance
    lo = np.where(none_yet, 1.0, np.where(surv > 0, lo, np.nan))
    hi = np.where(none_yet, 1.0, np.where(surv > 0, hi, np.nan))
    return pd.DataFrame({"time": times, "at_risk": at_risk, "events": d,
                         "censored": total - d, "hazard": hazard, "survival": surv,
                         "se": se, "lo": lo, "hi": hi})


def kaplan_meier_by(users: pd.DataFrame, by: Sequence[str] = ("policy",),
                    duration: str = "duration", event: str = "churned",
                    level: float = 0.95) -> pd.DataFrame:
    """:func:`kaplan_meier` of each group of a per-user table (e.g. ``users.csv``).

    Users of all seeds are pooled within a group; the Greenwood interval treats them as
    independent, so it leaves out between-seed (between-world) variation.

    Args:
        users: one row per user with a ``duration`` and an ``event`` (churned) column.
        by: grouping columns.
        duration: the duration column (days from arrival to churn or to the horizon).
        event: the event column (True / 1 = churned, False / 0 = censored).
        level: confidence level.
    Returns:
        The columns of :func:`kaplan_meier` preceded by ``by``.
    """
    by = list(by)
    require_columns(users, [*by, duration, event])
    _check_one_scenario(users)
    ev = users[event]
    if ev.dtype == object or pd.api.types.is_string_dtype(ev):
        # CSV round trips may leave "True"/"False" strings.
        ev = ev.astype(str).str.lower().map({"true": 1, "false": 0, "1": 1, "0": 0})
        if ev.isna().any():
            raise ValueError(f"column {event!r} of {_source(users, 'users table')} must be "
                             "True/False or 1/0")
    parts = []
    frame = users[by].assign(_d=users[duration], _e=ev.astype(int))
    for key, sub in frame.groupby(by, sort=False):
        km = kaplan_meier(sub["_d"], sub["_e"], level)
        keys = key if isinstance(key, tuple) else (key,)
        for col, val in zip(reversed(by), reversed(keys), strict=True):
            km.insert(0, col, val)
        parts.append(km)
    return pd.concat(parts, ignore_index=True)


def churn_hazard(daily: pd.DataFrame, by: Sequence[str] = ("policy", "seed")) -> pd.DataFrame:
    """Daily churn hazard from the retention columns: churned today / at risk today.

    With ``alive_t = retention_t * joined_users_t`` and ``new_t = joined_t - joined_{t-1}``,
    the users at risk on day t are ``alive_{t-1} + new_t`` and the churned ones ``at_risk_t -
    alive_t`` (before day 1 nobody has joined). A user counts as churned on the day the
    simulator declares it (after ``churn_after_days`` days of absence).

    Args:
        daily: rows per (policy, seed, day) with ``retention`` and ``joined_users``, days
            1, 2, ... without gaps.
        by: the run identifiers.
    Returns:
        Columns ``*by, day, at_risk, churned, hazard`` (hazard NaN when nobody is at risk);
        pass it to :func:`curve_with_ci` with ``metric="hazard"`` for a CI across seeds.
    """
    by = list(by)
    require_columns(daily, [*by, "day", "retention", "joined_users"])
    _check_one_scenario(daily)
    _check_unique(daily, [*by, "day"])
    df = daily[[*by, "day", "retention", "joined_users"]].sort_values([*by, "day"])
    pos = df.groupby(by, sort=False).cumcount() + 1
    if not (pos.to_numpy() == df["day"].to_numpy()).all():
        raise ValueError(f"{_source(daily)}: days must run 1, 2, ... without gaps in every run "
                         "for the churn hazard")
    alive = np.rint(df["retention"].to_numpy() * df["joined_users"].to_numpy())
    g = df.assign(alive=alive).groupby(by, sort=False)
    prev_alive = g["alive"].shift(1, fill_value=0).to_numpy()
    prev_joined = g["joined_users"].shift(1, fill_value=0).to_numpy()
    at_risk = prev_alive + df["joined_users"].to_numpy() - prev_joined
    churned = at_risk - alive
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(at_risk > 0, churned / at_risk, np.nan)
    out = df[[*by, "day"]].copy()
    out["at_risk"] = at_risk.astype(np.int64)
    out["churned"] = churned.astype(np.int64)
    out["hazard"] = hazard
    return out.reset_index(drop=True)
