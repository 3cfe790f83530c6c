"""The numba population kernel against the numpy reference (``simulator.kernel``).

"Within sampling noise" (the 30-day test): for each daily metric, the mean over the horizon of
one run; the numba run's value may differ from the numpy run's of the same seed by at most
3 standard errors of that metric across the numpy path's seeds (the seed-to-seed noise of a
single run), for every seed. Any systematic error of the kernel larger than a run's own noise
fails it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from recsim_llm.config import ConfigError, merge_config, override
from recsim_llm.kernels import population as kpop
from recsim_llm.kernels import resolve_kernel
from recsim_llm.runner import run_policy
from recsim_llm.scenarios import build_world
from recsim_llm.simulator import Simulator, SlateError, World
from recsim_llm.users import choice as choice_mod
from recsim_llm.users import dynamics as dyn


def with_kernel(world: World, kernel: str, **dotted: object) -> World:
    return replace(world, cfg=override(world.cfg, **{"simulator.kernel": kernel, **dotted}))


def slates_for(sim: Simulator, rng: np.random.Generator) -> np.ndarray:
    keys = rng.random((sim.world.n_users, sim.n_available))
    return np.argpartition(keys, sim.cfg.slate_size - 1, axis=1)[:, : sim.cfg.slate_size]


def run_pair(world: World, seed: int, steps: int | None = None):
    """Step the numpy and the numba simulator side by side on the same slates; yields the two
    feedbacks and simulators at each step."""
    a, b = Simulator(with_kernel(world, "numpy"), seed), Simulator(with_kernel(world, "numba"),
                                                                  seed)
    assert (a.kernel, b.kernel) == ("numpy", "numba")
    a.reset()
    b.reset()
    rng = np.random.default_rng(seed)
    t = 0
    while not a.done and (steps is None or t < steps):
        s = slates_for(a, rng)
        yield a.step(s), b.step(s), a, b
        t += 1


def test_kernel_names_and_errors(small_cfg) -> None:
    assert resolve_kernel("numpy") == "numpy"
    assert resolve_kernel("auto") == "numba"  # numba is a dependency
    with pytest.raises(ValueError, match=r"simulator\.kernel"):
        resolve_kernel("cuda")
    with pytest.raises(ConfigError, match=r"SimulatorConfig\.kernel"):
        override(small_cfg, **{"simulator.kernel": "fortran"})
    assert small_cfg.simulator.kernel == "numpy"  # the reference stays the default
    # a run file's [scenario.simulator] table
    cfg = merge_config(small_cfg, {"simulator": {"kernel": "auto"}})
    assert cfg.simulator.kernel == "auto"
    with pytest.raises(ConfigError, match=r"simulator\.threads"):
        merge_config(small_cfg, {"simulator": {"threads": 2}})


def test_utilities_equal_to_float32_rounding(small_world: World) -> None:
    """The kernel's click utilities against ``dynamics.click_utility`` on the same state."""
    w = with_kernel(small_world, "numba")
    sim = Simulator(w, 0)
    sim.reset()
    # a state with fatigue and moved interests: a few numpy-path steps first
    ref = Simulator(small_world, 0)
    ref.reset()
    rng = np.random.default_rng(0)
    for _ in range(4):
        ref.step(slates_for(ref, rng))
    sim.set_state(ref.get_state())
    st, ch = sim.state, sim.cfg.choice
    idx = np.flatnonzero(st.in_session)
    S = slates_for(sim, rng)[idx].astype(np.int64)
    G = w.item_emb[S]                                                      # [m, k, d]
    cos_p = np.einsum("mkd,mjd->mjk", G, st.interest[idx])
    a = dyn.affinity(dyn.pool_interests(cos_p, st.interest_logw[idx][:, :, None],
                                        ch.pool_temperature, axis=1),
                     np.einsum("mkd,md->mk", G, st.dislike[idx]), ch.lam_dislike)
    b = dyn.boredom(np.einsum("mkd,md->mk", G, st.fatigue[idx]), ch.beta_fatigue)
    v_ref = dyn.click_utility(a, b, sim._appeal[S], st.hook[idx][:, None], ch.temperature,
                              sim._pos_penalty)
    m, k = S.shape
    outs = [np.empty(m, np.int64), np.empty(m, np.int64), np.empty(m), np.empty(m),
            np.empty(m, bool), np.empty((m, w.dim), np.float32), np.empty((m, k), np.float32)]
    n = w.n_users
    kpop.serve(S, idx, w.item_emb, sim._appeal, sim._value, sim._pos_penalty, st.interest,
               st.interest_logw, st.dislike, st.fatigue, st.hook, st.budget, st.misses,
               st.requests, st.day_requests, st.day_clicks, st.day_sat_sum, st.in_session,
               np.full((n, 1), 0.5), np.zeros(n), np.zeros(n), *sim._kparams, *outs)
    v = outs[-1]
    assert v.dtype == np.float32 and v_ref.dtype == np.float32
    # float32 rounding of utilities of magnitude ~10: a few ulps of the largest term
    scale = np.abs(v_ref).max() + ch.temperature
    np.testing.assert_allclose(v, v_ref, rtol=0, atol=8 * np.finfo(np.float32).eps * scale)
    pos = choice_mod.sample_mnl(v_ref, ch.no_click_utility, np.full(m, 0.5))
    np.testing.assert_array_equal(outs[0], pos)


