"""The population simulator: masking, churn, budgets, determinism, paired randomness across
policies, checkpoints, and rejection of malformed slates (state untouched)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from recsim_llm.agents.registry import make_policy
from recsim_llm.config import ScenarioConfig
from recsim_llm.platform import Platform
from recsim_llm.rng import RngStreams
from recsim_llm.runner import run_policy
from recsim_llm.scenarios import build_world, scenario_names
from recsim_llm.simulator import Feedback, Simulator, SlateError, World, validate_slates

PER_USER = ("interest", "fatigue", "budget", "satisfaction", "misses", "requests",
            "days_absent", "day_sat_sum", "day_requests", "day_clicks")
"""state arrays indexed by user whose rows a step may change only for served users"""


def random_slates(sim: Simulator, rng: np.random.Generator) -> np.ndarray:
    """k distinct available items per user, [n_users, k]."""
    keys = rng.random((sim.world.n_users, sim.n_available))
    return np.argpartition(keys, sim.cfg.slate_size - 1, axis=1)[:, : sim.cfg.slate_size]


def run_random(sim: Simulator, seed: int = 0,
               each: Callable[[Simulator, Feedback], None] | None = None) -> int:
    """Step ``sim`` with random slates to the horizon; returns the number of steps."""
    rng = np.random.default_rng(seed)
    steps = 0
    while not sim.done:
        fb = sim.step(random_slates(sim, rng))
        steps += 1
        if each is not None:
            each(sim, fb)
    return steps


@pytest.fixture(scope="module")
def churn_world(make_small_config) -> World:
    """Harsh return parameters: most users stop coming back and churn within days."""
    cfg = make_small_config(**{"horizon_days": 12, "dynamics.return_bias": -2.0,
                               "dynamics.churn_after_days": 2})
    return build_world(cfg, 0)


@pytest.fixture(scope="module")
def arrivals_world(make_small_config) -> World:
    cfg = make_small_config(**{"catalog.new_items_per_day": 4, "population.new_users_per_day": 3,
                               "horizon_days": 4})
    return build_world(cfg, 0)


# ------------------------------------------------------------------ lifecycle and feedback
def test_reset_day0_everyone_in_session(small_world: World) -> None:
    sim = Simulator(small_world, 0)
    sim.reset()
    st = sim.state
    assert sim.day == 0 and sim.tick == 0 and not sim.done
    assert st.in_session.all() and st.visited_today.all() and st.joined.all()
    assert not st.churned.any()
    np.testing.assert_array_equal(st.interest, small_world.interest0)
    assert not np.shares_memory(st.interest, small_world.interest0)
    np.testing.assert_array_equal(st.budget, small_world.cfg.dynamics.session_budget)
    assert sim.n_available == small_world.n_items


def test_feedback_is_consistent(small_world: World) -> None:
    sim = Simulator(small_world, 3)
    sim.reset()
    rng = np.random.default_rng(1)
    no_click = small_world.cfg.dynamics.no_click_satisfaction
    for _ in range(15):
        served = np.flatnonzero(sim.state.in_session)
        day, tick = sim.day, sim.tick
        slates = random_slates(sim, rng)
        fb = sim.step(slates)
        assert (fb.day, fb.tick) == (day, tick)
        np.testing.assert_array_equal(fb.users, served)
        np.testing.assert_array_equal(fb.slates, slates[served])
        r = np.flatnonzero(fb.clicked)
        np.testing.assert_array_equal(fb.items[r], fb.slates[r, fb.positions[r]])
        assert np.all(fb.items[~fb.clicked] == -1)
        np.testing.assert_allclose(fb.satisfaction[~fb.clicked], no_click)
        np.testing.assert_allclose(fb.slate_mean_emb,
                                   small_world.item_emb[fb.slates].mean(axis=1), atol=1e-6)
        if sim.day == day:  # sessions that ended are masked now
            assert not sim.state.in_session[fb.users[fb.session_ended]].any()
            np.testing.assert_array_equal(sim.state.in_session[fb.users], ~fb.session_ended)


def test_horizon_reached_then_step_raises(small_world: World) -> None:
    sim = Simulator(small_world, 0)
    days_seen: list[int] = []
    sim.on_day_end.append(lambda s, d: days_seen.append(d))
    sim.reset()
    run_random(sim)
    assert sim.done and sim.day == small_world.cfg.horizon_days
    assert days_seen == list(range(small_world.cfg.horizon_days))
    assert not sim.state.in_session.any()
    with pytest.raises(RuntimeError, match="horizon"):
        sim.step(np.zeros((small_world.n_users, small_world.cfg.slate_size), np.int64))


def test_masked_users_untouched_by_step(small_world: World) -> None:
    sim = Simulator(small_world, 1)
    sim.reset()
    rng = np.random.default_rng(2)
    checked = 0
    while not sim.done:
        masked = ~sim.state.in_session
        before = {k: getattr(sim.state, k)[masked].copy() for k in PER_USER}
        day, session = sim.day, sim.session_no
        slates = random_slates(sim, rng)
        slates[masked] = -7  # rows of masked users are placeholders, never read
        sim.step(slates)
        if (sim.day, sim.session_no) != (day, session):
            continue  # overnight changes (fatigue recovery, drift) apply to everyone
        for k in PER_USER:
            np.testing.assert_array_equal(getattr(sim.state, k)[masked], before[k], err_msg=k)
        checked += int(masked.sum())
    assert checked > 0  # some users were masked within a day


def test_churned_users_never_return(churn_world: World) -> None:
    sim = Simulator(churn_world, 0)
    sim.reset()
    ever = np.zeros(churn_world.n_users, bool)

    def check(s: Simulator, fb: Feedback) -> None:
        assert not np.any(ever & ~s.state.churned), "a churned user un-churned"
        assert not np.isin(fb.users, np.flatnonzero(ever)).any(), "a churned user was served"
        ever[:] |= s.state.churned
        assert not np.any(s.state.visited_today & ever)
        assert not np.any(s.state.in_session & ever)
        assert np.all(s.state.days_absent[ever] >= churn_world.cfg.dynamics.churn_after_days)

    run_random(sim, each=check)
    assert 0 < int(ever.sum())
    assert sim.state.churned.sum() == ever.sum()


def test_budget_never_negative_and_norms_bounded(churn_world: World, small_world: World) -> None:
    for world in (small_world, churn_world):
        sim = Simulator(world, 5)
        sim.reset()

        def check(s: Simulator, fb: Feedback) -> None:
            assert np.all(s.state.budget >= 0.0)
            np.testing.assert_allclose(np.linalg.norm(s.state.interest, axis=-1), 1.0, atol=1e-4)
            assert np.linalg.norm(s.state.fatigue, axis=1).max() <= 1.0 + 1e-5

        assert run_random(sim, each=check) > 0


def test_session_ends_within_limits(small_world: World) -> None:
    dy = small_world.cfg.dynamics
    sim = Simulator(small_world, 2)
    sim.reset()

    def check(s: Simulator, fb: Feedback) -> None:
        assert np.all(s.state.requests <= dy.max_session_len)
        assert np.all(s.state.misses[s.state.in_session] < dy.patience)

    run_random(sim, each=check)


def test_arrivals_of_items_and_users(arrivals_world: World) -> None:
    w = arrivals_world
    sim = Simulator(w, 0)
    sim.reset()
    n0 = w.cfg.population.n_users
    assert w.n_users == n0 + 3 * (w.cfg.horizon_days - 1)  # arrivals on days 1 .. horizon - 1
    assert sim.n_available == w.cfg.catalog.n_items
    assert not sim.state.joined[n0:].any() and not sim.state.in_session[n0:].any()
    seen_available = {}

    def check(s: Simulator, fb: Feedback) -> None:
        seen_available[s.day] = s.n_available
        arrival = w.user_arrival()
        assert np.all(s.state.joined == (arrival <= s.day)) or s.done
        assert not np.any(s.state.in_session & ~s.state.joined)

    run_random(sim, each=check)
    for day, avail in seen_available.items():
        if day < w.cfg.horizon_days:  # (after the last step the day counter equals the horizon)
            assert avail == w.cfg.catalog.n_items + 4 * day


def test_extra_sessions_only_for_visitors(make_small_config) -> None:
    cfg = make_small_config(**{"dynamics.sessions_per_day": 3,
                               "dynamics.extra_session_prob": 0.9})
    world = build_world(cfg, 0)
    sim = Simulator(world, 0)
    sim.reset()
    sessions = set()

    def check(s: Simulator, fb: Feedback) -> None:
        sessions.add(s.session_no)
        assert not np.any(s.state.in_session & ~s.state.visited_today)

    run_random(sim, each=check)
    assert max(sessions) >= 1


def test_cascade_model_runs(make_small_config) -> None:
    world = build_world(make_small_config(**{"choice.model": "cascade"}), 0)
    sim = Simulator(world, 0)
    sim.reset()
    clicks = []
    run_random(sim, each=lambda s, fb: clicks.append(int(fb.clicked.sum())))
    assert sum(clicks) > 0


# ------------------------------------------------------------------ determinism and pairing
def run_collect(world: World, spec: str, seed: int) -> tuple[list[Feedback], dict]:
    """Run a policy as the runner does; return the feedback and, per (day, tick), the states of
    the day's choice and satisfaction streams just before the draw."""
    policy = make_policy(spec)
    plat = Platform(world, seed)
    sim = plat.sim
    feedback: list[Feedback] = []
    sim.on_request.append(feedback.append)
    policy.bind(plat.context, RngStreams(seed).fresh(f"policy/{spec}"))
    plat.reset()
    draws = {}
    while not sim.done:
        draws[(sim.day, sim.tick)] = (sim._rng_choice.bit_generator.state,
                                      sim._rng_sat.bit_generator.state)
        _fb, logged = plat.serve(policy.act(plat.view(privileged=policy.privileged)))
        policy.observe(logged)
    return feedback, draws


