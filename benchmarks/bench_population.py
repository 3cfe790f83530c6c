"""Throughput of the population dynamics alone (slates given), in user-steps per second.

For every ``n_users`` x embedding ``dim`` (slate size 10, 1,000 items) it times

* ``simulator``: :meth:`recsim_llm.simulator.Simulator.serve` (one slate per served user) on a
  :class:`World` built directly from random unit-norm float32 embeddings (no text encoder),
  default dynamics;
* ``platform``: :meth:`recsim_llm.platform.Platform.serve`, the stepping core the runner and the
  envs drive (simulator + the platform log + the logged feedback);
* ``env``: :class:`recsim_llm.envs.population.PopulationEnv` (``step`` = platform serve +
  observation refresh, rewards and info for all users);
* ``numpy_floor``: the bare numpy step of ``benchmarks/numpy_floor.py`` over all users (no
  validation, no in-session masking, no day logic), the reference floor.

Slates are drawn once before timing (uniform random distinct ids per row) and reused cyclically,
so slate generation is not timed. The simulator and the env run in episodes of
``--days`` simulated days (a fresh simulator per episode, ``reset`` untimed; session ends, day
changes, returns and churn inside ``step`` are timed) until ``--seconds`` of timed stepping.
A user-step is one in-session user served one slate (``len(feedback.users)``); the floor serves
every user at every step. With random slates and the default dynamics few users click, sessions
are short and users drift away, so the in-session fraction is reported with each record.

Usage::

    python benchmarks/bench_population.py [--quick] [--out benchmarks/results/population.json]
    python benchmarks/bench_population.py --n-users 100000 --dims 64 --profile
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import sys
import time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="short smoke run: 0.25 s per config, 1-day episodes, 1 repetition")
    ap.add_argument("--out", default="benchmarks/results/population.json",
                    help="JSON file to write (folders are created)")
    ap.add_argument("--n-users", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--dims", type=int, nargs="+", default=[64, 384])
    ap.add_argument("--slate-size", type=int, default=10)
    ap.add_argument("--n-items", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=None,
                    help="minimum timed seconds per config and impl (default 2, quick 0.25)")
    ap.add_argument("--days", type=int, default=None,
                    help="simulated days per episode (default 3, quick 1)")
    ap.add_argument("--reps", type=int, default=None,
                    help="interleaved repetitions per config, best kept (default 2, quick 1)")
    ap.add_argument("--impls", nargs="+", default=["simulator", "platform", "env", "numpy_floor"],
                    choices=["simulator", "platform", "env", "numpy_floor"])
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="OMP/OPENBLAS/MKL thread count to pin (default: cpu count)")
    ap.add_argument("--profile", action="store_true",
                    help="also cProfile the simulator at the largest n_users and smallest dim")
    args = ap.parse_args(argv)
    if args.seconds is None:
        args.seconds = 0.25 if args.quick else 2.0
    if args.days is None:
        args.days = 1 if args.quick else 3
    if args.reps is None:
        args.reps = 1 if args.quick else 2
    return args


def find_population_env():
    """The population Gym env class if ``recsim_llm.envs.population`` exists and takes a World."""
    try:
        mod = importlib.import_module("recsim_llm.envs.population")
    except ImportError as e:
        return None, f"recsim_llm.envs.population not importable: {e}"
    import inspect

    for name in ("PopulationEnv", *sorted(dir(mod))):
        cls = getattr(mod, name, None)
        if (inspect.isclass(cls) and cls.__module__ == mod.__name__ and name.endswith("Env")
                and "world" in inspect.signature(cls).parameters):
            return cls, f"{mod.__name__}.{name}"
    return None, "recsim_llm.envs.population has no env class taking world="


def time_env(env_cls, world, pool, min_seconds: float, days: int, warmup_steps: int,
             copy: bool = True) -> dict:
    """Like ``_common.time_simulator`` for the Gym env: ``env.reset(seed=e)`` untimed, then
    ``env.step(slates)`` until day ``days``; user-steps counted from ``info['served']``.
    ``copy``: the env's ``copy`` argument (False: ``step`` returns its own buffer)."""
    import numpy as np
    from _common import time_episodes

    env = env_cls(world=world) if copy else env_cls(world=world, copy=False)

    def new_episode(seed):
        env.reset(seed=seed)
        return env

    def run_step(env, j):
        info = env.step(pool[j % len(pool)])[4]
        return (int(np.count_nonzero(info["served"])),
                int(np.count_nonzero(info["clicked_item"] >= 0)))

    def day_of(env):
        return None if env.sim.done else env.sim.day

    return time_episodes(run_step, new_episode, day_of, world.n_users, min_seconds, days,
                         warmup_steps)