def test_choices_equal_on_a_fixed_seed(small_world: World) -> None:
    """Over the whole 5-day horizon: the same users served, the same clicks, the same session
    ends, and hidden state within float32 rounding."""
    steps = 0
    for fa, fb, a, b in run_pair(small_world, seed=3):
        np.testing.assert_array_equal(fa.users, fb.users)
        np.testing.assert_array_equal(fa.positions, fb.positions)
        np.testing.assert_array_equal(fa.items, fb.items)
        np.testing.assert_array_equal(fa.session_ended, fb.session_ended)
        np.testing.assert_allclose(fb.satisfaction, fa.satisfaction, rtol=0, atol=1e-5)
        np.testing.assert_allclose(fb.dwell, fa.dwell, rtol=0, atol=1e-5)
        np.testing.assert_allclose(fb.slate_mean_emb, fa.slate_mean_emb, rtol=0, atol=1e-6)
        np.testing.assert_allclose(b.state.interest, a.state.interest, rtol=0, atol=1e-5)
        np.testing.assert_allclose(b.state.fatigue, a.state.fatigue, rtol=0, atol=1e-5)
        np.testing.assert_allclose(b.state.budget, a.state.budget, rtol=0, atol=1e-5)
        np.testing.assert_array_equal(b.state.in_session, a.state.in_session)
        steps += 1
    assert steps > 20 and b.done and b.day == a.day


def test_habit_stock_and_hook_equal_on_both_paths(make_small_config) -> None:
    """The habit stock (updated after the kernel's choice, in numpy on the served users) and
    the hook it raises follow the reference exactly while the choices agree."""
    world = build_world(make_small_config(**{"dynamics.habit_gain": 2.0, "dynamics.habit_decay":
                                             0.8, "horizon_days": 2}), 0)
    steps = 0
    for fa, fb, a, b in run_pair(world, seed=2):
        np.testing.assert_array_equal(fa.items, fb.items)
        assert a._habit is not None and b._habit is not None
        np.testing.assert_array_equal(b._habit, a._habit)
        np.testing.assert_array_equal(b.state.hook, a.state.hook)
        steps += 1
    assert steps > 5 and a._habit.max() > 0


def test_drift_by_consumed_equal_on_both_paths(make_small_config) -> None:
    """``dynamics.drift_by = "consumed"`` (every click moves the interests) on both paths."""
    world = build_world(make_small_config(**{"dynamics.drift_by": "consumed",
                                             "horizon_days": 2}), 0)
    steps, moved = 0, False
    for fa, fb, a, b in run_pair(world, seed=4):
        np.testing.assert_array_equal(fa.items, fb.items)
        np.testing.assert_allclose(b.state.interest, a.state.interest, rtol=0, atol=1e-5)
        moved |= bool(((fa.items >= 0) & (fa.satisfaction <= 0)).any())
        steps += 1
    assert steps > 5 and moved  # clicks with y <= 0 happened (they move interests here)


def test_cascade_choices_equal(make_small_config) -> None:
    world = build_world(make_small_config(**{"choice.model": "cascade", "horizon_days": 2}), 0)
    for fa, fb, _a, _b in run_pair(world, seed=1):
        np.testing.assert_array_equal(fa.positions, fb.positions)
        np.testing.assert_array_equal(fa.users, fb.users)


def test_each_path_bit_identical_run_to_run(small_world: World) -> None:
    """Two runs of the numba path on a seed give the same bits (and so does numpy's)."""
    def trace(kernel: str) -> list[np.ndarray]:
        sim = Simulator(with_kernel(small_world, kernel), 5)
        sim.reset()
        rng = np.random.default_rng(5)
        out = []
        while not sim.done:
            fb = sim.step(slates_for(sim, rng))
            out += [fb.positions, fb.satisfaction, fb.slate_mean_emb]
        out += [sim.state.interest, sim.state.fatigue, sim.state.budget]
        return out

    for kernel in ("numba", "numpy"):
        first, second = trace(kernel), trace(kernel)
        assert len(first) == len(second)
        for x, y in zip(first, second, strict=True):
            assert x.tobytes() == y.tobytes()


def test_bad_slates_rejected_on_the_numba_path(small_world: World) -> None:
    """The fast check sends a bad slate to the numpy validator: same error, state untouched."""
    sim = Simulator(with_kernel(small_world, "numba"), 0)
    sim.reset()
    before = sim.state.copy()
    s = slates_for(sim, np.random.default_rng(0)).astype(np.int64)
    users = np.flatnonzero(sim.state.in_session)
    dup = s[users].copy()
    dup[1, 1] = dup[1, 0]
    with pytest.raises(SlateError, match=f"user {users[1]} repeats item"):
        sim.serve(dup, users)
    out = s[users].copy()
    out[0, 2] = sim.n_available
    with pytest.raises(SlateError, match="outside the available items"):
        sim.serve(out, users)
    full = s.copy()
    full[users[2], 0] = -1
    with pytest.raises(SlateError, match="outside the available items"):
        sim.step(full)
    for name, arr in before.arrays().items():
        np.testing.assert_array_equal(getattr(sim.state, name), arr, err_msg=name)
    fb = sim.serve(s[users].astype(np.int32), users)  # other dtypes: validated, then served
    assert len(fb.users) == len(users)


