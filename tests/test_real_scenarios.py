"""Real-data scenarios: goodbooks-10k with synthetic readers, ML-100K groups, the calibrated
ML-100K run configuration. Hashing encoder and few users throughout, so the whole module runs in
seconds (MiniLM over 10,000 book texts would take minutes)."""

from __future__ import annotations

import importlib.util
import json
import re
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from typer.testing import CliRunner

import recsim_llm  # noqa: F401  (registers the env ids)
from recsim_llm.cli import app
from recsim_llm.config import SCENARIO_DEFAULTS, ScenarioConfig, override
from recsim_llm.envs import ENV_SPECS, SingleUserEnv
from recsim_llm.personas.books import OLDER_BEFORE
from recsim_llm.runner import simulate
from recsim_llm.scenarios import DATA_ENV_VAR, build_world, scenario_names

REPO = Path(__file__).resolve().parents[1]
GOODBOOKS = REPO.parent / "shared" / "data" / "goodbooks-10k"

needs_goodbooks = pytest.mark.skipif(not (GOODBOOKS / "books.csv").is_file(),
                                     reason=f"goodbooks-10k not found at {GOODBOOKS}")
needs_ml100k = pytest.mark.skipif(importlib.util.find_spec("recbole") is None,
                                  reason="ML-100K ships with recbole, which is not installed")


def _goodbooks_cfg(n_users: int = 80, **dotted: object) -> ScenarioConfig:
    return override(ScenarioConfig(name="goodbooks"), **{
        "encoder": "hashing:32", "population.n_users": n_users, "horizon_days": 3, **dotted})


@pytest.fixture(scope="module")
def books_world():
    return build_world(_goodbooks_cfg(), 0, data_path=GOODBOOKS)


def test_scenario_and_env_id_registered() -> None:
    assert "goodbooks" in scenario_names()
    assert ENV_SPECS["recsim_llm/Goodbooks-v0"] == {"scenario": "goodbooks"}


@needs_goodbooks
def test_goodbooks_personas_are_written_from_the_catalog(books_world) -> None:
    w = books_world
    cat, p = w.catalog, w.personas
    assert cat.n_items == 10_000 and p.n_users == 80
    authors = {" ".join(str(a).split()) for a in cat.extra["author"]}
    eras = [n for n in cat.topic_names if n != "unknown"]
    for like in p.likes:
        assert like.startswith("I love ")
        named = re.search(r"anything by (.+?)(?: or (.+?))?; ", like)
        assert named, like
        assert all(a in authors for a in named.groups() if a), like
        assert any(e in like for e in eras), like
    assert any(d.startswith("I can't stand") for d in p.dislikes)
    assert all(d == "" or d.startswith("I can't stand") for d in p.dislikes)
    # Text encodes to the interest vectors the simulator uses.
    # (one vector per stated interest, shape [users, interests, d])
    assert w.interest0.shape[0::2] == (80, 32) and np.isfinite(w.interest0).all()


@needs_goodbooks
def test_goodbooks_minority_reads_older_less_rated_books(books_world) -> None:
    p, cat = books_world.personas, books_world.catalog
    taste = p.groups["taste"]
    assert "minority" in set(taste) and len(set(taste)) == 4
    minority_likes = [t for t, g in zip(p.likes, taste, strict=True) if g == "minority"]
    assert minority_likes
    for like in minority_likes:
        decade = re.search(r"(before 1900|from the (\d{4})s)", like)
        assert decade, like
        assert decade.group(2) is None or int(decade.group(2)) < OLDER_BEFORE, like
    # Popularity from ratings counts is the appeal; the rating the value.
    assert 0 <= cat.appeal.min() and cat.appeal.max() <= 1
    assert np.corrcoef(np.log(cat.extra["ratings_count"]), cat.appeal)[0, 1] > 0.99
    assert np.corrcoef(cat.extra["average_rating"], cat.value)[0, 1] > 0.9


