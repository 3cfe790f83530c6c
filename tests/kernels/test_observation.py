"""The numba observation refresh of the population env against ``observation.observe``."""

from __future__ import annotations

import numpy as np

from recsim_llm.envs.observation import observe
from recsim_llm.envs.population import PopulationEnv


def test_numba_env_observations_equal_observe_to_float32_rounding(make_small_config) -> None:
    """Every step of a numba-kernel env: the maintained observation equals a fresh
    ``observe`` of every user (the reference's content) to float32 rounding."""
    cfg = make_small_config(**{"simulator.kernel": "numba", "horizon_days": 3})
    env = PopulationEnv(config=cfg)
    assert env.sim is None
    env.reset(seed=0)
    assert env.sim.kernel == "numba"
    steps = 0
    while not env.platform.done:
        obs, *_ = env.step(env.action_space.sample())
        ref = observe(env.platform.view(), np.arange(env.num_envs))
        np.testing.assert_allclose(obs, ref, rtol=0, atol=2e-6)
        assert env.observation_space.contains(obs)
        steps += 1
    assert steps > 5


def test_pooled_refresh_parallel_equals_serial() -> None:
    """The threaded path (>= PARALLEL_MIN rows) writes the same bits as the serial one."""
    from recsim_llm.kernels import observation as kobs
    from recsim_llm.kernels.population import PARALLEL_MIN

    rng = np.random.default_rng(0)
    n, d = PARALLEL_MIN + 500, 8
    emb = rng.standard_normal((50, d)).astype(np.float32)
    recent = rng.integers(-1, 50, (n, 20))
    skipped = rng.integers(-1, 50, (n, 50))
    recent[0] = -1  # a user without clicks: a zero block
    users = np.arange(n, dtype=np.int64)
    a, b = np.full((n, 2 * d + 10), 7, np.float32), np.full((n, 2 * d + 10), 7, np.float32)
    kobs._parallel(a, recent, skipped, emb, users)
    kobs._rows(0, n, b, recent, skipped, emb, users)
    assert a.tobytes() == b.tobytes()
    assert (a[0, :d] == 0).all() and (a[:, 2 * d:] == 7).all()
    ref = np.einsum("nr,nrd->nd", (skipped >= 0).astype(np.float32), emb[np.maximum(skipped, 0)])
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(a[:, d:2 * d], ref, rtol=0, atol=1e-6)


def test_numba_env_threaded_refresh_equals_observe(make_small_config) -> None:
    """A population above PARALLEL_MIN: the threaded pooled blocks and counters (every row on
    a new day, the served rows within a day) equal a fresh ``observe`` to float32 rounding."""
    from recsim_llm.kernels.population import PARALLEL_MIN

    cfg = make_small_config(**{"simulator.kernel": "numba", "horizon_days": 2,
                               "population.n_users": PARALLEL_MIN + 200})
    env = PopulationEnv(config=cfg, copy=False)
    env.reset(seed=1)
    days = set()
    while not env.platform.done:
        obs, *_ = env.step(env.action_space.sample())
        ref = observe(env.platform.view(), np.arange(env.num_envs))
        np.testing.assert_allclose(obs, ref, rtol=0, atol=2e-6)
        days.add(env.platform.day)
    assert len(days) >= 2
