"""A bare numpy implementation of one population request: the reference floor of the benchmark.

It computes the same per-request step as :meth:`recsim_llm.simulator.Simulator.serve` (the
equations of ``recsim_llm/users/dynamics.py`` and ``recsim_llm/users/choice.py``, the current
user model: several interests per user pooled by a soft maximum, appeal in the click utility,
value in the satisfaction, a dwell signal):

1. gather the slate embeddings ``G = E[S]`` ([n, k, d], float32);
2. the cosines with each of the K interests, pooled ``tau * log(sum_k w_k exp(c_k / tau))``;
   taste ``a = pooled - lam * max(0, G.q)``, boredom ``b = beta * max(0, G.f)``;
3. click utility ``v = T * (a - b) + h_u * appeal - position_penalty``;
4. MNL choice with a no-click option from *pre-drawn* uniforms (inverse CDF, as ``sample_mnl``);
5. realised satisfaction ``y = a - b + w_value * value + noise * eps`` (no-click value if none)
   and dwell ``y + dwell_noise * eps'`` (NaN if none);
6. drift of each interest toward the consumed item, weighted by its responsibility
   (``softmax_k(c_k / tau + log w_k)``), renormalised;
7. fatigue update from the consumed item and the mean shown item;
8. budget update, miss and request counters, and the session-end mask;

over *all* ``n`` users at once, with no slate validation, no in-session gather/scatter, no
callbacks, no feedback object and no day logic (the session-end mask is computed, not applied).
It is written as plain vectorised numpy (one expression per equation, float32 embeddings, no
buffer reuse or blocking; the drift is applied to every row, not only the rows a click moves),
i.e. what a minimal implementation of the same step costs.

Usage::

    python benchmarks/numpy_floor.py --check              # agreement with Simulator.serve
    python benchmarks/numpy_floor.py --n-users 100000 --dim 64 --seconds 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass

if __name__ == "__main__":  # pin threads before numpy is imported (see bench_population.py)
    for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_v, str(os.cpu_count() or 1))

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class FloorParams:
    """The constants of the step, taken from a ScenarioConfig."""

    lam_dislike: float
    beta_fatigue: float
    temperature: float
    pool_temperature: float
    no_click_utility: float
    w_value: float
    satisfaction_noise: float
    dwell_noise: float
    no_click_satisfaction: float
    drift_rate: float
    fatigue_decay: float
    shown_fatigue_weight: float
    request_cost: float
    refund: float
    patience: int
    max_session_len: int

    @classmethod
    def from_config(cls, cfg) -> FloorParams:
        ch, dy = cfg.choice, cfg.dynamics
        if ch.model != "mnl":
            raise ValueError("the numpy floor implements the MNL choice model only")
        return cls(ch.lam_dislike, ch.beta_fatigue, ch.temperature, ch.pool_temperature,
                   ch.no_click_utility, dy.w_value, dy.satisfaction_noise, dy.dwell_noise,
                   dy.no_click_satisfaction, dy.drift_rate, dy.fatigue_decay,
                   dy.shown_fatigue_weight, dy.request_cost, dy.refund, dy.patience,
                   dy.max_session_len)


def position_penalty(k: int, position_bias: float) -> np.ndarray:
    """``position_bias * log2(1 + slot)`` as float32, shape [k]."""
    return (position_bias * np.log2(1.0 + np.arange(k))).astype(np.float32)


@dataclass
class FloorState:
    """Per-user state the request touches (rows = the users served)."""

    interest: np.ndarray   # [n, K, d] float32
    logw: np.ndarray       # [n, K] float32 log pooling weights (-inf = padding)
    hook: np.ndarray       # [n] float32, w_appeal * hook susceptibility
    dislike: np.ndarray    # [n, d] float32
    fatigue: np.ndarray    # [n, d] float32
    budget: np.ndarray     # [n] float64
    misses: np.ndarray     # [n] int64
    requests: np.ndarray   # [n] int64


def floor_step(st: FloorState, S: np.ndarray, u: np.ndarray, eps: np.ndarray,
               eps_dwell: np.ndarray, item_emb: np.ndarray, appeal: np.ndarray,
               value: np.ndarray, pen: np.ndarray, prm: FloorParams
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One request for every row of ``st``; updates ``st`` in place.

    Args:
        S: [n, k] int64 slates (assumed valid).
        u: [n] uniforms in [0, 1) for the choice; eps, eps_dwell: [n] standard normals for
            the satisfaction and the dwell.
        item_emb: [n_items, d] float32; appeal, value: [n_items] float32; pen: [k] float32.
    Returns:
        (positions [n] int64 with -1 = no click, satisfaction [n] float64, dwell [n] float64,
        session-ended [n]).
    """
    n, k = S.shape
    tau = np.float32(prm.pool_temperature)
    G = np.take(item_emb, S, axis=0)                                   # [n, k, d]
    cos_p = np.einsum("mkd,mjd->mjk", G, st.interest)                 # [n, K, k]
    if cos_p.shape[1] == 1:
        taste = cos_p[:, 0]
    else:
        cmax = cos_p.max(axis=1, keepdims=True)
        z = np.exp((cos_p - cmax) * (np.float32(1.0) / tau) + st.logw[:, :, None])
        taste = cmax[:, 0] + tau * np.log(z.sum(axis=1))
    a = taste - prm.lam_dislike * np.maximum(np.einsum("mkd,md->mk", G, st.dislike), 0.0)
    b = prm.beta_fatigue * np.maximum(np.einsum("mkd,md->mk", G, st.fatigue), 0.0)
    v = prm.temperature * (a - b) + st.hook[:, None] * np.take(appeal, S) - pen   # [n, k]

    # MNL over the slate and a no-click option; first slot whose CDF exceeds u.
    z = np.empty((n, k + 1), v.dtype)
    z[:, :k] = v
    z[:, k] = prm.no_click_utility
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    pos = np.count_nonzero(np.cumsum(z[:, :k], axis=1) <= u[:, None], axis=1)
    clicked = pos < k
    pos = np.where(clicked, pos, -1)

    r = np.arange(n)
    pc = np.where(clicked, pos, 0)
    item = S[r, pc]
    y = a[r, pc] - b[r, pc] + prm.w_value * np.take(value, item) + prm.satisfaction_noise * eps
    y = np.where(clicked, y, prm.no_click_satisfaction)               # float64
    dwell = np.where(clicked, y + prm.dwell_noise * eps_dwell, np.nan)
    consumed = np.take(item_emb, item, axis=0)                         # [n, d]

    # Each interest drifts toward the consumed item by its responsibility, renormalised.
    zr = cos_p[r, :, pc] * (np.float32(1.0) / tau) + st.logw               # [n, K]
    zr = np.exp(zr - zr.max(axis=1, keepdims=True))
    resp = zr / zr.sum(axis=1, keepdims=True)
    step = prm.drift_rate * np.where(clicked, np.maximum(y, 0.0), 0.0)
    w = (step[:, None] * resp).astype(np.float32)
    p = st.interest + w[:, :, None] * (consumed[:, None, :] - st.interest)
    norm = np.sqrt(np.einsum("mjd,mjd->mj", p, p))
    p /= np.where(norm > 0, norm, 1.0)[:, :, None]
    st.interest = p

    # Fatigue toward the consumed item and the mean shown item.
    sw = prm.shown_fatigue_weight
    shown_mean = np.einsum("mkd->md", G) / np.float32(k)
    target = sw * shown_mean + ((1.0 - sw) * clicked).astype(np.float32)[:, None] * consumed
    st.fatigue = prm.fatigue_decay * st.fatigue + (1.0 - prm.fatigue_decay) * target

    # Budget, counters, session end.
    gain = np.where(clicked, prm.refund * np.maximum(y, 0.0), 0.0)
    st.budget = np.maximum(st.budget - prm.request_cost + gain, 0.0)
    st.misses = np.where(clicked, 0, st.misses + 1)
    st.requests += 1
    ended = ((st.budget <= 0) | (st.misses >= prm.patience)
             | (st.requests >= prm.max_session_len))
    return pos, y, dwell, ended


