"""Gymnasium environments: both checkers over every id, the population VectorEnv's masking and
episode ends, bad actions, the entry point, and that observations hide the true interest."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.registration import registry
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import recsim_llm  # noqa: F401  (registers the ids)
from recsim_llm.envs import ENV_SPECS, PopulationEnv, SingleUserEnv, SlateSpace
from recsim_llm.envs.observation import N_SCALARS, observe
from recsim_llm.envs.registration import POPULATION, SINGLE

FAST = "recsim_llm/SyntheticUsersFast-v0"
SMALL = {"population": {"n_users": 20}, "catalog": {"n_items": 60}}
ML_SMALL = Path(__file__).resolve().parents[3] / "shared" / "data" / "ml-latest-small"


def _env_kwargs(env_id: str) -> dict[str, Any]:
    """Small, fast constructor arguments for each id; skips ids whose data is missing."""
    scenario = ENV_SPECS[env_id]["scenario"]
    if scenario == "synthetic":
        return {"config": SMALL}  # SyntheticUsers-v0 keeps the real MiniLM encoder
    # MovieLens: every item and user text through MiniLM would take minutes on the test box;
    # the API is the same with the hashing encoder.
    kw: dict[str, Any] = {"encoder": "hashing:32", "config": {"population": {"n_users": 20}}}
    if scenario == "ml-100k":
        if importlib.util.find_spec("recbole") is None:
            pytest.skip("ML-100K ships with recbole, which is not installed")
    elif scenario == "ml-latest-small":
        if not (ML_SMALL / "movies.csv").is_file():
            pytest.skip(f"ml-latest-small not found at {ML_SMALL}")
        kw["data_path"] = str(ML_SMALL)
    elif scenario == "goodbooks":
        gb = ML_SMALL.parent / "goodbooks-10k"
        if not (gb / "books.csv").is_file():
            pytest.skip(f"goodbooks-10k not found at {gb}")
        kw["data_path"] = str(gb)
    return kw


@pytest.mark.parametrize("env_id", list(ENV_SPECS))
def test_checkers_pass(env_id: str) -> None:
    env = gym.make(env_id, horizon_days=3, **_env_kwargs(env_id))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped)
    complaints = [str(w.message) for w in caught
                  if "gymnasium" in w.filename or "stable_baselines3" in w.filename]
    assert not complaints, complaints
    assert isinstance(env.unwrapped, SingleUserEnv)
    if env_id == "recsim_llm/SyntheticUsers-v0":
        assert "transformer" in env.unwrapped.world.encoder_identity


def test_env_cards() -> None:
    for cls in (SingleUserEnv, PopulationEnv):
        doc = cls.__doc__ or ""
        for section in ("## Description", "## Observation Space", "## Action Space",
                        "## Rewards", "## Episode End", "## Version History"):
            assert section in doc, (cls.__name__, section)


def test_ids_are_versioned_and_registered() -> None:
    for env_id in ENV_SPECS:
        assert env_id.startswith("recsim_llm/") and env_id.endswith("-v0")
        spec = registry[env_id]
        assert spec.entry_point == SINGLE and spec.vector_entry_point == POPULATION


def test_entry_point_registers_the_ids() -> None:
    eps = importlib.metadata.entry_points(group="gymnasium.envs")
    ours = [ep for ep in eps if ep.value == "recsim_llm.envs.registration:register_envs"]
    assert ours, [ep.value for ep in eps]
    register = ours[0].load()
    saved = {env_id: registry.pop(env_id) for env_id in ENV_SPECS}
    try:
        assert not any(env_id in registry for env_id in ENV_SPECS)
        register()
        assert all(env_id in registry for env_id in ENV_SPECS)
        register()  # idempotent
    finally:
        registry.update(saved)


# ------------------------------------------------------------------ single-user env
def _single(**kw: Any) -> SingleUserEnv:
    return gym.make(FAST, horizon_days=kw.pop("horizon_days", 4), config=kw.pop("config", SMALL),
                    **kw).unwrapped


def test_single_user_reset_is_seeded() -> None:
    a, b = _single(), _single()
    oa, ia = a.reset(seed=3)
    ob, ib = b.reset(seed=3)
    np.testing.assert_array_equal(oa, ob)
    assert ia["user"] == ib["user"]
    assert a.observation_space.contains(oa)
    a.action_space.seed(0)
    b.action_space.seed(0)
    for _ in range(20):
        ra = a.step(a.action_space.sample())
        rb = b.step(b.action_space.sample())
        np.testing.assert_array_equal(ra[0], rb[0])
        assert ra[1:4] == rb[1:4]
        if ra[2] or ra[3]:
            break


def test_single_user_options_and_bad_arguments() -> None:
    env = _single()
    _, info = env.reset(seed=0, options={"user": 7})
    assert info["user"] == 7 and info["user_id"] == "user7"
    with pytest.raises(ValueError, match="user must be in"):
        _single(user=99)
    for bad in (-1, 20):
        with pytest.raises(ValueError, match=rf"user must be in \[0, 20\), got {bad}"):
            env.reset(seed=0, options={"user": bad})
    with pytest.raises(ValueError, match="reward"):
        _single(reward="money")
    with pytest.raises(RuntimeError, match="reset"):
        _single().step(np.arange(10))


@pytest.mark.parametrize(("make_bad", "pattern"), [
    (lambda a: np.concatenate([a[:-1], a[:1]]), r"user 7 repeats item \d+ at slots 0 and 9"),
    (lambda a: np.where(np.arange(10) == 4, 60, a), r"user 7 has item 60 at slot 4"),
    (lambda a: a[:5], r"user 7 must have shape \(10,\)"),
    (lambda a: a.astype(np.float64), r"user 7, slot 0"),
])
def test_single_user_bad_slates_name_the_user(make_bad, pattern: str) -> None:
    env = _single(user=7)
    env.reset(seed=0)
    before = env.sim.get_state()
    with pytest.raises(ValueError, match=pattern):
        env.step(make_bad(np.arange(10)))
    assert env.sim.get_state()["arrays"]["requests"][0] == before["arrays"]["requests"][0]
    env.step(np.arange(10))  # still usable


def test_single_user_episode_ends() -> None:
    env = _single(horizon_days=3, reward="satisfaction")
    env.reset(seed=1)
    done, steps = False, 0
    while not done:
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert isinstance(reward, float) and env.observation_space.contains(obs)
        assert isinstance(info["clicked_title"], str)
        done, steps = terminated or truncated, steps + 1
    assert truncated != terminated
    assert env.sim.done or env.sim.state.churned[0]
    with pytest.raises(RuntimeError, match="reset"):
        env.step(env.action_space.sample())
    assert steps >= 1


def test_single_user_render() -> None:
    env = gym.make(FAST, horizon_days=2, config=SMALL, render_mode="ansi").unwrapped
    env.reset(seed=0)
    assert env.render().startswith(f"user {env.user} day 0")


# ------------------------------------------------------------------ population VectorEnv
def _population(n: int = 30, **kw: Any) -> PopulationEnv:
    return gym.make_vec(FAST, num_envs=n, vectorization_mode="vector_entry_point",
                        horizon_days=kw.pop("horizon_days", 4),
                        config=kw.pop("config", {"catalog": {"n_items": 60}}), **kw)


def test_population_is_a_vector_env() -> None:
    env = _population(30)
    assert isinstance(env, gym.vector.VectorEnv) and isinstance(env, PopulationEnv)
    assert env.num_envs == 30
    obs, info = env.reset(seed=0)
    d = env.world.dim
    assert obs.shape == (30, 2 * d + N_SCALARS) and obs.dtype == np.float32
    assert env.single_observation_space.shape == (2 * d + N_SCALARS,)
    assert env.observation_space.contains(obs)
    assert env.action_space == SlateSpace(60, 10, n_slates=30)
    assert info["in_session"].shape == (30,) and info["in_session"].all()


def _rollout(env: PopulationEnv, seed: int, each=None) -> list[tuple]:
    obs, info = env.reset(seed=seed)
    out = []
    while not env.sim.done:
        prev_info = info
        obs, rew, term, trunc, info = env.step(env.action_space.sample())
        out.append((obs, rew, term, trunc))
        if each is not None:
            each(prev_info, obs, rew, term, trunc, info)
    return out


def test_population_masks_churn_and_truncation() -> None:
    env = _population(40, horizon_days=10, config={
        "catalog": {"n_items": 60}, "dynamics": {"return_bias": -1.0, "churn_after_days": 3}})
    ever = np.zeros(40, bool)
    ends: list[np.ndarray] = []

    def check(prev, obs, rew, term, trunc, info) -> None:
        served = prev["in_session"]
        np.testing.assert_array_equal(info["served"], served)
        assert np.all(rew[~served] == 0.0)  # masked users earn nothing
        assert set(np.unique(rew)) <= {0.0, 1.0}
        assert rew.sum() == (info["clicked_item"] >= 0).sum()
        assert np.all(info["clicked_item"][~served] == -1)
        # terminated exactly once per user: at the step in which the user churns
        np.testing.assert_array_equal(term, info["churned"] & ~ever)
        assert not np.any(term & ever)
        ever[:] |= term
        np.testing.assert_array_equal(ever, info["churned"])
        assert not np.any(info["in_session"] & term)
        assert not np.any(term & trunc)
        ends.append(trunc.copy())
        assert env.observation_space.contains(obs)

    _rollout(env, 0, check)
    assert ever.any() and not ever.all()
    assert not np.any(np.stack(ends[:-1]))  # truncated only at the horizon ...
    np.testing.assert_array_equal(ends[-1], ~ever)  # ... for everyone not churned
    assert np.all(np.stack(ends).sum(axis=0) + ever <= 1)  # one end per user
    with pytest.raises(RuntimeError, match="reset"):
        env.step(env.action_space.sample())


def test_population_satisfaction_reward() -> None:
    env = _population(20, reward="satisfaction")

    def check(prev, obs, rew, term, trunc, info) -> None:
        assert np.all(rew[~prev["in_session"]] == 0.0)

    _rollout(env, 0, check)
    with pytest.raises(ValueError, match="reward"):
        _population(5, reward="likes")


def test_population_reset_is_seeded() -> None:
    a, b = _population(25), _population(25)
    ra, rb = _rollout(a, 4), _rollout(b, 4)
    assert len(ra) == len(rb)
    for x, y in zip(ra, rb, strict=True):
        for u, v in zip(x, y, strict=True):
            np.testing.assert_array_equal(u, v)


def test_population_bad_slates_name_the_user() -> None:
    env = _population(30)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    while True:  # get to a request where some users are masked
        _, _, _, _, info = env.step(env.action_space.sample())
        if not info["in_session"].all():
            break
    users = np.flatnonzero(info["in_session"])
    u = int(users[-1])
    good = env.action_space.sample()
    bad = good.copy()
    bad[u, 5] = bad[u, 2]
    with pytest.raises(ValueError, match=rf"user {u} repeats item {bad[u, 2]} at slots 2 and 5"):
        env.step(bad)
    bad = good.copy()
    bad[u, 1] = 60
    with pytest.raises(ValueError, match=rf"user {u} has item 60 at slot 1"):
        env.step(bad)
    with pytest.raises(ValueError, match="shape"):
        env.step(good[:, :5])
    # a masked user's row is ignored, whatever it holds
    masked = np.flatnonzero(~info["in_session"])
    good[masked] = rng.integers(-5, 0, size=(len(masked), 10))
    env.step(good)


def test_observation_hides_the_true_interest() -> None:
    env = _population(30)
    env.reset(seed=0)
    for _ in range(5):
        obs, *_ = env.step(env.action_space.sample())
    sim, d = env.sim, env.world.dim
    before = observe(env.platform.view(), np.arange(env.num_envs))
    np.testing.assert_array_equal(before, obs)
    rng = np.random.default_rng(0)
    hidden = rng.normal(size=sim.state.interest.shape).astype(np.float32)
    sim.state.interest = hidden / np.linalg.norm(hidden, axis=-1, keepdims=True)
    sim.state.fatigue = 0.5 * sim.state.interest[:, 0]
    sim.state.satisfaction = rng.normal(size=sim.state.satisfaction.shape)
    np.testing.assert_array_equal(observe(env.platform.view(), np.arange(env.num_envs)), before)
    # nor is the persona interest a slice of it
    for block in (before[:, :d], before[:, d:2 * d]):
        for k in range(env.world.n_interests):  # nor any of a persona's interests
            assert not np.any(np.all(np.isclose(block, env.world.interest0[:, k], atol=1e-6),
                                     axis=1))


def test_single_user_observation_hides_the_true_interest() -> None:
    env = _single(user=3)
    obs, _ = env.reset(seed=0)
    for _ in range(3):
        obs, *_ = env.step(env.action_space.sample())
    env.sim.state.interest = -env.sim.state.interest
    env.sim.state.satisfaction = env.sim.state.satisfaction + 5.0
    np.testing.assert_array_equal(observe(env.platform.view(), np.zeros(1, np.int64))[0], obs)


def test_population_observation_refresh_equals_full_observe() -> None:
    """The env updates only served users' rows; the result must equal a full rebuild."""
    env = gym.make_vec("recsim_llm/SyntheticUsersFast-v0", num_envs=60,
                       vectorization_mode="vector_entry_point", horizon_days=4,
                       config={"catalog": {"n_items": 60}})
    obs, _ = env.reset(seed=3)
    for _ in range(40):
        obs, _, _, trunc, _ = env.step(env.action_space.sample())
        inner = env.unwrapped if hasattr(env, "unwrapped") else env
        np.testing.assert_array_equal(obs, observe(inner.platform.view(),
                                                   np.arange(inner.num_envs)))
        if trunc.all():
            break


def test_population_copy_false_returns_the_env_buffer() -> None:
    """``copy=True`` (default) hands out copies; ``copy=False`` the env's own buffer, which the
    next step updates in place, with the same values."""
    kw = dict(num_envs=30, horizon_days=2, config={"catalog": {"n_items": 40}})
    env_copy = gym.make_vec("recsim_llm/SyntheticUsersFast-v0",
                            vectorization_mode="vector_entry_point", **kw)
    env_view = gym.make_vec("recsim_llm/SyntheticUsersFast-v0",
                            vectorization_mode="vector_entry_point", copy=False, **kw)
    a, _ = env_copy.reset(seed=1)
    b, _ = env_view.reset(seed=1)
    np.testing.assert_array_equal(a, b)
    inner = env_view.unwrapped if hasattr(env_view, "unwrapped") else env_view
    assert b is inner._obs and a is not env_copy.unwrapped._obs
    for _ in range(5):
        act = env_copy.action_space.sample()
        a, *_ = env_copy.step(act)
        b2, *_ = env_view.step(act)
        assert b2 is b                               # the same buffer, updated in place
        np.testing.assert_array_equal(a, b2)
