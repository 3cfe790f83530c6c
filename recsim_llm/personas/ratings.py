"""Personas written from a user's own rating history (MovieLens), with a chronological hold-out."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from recsim_llm.personas.base import Personas

if TYPE_CHECKING:  # the catalog package imports nothing from users; keep it that way at runtime
    from recsim_llm.catalog.movielens import MovieLensData

__all__ = ["personas_from_history"]

GENRE_PRIOR = 3.0
"""a genre's mean rating is shrunk toward the user's mean as if by this many extra ratings"""
MAX_GENRES = 3
"""at most this many favourite / avoided genres"""
AVOID_MARGIN = 0.25
"""a genre is avoided when its shrunk mean is this far below the user's mean (and below
``like_threshold``) over at least two ratings"""
MAX_USER_TAGS = 5
"""at most this many of the user's own tags in the likes text"""
AGE_BANDS = ("<25", "25-34", "35-44", "45+")
_OTHER_TOPIC = "Other"


def _join(names: list[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _display_titles(data: MovieLensData) -> list[str]:
    """[n_items] 'Title (year)' as people write it (the catalog keeps the year apart)."""
    years = np.asarray(data.catalog.extra.get("year", np.full(data.catalog.n_items, np.nan)),
                       np.float64)
    return [f"{t} ({int(y)})" if np.isfinite(y) else t for t, y in
            zip(data.catalog.titles, years, strict=True)]


def _sorted_user_ids(ids: npt.NDArray[np.str_]) -> list[str]:
    """Unique ids, numerically when all are integers (so '10' follows '9'), else as text."""
    unique = pd.unique(pd.Series(ids, dtype=str))
    if all(u.isdigit() for u in unique):
        return sorted(unique, key=int)
    return sorted(unique)


def _age_band(age: npt.NDArray[np.int64]) -> npt.NDArray[np.str_]:
    return np.select([age < 25, age < 35, age < 45], list(AGE_BANDS[:3]), AGE_BANDS[3])


def _top_per_user(frame: pd.DataFrame, by: list[str], ascending: list[bool], k: int,
                  value: str) -> dict[int, list]:
    """user code -> the first ``k`` values of ``value`` after sorting each user's rows by ``by``."""
    if frame.empty:
        return {}
    top = frame.sort_values(["user", *by], ascending=[True, *ascending], kind="stable")
    return top.groupby("user", sort=False).head(k).groupby("user", sort=False)[value].agg(
        list).to_dict()


def personas_from_history(
    data: MovieLensData, *, train_end: float | None = None, train_fraction: float = 0.8,
    min_train_ratings: int = 5, like_threshold: float = 4.0, dislike_threshold: float = 2.5,
    max_titles: int = 5, per_title_interests: bool = True, max_interests: int | None = None,
    interest_order: str = "rating", interest_text: str = "persona",
) -> tuple[Personas, pd.DataFrame]:
    """Write each user's persona from their early ratings and hold out the later ones.

    Split: each user's ratings are sorted by (timestamp, item index); the first
    ``floor(train_fraction * n_user)`` are training ratings. With ``train_end`` the split is global
    instead: ratings with ``timestamp < train_end`` train, the rest are held out. The persona texts
    are written from training ratings (and the user's own tags made before their first held-out
    rating) only, so nothing of the held-out period leaks into them.

    Texts (deterministic; parts with nothing to say are left out):

    * likes: ``"Films like Toy Story (1995), Fargo (1996) and Heat (1995). Favourite genres:
      Comedy, Drama, Thriller. Tags: dark comedy, twist ending."`` -- the films are the user's
      highest rated with rating >= ``like_threshold`` (ties: most recent first, then item index),
      at most ``max_titles``.
    * dislikes: ``"Films like Showgirls (1995). Avoids genres: Horror, Musical."`` -- the films
      rated <= ``dislike_threshold`` (lowest first, same tie-breaks); ``''`` if nothing is
      disliked.

    Genres: per user and genre, the mean rating shrunk toward the user's mean,
    ``(sum r + 3 * user_mean) / (count + 3)``. Favourite genres are the (up to 3) highest above
    the user's mean (ties: more ratings, then name); a user who rates every genre alike gets
    their most-rated genres. Avoided genres are the (up to 3) lowest, over at least 2 ratings,
    that are 0.25 below the user's mean and below ``like_threshold``.

    Args:
        data: a loaded MovieLens dataset.
        train_end: global cut-off timestamp (Unix seconds); None = per-user ``train_fraction``.
        train_fraction: share of each user's ratings, in (0, 1], used for the persona.
        min_train_ratings: users with fewer training ratings (at least 1 is always needed) are
            dropped from both outputs.
        like_threshold: lowest rating of a liked film.
        dislike_threshold: highest rating of a disliked film.
        max_titles: at most this many liked / disliked films are named.
        per_title_interests: one interest per liked film (its title with the user's
            genres and tags), pooled by the simulator's soft maximum; False: the whole likes
            text as one interest.
        max_interests: at most this many liked films become interests (None: ``max_titles``,
            the films the likes text names).
        interest_order: which liked films become interests: ``"rating"`` (highest rated, as
            the likes text) or ``"recent"`` (the most recent liked films first: what the user
            was into at the end of the training period, where the simulation starts).
        interest_text: ``"persona"`` (``"Films like <title>."`` plus the user's genres and
            tags) or ``"item"`` (the film's own catalog text, so that the interest's cosine to
            a film is a film-to-film similarity in the encoder's space).

    Returns:
        ``(personas, held_out)``: the :class:`Personas` of the kept users, ordered by user id,
        with groups ``activity`` (``"heavy"`` above the median number of training ratings, else
        ``"light"``) and, when the dataset has demographics (ML-100K), ``gender``, ``age``
        (``"<25"``, ``"25-34"``, ``"35-44"``, ``"45+"``) and ``occupation``, and ``history``
        = each user's training-period items (the platform's log before the run); and ``held_out``
        [n_test] with columns ``user_id``, ``item_index``, ``rating``, ``timestamp``, the kept
        users' ratings of the held-out period in (user, time) order.

    Raises:
        ValueError: bad arguments; no user has ``min_train_ratings`` training ratings; the
            held-out period is empty.
    """
    if train_end is None and not 0.0 < train_fraction <= 1.0:
        raise ValueError(f"train_fraction must be in (0, 1], got {train_fraction}")
    if dislike_threshold >= like_threshold:
        raise ValueError("dislike_threshold must be below like_threshold")
    if max_titles < 0:
        raise ValueError("max_titles must be >= 0")
    if interest_order not in ("rating", "recent"):
        raise ValueError(f"interest_order must be 'rating' or 'recent', got {interest_order!r}")
    if interest_text not in ("persona", "item"):
        raise ValueError(f"interest_text must be 'persona' or 'item', got {interest_text!r}")
    if max_interests is not None and max_interests < 1:
        raise ValueError(f"max_interests must be >= 1, got {max_interests}")
    catalog = data.catalog
    min_train = max(1, int(min_train_ratings))

    # ---- chronological split, vectorised over all ratings
    order = _sorted_user_ids(data.ratings["user_id"].to_numpy(dtype=str))
    r = pd.DataFrame({
        "user": pd.Categorical(data.ratings["user_id"].astype(str), categories=order).codes,
        "item": data.ratings["item_index"].to_numpy(np.int64),
        "rating": data.ratings["rating"].to_numpy(np.float64),
        "timestamp": data.ratings["timestamp"].to_numpy(np.int64)})
    r = r.sort_values(["user", "timestamp", "item"], kind="stable").reset_index(drop=True)
    if train_end is None:
        rank = r.groupby("user").cumcount().to_numpy()
        size = r.groupby("user")["item"].transform("size").to_numpy()
        # the epsilon keeps e.g. 0.8 * 5 from flooring to 3 through rounding error
        train = rank < np.floor(train_fraction * size + 1e-9)
    else:
        train = r["timestamp"].to_numpy() < train_end
    n_train = np.bincount(r["user"].to_numpy()[train], minlength=len(order))
    kept = np.flatnonzero(n_train >= min_train)
    if len(kept) == 0:
        raise ValueError(
            f"no user has at least {min_train} training ratings (most has "
            f"{int(n_train.max(initial=0))}); lower min_train_ratings or move the split later")
    is_kept = np.zeros(len(order), np.bool_)
    is_kept[kept] = True
    in_kept = is_kept[r["user"].to_numpy()]
    tr = r[train & in_kept]
    test = r[~train & in_kept]
    if test.empty:
        raise ValueError("the held-out period is empty: no kept user has a rating after the "
                         "split (lower train_fraction or move train_end earlier)")

    # ---- liked / disliked films
    titles = _display_titles(data)
    liked = _top_per_user(tr[tr["rating"] >= like_threshold], ["rating", "timestamp", "item"],
                          [False, False, True], max_titles, "item")
    disliked = _top_per_user(tr[tr["rating"] <= dislike_threshold],
                             ["rating", "timestamp", "item"], [True, False, True], max_titles,
                             "item")
    n_int = max_titles if max_interests is None else max_interests
    if interest_order == "recent":
        liked_int = _top_per_user(tr[tr["rating"] >= like_threshold], ["timestamp", "item"],
                                  [False, True], n_int, "item")
    elif n_int != max_titles:
        liked_int = _top_per_user(tr[tr["rating"] >= like_threshold],
                                  ["rating", "timestamp", "item"], [False, False, True], n_int,
                                  "item")
    else:
        liked_int = liked

    # ---- genres: one row per (training rating, genre of the film)
    topic_matrix = (catalog.topic_matrix if catalog.topic_matrix is not None
                    else catalog.topic_onehot() > 0)
    row, genre = np.nonzero(topic_matrix[tr["item"].to_numpy()])
    g = pd.DataFrame({"user": tr["user"].to_numpy()[row], "genre": genre,
                      "rating": tr["rating"].to_numpy()[row]})
    if _OTHER_TOPIC in catalog.topic_names:  # "Other" says nothing about taste
        g = g[g["genre"] != catalog.topic_names.index(_OTHER_TOPIC)]
    stats = g.groupby(["user", "genre"])["rating"].agg(["sum", "count", "mean"]).reset_index()
    user_mean = tr.groupby("user")["rating"].mean()
    mu = user_mean.reindex(stats["user"]).to_numpy()
    stats["shrunk"] = (stats["sum"] + GENRE_PRIOR * mu) / (stats["count"] + GENRE_PRIOR)
    stats["lift"] = stats["shrunk"] - mu
    fav = _top_per_user(stats[stats["lift"] > 1e-9], ["lift", "count", "genre"],
                        [False, False, True], MAX_GENRES, "genre")
    most_rated = _top_per_user(stats, ["count", "genre"], [False, True], MAX_GENRES, "genre")
    avoid_rows = stats[(stats["lift"] < -AVOID_MARGIN) & (stats["count"] >= 2)
                       & (stats["mean"] < like_threshold)]
    avoided = _top_per_user(avoid_rows, ["lift", "count", "genre"], [True, False, True],
                            MAX_GENRES, "genre")

    # ---- the user's own tags, written before their first held-out rating
    user_tags: dict[int, list] = {}
    if data.tags is not None and len(data.tags):
        t = pd.DataFrame({
            "user": pd.Categorical(data.tags["user_id"].astype(str), categories=order).codes,
            "tag": data.tags["tag"].astype(str).str.strip().str.lower(),
            "timestamp": data.tags["timestamp"].to_numpy(np.int64)})
        t = t[(t["user"] >= 0) & (t["tag"] != "")]
        t = t[is_kept[t["user"].to_numpy()]]
        if train_end is None:
            first_test = test.groupby("user")["timestamp"].min()
            cutoff = first_test.reindex(t["user"]).fillna(math.inf).to_numpy()
        else:
            cutoff = np.full(len(t), train_end)
        t = t[t["timestamp"].to_numpy() < cutoff]
        counts = t.groupby(["user", "tag"]).size().rename("n").reset_index()
        user_tags = _top_per_user(counts, ["n", "tag"], [False, True], MAX_USER_TAGS, "tag")

    # ---- texts: a loop over users for the string formatting only
    names = catalog.topic_names
    likes: list[str] = []
    dislikes: list[str] = []
    interests: list[list[str]] = []
    for u in kept.tolist():
        parts = []
        if liked.get(u):
            parts.append(f"Films like {_join([titles[i] for i in liked[u]])}.")
        genres = fav.get(u) or most_rated.get(u)
        rest = []
        if genres:
            rest.append(f"Favourite genres: {', '.join(names[k] for k in genres)}.")
        if user_tags.get(u):
            rest.append(f"Tags: {', '.join(user_tags[u])}.")
        likes.append(" ".join(parts + rest) or "Films of any kind.")
        # one interest per liked title, each with the user's genres and tags
        if per_title_interests and liked_int.get(u):
            if interest_text == "item":
                interests.append([catalog.texts[i] for i in liked_int[u]])
            else:
                interests.append([" ".join([f"Films like {titles[i]}.", *rest])
                                  for i in liked_int[u]])
        else:
            interests.append([likes[-1]])
        parts = []
        if disliked.get(u):
            parts.append(f"Films like {_join([titles[i] for i in disliked[u]])}.")
        if avoided.get(u):
            parts.append(f"Avoids genres: {', '.join(names[k] for k in avoided[u])}.")
        dislikes.append(" ".join(parts))

    # ---- groups
    user_ids = np.asarray([order[u] for u in kept], dtype=str)
    counts_kept = n_train[kept]
    groups: dict[str, npt.NDArray[np.str_]] = {
        "activity": np.where(counts_kept > np.median(counts_kept), "heavy", "light")}
    if data.users is not None:
        demo = data.users.assign(user_id=data.users["user_id"].astype(str)).set_index(
            "user_id").reindex(user_ids)
        groups["gender"] = demo["gender"].fillna("unknown").astype(str).to_numpy(dtype=str)
        age = demo["age"].to_numpy(np.float64)
        groups["age"] = np.where(np.isfinite(age),
                                 _age_band(np.nan_to_num(age, nan=-1).astype(np.int64)),
                                 "unknown")
        groups["occupation"] = demo["occupation"].fillna("unknown").astype(str).to_numpy(
            dtype=str)

    # ---- the platform's log before the run: each kept user's training items, in rating order
    tr_user = tr["user"].to_numpy()
    starts = np.searchsorted(tr_user, kept)  # ``r`` (so ``tr``) is sorted by user
    ends = np.searchsorted(tr_user, kept, side="right")
    tr_item = tr["item"].to_numpy(np.int64)
    history = [tr_item[a:b] for a, b in zip(starts, ends, strict=True)]
    personas = Personas(user_ids=user_ids, likes=likes, dislikes=dislikes, groups=groups,
                        interests=interests, history=history)
    held_out = pd.DataFrame({
        "user_id": np.asarray(order, dtype=str)[test["user"].to_numpy()],
        "item_index": test["item"].to_numpy(np.int64),
        "rating": test["rating"].to_numpy(np.float64),
        "timestamp": test["timestamp"].to_numpy(np.int64)})
    return personas, held_out
