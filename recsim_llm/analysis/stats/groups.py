"""Gaps between user groups."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsim_llm.analysis.stats.validate import (
    _check_one_scenario,
    _check_unique,
    _source,
    require_columns,
    resolve_metric,
)

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


