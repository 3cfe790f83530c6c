"""Action modes: every mode yields k distinct available items; sampling is valid and cheap;
vector conventions (one episode per user, masks, unknown kwargs)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.spaces import Box, Discrete, MultiDiscrete
from gymnasium.wrappers.vector import RecordEpisodeStatistics

import recsim_llm  # noqa: F401  (registers the ids)
from recsim_llm.envs.actions import ACTION_MODES, DEFAULT_STRATEGIES
from recsim_llm.envs.population import PopulationEnv
from recsim_llm.envs.spaces import SlateSpace, sample_distinct

ID = "recsim_llm/SyntheticUsersFast-v0"
SMALL = {"catalog": {"n_items": 60, "new_items_per_day": 4}}


def _pop(n: int = 30, **kw) -> PopulationEnv:
    env = gym.make_vec(ID, num_envs=n, vectorization_mode="vector_entry_point",
                       horizon_days=kw.pop("horizon_days", 4), config=kw.pop("config", SMALL),
                       **kw)
    return env.unwrapped if hasattr(env, "unwrapped") else env


@pytest.mark.parametrize("mode", ACTION_MODES)
def test_every_mode_serves_distinct_available_items(mode: str) -> None:
    env = _pop(action_mode=mode)
    env.reset(seed=0)
    single = env.single_action_space
    if mode == "scores":
        assert isinstance(single, Box) and single.shape == (env.world.n_items,)
    elif mode == "query":
        assert isinstance(single, Box) and single.shape == (16,)
    elif mode == "strategy":
        assert isinstance(single, Discrete) and single.n == len(DEFAULT_STRATEGIES)
        assert isinstance(env.action_space, MultiDiscrete)
    else:
        assert isinstance(single, SlateSpace)
    steps = 0
    while not env.platform.done:
        n_avail = env.platform.sim.n_available
        action = env.action_space.sample()
        assert env.action_space.contains(action)
        served = env.platform.served_users()
        slates = env.mode.to_slates(np.asarray(action)[served], env.platform.view())
        assert slates.shape == (len(served), env.cfg.slate_size)
        assert ((slates >= 0) & (slates < n_avail)).all()
        assert (np.diff(np.sort(slates, axis=1), axis=1) > 0).all()
        env.step(action)
        steps += 1
    assert steps > 4 and env.platform.sim.n_available > 60  # items arrived meanwhile


def test_scores_mode_takes_the_best_available() -> None:
    env = _pop(action_mode="scores")
    env.reset(seed=0)
    view = env.platform.view()
    scores = np.zeros((len(view.users), env.world.n_items), np.float32)
    scores[:, -5:] = 1.0          # not yet available: must be ignored
    scores[:, 10:20] = 0.5
    slates = env.mode.to_slates(scores, view)
    assert all(set(row) == set(range(10, 20)) for row in slates)


def test_query_mode_is_a_deterministic_dot_product() -> None:
    env = _pop(action_mode="query")
    env.reset(seed=0)
    view = env.platform.view()
    q = np.random.default_rng(1).uniform(-1, 1, (len(view.users), 16)).astype(np.float32)
    a = env.mode.to_slates(q, view)
    np.testing.assert_array_equal(a, env.mode.to_slates(q.copy(), view))
    scores = q @ env.mode.keys[:view.n_available].T
    best = np.argsort(-scores, axis=1, kind="stable")[:, :env.cfg.slate_size]
    np.testing.assert_array_equal(np.sort(a, axis=1), np.sort(best, axis=1))  # no clicks yet


def test_encoder_query_basis_is_catalog_independent() -> None:
    """The default query basis is fixed coordinates of the encoder space: two worlds (other
    catalogs) get the same orthonormal directions, so one query means the same on both; the
    catalog PCA (``pca``) differs between them."""
    from recsim_llm.envs.actions import QueryMode, make_action_mode
    from recsim_llm.platform import PolicyContext

    a = _pop(action_mode="query", world_seed=0)
    b = _pop(action_mode="query", world_seed=1)
    assert isinstance(a.mode, QueryMode) and isinstance(b.mode, QueryMode)
    assert a.mode.basis == b.mode.basis == "encoder"
    np.testing.assert_array_equal(a.mode.directions, b.mode.directions)
    q = a.mode.directions
    np.testing.assert_allclose(q @ q.T, np.eye(len(q)), atol=1e-12)
    pa = make_action_mode("query", PolicyContext.of(a.world), query_basis="pca")
    pb = make_action_mode("query", PolicyContext.of(b.world), query_basis="pca")
    assert isinstance(pa, QueryMode) and isinstance(pb, QueryMode)
    cos = np.abs(np.einsum("qd,qd->q", pa.directions, pb.directions))
    assert cos.mean() < 0.9       # another catalog's principal directions
    with pytest.raises(ValueError, match="query_basis must be one of"):
        make_action_mode("query", PolicyContext.of(a.world), query_basis="ica")
    with pytest.raises(ValueError, match="query_basis= goes with"):
        make_action_mode("scores", PolicyContext.of(a.world), query_basis="pca")


def test_default_strategies_include_the_value_aware_ranker() -> None:
    env = _pop(action_mode="strategy")
    env.reset(seed=0)
    assert "dwell" in env.mode.strategies and env.mode.strategies == DEFAULT_STRATEGIES


def test_strategy_mode_serves_the_chosen_ranker() -> None:
    env = _pop(action_mode="strategy", strategies=["popular", "random"])
    env.reset(seed=0)
    view = env.platform.view()
    popular = env.mode.to_slates(np.zeros(len(view.users), np.int64), view)
    assert (popular == popular[0]).all()  # one global ranking for all (no clicks yet)
    rand = env.mode.to_slates(np.ones(len(view.users), np.int64), view)
    assert len(np.unique(rand)) > env.cfg.slate_size
    with pytest.raises(ValueError, match="privileged"):
        _pop(action_mode="strategy", strategies=["oracle"])
    with pytest.raises(ValueError, match="integers in"):
        env.mode.to_slates(np.full(len(view.users), 7), view)


def test_learning_strategies_learn_from_every_request() -> None:
    """A learning ranker of the strategy mode (``mf``) is trained on every served request,
    also those another strategy served; so it is in replay (``SB3Policy.observe``)."""
    env = _pop(action_mode="strategy", strategies=["mf", "random"])
    env.reset(seed=0)
    mf = env.mode.rankers[0]
    before = (mf.U.copy(), mf.V.copy())
    for _ in range(3):  # only `random` serves
        env.step(np.ones(env.num_envs, np.int64))
    assert not np.array_equal(before[0], mf.U) and not np.array_equal(before[1], mf.V)


def test_bad_mode_arguments() -> None:
    with pytest.raises(ValueError, match="action_mode must be one of"):
        _pop(action_mode="slates")
    with pytest.raises(ValueError, match="strategies= goes with"):
        _pop(action_mode="query", strategies=["greedy"])
    with pytest.raises(TypeError, match="horizon_dayz"):
        gym.make_vec(ID, num_envs=5, vectorization_mode="vector_entry_point", horizon_dayz=3)
    with pytest.raises(TypeError, match="horizon_dayz"):
        gym.make(ID, horizon_dayz=3)


def test_slate_sample_is_valid_and_cheap() -> None:
    space = SlateSpace(600, 10, n_slates=20_000, seed=0)
    space.n_available = 37
    s = space.sample()
    assert s.shape == (20_000, 10) and space.contains(s)
    assert s.max() < 37 and (np.diff(np.sort(s, axis=1), axis=1) > 0).all()
    # the draw covers every available id, roughly uniformly
    counts = np.bincount(s.ravel(), minlength=37)
    assert counts.min() > 0.8 * counts.mean()
    rng = np.random.default_rng(0)
    first = np.bincount(sample_distinct(rng, 50_000, 5, 3)[:, 0], minlength=5)
    assert first.min() > 0.9 * first.mean()  # slot order is random too
    assert not space.contains(np.where(s == 0, 40, s))  # an unavailable id


def test_record_episode_statistics_counts_one_episode_per_user() -> None:
    env = RecordEpisodeStatistics(gym.make_vec(
        ID, num_envs=40, vectorization_mode="vector_entry_point", horizon_days=8,
        config={"catalog": {"n_items": 60}, "dynamics": {"churn_after_days": 2}}))
    env.reset(seed=0)
    churned = 0
    while True:
        _obs, _r, term, trunc, info = env.step(env.action_space.sample())
        churned += int(term.sum())
        assert "_served" in info and "_clicked_item" in info  # the `_key` mask convention
        if trunc.any():
            break
    assert churned > 0
    assert env.episode_count == 40