@needs_goodbooks
def test_goodbooks_is_deterministic_per_seed(books_world) -> None:
    again = build_world(_goodbooks_cfg(), 0, data_path=GOODBOOKS)
    assert again.personas.likes == books_world.personas.likes
    assert again.personas.dislikes == books_world.personas.dislikes
    np.testing.assert_array_equal(again.interest0, books_world.interest0)
    other = build_world(_goodbooks_cfg(), 1, data_path=GOODBOOKS)
    assert other.personas.likes != books_world.personas.likes


@needs_goodbooks
def test_goodbooks_env_passes_checkers() -> None:
    env = gym.make("recsim_llm/Goodbooks-v0", data_path=str(GOODBOOKS), encoder="hashing:32",
                   config={"population": {"n_users": 20}}, horizon_days=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped)
    complaints = [str(w.message) for w in caught
                  if "gymnasium" in w.filename or "stable_baselines3" in w.filename]
    assert not complaints, complaints
    assert isinstance(env.unwrapped, SingleUserEnv)
    assert env.unwrapped.world.catalog.n_items == 10_000


def test_goodbooks_missing_folder_says_what_to_pass(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    with pytest.raises(FileNotFoundError, match=rf"data_path.*{DATA_ENV_VAR}"):
        build_world(_goodbooks_cfg(), 0)
    with pytest.raises(FileNotFoundError, match=r"books\.csv.*data_path"):
        build_world(_goodbooks_cfg(), 0, data_path=tmp_path / "nowhere")
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path))  # a root without goodbooks-10k/
    with pytest.raises(FileNotFoundError, match="goodbooks-10k"):
        build_world(_goodbooks_cfg(), 0)


@needs_ml100k
def test_ml100k_simulate_records_gender_and_age_groups(tmp_path: Path) -> None:
    cfg = override(ScenarioConfig(name="ml-100k"), **{
        "encoder": "hashing:16", "population.n_users": 40, "horizon_days": 3})
    res = simulate(cfg, ["random", "popular"], [0], tmp_path / "run")
    groups = pd.read_csv(tmp_path / "run" / "groups.csv")
    assert {"gender", "age"} <= set(groups["group_key"])
    assert set(groups.loc[groups.group_key == "gender", "group"]) <= {"F", "M"}
    assert set(groups.loc[groups.group_key == "age", "group"]) <= {"<25", "25-34", "35-44", "45+"}
    assert sorted(res.daily["day"].unique()) == [1, 2, 3]
    # every day, the users of the gender groups add up to the population
    g = groups[groups.group_key == "gender"].groupby(["policy", "day"])["users"].sum()
    assert (g == 40).all()


@needs_ml100k
def test_ml100k_ships_the_calibrated_constants(tmp_path: Path) -> None:
    """The scenario's default is the calibrated model (config.SCENARIO_DEFAULTS), through the
    CLI as through ScenarioConfig.defaults_for; what a user sets goes over it."""
    shipped = SCENARIO_DEFAULTS["ml-100k"]["choice"]
    cfg = ScenarioConfig.defaults_for("ml-100k")
    assert {k: getattr(cfg.choice, k) for k in shipped} == shipped
    assert ScenarioConfig.defaults_for("synthetic") == ScenarioConfig()
    # ml-latest-small ships its own fit (the text+popularity constants of its calibration)
    from recsim_llm.scenarios import ML_LATEST_SMALL_FIT, slate_no_click

    small = ScenarioConfig.defaults_for("ml-latest-small").choice
    assert small.temperature == ML_LATEST_SMALL_FIT["temperature"] != cfg.choice.temperature
    assert small.w_appeal == ML_LATEST_SMALL_FIT["w_appeal"]
    assert small.no_click_utility == slate_no_click(ML_LATEST_SMALL_FIT["no_click_utility"],
                                                    cfg.slate_size)
    out = tmp_path / "cal"
    res = CliRunner().invoke(app, [
        "simulate", "--scenario", "ml-100k", "--days", "2", "--users", "30",
        "--encoder", "hashing:16", "--quiet", "--out", str(out)])
    assert res.exit_code == 0, res.output
    used = json.loads((out / "manifest.json").read_text())["config"]
    assert used["name"] == "ml-100k" and used["horizon_days"] == 2
    assert {k: used["choice"][k] for k in shipped} == shipped
    assert used["population"]["n_users"] == 30
    assert len(pd.read_csv(out / "daily.csv")) > 0