def test_30_day_daily_metrics_within_seed_noise(make_small_config) -> None:
    """greedy, 60 users, 30 days, 4 seeds: per metric, |numba - numpy| of each seed's 30-day
    mean within 3 standard errors of that mean across the numpy path's seeds."""
    cfg = make_small_config(**{"population.n_users": 60, "horizon_days": 30})
    world = build_world(cfg, 0)
    metrics = ("retention", "ctr", "clicks_per_active_user", "mean_satisfaction",
               "intra_list_diversity", "topic_entropy", "session_length")
    seeds = range(4)

    def means(kernel: str) -> np.ndarray:
        w = with_kernel(world, kernel)
        rows = []
        for seed in seeds:
            daily = run_policy(w, "greedy", seed).daily
            rows.append([np.nanmean([float(r[m]) if r[m] is not None else np.nan
                                     for r in daily]) for m in metrics])
        return np.array(rows)                                             # [seeds, metrics]

    ref, fast = means("numpy"), means("numba")
    se = ref.std(axis=0, ddof=1) / np.sqrt(len(seeds))
    bad = {m: (fast[:, j] - ref[:, j]).tolist() for j, m in enumerate(metrics)
           if np.any(np.abs(fast[:, j] - ref[:, j]) > 3 * se[j] + 1e-12)}
    assert not bad, f"numba differs from numpy by more than 3 seed-SEs: {bad} (SE {se})"


def test_parallel_and_serial_paths_bit_identical() -> None:
    """Above ``PARALLEL_MIN`` served users the kernel runs on numba's threads: the same bits
    as the one-thread path (each user's arithmetic stays in one thread)."""
    rng = np.random.default_rng(0)
    n, n_items, d, k, n_int = 6000, 200, 16, 5, 2
    m = kpop.PARALLEL_MIN + 100

    def unit(x: np.ndarray) -> np.ndarray:
        return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)

    emb = unit(rng.standard_normal((n_items, d)))
    idx = np.sort(rng.choice(n, m, replace=False)).astype(np.int64)
    S = np.argsort(rng.random((m, n_items)), axis=1)[:, :k].astype(np.int64)
    base = {"interest": unit(rng.standard_normal((n, n_int, d))),
            "fatigue": (0.3 * unit(rng.standard_normal((n, d)))).astype(np.float32),
            "budget": np.full(n, 6.0), "misses": np.zeros(n, np.int64),
            "requests": np.zeros(n, np.int64), "day_requests": np.zeros(n, np.int64),
            "day_clicks": np.zeros(n, np.int64), "day_sat_sum": np.zeros(n),
            "in_session": np.ones(n, bool)}
    static = (emb, rng.random(n_items).astype(np.float32),
              rng.random(n_items).astype(np.float32), np.zeros(k, np.float32))
    logw = np.full((n, n_int), -np.log(n_int), np.float32)
    dislike, hook = unit(rng.standard_normal((n, d))), rng.random(n).astype(np.float32)
    draws = (rng.random((n, 1)), rng.standard_normal(n), rng.standard_normal(n))
    from recsim_llm.config import ScenarioConfig

    prm, iprm, cascade = kpop.params(ScenarioConfig(slate_size=k))

    def run(parallel: bool) -> list[np.ndarray]:
        st = {key: v.copy() for key, v in base.items()}
        outs = [np.empty(m, np.int64), np.empty(m, np.int64), np.empty(m), np.empty(m),
                np.empty(m, bool), np.empty((m, d), np.float32), np.empty((m, k), np.float32)]
        args = (S, idx, *static, st["interest"], logw, dislike, st["fatigue"], hook,
                st["budget"], st["misses"], st["requests"], st["day_requests"],
                st["day_clicks"], st["day_sat_sum"], st["in_session"], *draws, prm, iprm,
                cascade, *outs)
        if parallel:
            kpop._serve_parallel(*args)
        else:
            kpop._serve_rows(0, m, *args)
        noise = np.random.default_rng(1).standard_normal(st["interest"].shape, np.float32)
        alive = np.ones(n, bool)
        if parallel:
            kpop._overnight_parallel(st["interest"], base["interest"], noise, alive, 0.02, 0.01)
        else:
            kpop._overnight_rows(0, n, st["interest"], base["interest"], noise, alive, 0.02,
                                 0.01)
        return [*outs, *st.values()]

    par, ser = run(True), run(False)
    assert (par[0] >= 0).any() and (par[0] < 0).any()  # clicks and no-clicks both occur
    for x, y in zip(par, ser, strict=True):
        assert x.tobytes() == y.tobytes()