def _assert_same_feedback(a: list[Feedback], b: list[Feedback]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert (x.day, x.tick) == (y.day, y.tick)
        for field in ("users", "slates", "positions", "items", "satisfaction", "session_ended",
                      "slate_mean_emb"):
            np.testing.assert_array_equal(getattr(x, field), getattr(y, field), err_msg=field)


@pytest.mark.parametrize("spec", ["greedy", "mmr:0.5", "random"])
def test_same_seed_same_run(small_world: World, spec: str) -> None:
    a = pd.DataFrame(run_policy(small_world, spec, 4).daily)
    b = pd.DataFrame(run_policy(small_world, spec, 4).daily)
    assert len(a) == small_world.cfg.horizon_days
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    fa, _ = run_collect(small_world, spec, 4)
    fb, _ = run_collect(small_world, spec, 4)
    _assert_same_feedback(fa, fb)


def test_different_run_seed_differs(small_world: World) -> None:
    fa, _ = run_collect(small_world, "random", 0)
    fb, _ = run_collect(small_world, "random", 1)
    assert any(not np.array_equal(x.slates, y.slates) for x, y in zip(fa, fb, strict=False))


def test_paired_seeds_same_initial_state_and_draws(small_world: World) -> None:
    a, b = Simulator(small_world, 7), Simulator(small_world, 7)
    a.reset()
    b.reset()
    np.testing.assert_array_equal(a.state.interest, b.state.interest)
    np.testing.assert_array_equal(a.state.dislike, b.state.dislike)
    assert a._rng_choice.bit_generator.state == b._rng_choice.bit_generator.state
    assert a._rng_sat.bit_generator.state == b._rng_sat.bit_generator.state

    _, draws_random = run_collect(small_world, "random", 7)
    _, draws_greedy = run_collect(small_world, "greedy", 7)
    common = sorted(set(draws_random) & set(draws_greedy))
    assert (0, 0) in common and len({d for d, _ in common}) == small_world.cfg.horizon_days
    n = small_world.n_users
    for key in common:
        for sa, sb in zip(draws_random[key], draws_greedy[key], strict=True):
            assert sa == sb, key
            ga, gb = np.random.Generator(np.random.PCG64()), np.random.Generator(np.random.PCG64())
            ga.bit_generator.state, gb.bit_generator.state = sa, sb
            np.testing.assert_array_equal(ga.random(n), gb.random(n))


def test_policies_differ_but_start_paired(small_world: World) -> None:
    fa, _ = run_collect(small_world, "random", 2)
    fb, _ = run_collect(small_world, "popular", 2)
    np.testing.assert_array_equal(fa[0].users, fb[0].users)  # same users on day 0, tick 0
    assert not np.array_equal(fa[0].slates, fb[0].slates) or not np.array_equal(
        fa[1].slates, fb[1].slates)


def test_different_world_seed_different_users(small_cfg: ScenarioConfig,
                                              small_world: World) -> None:
    other = build_world(small_cfg, 1)
    assert other.personas.likes != small_world.personas.likes
    assert not np.allclose(other.interest0, small_world.interest0)
    again = build_world(small_cfg, 0)
    np.testing.assert_array_equal(again.interest0, small_world.interest0)
    np.testing.assert_array_equal(again.item_emb, small_world.item_emb)


def test_unknown_scenario_lists_valid_ones(small_cfg: ScenarioConfig) -> None:
    cfg = ScenarioConfig.from_dict({**small_cfg.to_dict(), "name": "nope"})
    with pytest.raises(ValueError, match="nope") as err:
        build_world(cfg, 0)
    for name in scenario_names():
        assert name in str(err.value)


# ------------------------------------------------------------------ checkpoints
def _slates_for(sim: Simulator) -> np.ndarray:
    """A deterministic function of (day, tick): the same slates however the sim got here."""
    rng = np.random.default_rng([sim.day, sim.tick])
    return random_slates(sim, rng)


def _continue(sim: Simulator) -> list[Feedback]:
    out = []
    while not sim.done:
        out.append(sim.step(_slates_for(sim)))
    return out


def test_get_set_state_round_trip(small_world: World) -> None:
    sim = Simulator(small_world, 11)
    sim.reset()
    while sim.day < 1 or sim.tick < 2:
        sim.step(_slates_for(sim))
    snap = sim.get_state()
    where = (sim.day, sim.tick, sim.session_no)
    rest = _continue(sim)
    assert rest
    # the snapshot is a copy: running on did not change it
    assert snap["day"] == where[0] and snap["tick"] == where[1]

    other = Simulator(small_world, 11)
    other.reset()
    other.set_state(snap)
    assert (other.day, other.tick, other.session_no) == where
    _assert_same_feedback(_continue(other), rest)
    for k, v in sim.state.arrays().items():
        np.testing.assert_array_equal(getattr(other.state, k), v, err_msg=k)

    sim.set_state(snap)  # rewinding the same simulator works too
    _assert_same_feedback(_continue(sim), rest)


# ------------------------------------------------------------------ malformed slates
def _snapshot_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a["arrays"]:
        np.testing.assert_array_equal(a["arrays"][k], b["arrays"][k], err_msg=k)
    for k in ("day", "tick", "session_no", "done", "rng_choice", "rng_sat", "rng_day"):
        assert a[k] == b[k], k


@pytest.fixture
def mid_day_sim(small_world: World) -> Simulator:
    """A simulator on day 1 where some users are masked and user ``u`` is in session."""
    sim = Simulator(small_world, 0)
    sim.reset()
    rng = np.random.default_rng(0)
    while sim.day < 1:
        sim.step(random_slates(sim, rng))
    assert sim.state.in_session.any() and not sim.state.in_session.all()
    return sim


def _good(sim: Simulator) -> tuple[np.ndarray, int]:
    slates = random_slates(sim, np.random.default_rng(5))
    return slates, int(np.flatnonzero(sim.state.in_session)[1 if sim.state.in_session.sum() > 1
                                                              else 0])


@pytest.mark.parametrize(("case", "pattern"), [
    ("too_big", r"user {u} has item {n} at slot 3"),
    ("negative", r"user {u} has item -1 at slot 3"),
    ("duplicate", r"user {u} repeats item {dup} at slots 0 and 3"),
    ("float", r"dtype float64; user 0, slot 0"),
    ("nan", r"user {u}, slot 3 holds nan"),
])
def test_bad_slates_name_user_and_slot(mid_day_sim: Simulator, case: str, pattern: str) -> None:
    sim = mid_day_sim
    slates, u = _good(sim)
    n = sim.n_available
    if case == "too_big":
        slates[u, 3] = n
    elif case == "negative":
        slates[u, 3] = -1
    elif case == "duplicate":
        slates[u, 3] = slates[u, 0]
    elif case == "float":
        slates = slates.astype(np.float64)
    elif case == "nan":
        slates = slates.astype(np.float64)
        slates[u, 3] = np.nan
    before = sim.get_state()
    with pytest.raises(SlateError, match=pattern.format(u=u, n=n, dup=slates[u, 0])):
        sim.step(slates)
    _snapshot_equal(sim.get_state(), before)
    # the simulator still works after the rejection
    sim.step(_good(sim)[0])


def test_not_yet_arrived_item_rejected(arrivals_world: World) -> None:
    sim = Simulator(arrivals_world, 0)
    sim.reset()
    slates = random_slates(sim, np.random.default_rng(0))
    n0 = sim.n_available
    assert n0 < arrivals_world.n_items  # item n0 exists but arrives tomorrow
    slates[4, 2] = n0
    before = sim.get_state()
    with pytest.raises(ValueError, match=rf"user 4 has item {n0} at slot 2.*\[0, {n0}\)"):
        sim.step(slates)
    _snapshot_equal(sim.get_state(), before)


@pytest.mark.parametrize("shape", [(50, 9), (49, 10), (500,), (50, 10, 1)])
def test_wrong_shape_rejected(mid_day_sim: Simulator, shape: tuple[int, ...]) -> None:
    before = mid_day_sim.get_state()
    with pytest.raises(ValueError, match=r"shape \(50, 10\) \[users, slots\]"):
        mid_day_sim.step(np.zeros(shape, np.int64))
    _snapshot_equal(mid_day_sim.get_state(), before)


def test_slate_error_is_value_error() -> None:
    assert issubclass(SlateError, ValueError)


def test_validate_slates_ignores_masked_rows() -> None:
    slates = np.array([[0, 1], [5, 5], [2, 3]])
    out = validate_slates(slates, 3, 2, 4, rows=np.array([0, 2]))
    assert out.dtype == np.int64
    with pytest.raises(SlateError, match="user 1 repeats item 5 at slots 0 and 1"):
        validate_slates(slates, 3, 2, 6)
    validate_slates(slates.astype(np.uint8), 3, 2, 6, rows=np.array([0, 2]))
    with pytest.raises(SlateError, match="user 2 has item 3 at slot 1"):
        validate_slates(slates, 3, 2, 3, rows=np.array([0, 2]))
    with pytest.raises(SlateError, match="integer item ids"):
        validate_slates(slates.astype(bool), 3, 2, 4)


def test_dwell_is_noisy_satisfaction_of_clicks_from_a_fixed_stream(small_world: World) -> None:
    """dwell = y + dwell_noise * eps where clicked (NaN elsewhere); eps comes from the day's
    ``dwell`` stream, one draw per user per request whoever is served (common random numbers)."""
    sim = Simulator(small_world, 5)
    sim.reset()
    sigma = small_world.cfg.dynamics.dwell_noise
    n = small_world.n_users
    rng = np.random.default_rng(0)
    for _ in range(6):
        mirror = np.random.Generator(np.random.PCG64())
        mirror.bit_generator.state = sim._rng_dwell.bit_generator.state
        eps = mirror.standard_normal(n)
        fb = sim.step(random_slates(sim, rng))
        assert fb.dwell is not None
        c = fb.clicked
        assert np.isnan(fb.dwell[~c]).all()
        np.testing.assert_allclose(fb.dwell[c], fb.satisfaction[c] + sigma * eps[fb.users[c]],
                                   rtol=1e-6, atol=1e-9)


def test_click_follows_appeal_satisfaction_follows_value(small_world: World) -> None:
    """Raising every item's appeal raises the click rate and leaves the satisfaction of a given
    click alone; lowering value lowers satisfaction and leaves the click draws alone."""
    import dataclasses

    def first_step(world: World):
        sim = Simulator(world, 11)
        sim.reset()
        slates = np.tile(np.arange(world.cfg.slate_size), (world.n_users, 1))
        return sim.step(slates)

    cat = small_world.catalog
    base = first_step(small_world)
    hooked = first_step(dataclasses.replace(small_world, catalog=dataclasses.replace(
        cat, appeal=np.ones(cat.n_items))))
    worse = first_step(dataclasses.replace(small_world, catalog=dataclasses.replace(
        cat, value=np.full(cat.n_items, -1.0))))
    assert hooked.clicked.mean() > base.clicked.mean()
    np.testing.assert_array_equal(worse.positions, base.positions)  # value never enters clicks
    c = base.clicked
    assert (worse.satisfaction[c] < base.satisfaction[c]).all()


# ------------------------------------------------------------------ habit (prototype, off)
def test_habit_formation_is_off_by_default_and_grows_the_hook(make_small_config) -> None:
    """Off (habit_gain 0): no habit state. On: h_u(t) = h_u (1 + gain H_u) with H_u the
    decayed appeal of consumed items; clicks raise it, a checkpoint carries it."""
    from recsim_llm.config import ConfigError, DynamicsConfig

    off = Simulator(build_world(make_small_config(), 0), 3)
    off.reset()
    assert off._habit is None and "habit" not in off.get_state()
    cfg = make_small_config(**{"dynamics.habit_gain": 2.0, "dynamics.habit_decay": 0.5})
    world = build_world(cfg, 0)
    sim = Simulator(world, 3)
    sim.reset()
    hook0 = sim.state.hook.copy()
    fb = sim.step(_slates_for(sim))
    c = fb.clicked
    assert c.any()
    h = np.where(c, 0.5 * world.catalog.appeal[np.maximum(fb.items, 0)], 0.0)
    np.testing.assert_allclose(sim._habit[fb.users], h, rtol=1e-6)
    np.testing.assert_allclose(sim.state.hook[fb.users], hook0[fb.users] * (1 + 2.0 * h),
                               rtol=1e-6)
    snap = sim.get_state()
    rest = _continue(sim)
    other = Simulator(world, 3)
    other.reset()
    other.set_state(snap)
    _assert_same_feedback(_continue(other), rest)
    for bad in ({"habit_gain": -1.0}, {"habit_decay": 1.0}, {"habit_return": -0.5}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            DynamicsConfig(**bad)


@pytest.mark.parametrize("kernel", ["numpy", "numba"])
def test_overnight_draw_in_blocks_equals_one_draw(make_small_config, monkeypatch,
                                                  kernel: str) -> None:
    """The overnight noise drawn block by block into a reused buffer: the same interests,
    bit for bit, as with one block for everyone (the stream is consumed in order), and the
    reference's first night equals the single [n, K, d] draw it is defined by."""
    import recsim_llm.simulator as simulator_mod
    from recsim_llm.users import dynamics as dyn

    world = build_world(make_small_config(**{"horizon_days": 4, "simulator.kernel": kernel}), 0)

    def run(block: int) -> list[np.ndarray]:
        monkeypatch.setattr(simulator_mod, "NIGHT_BLOCK", block)
        sim = Simulator(world, seed=3)
        sim.reset()
        out, day = [], 0
        while not sim.done:
            sim.step(np.tile(np.arange(world.cfg.slate_size), (world.n_users, 1)))
            if sim.day != day and not sim.done:
                out.append(sim.state.interest.copy())
                day = sim.day
        return out

    whole, blocks = run(10**9), run(7)      # 7 does not divide the population
    assert len(whole) == 3
    for a, b in zip(whole, blocks, strict=True):
        np.testing.assert_array_equal(a, b)
    if kernel == "numpy":  # the first night against its definition: one [n, K, d] draw
        sim = Simulator(world, seed=3)
        seen: dict[str, object] = {}

        def at_day_end(s: Simulator, day: int) -> None:  # runs just before the overnight step
            if day == 0:
                seen.update(before=s.state.interest.copy(), alive=s.state.alive.copy(),
                            rng=copy.deepcopy(s._rng_day["drift"]))

        sim.on_day_end.append(at_day_end)
        sim.reset()
        while sim.day == 0:
            sim.step(np.tile(np.arange(world.cfg.slate_size), (world.n_users, 1)))
        before, alive, rng = seen["before"], seen["alive"], seen["rng"]
        noise = rng.standard_normal(before.shape, dtype=np.float32)
        dy = world.cfg.dynamics
        ref = np.where(alive[:, None, None], dyn.overnight_interest(
            before, sim.state.interest0, noise, dy.anchor_rate, dy.drift_noise), before)
        np.testing.assert_array_equal(sim.state.interest, ref)
