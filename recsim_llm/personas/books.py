"""Synthetic readers of a book catalog (goodbooks-10k), written from the catalog's own content.

A goodbooks catalog (:func:`recsim_llm.catalog.goodbooks.load_goodbooks`) has no genre column: its
topics are publication decades, its providers first authors, and each book carries a title and a
ratings count. Personas are therefore written from exactly those: each reader likes two eras
(decades) and names books and authors of those eras, and dislikes another era and one of its
authors, e.g.::

    I love recent books from the 2010s like Insurgent and The Scorpio Races, and anything by
    Veronica Roth or Maggie Stiefvater; I also enjoy books from the 2000s such as The Known
    World by Edward P. Jones. I'm hooked on Divergent.
    I can't stand mid-century books from the 1950s, especially anything by James A. Michener.

**Taste groups.** ``taste0 .. taste{G-2}`` are mainstream readers: their favourite eras are
drawn (weighted by the number of books) from the decades since :data:`OLDER_BEFORE`, and the
books they name are drawn with weight ``ratings_count ** POPULARITY_EXPONENT`` -- popular books
and prolific authors come up most. The last group, ``minority``, makes up
``population.minority_share`` of the users and reads **older, less-rated books**: favourite eras
before :data:`OLDER_BEFORE` (including "before 1900"), books named only among those with fewer
ratings than the catalog's median (uniformly). It is the group the fairness metrics single out
(``group_gap`` compares ``minority`` with the rest by default); nothing in the simulator treats
it differently, so whether a policy under-serves it is an outcome to measure, not a given
(``docs/case_studies.md``). A catalog without old decades falls back to the smallest decades.

Everything is drawn from the ``users`` stream, so a seed fixes the personas; the draws are
vectorised over users (loops run only over groups and eras), and only the final string
formatting is a per-user loop.
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt

from recsim_llm.catalog.base import Catalog
from recsim_llm.config import PopulationConfig
from recsim_llm.personas.base import Personas
from recsim_llm.personas.synthetic import MINORITY, hook_susceptibility

__all__ = ["OLDER_BEFORE", "POPULARITY_EXPONENT", "book_personas", "reader_taste_eras"]

OLDER_BEFORE = 1960
"""decades before this year (and "before 1900") are the minority's "older books" eras"""
POPULARITY_EXPONENT = 0.5
"""mainstream readers name books with weight ``ratings_count ** 0.5``: proportional weights would
make nearly every persona name the same handful of blockbusters (4.8M vs a median of 21k
ratings), uniform ones would ignore popularity altogether"""
DISLIKE_PROB = 0.8
"""share of readers with a dislike sentence (the rest have none, as in the synthetic personas)"""
FAVOURITE_ERAS = 3
"""eras per taste group; each reader likes two of them"""
_UNKNOWN = "unknown"
_BEFORE_1900 = "before 1900"
_SERIES = re.compile(r"\s*\(([^()#]*?),?\s*#[^()]*\)\s*$")
_TRAILING_PAREN = re.compile(r"\s*\([^()]*\)\s*$")


def _decade_year(name: str) -> int | None:
    """1950 for '1950s', 1800 for 'before 1900', None for 'unknown' or another name."""
    if name == _BEFORE_1900:
        return 1800
    m = re.fullmatch(r"(\d{3,4})s", name)
    return int(m.group(1)) if m else None


def _era_words(name: str) -> tuple[str, str]:
    """(adjective, phrase) of an era: ('mid-century', 'the 1950s'), ('classic', 'before 1900')."""
    year = _decade_year(name)
    if year is None:
        return "", name
    if name == _BEFORE_1900:
        return "classic", "written before 1900"
    adj = ("early twentieth-century" if year < 1950 else "mid-century" if year < 1980
           else "modern" if year < 2000 else "contemporary" if year < 2010 else "recent")
    return adj, f"from the {name}"


def _short_title(title: str) -> str:
    """'Grave Peril (The Dresden Files, #3)' -> 'Grave Peril'."""
    return _TRAILING_PAREN.sub("", title).strip() or title.strip()


