"""How long real users keep coming back, read from a rating log: a reference for the simulated
retention curves (``docs/validation.md``).

A rating log says when each user rated, not when they visited, so "still active on day d" is
read as "rated something d or more days after their first rating". A user whose first rating is
fewer than d days before the log's last timestamp cannot be observed that long and is left out
of day d's share (right-censoring), so each day has its own number of users.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

SECONDS_PER_DAY = 86_400


def activity_curve(ratings: pd.DataFrame, days: Sequence[int],
                   user_col: str = "user_id", time_col: str = "timestamp") -> pd.DataFrame:
    """Share of users still rating ``d`` days after their first rating, for each ``d``.

    Args:
        ratings: one row per rating, with a user column and a Unix-seconds timestamp column.
        days: the horizons d >= 0 to report.
    Returns:
        one row per ``d``: ``day``, ``observable_users`` (first rating at least d days before
        the log's end), ``still_active`` (share of those with a rating on or after day d of
        their own history), and ``single_day_share`` (share of all users whose ratings fall on
        one calendar day; the same on every row).
    Raises:
        ValueError: an empty log, a missing column, or a negative day.
    """
    missing = [c for c in (user_col, time_col) if c not in ratings.columns]
    if missing:
        raise ValueError(f"activity_curve: the ratings lack the column(s) {missing}")
    if len(ratings) == 0:
        raise ValueError("activity_curve: the rating log is empty")
    if any(d < 0 for d in days):
        raise ValueError(f"activity_curve: days must be >= 0, got {list(days)}")
    day = ratings[time_col].astype("int64") // SECONDS_PER_DAY
    g = day.groupby(ratings[user_col])
    first, last, n_days = g.min(), g.max(), g.nunique()
    end = int(day.max())
    rows = []
    for d in days:
        ok = (end - first) >= d
        share = float(((last - first) >= d)[ok].mean()) if ok.any() else float("nan")
        rows.append({"day": int(d), "observable_users": int(ok.sum()), "still_active": share,
                     "single_day_share": float((n_days == 1).mean())})
    return pd.DataFrame(rows)
