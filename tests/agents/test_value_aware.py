"""The value-aware ranker ``dwell``: greedy until dwell is logged, then logged value lifts an
item over an equally relevant one; the content prior carries to unclicked items; bad specs."""

from __future__ import annotations

import numpy as np
import pytest

from recsim_llm.agents.baselines import GreedyPolicy
from recsim_llm.agents.registry import make_policy
from recsim_llm.agents.value_aware import DwellPolicy, dwell_estimate
from recsim_llm.config import ScenarioConfig, merge_config
from recsim_llm.platform import PlatformLog, PlatformView, PolicyContext
from recsim_llm.runner import simulate
from recsim_llm.scenarios import build_world
from recsim_llm.simulator import World

SMALL = {"catalog": {"n_items": 60}, "population": {"n_users": 20}}


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(merge_config(ScenarioConfig(encoder="hashing:32", horizon_days=3),
                                    SMALL), 0)


def _view(world: World, log: PlatformLog, users) -> PlatformView:
    return PlatformView(day=0, request=0, users=np.asarray(users, np.int64),
                        n_available=world.n_items, log=log.readonly(),
                        context=PolicyContext.of(world))


def _bind(policy, world: World, seed: int = 0):
    policy.bind(PolicyContext.of(world), np.random.default_rng(seed))
    return policy


def test_without_logged_dwell_it_is_greedy(world: World) -> None:
    log = PlatformLog(world.n_users, world.item_emb)
    for u in range(world.n_users):            # clicks without a dwell signal (NaN)
        log.clicked_sum[u] = world.item_emb[(3 * u) % world.n_items]
        log.clicks[u] = 1
    np.testing.assert_array_equal(dwell_estimate(log, world.item_emb, world.n_items),
                                  np.zeros(world.n_items))
    view = _view(world, log, np.arange(world.n_users))
    np.testing.assert_array_equal(_bind(DwellPolicy(), world).act(view),
                                  _bind(GreedyPolicy(), world).act(view))


def test_logged_dwell_reorders_equally_relevant_items(world: World) -> None:
    log = PlatformLog(world.n_users, world.item_emb)
    emb = world.item_emb
    target = 7
    log.clicked_sum[0] = emb[target]
    log.clicks[0] = 1
    rel = emb @ emb[target]
    # The two items most relevant to user 0 after `target`; the less relevant one has the
    # better logged dwell, by enough to cross any relevance gap in the cosine range.
    first, second = (int(i) for i in np.argsort(-rel)[1:3])
    log.item_dwell_sum[[first, second]] = [-30.0, 30.0]
    log.item_dwell_count[[first, second]] = 20
    est = dwell_estimate(log, emb, world.n_items)
    assert est[second] > 0 > est[first]
    greedy = _bind(GreedyPolicy(), world).act(_view(world, log, [0]))[0].tolist()
    dwell = _bind(DwellPolicy(weight=1.0), world).act(_view(world, log, [0]))[0].tolist()
    assert greedy.index(first) < greedy.index(second)
    assert second in dwell and (first not in dwell or dwell.index(second) < dwell.index(first))
    # weight 0 is greedy again
    zero = _bind(DwellPolicy(weight=0.0), world).act(_view(world, log, [0]))[0].tolist()
    assert zero == greedy


def test_content_prior_carries_to_unclicked_items_with_similar_text(world: World) -> None:
    """Items never clicked get the ridge prediction of their text embedding: close to a
    high-dwell item, positive; close to a low-dwell one, negative."""
    emb = world.item_emb
    log = PlatformLog(world.n_users, emb)
    good, bad = 0, 1
    log.item_dwell_sum[[good, bad]] = [40.0, -40.0]
    log.item_dwell_count[[good, bad]] = 40
    est = dwell_estimate(log, emb, world.n_items)
    others = np.setdiff1d(np.arange(world.n_items), [good, bad])
    lean = emb[others] @ (emb[good] - emb[bad])        # closer to good (>0) or to bad (<0)
    assert np.corrcoef(lean, est[others])[0, 1] > 0.9
    assert est[good] > est[others].max() and est[bad] < est[others].min()


def test_dwell_runs_in_simulate_next_to_greedy() -> None:
    cfg = merge_config(ScenarioConfig(encoder="hashing:32", horizon_days=3), SMALL)
    d = simulate(cfg, ["dwell", "dwell:2", "greedy"], seeds=[0]).daily
    assert set(d.policy) == {"dwell", "dwell:2", "greedy"}
    assert (d.groupby("policy").day.count() == 3).all()
    assert not make_policy("dwell").privileged


@pytest.mark.parametrize("spec, msg", [("dwell:x", "dwell takes a number"),
                                       ("dwell:-1", "finite number >= 0"),
                                       ("dwell:nan", "finite number >= 0")])
def test_bad_dwell_specs(spec: str, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        make_policy(spec)
