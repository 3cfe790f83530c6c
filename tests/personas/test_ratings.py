"""personas_from_history: chronological split, training-only texts, groups and bad inputs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsim_llm.catalog import MovieLensData, load_movielens
from recsim_llm.personas import Personas, personas_from_history

DATA = Path(__file__).parents[2].parent / "shared" / "data"

MOVIES = (
    "movieId,title,genres\n"
    "1,Toy Story (1995),Animation|Comedy\n"
    "2,Fargo (1996),Comedy|Crime|Thriller\n"
    "3,Heat (1995),Action|Crime|Thriller\n"
    "4,Showgirls (1995),Drama\n"
    "5,Secret Film (2001),Horror\n"
    "6,Scream (1996),Horror|Thriller\n"
    "7,Jaws (1975),Horror|Thriller\n"
    "8,Alien (1979),Horror|Sci-Fi\n"
)
# user 1: 8 ratings, the first floor(0.8 * 8) = 6 train; "Secret Film" is rated 5 stars only
# in user 1's held-out period (and by nobody else), so it must never reach a persona.
# user 2 rates everything 3; user 3 has too few ratings for min_train_ratings=2.
RATINGS = (
    "userId,movieId,rating,timestamp\n"
    "1,1,5.0,100\n"
    "1,2,5.0,200\n"
    "1,3,4.0,150\n"
    "1,4,1.0,300\n"
    "1,6,2.0,400\n"
    "1,7,1.5,450\n"
    "1,5,5.0,900\n"
    "1,8,4.5,950\n"
    "2,1,3.0,100\n"
    "2,2,3.0,200\n"
    "2,3,3.0,300\n"
    "2,4,3.0,400\n"
    "2,6,3.0,500\n"
    "2,7,3.0,600\n"
    "3,1,4.0,100\n"
    "3,2,4.0,200\n"
)
TAGS = (
    "userId,movieId,tag,timestamp\n"
    "1,2,Dark Comedy,210\n"
    "1,2,dark comedy,220\n"
    "1,3,heist,230\n"
    "1,5,Spoiler Tag,950\n"
)


@pytest.fixture
def tiny(tmp_path: Path) -> MovieLensData:
    (tmp_path / "movies.csv").write_text(MOVIES)
    (tmp_path / "ratings.csv").write_text(RATINGS)
    (tmp_path / "tags.csv").write_text(TAGS)
    return load_movielens(tmp_path)


@pytest.fixture(scope="module")
def ml_small() -> MovieLensData:
    if not (DATA / "ml-latest-small" / "movies.csv").is_file():
        pytest.skip(f"ml-latest-small not found under {DATA}")
    return load_movielens(DATA / "ml-latest-small")


@pytest.fixture(scope="module")
def ml100k() -> MovieLensData:
    if importlib.util.find_spec("recbole") is None:
        pytest.skip("recbole (which ships ML-100K) is not installed")
    return load_movielens(variant="100k")


def _display(data: MovieLensData) -> list[str]:
    c = data.catalog
    return [f"{t} ({int(y)})" if np.isfinite(y) else t
            for t, y in zip(c.titles, c.extra["year"], strict=True)]


# ---------------------------------------------------------------------------- hand-made history

def test_tiny_persona_texts(tiny: MovieLensData) -> None:
    personas, held = personas_from_history(tiny, min_train_ratings=2)
    assert isinstance(personas, Personas)
    assert personas.user_ids.tolist() == ["1", "2"]  # user 3: 1 training rating < 2
    assert personas.likes[0] == ("Films like Fargo (1996), Toy Story (1995) and Heat (1995). "
                                 "Favourite genres: Comedy, Crime, Animation. "
                                 "Tags: dark comedy, heist.")
    assert personas.dislikes[0] == ("Films like Showgirls (1995), Jaws (1975) and Scream (1996)."
                                    " Avoids genres: Horror.")
    # user 2 rates everything alike: nothing liked or disliked, the most-rated genres instead
    assert personas.likes[1] == "Favourite genres: Comedy, Crime, Thriller."
    assert personas.dislikes[1] == ""
    assert personas.text(1) == "Likes: Favourite genres: Comedy, Crime, Thriller."
    assert held.to_dict("list") == {
        "user_id": ["1", "1", "2", "2"], "item_index": [4, 7, 5, 6],
        "rating": [5.0, 4.5, 3.0, 3.0], "timestamp": [900, 950, 500, 600]}
    assert personas.groups["activity"].tolist() == ["heavy", "light"]
    assert set(personas.groups) == {"activity"}  # no demographics in latest-small


def test_max_titles_and_thresholds(tiny: MovieLensData) -> None:
    personas, _ = personas_from_history(tiny, min_train_ratings=2, max_titles=1,
                                        like_threshold=4.5, dislike_threshold=1.0)
    assert personas.likes[0].startswith("Films like Fargo (1996). Favourite")
    assert personas.dislikes[0].startswith("Films like Showgirls (1995). Avoids")


def test_recent_liked_films_as_item_text_interests(tiny: MovieLensData) -> None:
    """The ML scenarios' interests: the most recent liked training films, each written as the
    film's own catalog text (user 1 liked Toy Story at t=100, Heat at 150, Fargo at 200)."""
    cat = tiny.catalog
    personas, _ = personas_from_history(tiny, min_train_ratings=2, max_interests=2,
                                        interest_order="recent", interest_text="item")
    fargo, heat = cat.titles.index("Fargo"), cat.titles.index("Heat")
    assert personas.interests[0] == [cat.texts[fargo], cat.texts[heat]]
    assert personas.interests[1] == [personas.likes[1]]  # nothing liked: the likes text
    # the likes text still names the top-rated films, whatever the interests are
    assert personas.likes[0].startswith("Films like Fargo (1996), Toy Story (1995) and Heat")
    by_rating, _ = personas_from_history(tiny, min_train_ratings=2, max_interests=1)
    assert by_rating.interests[0] == ["Films like Fargo (1996). Favourite genres: Comedy, "
                                      "Crime, Animation. Tags: dark comedy, heist."]
    for bad, match in (({"interest_order": "newest"}, "interest_order"),
                       ({"interest_text": "title"}, "interest_text"),
                       ({"max_interests": 0}, "max_interests")):
        with pytest.raises(ValueError, match=match):
            personas_from_history(tiny, min_train_ratings=2, **bad)


