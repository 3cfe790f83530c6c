"""The supply side: providers' hook efforts, proportional imitation, and the simulator's use."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst
from hypothesis.extra.numpy import arrays

from recsim_llm.catalog.supply import ProviderSupply, effective_items, imitate
from recsim_llm.config import SupplyConfig
from recsim_llm.platform import Platform
from recsim_llm.runner import run_policy
from recsim_llm.scenarios import build_world
from recsim_llm.simulator import Simulator, World

unit = hst.floats(0.0, 1.0)


@settings(max_examples=60, deadline=None)
@given(data=hst.data(), p=hst.integers(2, 12), mutation=hst.sampled_from([0.0, 0.05, 3.0]))
def test_imitation_keeps_efforts_in_range_and_copies_only_better_peers(
        data: hst.DataObject, p: int, mutation: float) -> None:
    effort = data.draw(arrays(np.float64, p, elements=unit))
    payoff = data.draw(arrays(np.float64, p, elements=hst.floats(0.0, 10.0)))
    revise = data.draw(arrays(np.bool_, p))
    peer = data.draw(arrays(np.int64, p, elements=hst.integers(0, p - 1)))
    u = data.draw(arrays(np.float64, p, elements=hst.floats(0.0, 0.999)))
    noise = data.draw(arrays(np.float64, p, elements=hst.floats(-3.0, 3.0)))
    new = imitate(effort, payoff, revise, peer, u, noise, mutation)
    assert ((new >= 0) & (new <= 1)).all()
    np.testing.assert_array_equal(new[~revise], effort[~revise])  # non-revisers keep theirs
    if mutation == 0.0:
        copied = new != effort
        # without experiments a provider only ever takes the effort of a peer who did better
        assert (new[copied] == effort[peer][copied]).all()
        assert (payoff[peer][copied] > payoff[copied]).all()


def test_effective_items_shift_appeal_up_and_value_down_within_bounds() -> None:
    cfg = SupplyConfig(revision_rate=0.1)
    appeal, value = np.array([0.2, 0.9, 0.5]), np.array([0.8, -0.9, 0.0])
    a, v = effective_items(appeal, value, np.zeros(3), cfg)
    np.testing.assert_array_equal(a, appeal)
    np.testing.assert_array_equal(v, value)
    a, v = effective_items(appeal, value, np.ones(3), cfg)
    np.testing.assert_allclose(a, [0.6, 1.0, 0.9])            # capped at 1
    np.testing.assert_allclose(v, [0.8 - 0.93, -1.0, -0.93])  # floored at -1


def test_providers_imitate_the_one_whose_items_get_clicked() -> None:
    # Provider 1's items are clicked, provider 0's are not: with every provider revising and
    # no experiments, provider 0 takes provider 1's effort and provider 1 keeps its own.
    cfg = SupplyConfig(revision_rate=1.0, mutation=0.0, payoff_memory=0.0)
    sup = ProviderSupply(cfg, np.array([0, 0, 1, 1]), np.full(4, 0.3), np.full(4, 0.5))
    sup.reset(np.random.default_rng(0))
    sup.effort = np.array([0.1, 0.8])
    sup.record_clicks(np.array([2, 3, 3, -1]))
    sup.end_day(4, np.random.default_rng(1))
    np.testing.assert_array_equal(sup.effort, [0.8, 0.8])
    assert sup.payoff[1] == 1.5 and sup.payoff[0] == 0.0
    assert (sup.day_clicks == 0).all()
    a, v = sup.items()
    np.testing.assert_allclose(a, 0.3 + 0.4 * 0.8)
    np.testing.assert_allclose(v, 0.5 - 0.93 * 0.8)


def test_supply_off_is_the_catalog(small_world: World) -> None:
    sim = Simulator(small_world, 0)
    sim.reset()
    assert sim.appeal is small_world.catalog.appeal and sim.value is small_world.catalog.value
    np.testing.assert_array_equal(sim.trap_items(), small_world.catalog.trap_items())
    assert sim.mean_hook_effort() == 0.0
    assert "supply" not in sim.get_state()


@pytest.fixture(scope="module")
def supply_world(make_small_config) -> World:
    cfg = make_small_config(**{"supply.revision_rate": 0.5, "supply.initial_effort_max": 0.5,
                               "horizon_days": 12,
                               "catalog.n_providers": 8})
    return build_world(cfg, 0)


def test_supply_runs_are_deterministic_and_paired(supply_world: World) -> None:
    a = pd.DataFrame(run_policy(supply_world, "random", 3).daily)
    b = pd.DataFrame(run_policy(supply_world, "random", 3).daily)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a["hook_effort"].nunique() > 1               # efforts move over the days
    assert ((a["catalog_trap_share"] >= 0) & (a["catalog_trap_share"] <= 1)).all()
    # two policies on one seed start from the same providers' efforts
    s1, s2 = Simulator(supply_world, 3), Simulator(supply_world, 3)
    s1.reset()
    s2.reset()
    np.testing.assert_array_equal(s1.get_state()["supply"]["effort"],
                                  s2.get_state()["supply"]["effort"])
    g = pd.DataFrame(run_policy(supply_world, "greedy", 3).daily)
    assert g["hook_effort"].iloc[0] == a["hook_effort"].iloc[0]   # day 1: same efforts
    assert not np.array_equal(g["hook_effort"], a["hook_effort"])  # later: their payoffs differ


def test_supply_state_round_trips_and_refuses_a_mismatch(supply_world: World,
                                                         small_world: World) -> None:
    plat = Platform(supply_world, 5)
    plat.reset()
    while plat.sim.day < 3:
        users = plat.sim.state.in_session
        slates = np.tile(np.arange(supply_world.cfg.slate_size), (supply_world.n_users, 1))
        assert users.any()
        plat.sim.step(slates)
    snap = plat.sim.get_state()
    effort, appeal = snap["supply"]["effort"].copy(), plat.sim.appeal.copy()
    while plat.sim.day < 6:
        plat.sim.step(np.tile(np.arange(supply_world.cfg.slate_size), (supply_world.n_users, 1)))
    assert not np.array_equal(plat.sim.get_state()["supply"]["effort"], effort)
    plat.sim.set_state(snap)
    np.testing.assert_array_equal(plat.sim.get_state()["supply"]["effort"], effort)
    np.testing.assert_array_equal(plat.sim.appeal, appeal)
    other = Simulator(small_world, 5)
    other.reset()
    before = other.get_state()
    with pytest.raises(ValueError, match="supply side"):
        other.set_state(snap)
    assert other.day == before["day"] and other.tick == before["tick"]   # nothing was lost
    for k, v in before["arrays"].items():
        np.testing.assert_array_equal(getattr(other.state, k), v, err_msg=k)


@pytest.mark.parametrize("target", ["click", "value"])
def test_oracles_see_the_effective_items(supply_world: World, target: str) -> None:
    from recsim_llm.agents.baselines import OraclePolicy
    from recsim_llm.platform import PolicyContext

    plat = Platform(supply_world, 1)
    plat.reset()
    pol = OraclePolicy(target)
    pol.bind(PolicyContext.of(supply_world), np.random.default_rng(0))
    pol.init_params()
    sim = plat.sim
    assert not np.array_equal(sim.appeal, supply_world.catalog.appeal)
    for _ in range(5):
        view = plat.view(privileged=True)
        fast = pol.act(view)
        np.testing.assert_array_equal(fast, pol.rank_full(sim, view, view.users))
        pol.observe(plat.serve(fast)[1])


def test_default_supply_starts_from_the_catalog_as_written(make_small_config) -> None:
    # initial_effort_max 0: day 0 is the world without a supply side; effort appears later
    world = build_world(make_small_config(**{"supply.revision_rate": 0.5,
                                             "horizon_days": 8}), 0)
    off = pd.DataFrame(run_policy(build_world(make_small_config(horizon_days=8), 0),
                                  "random", 2).daily)
    on = pd.DataFrame(run_policy(world, "random", 2).daily)
    cols = [c for c in off.columns if c not in ("hook_effort",)]
    pd.testing.assert_frame_equal(on.loc[:0, cols], off.loc[:0, cols], check_exact=True)
    assert on["hook_effort"].iloc[0] == 0.0 and on["hook_effort"].iloc[-1] > 0.0
