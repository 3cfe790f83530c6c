"""goodbooks-10k (10,000 popular Goodreads books) as a catalog."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from recsim_llm.catalog.base import Catalog
from recsim_llm.catalog.tabular import check_no_missing, index_of, read_delimited

__all__ = ["load_goodbooks"]

PRIOR_STRENGTH = 10.0
"""m of the shrunk average rating (negligible for these books, which have thousands of ratings,
but it keeps the rule the same as MovieLens and tames a hand-made file with tiny counts)"""
ESTABLISHED_MIN_BOOKS = 3
"""an author with at least this many books in the catalog is "established" """
PROVIDER_GROUPS = ("established", "emerging")
MAX_BOOK_TAGS = 5
BEFORE_1900 = "before 1900"
UNKNOWN_YEAR = "unknown"
# shelves that describe the reader, not the book
_SHELF_TAGS = {
    "to-read", "currently-reading", "favorites", "favourites", "owned", "books-i-own",
    "owned-books", "my-books", "default", "library", "kindle", "ebook", "ebooks", "to-buy",
    "wish-list", "wishlist", "my-library", "i-own", "own", "read", "re-read", "books",
    "audiobook", "audiobooks", "audio", "e-book", "did-not-finish", "dnf", "abandoned",
}
_BOOK_COLUMNS = ("book_id", "authors", "original_publication_year", "title", "average_rating",
                 "ratings_count")


def _decade_topic(year: npt.NDArray[np.float64]) -> tuple[tuple[str, ...], npt.NDArray[np.int64]]:
    """Topic names in time order and [n] topic index: '1990s', ..., 'before 1900', 'unknown'."""
    labels = np.where(~np.isfinite(year), UNKNOWN_YEAR,
                      np.where(np.nan_to_num(year) < 1900, BEFORE_1900,
                               [f"{int(y) // 10 * 10}s" for y in np.nan_to_num(year, nan=0)]))
    decades = sorted({lab for lab in labels.tolist() if lab not in (BEFORE_1900, UNKNOWN_YEAR)})
    names = ([BEFORE_1900] if (labels == BEFORE_1900).any() else []) + decades + (
        [UNKNOWN_YEAR] if (labels == UNKNOWN_YEAR).any() else [])
    return tuple(names), index_of(labels.tolist(), names)


def _year_text(year: float) -> str:
    if not np.isfinite(year):
        return ""
    y = int(year)
    return f" ({-y} BC)" if y < 0 else f" ({y})"


def _book_tags(folder: Path, goodreads_ids: npt.NDArray[np.str_]) -> list[str]:
    """[n] up to 5 most-used descriptive tags per book, from book_tags.csv + tags.csv."""
    bt = read_delimited(folder / "book_tags.csv", sep=",",
                        required=("goodreads_book_id", "tag_id", "count"))
    names = read_delimited(folder / "tags.csv", sep=",", required=("tag_id", "tag_name"))
    tag_name = pd.Series(names.frame["tag_name"].astype(str).str.strip().str.lower().to_numpy(),
                         index=names.numeric("tag_id", integer=True).astype(np.int64))
    t = pd.DataFrame({
        "book": pd.Index(goodreads_ids).get_indexer(
            bt.numeric("goodreads_book_id", integer=True).astype(np.int64).astype(str)),
        "tag": tag_name.reindex(bt.numeric("tag_id", integer=True).astype(np.int64)).to_numpy(),
        "count": bt.numeric("count")})
    t = t[(t["book"] >= 0) & t["tag"].notna()]
    t = t[~t["tag"].isin(_SHELF_TAGS) & (t["tag"] != "")]
    t = t.groupby(["book", "tag"], as_index=False)["count"].sum()
    t = t.sort_values(["book", "count", "tag"], ascending=[True, False, True])
    top = t.groupby("book").head(MAX_BOOK_TAGS).groupby("book")["tag"].agg(", ".join)
    out = [""] * len(goodreads_ids)
    for book, joined in top.items():
        out[int(book)] = joined
    return out


def load_goodbooks(path: str | Path) -> Catalog:
    """The goodbooks-10k books as a catalog.

    * ``item_ids``: ``book_id``; ``titles``: ``title`` (``original_title`` when empty).
    * ``texts``: ``"{title} by {authors} ({year})."`` plus ``" Tags: fantasy, classics."`` when
      the folder also holds ``book_tags.csv`` and ``tags.csv`` (``tags.csv`` alone only names the
      tags and cannot be linked to books, so it is then ignored).
    * ``topics``: goodbooks has no genre column, and deriving genres from shelves would be a
      guess, so the topic is simply the **decade** of ``original_publication_year`` (``"1990s"``;
      ``"before 1900"`` for older books; ``"unknown"`` without a year), names in time order.
    * ``provider``: the first listed author (index into the sorted author names, which are in
      ``extra["author"]``); ``provider_group``: ``"established"`` when that author has at least
      3 books in the catalog, else ``"emerging"``.
    * ``appeal``: popularity, ``(log n_i - log min n) / (log max n - log min n)`` of
      ``ratings_count`` (``n_i = 1 + ratings_count``; all ten thousand books are popular, 2.7k
      to 4.8M ratings, hence the min-max of the logarithm).
    * ``value``: ``average_rating`` shrunk toward the catalog mean,
      ``(avg * count + m * mean) / (count + m)`` with ``m = 10``, mapped linearly from [1, 5] to
      [-1, 1] (a 3-star book is neutral). On goodbooks-10k the two are nearly uncorrelated
      (r = 0.08 between log counts and ratings): what is read widely is not what is rated best.
    * ``extra``: ``ratings_count`` (int), ``year`` (float, NaN if unknown), ``average_rating``,
      ``author``.

    Args:
        path: the goodbooks-10k folder (or its ``books.csv``).

    Returns:
        The catalog, books in file order, ``arrival_day`` all 0.

    Raises:
        FileNotFoundError: no ``books.csv``.
        ValueError: a malformed record (wrong field count, non-numeric rating or count,
            undecodable bytes, empty id or author, duplicate ``book_id``), naming file and line.
    """
    path = Path(path)
    books_csv = path if path.suffix.lower() == ".csv" else path / "books.csv"
    if not books_csv.is_file():
        raise FileNotFoundError(f"{books_csv}: no such file (expected the goodbooks-10k "
                                "folder holding books.csv)")
    folder = books_csv.parent
    t = read_delimited(books_csv, sep=",", required=_BOOK_COLUMNS)
    f = t.frame
    check_no_missing(t, "book_id")
    t.check_unique("book_id")
    check_no_missing(t, "authors")
    ids = t.numeric("book_id", integer=True).astype(np.int64).astype(str)
    avg = t.numeric("average_rating")
    count = t.numeric("ratings_count", integer=True)
    year = t.numeric("original_publication_year", allow_missing=True)
    off = (avg < 1) | (avg > 5) | (count < 0)
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise ValueError(f"{t.where(i)}: average_rating must be in [1, 5] and ratings_count "
                         f">= 0, got {avg[i]} and {count[i]}")

    titles = f["title"].astype(str).str.strip()
    if "original_title" in f.columns:
        titles = titles.where(titles != "", f["original_title"].astype(str).str.strip())
    titles_l = titles.tolist()
    authors = f["authors"].astype(str).str.strip().tolist()
    first_author = np.asarray([a.split(",")[0].strip() for a in authors], dtype=str)

    author_names = sorted(set(first_author.tolist()))
    provider = index_of(first_author.tolist(), author_names)
    books_per_author = np.bincount(provider, minlength=len(author_names))
    provider_group = np.where(books_per_author[provider] >= ESTABLISHED_MIN_BOOKS, 0, 1)

    mean = float(avg.mean())
    rating01 = np.clip(((avg * count + PRIOR_STRENGTH * mean) / (count + PRIOR_STRENGTH) - 1) / 4,
                       0.0, 1.0)
    log_n = np.log1p(count)
    span = float(log_n.max() - log_n.min())
    appeal = (log_n - log_n.min()) / span if span > 0 else np.full_like(log_n, 0.5)
    topic_names, topics = _decade_topic(year)

    tags = [""] * len(f)
    if (folder / "book_tags.csv").is_file() and (folder / "tags.csv").is_file() and (
            "goodreads_book_id" in f.columns):
        tags = _book_tags(folder, t.numeric("goodreads_book_id", integer=True).astype(
            np.int64).astype(str))
    texts = [f"{ti} by {au}{_year_text(y)}." + (f" Tags: {tg}." if tg else "")
             for ti, au, y, tg in zip(titles_l, authors, year, tags, strict=True)]

    n = len(f)
    return Catalog(
        item_ids=ids, titles=titles_l, texts=texts, topics=topics, topic_names=topic_names,
        provider=provider, provider_group=provider_group.astype(np.int64),
        provider_group_names=PROVIDER_GROUPS, appeal=appeal.astype(np.float64),
        value=(2.0 * rating01 - 1.0).astype(np.float64),
        arrival_day=np.zeros(n, np.int64), topic_matrix=None, source=str(books_csv),
        extra={"ratings_count": count.astype(np.int64), "year": year,
               "average_rating": avg, "author": first_author})
