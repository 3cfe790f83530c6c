"""The RL observation: pooled text embeddings of the recent history and the counters, computed
from the platform's log only (what each slice means is pinned here, not just the size)."""

from __future__ import annotations

import numpy as np
import pytest

from recsim_llm.agents.registry import make_policy
from recsim_llm.config import ScenarioConfig, merge_config
from recsim_llm.envs.observation import N_SCALARS, observation_size, observe, pool
from recsim_llm.platform import EMA_RATE, Platform
from recsim_llm.scenarios import build_world


@pytest.fixture(scope="module")
def stepped() -> Platform:
    cfg = merge_config(ScenarioConfig(encoder="hashing:32", horizon_days=6),
                       {"catalog": {"n_items": 60}, "population": {"n_users": 40}})
    plat = Platform(build_world(cfg, 0), 0)
    plat.reset()
    pol = make_policy("random")
    pol.bind(plat.context, np.random.default_rng(0))
    for _ in range(25):  # several days: returns, gaps and absent users
        plat.serve(pol.act(plat.view()))
    return plat


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


def test_slices_mean_what_the_layout_says(stepped: Platform) -> None:
    view, log = stepped.view(), stepped.log
    emb, d = stepped.world.item_emb, stepped.world.dim
    users = np.arange(stepped.world.n_users)
    obs = observe(view, users)
    assert obs.shape == (len(users), observation_size(d)) and obs.dtype == np.float32
    assert observation_size(d) == 2 * d + N_SCALARS
    assert np.all(np.abs(obs) <= 1.0)
    served = set(view.users.tolist())
    keep = 1 - EMA_RATE
    for u in (0, 7, 19, 33):  # a few rows, checked against the definitions one by one
        rec, skp = log.recent[u], log.skipped[u]
        np.testing.assert_allclose(obs[u, :d], _unit(emb[rec[rec >= 0]].sum(0)), atol=1e-6)
        np.testing.assert_allclose(obs[u, d:2 * d], _unit(emb[skp[skp >= 0]].sum(0)), atol=1e-6)
        s = obs[u, 2 * d:]
        assert s[0] == (u in served)
        assert s[1] == pytest.approx(log.session_requests[u] / 10)
        assert s[2] == pytest.approx(view.day / 6)
        gap = view.day - log.last_visit_day[u] if log.last_visit_day[u] >= 0 else 0
        assert s[3] == pytest.approx(min(gap / 7, 1))
        assert s[4] == pytest.approx(min(log.visit_gap[u] / 7, 1))
        n = log.requests[u]
        assert s[5] == pytest.approx(log.click_ema[u] / (1 - keep ** n) if n else 0, abs=1e-6)
        assert s[6] == pytest.approx(log.clicks[u] / n if n else 0)
        assert s[9] == pytest.approx(view.n_available / 60)
    # the history blocks are not empty for users who were shown slates
    assert np.abs(obs[log.requests > 0, d:2 * d]).sum(axis=1).min() > 0
    assert (obs[:, 2 * d + 3] > 0).any()  # someone has been away


def test_recent_ctr_is_the_bias_corrected_average_of_clicks() -> None:
    from recsim_llm.platform import LoggedFeedback, PlatformLog

    h = PlatformLog(1, np.eye(2, dtype=np.float32))
    seq = [1, 0, 0, 1, 1, 0]
    one = np.zeros(1, np.int64)
    for c in seq:
        h.update(LoggedFeedback(day=0, request=0, users=one, slates=np.array([[0, 1]]),
                                positions=np.array([0 if c else -1]),
                                items=np.array([0 if c else -1]), dwell=np.array([np.nan]),
                                session_ended=np.zeros(1, bool)))
    a, t = EMA_RATE, len(seq)
    w = a * (1 - a) ** np.arange(t)[::-1]
    assert h.click_ema[0] / (1 - (1 - a) ** t) == pytest.approx(w @ seq / w.sum())


def test_pool_is_blockwise_equal_and_handles_empty_rows(monkeypatch) -> None:
    import recsim_llm.envs.observation as O

    rng = np.random.default_rng(1)
    emb = rng.normal(size=(30, 8)).astype(np.float32)
    ids = rng.integers(-1, 30, size=(50, 7))
    ids[3] = -1
    full = pool(ids, emb)
    monkeypatch.setattr(O, "BLOCK_FLOATS", 7 * 8 * 3)  # three users per block
    np.testing.assert_allclose(O.pool(ids, emb), full, atol=1e-6)
    assert not full[3].any()
    np.testing.assert_allclose(np.linalg.norm(full[np.arange(50) != 3], axis=1), 1, atol=1e-5)
