"""Per-request cost against the number of users served, at a fixed population.

Issue 7 item 5: the work of one request should grow with the users served (m), not with the
population (n). For every population n x served m this times, per request and per served user:

* ``recorder``: :meth:`recsim_llm.analysis.recorder.DailyRecorder.on_request` (a bincount over
  the m x T cells of the served rows, then one indexed add), next to ``recorder_old``, the
  formula of the pre-redesign recorder (a ``bincount`` of length n x topics, added to the
  [n, topics] window: O(n T) per request); ``recorder_expo_add_at`` is the exposure update
  alone as ``np.add.at`` on the [m, k] (user, topic) pairs (the first served-rows version,
  slower than the bincount at large m), ``recorder_expo_served_bincount`` the update the
  recorder now uses, alone;
* ``topk``: :func:`recsim_llm.agents.base.topk_excluding` on [m, n_items] float32 scores with
  [m, 20] excluded ids, next to ``topk_old`` (the former float64 copy of the scores);
* ``greedy``: :meth:`GreedyPolicy.rank` (relevance and top-k in blocks of ``BLOCK`` served users),
  next to ``greedy_old`` (relevance of all m at once, float64 top-k);
* ``mmr``: :meth:`MMRPolicy.rank` (alpha 0.5, 100 candidates, in blocks), next to ``mmr_old``
  (the former unblocked re-ranking: [m, C, d] candidate embeddings gathered at once);
* ``request``: a whole request as the runner makes it: ``Platform.view`` + greedy ``act`` +
  ``Platform.serve`` (simulator choice and transition, platform log, logged feedback), and
  ``request+recorder`` with the daily recorder and its accuracy probe attached;
* ``sim_draws``: the simulator's fixed-shape draws of one request (``random(n)`` and
  ``standard_normal(n)`` over *all* users: common random numbers across policies), which a
  request pays whatever m is, and ``served_scan`` (``flatnonzero`` of the in-session mask).

The world is :func:`_common.make_world` (random unit-norm embeddings, 1,000 items, 20 topics).
The platform log is filled so that every served user has clicks (no cold-start shortcut) and 20
recent clicks to exclude. For ``request``, before each timed request the m users are put in a
session with a fresh budget (untimed), so every request serves exactly m users and no day ends.
Each figure is the median over repetitions (at least ``--min-seconds`` of timing and 5 calls);
CPU time is reported next to wall time because the machine is shared.

Usage::

    python benchmarks/bench_request_cost.py [--populations 10000 100000] [--served 10 10000]
        [--dim 64] [--out benchmarks/results/request_cost.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--populations", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--served", type=int, nargs="+", default=[10, 10_000])
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--n-items", type=int, default=1000)
    ap.add_argument("--topics", type=int, default=20)
    ap.add_argument("--min-seconds", type=float, default=0.5,
                    help="minimum timed seconds per measurement")
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS/OpenMP threads pinned before numpy loads (runs pin BLAS to 1)")
    ap.add_argument("--out", default="benchmarks/results/request_cost.json")
    return ap.parse_args(argv)


def measure(fn: Callable[[], Any], min_seconds: float, setup: Callable[[], Any] | None = None,
            min_calls: int = 5) -> dict[str, float]:
    """Median wall and CPU seconds of ``fn()`` over repeated calls (``setup()`` untimed)."""
    walls: list[float] = []
    cpus: list[float] = []
    fn() if setup is None else (setup(), fn())  # warm-up (first-touch allocations)
    total = 0.0
    while len(walls) < min_calls or total < min_seconds:
        if setup is not None:
            setup()
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        t1, c1 = time.perf_counter(), time.process_time()
        walls.append(t1 - t0)
        cpus.append(c1 - c0)
        total += t1 - t0
    walls.sort()
    cpus.sort()
    return {"wall_s": walls[len(walls) // 2], "cpu_s": cpus[len(cpus) // 2], "calls": len(walls)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before numpy is imported
    import numpy as np
    from _common import machine_info, make_world

    from recsim_llm.agents.base import topk_excluding
    from recsim_llm.agents.baselines import GreedyPolicy, MMRPolicy
    from recsim_llm.analysis import metrics as M
    from recsim_llm.analysis.recorder import DailyRecorder
    from recsim_llm.platform import RECENT, Platform, PlatformView, readonly
    from recsim_llm.rng import RngStreams
    from recsim_llm.simulator import Feedback

    # ------------------------------------------------------- the implementations replaced
    def topk_old(scores: np.ndarray, k: int, exclude: np.ndarray) -> np.ndarray:
        """``topk_excluding`` before the redesign: a float64 copy of all the scores."""
        scores = np.array(scores, dtype=np.float64, copy=True)
        if np.isnan(scores).any():
            raise ValueError("NaN score")
        m, a = scores.shape
        rows = np.broadcast_to(np.arange(m)[:, None], exclude.shape)
        ok = (exclude >= 0) & (exclude < a)
        scores[rows[ok], exclude[ok]] = -np.inf
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
        return np.take_along_axis(part, order, axis=1).astype(np.int64)

    def mmr_old(rel: np.ndarray, item_emb: np.ndarray, recent: np.ndarray, k: int,
                alpha: float, candidates: int) -> np.ndarray:
        """``MMRPolicy.rank`` before the redesign: all m users at once, float64 top-k."""
        m, a = rel.shape
        n_cand = min(a, max(candidates, k))
        cand = topk_old(rel, n_cand, recent)
        excluded = (cand[:, :, None] == recent[:, None, :]).any(axis=2)
        crel = np.take_along_axis(rel, cand, axis=1)
        cemb = item_emb[cand]                                               # [m, C, d]
        rows = np.arange(m)
        max_sim = np.full((m, n_cand), -np.inf)
        taken = np.zeros((m, n_cand), bool)
        out = np.empty((m, k), np.int64)
        for j in range(k):
            div = np.where(np.isfinite(max_sim), max_sim, 0.0)
            score = alpha * crel - (1.0 - alpha) * div
            score[taken] = -np.inf
            others_left = (~taken & ~excluded).any(axis=1, keepdims=True)
            score[others_left & excluded] = -np.inf
            pick = score.argmax(axis=1)
            out[:, j] = cand[rows, pick]
            taken[rows, pick] = True
            max_sim = np.maximum(max_sim, np.einsum("mcd,md->mc", cemb, cemb[rows, pick]))
        return out

    class OldRecorderExposure:
        """The exposure part of ``DailyRecorder.on_request`` before the redesign (the only
        part that changed): a bincount over all n x T cells per request."""

        def __init__(self, n: int, n_topics: int, window: int, topics: np.ndarray) -> None:
            self._expo = np.zeros((window, n, n_topics), np.int32)
            self._expo_sum = np.zeros((n, n_topics), np.int32)
            self.topics = topics

        def on_request(self, fb: Feedback) -> None:
            n, t = self._expo.shape[1:]
            flat = fb.users[:, None] * t + self.topics[fb.slates]
            counts = np.bincount(flat.ravel(), minlength=n * t).reshape(n, t).astype(np.int32)
            self._expo[0] += counts
            self._expo_sum += counts

    def served_bincount_exposure(rec: DailyRecorder, fb: Feedback) -> None:
        """A candidate for the recorder's exposure update: a bincount over the m x T cells of
        the served rows (users are distinct within a request), then one fancy-index add."""
        m, t = len(fb.users), rec._expo_sum.shape[1]
        flat = np.arange(m)[:, None] * t + rec.world.catalog.topics[fb.slates]
        counts = np.bincount(flat.ravel(), minlength=m * t).reshape(m, t).astype(np.int32)
        rec._expo[len(rec.rows) % rec.window][fb.users] += counts
        rec._expo_sum[fb.users] += counts

    def old_recorder(rec: DailyRecorder, old: OldRecorderExposure, fb: Feedback) -> None:
        """The former on_request: the unchanged counters, then the old exposure formula."""
        rec._impressions += np.bincount(fb.slates.ravel(), minlength=len(rec._impressions))
        rec._requests += len(fb.users)
        clicked = fb.clicked
        rec._clicks += int(clicked.sum())
        rec._ild_sum += float(M.intra_list_diversity(fb.slate_mean_emb, rec.k).sum())
        old.on_request(fb)
        if clicked.any():
            cu = fb.users[clicked]
            rec._recent[cu, rec._ptr[cu] % rec._recent.shape[1]] = fb.items[clicked]
            rec._ptr[cu] += 1

    def bench_one(world: Any, platform: Platform, users: np.ndarray, rng: np.random.Generator,
                  min_seconds: float) -> dict[str, dict[str, float]]:
        """Every measurement at one (population, served users)."""
        n, m = world.n_users, len(users)
        k, a = world.cfg.slate_size, world.n_items
        log, topics = platform.log, world.catalog.topics
        view = PlatformView(day=0, request=0, users=readonly(users), n_available=a,
                            log=log.readonly(), context=platform.context)
        slates = np.argsort(rng.random((m, a)), axis=1)[:, :k].astype(np.int64)
        pos = rng.integers(-1, k, size=m)
        r = np.arange(m)
        fb = Feedback(day=0, tick=0, users=users, slates=slates, positions=pos,
                      items=np.where(pos >= 0, slates[r, np.maximum(pos, 0)], -1),
                      satisfaction=rng.standard_normal(m), session_ended=rng.random(m) < 0.2,
                      slate_mean_emb=world.item_emb[slates].mean(axis=1))
        scores = (log.profile(users) @ world.item_emb.T).astype(np.float32)
        recent = log.recent[users]
        greedy, mmr = GreedyPolicy(), MMRPolicy(0.5)
        for pol in (greedy, mmr):
            pol.bind(platform.context, RngStreams(0).fresh(f"policy/{pol.name}"))
        rec = DailyRecorder(world, {"policy": "bench", "seed": 0})
        old_exp = OldRecorderExposure(n, world.catalog.n_topics, rec.window, topics)
        pairs = (np.broadcast_to(users[:, None], slates.shape), topics[slates])
        sim = platform.sim
        ops: dict[str, Callable[[], Any]] = {
            "recorder": lambda: rec.on_request(fb),
            "recorder_old": lambda: old_recorder(rec, old_exp, fb),
            "recorder_expo_add_at": lambda: np.add.at(rec._expo_sum, pairs, 1),
            "recorder_expo_served_bincount": lambda: served_bincount_exposure(rec, fb),
            "topk": lambda: topk_excluding(scores, k, recent),
            "topk_old": lambda: topk_old(scores, k, recent),
            "greedy": lambda: greedy.rank(view),
            "greedy_old": lambda: topk_old(greedy.relevance(view, users), k, recent),
            "mmr": lambda: mmr.rank(view),
            "mmr_old": lambda: mmr_old(mmr.relevance(view, users), world.item_emb, recent, k,
                                       mmr.alpha, mmr.candidates),
            "sim_draws": lambda: (sim._rng_choice.random(n), sim._rng_sat.standard_normal(n)),
            "served_scan": lambda: np.flatnonzero(sim.state.in_session),
        }
        res = {name: measure(fn, min_seconds) for name, fn in ops.items()}
        # A whole request on the platform: view + act + serve, m users in session.
        st = sim.state
        budget = float(world.cfg.dynamics.session_budget)

        def put_in_session() -> None:
            st.in_session[:] = False
            st.in_session[users] = True
            st.requests[users] = 0
            st.misses[users] = 0
            st.budget[users] = budget
            platform._served = None

        def request() -> None:
            v = platform.view()
            _fb, logged = platform.serve(greedy.act(v))
            greedy.observe(logged)
            assert len(logged.users) == len(v.users) == m

        res["request"] = measure(request, min_seconds, setup=put_in_session)
        rec.attach(sim)
        res["request+recorder"] = measure(request, min_seconds, setup=put_in_session)
        sim.on_request.remove(rec.on_request)
        sim.on_day_end.remove(rec.on_day_end)
        sim.before_request.clear()
        return res

    load_before = os.getloadavg()
    t_start = time.perf_counter()
    records: list[dict[str, Any]] = []
    for n in args.populations:
        world = make_world(n, args.dim, args.n_items, n_topics=args.topics)
        a, d = world.n_items, world.dim
        rng = np.random.default_rng(7)
        platform = Platform(world, seed=0)
        platform.reset()
        log = platform.log
        log.clicks[:] = 5
        log.clicked_sum[:] = rng.standard_normal((n, d)).astype(np.float32)
        log.recent[:] = np.argsort(rng.random((min(n, 4096), a)), axis=1)[:, :RECENT][
            rng.integers(min(n, 4096), size=n)]
        log.recent_ptr[:] = RECENT
        for m in args.served:
            if m > n:
                continue
            users = np.sort(rng.choice(n, size=m, replace=False)).astype(np.int64)
            res = bench_one(world, platform, users, rng, args.min_seconds)
            for name, r_ in res.items():
                row = {"population": n, "served": m, "op": name, "dim": d, "n_items": a,
                       "ms_per_request": 1e3 * r_["wall_s"],
                       "cpu_ms_per_request": 1e3 * r_["cpu_s"],
                       "us_per_served_user": 1e6 * r_["wall_s"] / m,
                       "cpu_us_per_served_user": 1e6 * r_["cpu_s"] / m, "calls": r_["calls"]}
                records.append(row)
                print(f"n={n:>7,} m={m:>6,} {name:30s} {row['ms_per_request']:9.3f} ms "
                      f"(cpu {row['cpu_ms_per_request']:9.3f})  "
                      f"{row['cpu_us_per_served_user']:9.2f} cpu-us/served user", flush=True)
    out = {
        "benchmark": "per-request cost vs users served (issue 7 item 5)",
        "command": " ".join(["python", *sys.argv]) if argv is None
        else " ".join(["bench_request_cost.main", *argv]),
        "machine": machine_info(),
        "settings": vars(args),
        "results": records,
        "total_wall_s": round(time.perf_counter() - t_start, 1),
        "load_average_before_after": [list(load_before), list(os.getloadavg())],
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=1, default=str)
    print(f"wrote {args.out} ({out['total_wall_s']} s)")
    return 0


if __name__ == "__main__":
    # _common and numpy_floor from this folder; recsim_llm from this checkout, not an install
    sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)),
                    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
    sys.exit(main())