@needs_ml100k
def test_ml100k_appeal_and_value_come_from_the_training_period() -> None:
    from recsim_llm.catalog.movielens import load_movielens, popularity_appeal, rating_value
    from recsim_llm.personas import personas_from_history
    from recsim_llm.scenarios import training_item_state

    data = load_movielens(None, variant="100k")
    _, held = personas_from_history(data)
    cat = training_item_state(data, held)
    r = data.ratings
    test_keys = set(zip(held.user_id.astype(str), held.item_index, held.timestamp, strict=True))
    train = np.array([k not in test_keys for k in zip(
        r.user_id.astype(str), r.item_index, r.timestamp, strict=True)])
    assert 0 < (~train).sum() == len(held)
    items, ratings = r.item_index.to_numpy()[train], r.rating.to_numpy(np.float64)[train]
    n = cat.n_items
    np.testing.assert_allclose(cat.appeal, popularity_appeal(np.bincount(items, minlength=n)))
    np.testing.assert_allclose(cat.value, rating_value(items, ratings, n, data.rating_scale))
    assert not np.allclose(cat.value, data.catalog.value)  # the all-period value differs
    # the platform's own log before the run: the training rating counts, nothing held out
    np.testing.assert_array_equal(cat.history_clicks, np.bincount(items, minlength=n))


@needs_ml100k
def test_ml100k_platform_starts_from_its_training_history() -> None:
    """The MovieLens platform is not new: its click counts start at the training period's
    ratings, so `popular` serves the most-rated films each user has not seen from the first
    request (a new platform's `popular` would lock onto whatever its first random slates got
    clicked)."""
    from recsim_llm.agents.registry import resolve_policy
    from recsim_llm.platform import Platform

    cfg = override(ScenarioConfig.defaults_for("ml-100k"), **{
        "encoder": "hashing:16", "population.n_users": 20, "horizon_days": 2})
    world = build_world(cfg, 0)
    hist = world.catalog.history_clicks
    assert hist is not None and hist.sum() > 0
    platform = Platform(world, 0)
    platform.reset()
    np.testing.assert_array_equal(platform.log.item_clicks, hist)
    policy = resolve_policy("popular")
    view = platform.view()
    policy.bind(platform.context, np.random.default_rng(0))
    slates = policy.rank(view)
    # the most-rated films each user has not seen (MovieLens is consume-once)
    for u, slate in zip(view.users, slates, strict=True):
        unseen = np.setdiff1d(np.arange(len(hist)), world.personas.history[u])
        assert np.isin(slate, unseen).all()
        kth = np.sort(hist[unseen])[-cfg.slate_size]
        assert hist[slate].min() >= kth


@needs_ml100k
def test_ml100k_no_policy_recommends_a_film_the_user_has_seen() -> None:
    """MovieLens is consume-once (`catalog.consume_once`, on by default there): no policy shows
    a user a film they rated in the training period or clicked earlier in the run."""
    from recsim_llm.runner import run_policy

    cfg = override(ScenarioConfig.defaults_for("ml-100k"), **{
        "encoder": "hashing:16", "population.n_users": 25, "horizon_days": 4})
    assert cfg.catalog.consume_once and not ScenarioConfig().catalog.consume_once
    world = build_world(cfg, 0)
    hist = world.personas.history
    assert hist is not None and len(hist) == world.n_users and min(map(len, hist)) >= 1
    for spec in ["random", "popular", "greedy", "mmr", "mf", "bpr", "dwell", "oracle:click",
                 "oracle:value", "llm:1,tiny={},max_train_samples=256"]:
        seen = np.zeros((world.n_users, world.catalog.n_items), bool)
        for u, items in enumerate(hist):
            seen[u, items] = True
        shown = []

        def check(sim, seen=seen, shown=shown) -> None:
            def on_request(fb) -> None:
                shown.append(int(seen[fb.users[:, None], fb.slates].sum()))
                clicked = fb.items >= 0
                seen[fb.users[clicked], fb.items[clicked]] = True
            sim.on_request.append(on_request)

        run_policy(world, spec, 0, attach=[check])
        assert len(shown) > 0 and sum(shown) == 0, spec