def test_held_out_titles_and_tags_never_leak(tiny: MovieLensData) -> None:
    personas, held = personas_from_history(tiny, min_train_ratings=2)
    text = " ".join(personas.text(u) for u in range(personas.n_users))
    assert "Secret Film" not in text and "Alien" not in text and "spoiler" not in text.lower()
    assert {4, 7} <= set(held["item_index"].tolist())


def test_global_train_end(tiny: MovieLensData) -> None:
    personas, held = personas_from_history(tiny, train_end=350, min_train_ratings=2)
    assert personas.user_ids.tolist() == ["1", "2", "3"]
    assert (held["timestamp"] >= 350).all()
    assert held["user_id"].tolist() == ["1"] * 4 + ["2"] * 3
    assert "Scream" not in personas.text(0) and "Tags: dark comedy, heist." in personas.likes[0]


def test_too_few_ratings_and_empty_hold_out(tiny: MovieLensData) -> None:
    with pytest.raises(ValueError, match="no user has at least 50 training ratings"):
        personas_from_history(tiny, min_train_ratings=50)
    with pytest.raises(ValueError, match="held-out period is empty"):
        personas_from_history(tiny, train_fraction=1.0, min_train_ratings=2)
    with pytest.raises(ValueError, match="held-out period is empty"):
        personas_from_history(tiny, train_end=10_000, min_train_ratings=2)
    with pytest.raises(ValueError, match="train_fraction"):
        personas_from_history(tiny, train_fraction=0.0)
    with pytest.raises(ValueError, match="dislike_threshold"):
        personas_from_history(tiny, like_threshold=2.0, dislike_threshold=3.0)


# ---------------------------------------------------------------------------- real data

