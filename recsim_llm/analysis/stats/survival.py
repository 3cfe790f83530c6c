"""Survival: Kaplan-Meier curves and the daily churn hazard."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats as sps

from recsim_llm.analysis.stats.validate import (
    _check_one_scenario,
    _check_unique,
    _source,
    require_columns,
)

# --------------------------------------------------------------------------- survival


def kaplan_meier(durations: npt.ArrayLike, events: npt.ArrayLike | None = None,
                 level: float = 0.95) -> pd.DataFrame:
    """Kaplan-Meier survival curve with Greenwood variance and a log-log confidence interval.

    The estimate and the band come from :func:`scipy.stats.ecdf` on
    :class:`scipy.stats.CensoredData` (``method="log-log"``); the table adds the risk sets.

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
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    times, inv = np.unique(t, return_inverse=True)
    total = np.bincount(inv, minlength=times.size)
    d = np.bincount(inv, weights=e, minlength=times.size).astype(np.int64)
    at_risk = t.size - np.concatenate(([0], np.cumsum(total)[:-1]))
    hazard = d / at_risk
    if e.any():
        # The product-limit estimate and its log-log band from scipy (right-censored data).
        res = sps.ecdf(sps.CensoredData(uncensored=t[e], right=t[~e]))
        surv = res.sf.evaluate(times)
        with warnings.catch_warnings():
            # "undefined at some observations": where S = 0 (NaN below, as documented).
            warnings.simplefilter("ignore", RuntimeWarning)
            band = res.sf.confidence_interval(confidence_level=level, method="log-log")
            lo, hi = band.low.evaluate(times), band.high.evaluate(times)
    else:
        surv, lo, hi = np.ones(times.size), np.ones(times.size), np.ones(times.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        gw = np.cumsum(np.where(d > 0, d / (at_risk * (at_risk - d)), 0.0))
        se = np.where(surv > 0, surv * np.sqrt(gw), np.nan)  # Greenwood
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