def time_platform(world, pool, min_seconds: float, days: int, warmup_steps: int) -> dict:
    """Like ``_common.time_simulator`` for :meth:`Platform.serve`: a fresh ``Platform`` per
    episode, ``reset()`` untimed; the served users' rows of the pool batch are their slates."""
    import numpy as np
    from _common import time_episodes

    from recsim_llm.platform import Platform

    def new_episode(seed):
        plat = Platform(world, seed)
        plat.reset()
        return plat

    def run_step(plat, j):
        fb, _logged = plat.serve(np.take(pool[j % len(pool)], plat.served_users(), axis=0))
        return len(fb.users), int(np.count_nonzero(fb.positions >= 0))

    def day_of(plat):
        return None if plat.done else plat.day

    return time_episodes(run_step, new_episode, day_of, world.n_users, min_seconds, days,
                         warmup_steps)


def profile_simulator(world, pool, days: int, top: int = 20) -> dict:
    """cProfile of one episode of the simulator; top functions by own time."""
    import cProfile
    import pstats

    import numpy as np

    from recsim_llm.simulator import Simulator

    sim = Simulator(world, seed=0)
    sim.reset()
    prof = cProfile.Profile()
    j = 0
    prof.enable()
    while sim.day < days and not sim.done:
        users = np.flatnonzero(sim.state.in_session)
        sim.serve(np.take(pool[j % len(pool)], users, axis=0), users)
        j += 1
    prof.disable()
    stats = pstats.Stats(prof)
    total = sum(v[2] for v in stats.stats.values())
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]
    out = [{"function": f"{os.path.relpath(f[0]) if f[0].startswith('/') else f[0]}:{f[1]}"
                        f"({f[2]})", "calls": v[1], "tottime_s": round(v[2], 4),
            "cumtime_s": round(v[3], 4), "share_of_total": round(v[2] / total, 4)}
           for f, v in rows]
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(top)
    return {"n_users": world.n_users, "dim": world.dim, "steps": j, "days": days,
            "total_s": round(total, 3), "top_by_tottime": out, "text": text.getvalue()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if "numpy" in sys.modules:
        print("warning: numpy was imported before the thread count was pinned", file=sys.stderr)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before numpy is imported
    import numpy as np
    from _common import machine_info, make_slate_pool, make_world, time_simulator
    from numpy_floor import bench_floor

    from recsim_llm.simulator import Simulator

    env_cls, env_note = (None, "not requested")
    if "env" in args.impls:
        env_cls, env_note = find_population_env()
    warmup_steps = 2
    load_before = os.getloadavg()
    records, t_start = [], time.perf_counter()
    for n in args.n_users:
        for d in args.dims:
            t_build = time.perf_counter()
            world = make_world(n, d, args.n_items, args.slate_size)
            pool = make_slate_pool(n, args.n_items, args.slate_size)
            build_s = time.perf_counter() - t_build
            runs: dict[str, list[dict]] = {}
            for _ in range(args.reps):  # interleaved: machine noise hits every impl alike
                for impl in args.impls:
                    if impl == "simulator":
                        res = time_simulator(lambda s, w=world: Simulator(w, seed=s), pool,
                                             args.seconds, args.days, warmup_steps)
                    elif impl == "platform":
                        res = time_platform(world, pool, args.seconds, args.days, warmup_steps)
                    elif impl == "env":
                        if env_cls is None:
                            continue
                        res = time_env(env_cls, world, pool, args.seconds, args.days,
                                       warmup_steps)
                    else:
                        res = bench_floor(n, d, args.slate_size, args.n_items,
                                          min_seconds=args.seconds, world=world,
                                          slate_pool=pool)
                        res = {k: res[k] for k in ("user_steps_per_s", "steps_per_s",
                                                   "seconds", "n_steps", "cpu_seconds",
                                                   "user_steps_per_cpu_s",
                                                   "in_session_fraction")}
                        res.update(user_steps=res["n_steps"] * n, click_rate=None,
                                   episodes=None)
                    runs.setdefault(impl, []).append(res)
            for impl, rs in runs.items():
                best = max(rs, key=lambda r: r["user_steps_per_s"])
                rec = {"impl": impl, "n_users": n, "dim": d, "slate_size": args.slate_size,
                       "n_items": args.n_items, **best,
                       "days_per_episode": None if impl == "numpy_floor" else args.days,
                       "reps_user_steps_per_s": [round(r["user_steps_per_s"]) for r in rs],
                       "build_s": round(build_s, 3)}
                records.append(rec)
                print(f"{impl:12s} n={n:>7,} d={d:>4}: {rec['user_steps_per_s']:>12,.0f} "
                      f"user-steps/s ({rec['user_steps_per_cpu_s']:>10,.0f} per CPU-s)  "
                      f"{rec['steps_per_s']:>9.2f} steps/s  "
                      f"in-session {rec['in_session_fraction']:.3f}  "
                      f"({rec['n_steps']} steps, {rec['seconds']:.2f} s; reps "
                      f"{rec['reps_user_steps_per_s']})", flush=True)
            del world, pool

    ratios = []
    for n in args.n_users:
        for d in args.dims:
            by = {r["impl"]: r for r in records if r["n_users"] == n and r["dim"] == d}
            floor = by.get("numpy_floor")
            row = {"n_users": n, "dim": d}
            for impl in ("simulator", "platform", "env"):
                if floor and impl in by:
                    row[f"{impl}_slowdown_vs_floor"] = (floor["user_steps_per_s"]
                                                        / by[impl]["user_steps_per_s"])
                    row[f"{impl}_slowdown_vs_floor_cpu"] = (floor["user_steps_per_cpu_s"]
                                                            / by[impl]["user_steps_per_cpu_s"])
            ratios.append(row)
    goals = {}
    for row in ratios:
        if "simulator_slowdown_vs_floor" in row:
            goals[f"simulator_within_2x_of_floor@{row['n_users']}x{row['dim']}"] = \
                row["simulator_slowdown_vs_floor"] <= 2.0
        if "env_slowdown_vs_floor" in row:
            goals[f"env_within_2x_of_floor@{row['n_users']}x{row['dim']}"] = \
                row["env_slowdown_vs_floor"] <= 2.0
    for r in records:
        if (r["n_users"] == 100_000 and r["dim"] == 64
                and r["impl"] in ("simulator", "platform", "env")):
            goals[f"{r['impl']}_ge_1e6_user_steps_per_s@100000x64"] = \
                r["user_steps_per_s"] >= 1e6

    out = {
        "benchmark": "population dynamics throughput (slates given)",
        "command": " ".join(["python", *sys.argv]) if argv is None
        else " ".join(["bench_population.main", *argv]),
        "machine": machine_info(),
        "settings": {"threads_pinned": args.threads, "quick": args.quick,
                     "min_seconds": args.seconds, "days_per_episode": args.days,
                     "reps": args.reps, "best_of_reps": True, "warmup_steps": warmup_steps,
                     "n_items": args.n_items,
                     "slate_size": args.slate_size, "slates": "uniform random distinct ids, "
                     "4 pre-drawn batches reused cyclically", "dynamics": "ScenarioConfig "
                     "defaults (horizon 1e6 days)", "embeddings": "random unit-norm float32"},
        "env": {"available": env_cls is not None, "note": env_note},
        "results": records,
        "ratios": ratios,
        "goals": goals,
        "total_wall_s": round(time.perf_counter() - t_start, 1),
        "load_average_before_after": [list(load_before), list(os.getloadavg())],
        "notes": [
            "user_steps_per_s = in-session users served per second; numpy_floor serves every "
            "user at every step (in_session_fraction 1) with pre-drawn uniforms and normals.",
            "*_slowdown_vs_floor = floor user-steps/s divided by the impl's (goal: <= 2); "
            "*_cpu: the same from process CPU time (steadier when the machine is shared).",
            "simulator/env timings include session ends, day changes (overnight drift over "
            "all users), return and churn draws; the floor has no day logic.",
        ],
    }
    if env_cls is None:
        out["notes"].append(f"env not measured: {env_note}")
    if args.profile:
        n, d = max(args.n_users), min(args.dims)
        world = make_world(n, d, args.n_items, args.slate_size)
        pool = make_slate_pool(n, args.n_items, args.slate_size)
        prof = profile_simulator(world, pool, days=min(args.days, 3))
        print(prof.pop("text"))
        out["profile"] = prof
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=1, default=lambda o: o.item() if isinstance(
            o, np.generic) else str(o))
    print(f"wrote {args.out} ({out['total_wall_s']} s)")
    for k, v in goals.items():
        print(f"goal {k}: {'met' if v else 'NOT met'}")
    return 0


if __name__ == "__main__":
    # _common and numpy_floor from this folder; recsim_llm from this checkout, not an install
    sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)),
                    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
    sys.exit(main())