def _floor_inputs(world) -> tuple:
    """(appeal, value, hook) of a world as the floor reads them (float32)."""
    cfg = world.cfg
    return (world.catalog.appeal.astype(np.float32), world.catalog.value.astype(np.float32),
            (cfg.choice.w_appeal * world.hook).astype(np.float32))


# ---------------------------------------------------------------------------------- benchmark
def bench_floor(n_users: int, dim: int, slate_size: int = 10, n_items: int = 1000,
                min_seconds: float = 2.0, min_steps: int = 3, max_steps: int = 100_000,
                world=None, slate_pool: np.ndarray | None = None, block: int = 0) -> dict:
    """Time :func:`floor_step` over all users; slates, uniforms and normals drawn beforehand.

    ``block`` > 0: a variant (not the reference floor) that runs the step on chunks of ``block``
    users in turn, so the [block, k, d] slate embeddings stay in cache.
    """
    from _common import make_slate_pool, make_world

    world = world if world is not None else make_world(n_users, dim, n_items, slate_size)
    pool = (slate_pool if slate_pool is not None
            else make_slate_pool(n_users, world.n_items, slate_size))
    rng = np.random.default_rng(2)
    u_pool = rng.random((len(pool), n_users))
    eps_pool = rng.standard_normal((len(pool), n_users))
    dwell_pool = rng.standard_normal((len(pool), n_users))
    cfg = world.cfg
    prm = FloorParams.from_config(cfg)
    pen = position_penalty(slate_size, cfg.choice.position_bias)
    appeal, value, hook = _floor_inputs(world)
    bounds = ([(lo, min(n_users, lo + block)) for lo in range(0, n_users, block)] if block > 0
              else [(0, n_users)])
    states = [FloorState(interest=world.interest0[lo:hi].copy(),
                         logw=world.interest_logw[lo:hi], hook=hook[lo:hi],
                         dislike=world.dislike[lo:hi],
                         fatigue=np.zeros((hi - lo, dim), np.float32),
                         budget=np.full(hi - lo, cfg.dynamics.session_budget),
                         misses=np.zeros(hi - lo, np.int64),
                         requests=np.zeros(hi - lo, np.int64)) for lo, hi in bounds]

    def step(j: int) -> None:
        for st, (lo, hi) in zip(states, bounds, strict=True):
            floor_step(st, pool[j, lo:hi], u_pool[j, lo:hi], eps_pool[j, lo:hi],
                       dwell_pool[j, lo:hi], world.item_emb, appeal, value, pen, prm)

    for i in range(2):  # warm-up (first-touch allocations)
        step(i % len(pool))
    steps = 0
    c0, t0 = time.process_time(), time.perf_counter()
    while True:
        j = steps % len(pool)
        step(j)
        steps += 1
        elapsed = time.perf_counter() - t0
        if (elapsed >= min_seconds and steps >= min_steps) or steps >= max_steps:
            break
    cpu = time.process_time() - c0
    return {"impl": "numpy_floor" if block <= 0 else f"numpy_floor_block{block}",
            "n_users": n_users, "dim": dim, "slate_size": slate_size,
            "user_steps_per_s": steps * n_users / elapsed, "steps_per_s": steps / elapsed,
            "seconds": elapsed, "n_steps": steps, "cpu_seconds": cpu,
            "user_steps_per_cpu_s": steps * n_users / max(cpu, 1e-9),
            "in_session_fraction": 1.0}


