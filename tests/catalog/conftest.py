"""Shared fixtures of the catalog tests: the real data sets (skipped when absent) and tiny
hand-made MovieLens folders in every supported layout."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from recsim_llm.catalog import MovieLensData, load_movielens

DATA = Path(__file__).parents[2].parent / "shared" / "data"
GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western")

# (id, GroupLens title, release date, genres): the same five films in every hand-made layout
FILMS_100K = [
    (1, "Toy Story (1995)", "01-Jan-1995", ("Animation", "Children's", "Comedy")),
    (2, "Café au lait (1993)", "01-Jan-1993", ("Comedy",)),
    (3, "Shawshank Redemption, The (1994)", "01-Jan-1994", ("Drama",)),
    (4, "unknown", "", ("unknown",)),
    (5, "Psycho (1960)", "01-Jan-1960", ("Horror", "Romance", "Thriller")),
]
RATINGS_100K = [  # user, item, rating, timestamp
    (1, 1, 5, 880000001), (1, 2, 4, 880000002), (1, 3, 5, 880000003), (1, 5, 1, 880000004),
    (2, 1, 3, 880000010), (2, 3, 4, 880000011), (2, 4, 2, 880000012),
    (3, 5, 5, 880000020), (3, 1, 2, 880000021),
]
USERS_100K = [(1, 24, "M", "technician", "85711"), (2, 53, "F", "other", "94043"),
              (3, 40, "M", "writer", "32067")]


def write_grouplens_100k(folder: Path) -> Path:
    """A tiny ML-100K folder in the GroupLens layout (u.item is latin-1, as the original)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.genre").write_text(
        "".join(f"{g}|{k}\n" for k, g in enumerate(GENRES_100K)) + "\n", encoding="latin-1")
    lines = []
    for mid, title, date, genres in FILMS_100K:
        flags = "|".join("1" if g in genres else "0" for g in GENRES_100K)
        lines.append(f"{mid}|{title}|{date}||http://us.imdb.com/M/x|{flags}\n")
    (folder / "u.item").write_bytes("".join(lines).encode("latin-1"))
    (folder / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in
                                           RATINGS_100K))
    (folder / "u.user").write_text("".join("|".join(map(str, row)) + "\n" for row in USERS_100K))
    return folder


def write_recbole_100k(folder: Path) -> Path:
    """The same films, ratings and users in the RecBole atomic-file layout."""
    folder.mkdir(parents=True, exist_ok=True)
    items = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"]
    for mid, title, _, genres in FILMS_100K:
        name, _, year = title.rpartition(" (")
        year = year.rstrip(")") if name else "unkonwn"
        items.append(f"{mid}\t{name or title}\t{year}\t{' '.join(genres)}\n")
    (folder / "ml-100k.item").write_text("".join(items), encoding="utf-8")
    (folder / "ml-100k.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        + "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in RATINGS_100K))
    (folder / "ml-100k.user").write_text(
        "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
        + "".join("\t".join(map(str, row)) + "\n" for row in USERS_100K))
    return folder


MOVIES_CSV = (
    "movieId,title,genres\n"
    "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
    '2,"American President, The (1995)",Comedy|Drama|Romance\n'
    "3,Hyena Road,(no genres listed)\n"
    "4,Death Note: Desu nôto (2006–2007),(no genres listed)\n"
)
RATINGS_CSV = (
    "userId,movieId,rating,timestamp\n"
    "1,1,4.0,964982703\n"
    "1,2,3.5,964981247\n"
    "2,3,1.0,964982224\n"
    "2,1,5.0,964982225\n"
)
TAGS_CSV = (
    "userId,movieId,tag,timestamp\n"
    "1,1,Pixar,1\n"
    "2,1, pixar ,2\n"
    "2,1,fun,3\n"
    '2,2,"politics, sort of",4\n'
)


def write_latest_small(folder: Path, *, movies: str = MOVIES_CSV, ratings: str = RATINGS_CSV,
                       tags: str | None = TAGS_CSV) -> Path:
    """A tiny folder in the ml-latest-small layout."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "movies.csv").write_text(movies, encoding="utf-8")
    (folder / "ratings.csv").write_text(ratings, encoding="utf-8")
    if tags is not None:
        (folder / "tags.csv").write_text(tags, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def ml_small() -> MovieLensData:
    if not (DATA / "ml-latest-small" / "movies.csv").is_file():
        pytest.skip(f"ml-latest-small not found under {DATA}")
    return load_movielens(DATA / "ml-latest-small")


@pytest.fixture(scope="session")
def ml100k() -> MovieLensData:
    if importlib.util.find_spec("recbole") is None:
        pytest.skip("recbole (which ships ML-100K) is not installed")
    return load_movielens(variant="100k")


@pytest.fixture(scope="session")
def goodbooks_dir() -> Path:
    if not (DATA / "goodbooks-10k" / "books.csv").is_file():
        pytest.skip(f"goodbooks-10k not found under {DATA}")
    return DATA / "goodbooks-10k"


# test modules cannot import conftest under --import-mode=importlib: hand the writers out as
# fixtures instead
@pytest.fixture
def grouplens_dir(tmp_path: Path) -> Path:
    return write_grouplens_100k(tmp_path / "ml-100k-grouplens")


@pytest.fixture
def recbole_dir(tmp_path: Path) -> Path:
    return write_recbole_100k(tmp_path / "ml-100k")


@pytest.fixture
def make_latest_small(tmp_path: Path):
    """``make_latest_small(movies=..., ratings=..., tags=...)`` -> a fresh hand-made folder."""
    count = iter(range(1000))

    def make(**kwargs) -> Path:
        return write_latest_small(tmp_path / f"ml-small-{next(count)}", **kwargs)

    return make


@pytest.fixture
def small_texts() -> dict[str, str]:
    """The default file contents of :func:`make_latest_small`."""
    return {"movies": MOVIES_CSV, "ratings": RATINGS_CSV, "tags": TAGS_CSV}
