"""Chronological persona / fit / held-out periods and item priors counted on a period."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsim_llm.calibration.constants import (
    ITEM_PRIORS,
    MIN_RATINGS,
    PERSONA_FRACTION,
    TRAIN_FRACTION,
    FloatArray,
    IntArray,
)
from recsim_llm.catalog.movielens import PRIOR_STRENGTH, MovieLensData

# --------------------------------------------------------------------------------------------
# periods and priors


def split_periods(data: MovieLensData, *, persona_fraction: float = PERSONA_FRACTION,
                  train_fraction: float = TRAIN_FRACTION,
                  min_ratings: int = MIN_RATINGS) -> pd.DataFrame:
    """Split each user's ratings chronologically into persona, fit and held-out periods.

    The rule is that of :func:`~recsim_llm.personas.ratings.personas_from_history`: a user's ratings
    sorted by (timestamp, item index); rank ``r`` (from 0) of ``n`` is in the persona period if
    ``r < floor(persona_fraction * n)``, in the fit period if also ``r < floor(train_fraction *
    n)``, else held out.

    Args:
        data: a loaded MovieLens dataset.
        persona_fraction: share of each user's ratings in the persona period, in (0, 1).
        train_fraction: share in the persona + fit (training) period, in (persona_fraction, 1).
        min_ratings: users with fewer ratings, or with an empty period, are dropped.

    Returns:
        [n_kept_ratings] frame with columns ``user`` (int64 row of the kept users, in numeric
        user-id order), ``user_id`` (str), ``item`` (int64), ``rating`` (float64), ``timestamp``
        (int64) and ``period`` (int64: 0 persona, 1 fit, 2 held-out); ``frame.attrs`` holds
        ``user_ids`` (the kept ids, in row order) and ``n_dropped_users``.

    Raises:
        ValueError: fractions out of range (``train_fraction = 1`` leaves the held-out period
            empty), or no user has enough ratings to be split.
    """
    if not 0.0 < persona_fraction < 1.0:
        raise ValueError(f"persona_fraction must be in (0, 1), got {persona_fraction}")
    if train_fraction >= 1.0:
        raise ValueError(f"the held-out period is empty: train_fraction={train_fraction} leaves "
                         f"no rating after the training period (use a value below 1)")
    if not persona_fraction < train_fraction:
        raise ValueError(f"train_fraction ({train_fraction}) must exceed persona_fraction "
                         f"({persona_fraction}): the fit period lies between them")
    r = pd.DataFrame({
        "user_id": data.ratings["user_id"].astype(str).to_numpy(),
        "item": data.ratings["item_index"].to_numpy(np.int64),
        "rating": data.ratings["rating"].to_numpy(np.float64),
        "timestamp": data.ratings["timestamp"].to_numpy(np.int64)})
    if r.empty:
        raise ValueError("too few ratings to split: the dataset has no ratings")
    r = r.sort_values(["user_id", "timestamp", "item"], kind="stable").reset_index(drop=True)
    grp = r.groupby("user_id", sort=False)
    rank = grp.cumcount().to_numpy()
    size = grp["item"].transform("size").to_numpy()
    # the epsilon keeps e.g. 0.8 * 5 from flooring to 3 through rounding error (as history.py)
    n_persona = np.floor(persona_fraction * size + 1e-9)
    n_train = np.floor(train_fraction * size + 1e-9)
    r["period"] = np.where(rank < n_persona, 0, np.where(rank < n_train, 1, 2)).astype(np.int64)
    counts = pd.crosstab(r["user_id"], r["period"]).reindex(columns=[0, 1, 2], fill_value=0)
    total = counts.sum(axis=1)
    ok = (total >= min_ratings) & (counts > 0).all(axis=1)
    if not ok.any():
        raise ValueError(
            f"too few ratings to split: no user has at least {min_ratings} ratings with a "
            f"non-empty persona ({persona_fraction:.0%}), fit (to {train_fraction:.0%}) and "
            f"held-out period (the most ratings of any user is {int(total.max())}); "
            f"lower min_ratings or load a larger dataset")
    kept = [str(u) for u in counts.index[ok.to_numpy()]]
    if all(u.isdigit() for u in kept):
        kept = sorted(kept, key=int)
    else:
        kept = sorted(kept)
    code = pd.Index(kept).get_indexer(r["user_id"].to_numpy())
    r = r[code >= 0].assign(user=code[code >= 0].astype(np.int64))
    r = r.sort_values(["user", "timestamp", "item"], kind="stable").reset_index(drop=True)
    r = r[["user", "user_id", "item", "rating", "timestamp", "period"]]
    r.attrs["user_ids"] = np.asarray(kept, dtype=str)
    r.attrs["n_dropped_users"] = int((~ok).sum())
    return r


def item_prior(items: IntArray, ratings: FloatArray, n_items: int, kind: str,
               rating_scale: tuple[float, float]) -> FloatArray:
    """An item prior in [0, 1] counted from a set of ratings.

    Args:
        items: [m] item index of each rating.
        ratings: [m] the ratings.
        n_items: catalog size.
        kind: ``"popularity"``: ``log1p(count) / log1p(max count)``; ``"mean_rating"``: the
            Bayesian-shrunk mean ``(sum r + 10 * global_mean) / (count + 10)`` mapped linearly
            from ``rating_scale`` to [0, 1] (an unrated film gets the global mean).
        rating_scale: (lowest, highest) possible rating.

    Returns:
        [n_items] prior values in [0, 1].
    """
    if kind not in ITEM_PRIORS:
        raise ValueError(f"unknown item prior {kind!r}; valid: {list(ITEM_PRIORS)}")
    count = np.bincount(items, minlength=n_items).astype(np.float64)
    if kind == "popularity":
        top = np.log1p(count.max(initial=0.0))
        return np.log1p(count) / top if top > 0 else np.zeros(n_items)
    total = np.bincount(items, weights=ratings, minlength=n_items)
    mu = float(ratings.mean()) if len(ratings) else 0.5 * sum(rating_scale)
    shrunk = (total + PRIOR_STRENGTH * mu) / (count + PRIOR_STRENGTH)
    lo, hi = rating_scale
    return np.clip((shrunk - lo) / (hi - lo), 0.0, 1.0)
