"""A local copy of ``Simulator.step`` with proposed speed-ups, switchable one by one.

This file does not change the package: :class:`PatchedSimulator` subclasses
:class:`recsim_llm.simulator.Simulator` and overrides ``step`` with a copy of its body in which
each proposed change can be turned on or off, so that each can be measured against the original
on the same world and slates. The changes (see ``docs/benchmarks.md``):

``sort``      validate_slates: ``np.sort`` to detect duplicates; ``argsort`` only to word the error
``take``      ``np.take(a, idx, axis=0)`` instead of ``a[idx]`` for the row gathers
``gbuf``      gather the slate embeddings into a persistent buffer (``np.take(..., out=,
              mode="clip")``, ids already validated): no fresh [m, k, d] allocation per step
``consumed``  consumed embedding from the small ``item_emb`` (``E[S[r, pc]]``), not from ``G``
``mean``      ``np.einsum("mkd->md", G) / k`` instead of ``G.mean(axis=1)``
``fatigue32`` keep the fatigue update in float32 (``update_fatigue`` promotes [m, d] to float64
              through ``(1 - w) * clicked``, a float64 array)
``block``     (larger change, not in ALL) compute G, the three dot products and the shown mean
              in chunks of BLOCK served users, so G stays in cache and is never [m, k, d] whole
``threads``   (with ``block``) run the chunks on a 2-thread pool (numpy releases the GIL in
              take/einsum), i.e. use both cores of the 2-core box for the heaviest section

All but ``fatigue32`` give bit-identical trajectories (checked by ``--check``); ``fatigue32``
changes fatigue by float32 rounding (<= 1e-7), which can flip a rare choice later on.

Usage::

    python benchmarks/fast_step.py --check
    python benchmarks/fast_step.py --n-users 100000 --dim 64 --seconds 3 [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

if __name__ == "__main__":
    for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_v, str(os.cpu_count() or 1))

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from recsim_llm.simulator import Feedback, Simulator, SlateError, validate_slates
from recsim_llm.users import choice as choice_mod
from recsim_llm.users import dynamics as dyn

ALL = ("sort", "take", "gbuf", "consumed", "mean", "fatigue32")
BLOCK = 4096
"""users per chunk of the ``block`` option (G chunk of 4096 x 10 x 64 float32 = 10 MB)"""


def validate_slates_sorted(slates: np.ndarray, n_users: int, slate_size: int, n_available: int,
                           rows: np.ndarray | None = None) -> np.ndarray:
    """``validate_slates`` with the duplicate test on ``np.sort`` (argsort only on failure).

    Returns the *served rows* ``slates[rows]`` (int64), so the caller does not gather twice.
    """
    arr = np.asarray(slates)
    if arr.shape != (n_users, slate_size) or arr.dtype.kind not in "iu":
        return validate_slates(arr, n_users, slate_size, n_available, rows)  # raises
    arr = arr.astype(np.int64, copy=False)
    sub = arr if rows is None else np.take(arr, rows, axis=0)
    if sub.size and (sub.min() < 0 or sub.max() >= n_available):
        validate_slates(arr, n_users, slate_size, n_available, rows)  # raises with the message
    if slate_size > 1:
        srt = np.sort(sub, axis=1)
        if (srt[:, 1:] == srt[:, :-1]).any():
            validate_slates(arr, n_users, slate_size, n_available, rows)  # raises
            raise SlateError("duplicate item in a slate")  # pragma: no cover
    return sub


class PatchedSimulator(Simulator):
    """Simulator whose ``step`` applies the changes named in ``opts`` (a subset of ALL)."""

    def __init__(self, world, seed: int, opts=ALL, timers: bool = False,
                 block: int = BLOCK) -> None:
        super().__init__(world, seed)
        unknown = set(opts) - {*ALL, "block", "threads"}
        if unknown:
            raise ValueError(f"unknown options {sorted(unknown)}; choose from {ALL} + "
                             "block, threads")
        self.opts = frozenset(opts)
        self.block = int(block)
        self._gbuf: np.ndarray | None = None
        self._pool = None
        if "threads" in self.opts:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(2)
            self._tbufs: dict = {}
        self.timers: dict[str, float] | None = {} if timers else None
        self._t0 = 0.0

    def _lap(self, name: str) -> None:
        """Add the process CPU time since the previous lap to section ``name`` (timers on).

        CPU time, not wall time: on a shared machine it is not inflated by other jobs."""
        if self.timers is not None:
            t = time.process_time()
            self.timers[name] = self.timers.get(name, 0.0) + t - self._t0
            self._t0 = t

    def step(self, slates: np.ndarray) -> Feedback:
        o = self.opts
        if self.done:
            raise RuntimeError("the simulation reached its horizon; call reset()")
        cfg, ch, dy, st = self.cfg, self.cfg.choice, self.cfg.dynamics, self.state
        E = self.world.item_emb
        self._t0 = time.process_time()
        idx = np.flatnonzero(st.in_session)
        if "sort" in o:
            S = validate_slates_sorted(slates, self.world.n_users, cfg.slate_size,
                                       self.n_available, rows=idx)
        else:
            slates = validate_slates(slates, self.world.n_users, cfg.slate_size,
                                     self.n_available, rows=idx)
            S = np.take(slates, idx, axis=0) if "take" in o else slates[idx]
        self._lap("validate + S gather")
        n = self.world.n_users
        if ch.model == "cascade":
            u_all = self._rng_choice.random((n, cfg.slate_size))
        else:
            u_all = self._rng_choice.random(n)
        eps_all = self._rng_sat.standard_normal(n)
        self._lap("rng draws over all n")

        for hook in getattr(self, "before_request", ()):  # as in Simulator.step
            hook(self, idx, S)
        m, k = S.shape
        if "block" in o:
            return self._step_blocked(S, idx, u_all, eps_all)
        if "gbuf" in o:
            if self._gbuf is None or self._gbuf.shape[0] < m:
                self._gbuf = np.empty((n, k, self.world.dim), E.dtype)
            G = np.take(E, S, axis=0, out=self._gbuf[:m], mode="clip")   # ids validated
        elif "take" in o:
            G = np.take(E, S, axis=0)
        else:
            G = E[S]
        self._lap("G = item_emb[S]")
        if "take" in o:
            p = np.take(st.interest, idx, axis=0)
            q = np.take(st.dislike, idx, axis=0)
            f = np.take(st.fatigue, idx, axis=0)
        else:
            p, q, f = st.interest[idx], st.dislike[idx], st.fatigue[idx]
        self._lap("p, q, f gathers")
        a = dyn.affinity(np.einsum("mkd,md->mk", G, p), np.einsum("mkd,md->mk", G, q),
                         ch.lam_dislike)
        b = dyn.boredom(np.einsum("mkd,md->mk", G, f), ch.beta_fatigue)
        self._lap("3 einsums (affinity, boredom)")
        c = self._quality[S]
        v = dyn.utility(a, b, c, ch.temperature, ch.w_quality, self._pos_penalty)
        if ch.model == "cascade":
            pos = choice_mod.sample_cascade(v, ch.no_click_utility, u_all[idx])
        else:
            pos = choice_mod.sample_mnl(v, ch.no_click_utility, u_all[idx])
        self._lap("utility + choice")
        clicked = pos >= 0
        r = np.arange(m)
        pc = np.where(clicked, pos, 0)
        y = dyn.realized_satisfaction(a[r, pc], b[r, pc], c[r, pc], ch.w_quality,
                                      dy.satisfaction_noise * eps_all[idx])
        y = np.where(clicked, y, dy.no_click_satisfaction).astype(np.float64)
        consumed = np.take(E, S[r, pc], axis=0) if "consumed" in o else G[r, pc]
        self._lap("satisfaction + consumed")

        st.interest[idx] = dyn.drift_toward(p, consumed, y, clicked, dy.drift_rate)
        self._lap("interest drift + scatter")
        shown_mean = np.einsum("mkd->md", G) / k if "mean" in o else G.mean(axis=1)
        self._lap("shown mean")
        if "fatigue32" in o:
            w, gam = dy.shown_fatigue_weight, dy.fatigue_decay
            target = (w * shown_mean
                      + ((1.0 - w) * clicked).astype(np.float32)[:, None] * consumed)
            st.fatigue[idx] = gam * f + (1.0 - gam) * target
        else:
            st.fatigue[idx] = dyn.update_fatigue(f, consumed, shown_mean, clicked,
                                                 dy.fatigue_decay, dy.shown_fatigue_weight)
        self._lap("fatigue update + scatter")
        st.budget[idx] = dyn.update_budget(st.budget[idx], y, clicked, dy.request_cost,
                                           dy.refund)
        st.misses[idx] = np.where(clicked, 0, st.misses[idx] + 1)
        st.requests[idx] += 1
        st.day_requests[idx] += 1
        st.day_clicks[idx] += clicked
        st.day_sat_sum[idx] += y
        ended = ((st.budget[idx] <= 0) | (st.misses[idx] >= dy.patience)
                 | (st.requests[idx] >= dy.max_session_len))
        st.in_session[idx[ended]] = False
        fb = Feedback(day=self.day, tick=self.tick, users=idx, slates=S, positions=pos,
                      items=np.where(clicked, S[r, pc], -1), satisfaction=y, session_ended=ended,
                      slate_mean_emb=shown_mean)
        self._lap("budget, counters, session end, feedback")
        self.tick += 1
        for cb in self.on_request:
            cb(fb)
        if not st.in_session.any():
            self._advance()
        self._lap("day/session change (_advance)")
        return fb


    def _step_blocked(self, S, idx, u_all, eps_all) -> Feedback:
        """The ``block`` variant after validation and the RNG draws (all other options on)."""
        ch, dy, st = self.cfg.choice, self.cfg.dynamics, self.state
        E = self.world.item_emb
        m, k = S.shape
        p = np.take(st.interest, idx, axis=0)
        q = np.take(st.dislike, idx, axis=0)
        f = np.take(st.fatigue, idx, axis=0)
        self._lap("p, q, f gathers")
        cp = np.empty((m, k), E.dtype)
        cq = np.empty((m, k), E.dtype)
        cf = np.empty((m, k), E.dtype)
        gsum = np.empty((m, self.world.dim), E.dtype)
        B = self.block

        def chunk(lo: int, buf: np.ndarray) -> None:
            hi = min(m, lo + B)
            G = np.take(E, S[lo:hi], axis=0, out=buf[:hi - lo], mode="clip")
            np.einsum("mkd,md->mk", G, p[lo:hi], out=cp[lo:hi])
            np.einsum("mkd,md->mk", G, q[lo:hi], out=cq[lo:hi])
            np.einsum("mkd,md->mk", G, f[lo:hi], out=cf[lo:hi])
            np.einsum("mkd->md", G, out=gsum[lo:hi])

        shape = (min(B, self.world.n_users), k, self.world.dim)
        if self._pool is None:
            if self._gbuf is None:
                self._gbuf = np.empty(shape, E.dtype)
            for lo in range(0, m, B):
                chunk(lo, self._gbuf)
        else:
            import threading

            def run(lo: int) -> None:
                tid = threading.get_ident()
                if tid not in self._tbufs:
                    self._tbufs[tid] = np.empty(shape, E.dtype)
                chunk(lo, self._tbufs[tid])

            list(self._pool.map(run, range(0, m, B)))
        self._lap("blocked: G, 3 einsums, slate sums")
        a = dyn.affinity(cp, cq, ch.lam_dislike)
        b = dyn.boredom(cf, ch.beta_fatigue)
        c = self._quality[S]
        v = dyn.utility(a, b, c, ch.temperature, ch.w_quality, self._pos_penalty)
        if ch.model == "cascade":
            pos = choice_mod.sample_cascade(v, ch.no_click_utility, u_all[idx])
        else:
            pos = choice_mod.sample_mnl(v, ch.no_click_utility, u_all[idx])
        self._lap("utility + choice")
        clicked = pos >= 0
        r = np.arange(m)
        pc = np.where(clicked, pos, 0)
        y = dyn.realized_satisfaction(a[r, pc], b[r, pc], c[r, pc], ch.w_quality,
                                      dy.satisfaction_noise * eps_all[idx])
        y = np.where(clicked, y, dy.no_click_satisfaction).astype(np.float64)
        consumed = np.take(E, S[r, pc], axis=0)
        self._lap("satisfaction + consumed")
        st.interest[idx] = dyn.drift_toward(p, consumed, y, clicked, dy.drift_rate)
        self._lap("interest drift + scatter")
        shown_mean = gsum / k
        w, gam = dy.shown_fatigue_weight, dy.fatigue_decay
        target = w * shown_mean + ((1.0 - w) * clicked).astype(np.float32)[:, None] * consumed
        st.fatigue[idx] = gam * f + (1.0 - gam) * target
        self._lap("fatigue update + scatter")
        st.budget[idx] = dyn.update_budget(st.budget[idx], y, clicked, dy.request_cost,
                                           dy.refund)
        st.misses[idx] = np.where(clicked, 0, st.misses[idx] + 1)
        st.requests[idx] += 1
        st.day_requests[idx] += 1
        st.day_clicks[idx] += clicked
        st.day_sat_sum[idx] += y
        ended = ((st.budget[idx] <= 0) | (st.misses[idx] >= dy.patience)
                 | (st.requests[idx] >= dy.max_session_len))
        st.in_session[idx[ended]] = False
        fb = Feedback(day=self.day, tick=self.tick, users=idx, slates=S, positions=pos,
                      items=np.where(clicked, S[r, pc], -1), satisfaction=y, session_ended=ended,
                      slate_mean_emb=shown_mean)
        self._lap("budget, counters, session end, feedback")
        self.tick += 1
        for cb in self.on_request:
            cb(fb)
        if not st.in_session.any():
            self._advance()
        self._lap("day/session change (_advance)")
        return fb


# -------------------------------------------------------------------------------------- check
def check(n_users: int = 3000, dim: int = 32, n_steps: int = 60) -> bool:
    """Original vs patched on the same world and slates: identical feedback and state."""
    from _common import make_slate_pool, make_world

    world = make_world(n_users, dim, n_items=300)
    pool = make_slate_pool(n_users, world.n_items, world.cfg.slate_size, n_templates=512)
    ok = True
    for opts in (tuple(o for o in ALL if o != "fatigue32"), ALL, (*ALL, "block"),
                 (*ALL, "block", "threads")):
        # block=700: several chunks even at this small size
        ref, pat = Simulator(world, 0), PatchedSimulator(world, 0, opts, block=700)
        ref.reset()
        pat.reset()
        same_pos, worst = True, 0.0
        for t in range(n_steps):
            fa, fb = ref.step(pool[t % len(pool)]), pat.step(pool[t % len(pool)])
            same_pos &= (np.array_equal(fa.users, fb.users)
                         and np.array_equal(fa.positions, fb.positions)
                         and np.array_equal(fa.session_ended, fb.session_ended))
            worst = max(worst, float(np.abs(fa.slate_mean_emb - fb.slate_mean_emb).max()))
        sa, sb = ref.state.arrays(), pat.state.arrays()
        diffs = {key: float(np.abs(sa[key].astype(np.float64) - sb[key]).max()) for key in sa}
        exact = "fatigue32" not in opts
        good = same_pos and (max(diffs.values()) == 0.0 if exact
                             else max(diffs.values()) < 1e-5)
        print(f"opts={','.join(opts)}: days={ref.day} same choices/session ends={same_pos} "
              f"max|slate_mean diff|={worst:.2e} max|state diff|={max(diffs.values()):.2e} "
              f"-> {'OK' if good else 'MISMATCH'}")
        ok &= good
    # Error messages are unchanged.
    bad = pool[0].copy()
    bad[5, 3] = bad[5, 4]
    for sim in (Simulator(world, 0), PatchedSimulator(world, 0)):
        sim.reset()
        try:
            sim.step(bad)
        except SlateError as e:
            print(f"{type(sim).__name__}: SlateError: {e}")
    return ok


# ---------------------------------------------------------------------------------- benchmark
def bench(n_users: int, dim: int, min_seconds: float, reps: int, days: int = 3,
          only: list[str] | None = None) -> list[dict]:
    """Each variant timed as in bench_population (episodes of ``days`` days), ``reps`` times
    interleaved; the best repetition is kept."""
    from _common import make_slate_pool, make_world, time_simulator

    world = make_world(n_users, dim)
    pool = make_slate_pool(n_users, world.n_items, world.cfg.slate_size)
    variants = {"original": None,
                **{f"+{o}": (o,) if o != "gbuf" else ("take", "gbuf") for o in ALL},
                "all": ALL, "all+block": (*ALL, "block"),
                "all+block+threads": (*ALL, "block", "threads")}
    only = only or [k for k in variants if k != "all+block+threads"]  # threads: on request
    variants = {k: v for k, v in variants.items() if k in only or k == "original"}
    out: dict[str, list[dict]] = {name: [] for name in variants}
    for _ in range(reps):  # interleaved repetitions: machine noise hits all variants alike
        for name, opts in variants.items():
            def make(seed, opts=opts):
                return (Simulator(world, seed) if opts is None
                        else PatchedSimulator(world, seed, opts))
            out[name].append(time_simulator(make, pool, min_seconds, days, warmup_steps=2))
    recs = []
    base = max(r["user_steps_per_s"] for r in out["original"])
    base_cpu = max(r["user_steps_per_cpu_s"] for r in out["original"])
    for name, runs in out.items():
        best = max(runs, key=lambda r: r["user_steps_per_s"])
        best_cpu = max(r["user_steps_per_cpu_s"] for r in runs)
        recs.append({"variant": name, "n_users": n_users, "dim": dim, **best,
                     "all_user_steps_per_s": [r["user_steps_per_s"] for r in runs],
                     "best_user_steps_per_cpu_s": best_cpu,
                     "speedup_vs_original": best["user_steps_per_s"] / base,
                     "speedup_vs_original_cpu": best_cpu / base_cpu})
        print(f"{name:12s} n={n_users} d={dim}: {best['user_steps_per_s']:>10,.0f} user-steps/s "
              f"({best['user_steps_per_s'] / base:.2f}x) | per CPU-s {best_cpu:>10,.0f} "
              f"({best_cpu / base_cpu:.2f}x) | ms/step {1e3 / best['steps_per_s']:.1f}")
    return recs


def sections(n_users: int, dim: int, days: int = 3) -> dict:
    """Per-section time of the step over one episode, original code path vs all changes."""
    from _common import make_slate_pool, make_world

    world = make_world(n_users, dim)
    pool = make_slate_pool(n_users, world.n_items, world.cfg.slate_size)
    rec: dict = {"variant": "sections", "n_users": n_users, "dim": dim, "days": days}
    for label, opts in (("original", ()), ("all", ALL), ("all+block", (*ALL, "block"))):
        sim = PatchedSimulator(world, 0, opts, timers=True)
        sim.reset()
        j = served = 0
        while sim.day < days:
            served += len(sim.step(pool[j % len(pool)]).users)
            j += 1
        total = sum(sim.timers.values())
        rec[label] = {"steps": j, "user_steps": served, "total_cpu_s": total,
                      "cpu_ms_per_step": {k: 1e3 * v / j for k, v in sim.timers.items()}}
        print(f"\n{label}: {j} steps, {served} user-steps, {total:.2f} CPU-s "
              f"({served / total:,.0f} user-steps/s)")
        for k, v in sorted(sim.timers.items(), key=lambda kv: -kv[1]):
            print(f"  {k:42s} {1e3 * v / j:8.2f} CPU-ms/step  {100 * v / total:5.1f}%")
    return rec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with Simulator.step and exit")
    ap.add_argument("--n-users", type=int, nargs="+", default=[100_000])
    ap.add_argument("--dim", type=int, nargs="+", default=[64])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--days", type=int, default=3, help="simulated days per episode")
    ap.add_argument("--variants", nargs="+", default=None,
                    help="subset of variants to time (original is always timed), e.g. all +gbuf")
    ap.add_argument("--sections", action="store_true",
                    help="print per-section step times of the original and patched code")
    ap.add_argument("--out", default=None, help="write the records as JSON here")
    args = ap.parse_args(argv)
    if args.check:
        return 0 if check() else 1
    from _common import machine_info

    recs = []
    for n in args.n_users:
        for d in args.dim:
            recs += bench(n, d, args.seconds, args.reps, args.days, args.variants)
            if args.sections:
                recs.append(sections(n, d, args.days))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as fh:
            json.dump({"machine": machine_info(), "command": " ".join(sys.argv),
                       "results": recs}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