# -------------------------------------------------------------------------------------- check
def _clone(gen: np.random.Generator) -> np.random.Generator:
    g = np.random.Generator(type(gen.bit_generator)())
    g.bit_generator.state = gen.bit_generator.state
    return g


def check_against_simulator(n_users: int = 3000, dim: int = 32, n_steps: int = 40,
                            seed: int = 0, kernel: str = "numpy") -> dict:
    """Replay Simulator.serve: before each step, feed the floor the in-session users' state and
    the simulator's own uniforms/normals (cloned RNG streams); compare what the step produced
    (captured in an on_request callback, i.e. before any day change)."""
    from dataclasses import replace

    from _common import make_slate_pool, make_world

    from recsim_llm.config import override
    from recsim_llm.simulator import Simulator

    world = make_world(n_users, dim, n_items=300, seed=seed)
    world = replace(world, cfg=override(world.cfg, **{"simulator.kernel": kernel}))
    pool = make_slate_pool(n_users, world.n_items, world.cfg.slate_size, n_templates=512)
    prm = FloorParams.from_config(world.cfg)
    pen = position_penalty(world.cfg.slate_size, world.cfg.choice.position_bias)
    appeal, value, hook = _floor_inputs(world)
    sim = Simulator(world, seed=seed)
    sim.reset()
    seen: dict = {}

    def capture(fb):
        st = sim.state
        seen.update(fb=fb, interest=st.interest[fb.users].copy(),
                    fatigue=st.fatigue[fb.users].copy(), budget=st.budget[fb.users].copy(),
                    misses=st.misses[fb.users].copy(), requests=st.requests[fb.users].copy())

    sim.on_request.append(capture)
    worst = {"interest": 0.0, "fatigue": 0.0, "budget": 0.0, "satisfaction": 0.0,
             "dwell": 0.0}
    pos_ok = ended_ok = counters_ok = True
    served = 0
    days = set()
    for t in range(n_steps):
        st = sim.state
        idx = np.flatnonzero(st.in_session)
        u_all = _clone(sim._rng_choice).random(n_users)
        eps_all = _clone(sim._rng_sat).standard_normal(n_users)
        dwell_all = _clone(sim._rng_dwell).standard_normal(n_users)
        fs = FloorState(st.interest[idx].copy(), st.interest_logw[idx], hook[idx],
                        st.dislike[idx], st.fatigue[idx].copy(), st.budget[idx].copy(),
                        st.misses[idx].copy(), st.requests[idx].copy())
        S = pool[t % len(pool)]
        pos, y, dwell, ended = floor_step(fs, S[idx], u_all[idx], eps_all[idx], dwell_all[idx],
                                          world.item_emb, appeal, value, pen, prm)
        days.add(sim.day)
        sim.serve(np.take(S, idx, axis=0), idx)
        fb = seen["fb"]
        served += len(idx)
        pos_ok &= bool(np.array_equal(fb.users, idx) and np.array_equal(fb.positions, pos))
        ended_ok &= bool(np.array_equal(fb.session_ended, ended))
        counters_ok &= bool(np.array_equal(seen["misses"], fs.misses)
                            and np.array_equal(seen["requests"], fs.requests))
        worst["satisfaction"] = max(worst["satisfaction"], float(np.abs(fb.satisfaction - y).max()))
        both = np.isfinite(dwell)
        ok_nan = np.array_equal(both, np.isfinite(fb.dwell))
        worst["dwell"] = max(worst["dwell"], float(np.abs(fb.dwell[both] - dwell[both]).max())
                             if ok_nan and both.any() else (0.0 if ok_nan else np.inf))
        for key in ("interest", "fatigue", "budget"):
            worst[key] = max(worst[key], float(np.abs(seen[key] - getattr(fs, key)).max()))
    return {"kernel": kernel, "n_users": n_users, "steps": n_steps, "days_covered": len(days),
            "user_steps": served, "positions_equal": pos_ok, "session_end_equal": ended_ok,
            "counters_equal": counters_ok,
            **{f"{k}_max_abs_diff": v for k, v in worst.items()}}