def _series(title: str) -> str:
    """'Grave Peril (The Dresden Files, #3)' -> 'The Dresden Files'; '' without a series."""
    m = _SERIES.search(title)
    return m.group(1).strip() if m else ""


def reader_taste_eras(catalog: Catalog, n_groups: int, rng: np.random.Generator
                      ) -> tuple[list[npt.NDArray[np.int64]], list[npt.NDArray[np.int64]]]:
    """Favourite and disliked eras (topic indices) of each taste group; the last is the minority.

    Args:
        catalog: a catalog whose topics are decades (goodbooks); the topic ``unknown`` is never
            a favourite nor a dislike.
        n_groups: taste groups, >= 2.
        rng: the ``users`` stream.
    Returns:
        (favourites, dislikes): per group, arrays of topic indices (at least one favourite).
    """
    share = np.bincount(catalog.topics, minlength=catalog.n_topics).astype(np.float64)
    known = np.array([n != _UNKNOWN and share[i] > 0 for i, n in enumerate(catalog.topic_names)])
    years = [_decade_year(n) for n in catalog.topic_names]
    older = np.flatnonzero(known & np.array([y is not None and y < OLDER_BEFORE for y in years]))
    recent = np.flatnonzero(known & ~np.isin(np.arange(catalog.n_topics), older))
    if len(older) == 0 or len(recent) == 0:
        # No split by age possible (e.g. a hand-made catalog of one era): the smallest half of
        # the eras stands in for "older books", as the synthetic personas' long tail does.
        by_size = np.flatnonzero(known)[np.argsort(-share[known], kind="stable")]
        half = max(1, len(by_size) // 2)
        recent, older = by_size[:half], by_size[half:] if len(by_size) > half else by_size
    favs, dislikes = [], []
    for g in range(n_groups):
        pool = older if g == n_groups - 1 else recent
        fav = rng.choice(pool, size=min(FAVOURITE_ERAS, len(pool)), replace=False,
                         p=share[pool] / share[pool].sum())
        others = np.setdiff1d(np.flatnonzero(known), fav)
        favs.append(np.sort(fav).astype(np.int64))
        dislikes.append(rng.choice(others, size=min(2, len(others)), replace=False).astype(
            np.int64) if len(others) else np.zeros(0, np.int64))
    return favs, dislikes


def _draw(pool: npt.NDArray[np.int64], weight: npt.NDArray[np.float64], size: int,
          rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """``size`` books from ``pool`` with probability proportional to ``weight`` (with
    replacement: many readers may name the same book)."""
    return rng.choice(pool, size=size, p=weight / weight.sum())


def book_personas(catalog: Catalog, cfg: PopulationConfig, rng: np.random.Generator,
                  horizon_days: int = 0) -> Personas:
    """Day-0 readers plus ``cfg.new_users_per_day`` arrivals per day of the horizon.

    Args:
        catalog: the book catalog (needs ``extra["ratings_count"]`` and ``extra["author"]``, as
            :func:`~recsim_llm.catalog.goodbooks.load_goodbooks` provides).
        cfg: population configuration (``n_users``, ``minority_share``, ``n_taste_groups``,
            ``new_users_per_day``).
        rng: the ``users`` stream.
        horizon_days: new users arrive on days 1 .. horizon_days - 1.
    Returns:
        Personas with groups ``{"taste": taste0.. | minority}``.
    Raises:
        ValueError: the catalog lacks ``ratings_count`` or ``author``.
    """
    for key in ("ratings_count", "author"):
        if key not in catalog.extra:
            raise ValueError(f"book personas need catalog.extra[{key!r}] (a goodbooks catalog "
                             f"from load_goodbooks); got extra keys {sorted(catalog.extra)}")
    count = np.asarray(catalog.extra["ratings_count"], np.float64)
    author = [" ".join(str(a).split()) for a in catalog.extra["author"]]  # 'James  Marshall'
    favs, dislikes = reader_taste_eras(catalog, cfg.n_taste_groups, rng)

    n = cfg.n_users + cfg.new_users_per_day * max(horizon_days - 1, 0)
    g_main = cfg.n_taste_groups - 1
    p_groups = np.full(cfg.n_taste_groups, (1 - cfg.minority_share) / g_main)
    p_groups[-1] = cfg.minority_share
    group = rng.choice(cfg.n_taste_groups, size=n, p=p_groups)

    # Per reader: two distinct favourite eras (a, b) of their group and one disliked era (c).
    era_a = np.zeros(n, np.int64)
    era_b = np.zeros(n, np.int64)
    era_c = np.full(n, -1, np.int64)
    has_dislike = rng.random(n) < DISLIKE_PROB
    keys = rng.random((n, FAVOURITE_ERAS)).argsort(axis=1)
    pick_c = rng.integers(0, 2, size=n)
    for g in range(cfg.n_taste_groups):
        in_g = group == g
        f = favs[g]
        order = keys[in_g] % len(f)  # a permutation when len(f) == 3; else still valid indices
        first = order[:, 0]
        second = np.where(order[:, 1] != first, order[:, 1], (first + 1) % len(f))
        era_a[in_g], era_b[in_g] = f[first], f[second]
        if len(dislikes[g]):
            era_c[in_g] = dislikes[g][pick_c[in_g] % len(dislikes[g])]
    has_dislike &= era_c >= 0

    # Books named: b1, b2 from era a, b3 from era b (liked); b4 from era c (disliked author).
    median = float(np.median(count))
    books = np.zeros((n, 4), np.int64)
    for g in range(cfg.n_taste_groups):
        minority = g == cfg.n_taste_groups - 1
        for t in np.unique(np.concatenate([favs[g], dislikes[g]])):
            pool = np.flatnonzero(catalog.topics == t)
            weight = count[pool] ** POPULARITY_EXPONENT + 1e-9
            if minority and t in favs[g]:
                less = pool[count[pool] < median]
                # The minority names less-rated books, uniformly, where its era has any.
                pool, weight = (less, np.ones(len(less))) if len(less) else (pool, weight)
            for col, era in ((0, era_a), (1, era_a), (2, era_b), (3, era_c)):
                sel = np.flatnonzero((group == g) & (era == t))
                if len(sel):
                    books[sel, col] = _draw(pool, weight, len(sel), rng)

    likes, dislike_texts, interests = [], [], []
    titles = catalog.titles
    for u in range(n):  # string formatting only; all draws were made above
        b1, b2, b3, b4 = books[u]
        adj_a, phr_a = _era_words(catalog.topic_names[era_a[u]])
        _adj_b, phr_b = _era_words(catalog.topic_names[era_b[u]])
        t1, t2, t3 = _short_title(titles[b1]), _short_title(titles[b2]), _short_title(titles[b3])
        named = f"{t1} and {t2}" if t1 != t2 else t1
        authors = (f"{author[b1]} or {author[b2]}" if author[b1] != author[b2]
                   else author[b1])
        first = f"I love {adj_a} books {phr_a} like {named}, and anything by {authors}"
        second = f"I also enjoy books {phr_b} such as {t3} by {author[b3]}"
        text = f"{first}; {second}."
        series = _series(titles[b1])
        if series:
            text += f" I'm hooked on {series}."
            first += f". I'm hooked on {series}"
        likes.append(text.replace("  ", " "))
        interests.append([(first + ".").replace("  ", " "), (second + ".").replace("  ", " ")])
        if has_dislike[u]:
            adj_c, phr_c = _era_words(catalog.topic_names[era_c[u]])
            dislike_texts.append(f"I can't stand {adj_c} books {phr_c}, especially anything by "
                                 f"{author[b4]}.".replace("  ", " "))
        else:
            dislike_texts.append("")
    names = np.array([f"taste{g}" for g in range(g_main)] + [MINORITY])
    arrival = np.zeros(n, np.int64)
    if n > cfg.n_users:
        arrival[cfg.n_users:] = 1 + np.arange(n - cfg.n_users) // cfg.new_users_per_day
    return Personas(user_ids=np.array([f"reader{u}" for u in range(n)]), likes=likes,
                    dislikes=dislike_texts, groups={"taste": names[group]}, arrival_day=arrival,
                    interests=interests, hook=hook_susceptibility(cfg.hook_cv, n, rng))