def test_latest_small_split_is_chronological(ml_small: MovieLensData) -> None:
    personas, held = personas_from_history(ml_small)
    r = ml_small.ratings
    n = r.groupby("user_id").size()
    kept = n[np.floor(0.8 * n + 1e-9) >= 5]
    assert personas.user_ids.tolist() == sorted(kept.index, key=int)
    expected_test = (kept - np.floor(0.8 * kept + 1e-9)).astype(int)
    got_test = held.groupby("user_id").size().reindex(kept.index, fill_value=0)
    pd.testing.assert_series_equal(got_test, expected_test, check_names=False)
    # every held-out rating is no earlier than every training rating of the same user
    key = pd.MultiIndex.from_frame(held[["user_id", "item_index"]])
    r_key = pd.MultiIndex.from_frame(r[["user_id", "item_index"]])
    train = r[~r_key.isin(key) & r["user_id"].isin(kept.index)]
    last_train = train.groupby("user_id")["timestamp"].max()
    first_test = held.groupby("user_id")["timestamp"].min()
    assert (first_test >= last_train.reindex(first_test.index)).all()
    # the platform's log before the run: each user's training films, nothing held out
    assert personas.history is not None
    for u in (0, 1, personas.n_users - 1):
        uid = personas.user_ids[u]
        assert sorted(personas.history[u]) == sorted(
            train.loc[train["user_id"].astype(str) == uid, "item_index"])
    assert sum(map(len, personas.history)) == len(train)
    groups = personas.groups["activity"]
    assert set(groups) == {"light", "heavy"} and abs((groups == "heavy").mean() - 0.5) < 0.05


def test_latest_small_titles_only_rated_later_never_appear(ml_small: MovieLensData) -> None:
    personas, held = personas_from_history(ml_small)
    titles = _display(ml_small)
    r = ml_small.ratings
    held_key = pd.MultiIndex.from_frame(held[["user_id", "item_index"]])
    in_held = pd.MultiIndex.from_frame(r[["user_id", "item_index"]]).isin(held_key)
    train_items = set(r.loc[~in_held, "item_index"])  # rated outside anyone's held-out period
    only_later = sorted(set(held["item_index"]) - train_items)
    assert len(only_later) > 100
    text = "\n".join(personas.text(u) for u in range(personas.n_users))
    # skip titles that are substrings of a film rated in training ("Go (1999)" in "Let It Go ...")
    train_titles = "\n".join(titles[i] for i in train_items)
    checked = [titles[i] for i in only_later if titles[i] not in train_titles]
    assert len(checked) > 100
    assert not [t for t in checked if t in text]


def test_personas_are_deterministic(ml_small: MovieLensData) -> None:
    a, ha = personas_from_history(ml_small, train_fraction=0.7)
    shuffled = MovieLensData(
        catalog=ml_small.catalog, tags=ml_small.tags,
        ratings=ml_small.ratings.sample(frac=1.0, random_state=0).reset_index(drop=True))
    b, hb = personas_from_history(shuffled, train_fraction=0.7)
    assert a.likes == b.likes and a.dislikes == b.dislikes
    np.testing.assert_array_equal(a.user_ids, b.user_ids)
    pd.testing.assert_frame_equal(ha, hb)
    assert all(a.likes) and sum(bool(d) for d in a.dislikes) > 0.5 * a.n_users
    assert sum("Tags: " in x for x in a.likes) > 10


def test_ml100k_groups(ml100k: MovieLensData) -> None:
    personas, held = personas_from_history(ml100k)
    assert personas.n_users == 943  # everyone rated >= 20 films
    assert set(personas.groups) == {"activity", "gender", "age", "occupation"}
    assert set(personas.groups["gender"]) == {"M", "F"}
    assert set(personas.groups["age"]) == {"<25", "25-34", "35-44", "45+"}
    users = ml100k.users.set_index("user_id")
    u = int(np.flatnonzero(personas.user_ids == "2")[0])  # user 2: 53-year-old woman
    assert personas.groups["gender"][u] == "F" and personas.groups["age"][u] == "45+"
    assert personas.groups["occupation"][u] == users.loc["2", "occupation"]
    assert len(held) == int((ml100k.ratings.groupby("user_id").size()
                             - np.floor(0.8 * ml100k.ratings.groupby("user_id").size()
                                        + 1e-9)).sum())
