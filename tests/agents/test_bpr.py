"""BPR variant of the online MF: spec, pairwise step, no update without a click, learning."""

from __future__ import annotations

import numpy as np
import pytest

from recsim_llm.agents.baselines import RandomPolicy
from recsim_llm.agents.bpr import BPRPolicy
from recsim_llm.agents.registry import make_policy
from recsim_llm.platform import LoggedFeedback, Platform, PolicyContext
from recsim_llm.runner import run_policy
from recsim_llm.scenarios import build_world
from recsim_llm.simulator import World


@pytest.fixture(scope="module")
def world(make_small_config) -> World:
    return build_world(make_small_config(horizon_days=20, **{"population.n_users": 100}), 0)


def _fb(users, slates, positions) -> LoggedFeedback:
    users, slates, positions = map(np.asarray, (users, slates, positions))
    items = np.where(positions >= 0, slates[np.arange(len(users)), np.maximum(positions, 0)], -1)
    return LoggedFeedback(day=0, request=0, users=users, slates=slates, positions=positions,
                          items=items, dwell=np.full(len(users), np.nan),
                          session_ended=np.zeros(len(users), bool))


def test_spec() -> None:
    pol = make_policy("bpr")
    assert isinstance(pol, BPRPolicy) and pol.name == "bpr"
    with pytest.raises(ValueError, match="takes no argument"):
        make_policy("bpr:2")


def test_pairwise_step_orders_clicked_above_skipped(small_world: World) -> None:
    pol = BPRPolicy(lr=0.5, reg=0.0)
    pol.bind(PolicyContext.of(small_world), np.random.default_rng(0))
    k = small_world.cfg.slate_size
    slate = np.arange(k)[None, :]
    U, V, b = pol.U.copy(), pol.V.copy(), pol.b.copy()
    pol.observe(_fb([2], slate, [-1]))                    # no click: no pair, no change
    assert np.array_equal(U, pol.U) and np.array_equal(V, pol.V) and np.array_equal(b, pol.b)
    before = pol.U[2] @ pol.V.T + pol.b
    pol.observe(_fb([2], slate, [3]))
    after = pol.U[2] @ pol.V.T + pol.b
    j = [c for c in np.flatnonzero(~np.isclose(pol.b, 0.0)) if c != 3]
    assert len(j) == 1                                    # exactly one skipped item paired
    assert after[3] - after[j[0]] > before[3] - before[j[0]]
    assert pol.b[3] > 0 > pol.b[j[0]]


def test_bpr_learns_from_random_logging(world: World) -> None:
    """Trained on random slates for 14 days, BPR ranks held-out clicked items above the
    skipped items of the same slates more often than chance."""
    plat = Platform(world, 0)
    logger = RandomPolicy()
    logger.bind(PolicyContext.of(world), np.random.default_rng(1))
    pol = BPRPolicy()
    pol.bind(PolicyContext.of(world), np.random.default_rng(2))
    plat.reset()
    wins, total = 0, 0
    while not plat.done:
        _, logged = plat.serve(logger.act(plat.view()))
        if logged.day < 14:
            pol.observe(logged)
            continue
        c = logged.clicked
        if not c.any():
            continue
        s = np.einsum("mkd,md->mk", pol.V[logged.slates[c]], pol.U[logged.users[c]]) \
            + pol.b[logged.slates[c]]
        ci = s[np.arange(int(c.sum())), logged.positions[c]]
        wins += int((s < ci[:, None]).sum())
        total += int(c.sum()) * (s.shape[1] - 1)
    assert total > 500
    assert wins / total > 0.55, wins / total


def test_runs_in_the_loop(world: World) -> None:
    res = run_policy(world, "bpr", 0)
    assert len(res.daily) == world.cfg.horizon_days