def run_check(verbose: bool = True) -> bool:
    """The floor against ``Simulator.serve`` on both kernels: identical choices, session ends
    and counters; vectors within float32 rounding, satisfaction/dwell/budget to 1e-5 (float32
    utilities feed them)."""
    ok = True
    for kernel in ("numpy", "numba"):
        res = check_against_simulator(kernel=kernel)
        good = (res["positions_equal"] and res["session_end_equal"] and res["counters_equal"]
                and max(res["interest_max_abs_diff"], res["fatigue_max_abs_diff"]) < 1e-5
                and max(res["satisfaction_max_abs_diff"], res["dwell_max_abs_diff"],
                        res["budget_max_abs_diff"]) < 1e-5)
        ok &= good
        if verbose:
            print(f"vs Simulator.serve replay ({kernel}):", res)
    if verbose:
        print("CHECK", "PASSED" if ok else "FAILED")
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true",
                    help="verify agreement with the simulator's math and exit")
    ap.add_argument("--n-users", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--slate-size", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=2.0, help="minimum timed seconds")
    ap.add_argument("--block", type=int, default=0,
                    help="run the step on chunks of this many users (a variant, not the floor)")
    args = ap.parse_args(argv)
    if args.check:
        return 0 if run_check() else 1
    rec = bench_floor(args.n_users, args.dim, args.slate_size, min_seconds=args.seconds,
                      block=args.block)
    print(rec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
