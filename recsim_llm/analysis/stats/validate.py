"""Checks of the tables the statistics read: columns, scenarios, duplicates, completeness."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from recsim_llm.analysis.stats.info import EXPOSURE_PREFIX, GROUP_ID_COLUMNS, MINORITY_EXPOSURE

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
        present = set(runs.get_group((p, s)).astype(int))
        gone = [d for d in range(1, last + 1) if d not in present]
        shown = gone if len(gone) <= 10 else [*gone[:10], "..."]
        issues.append(f"policy {p!r} seed {int(s)} lacks days {shown} (of 1..{last})")
    return issues


