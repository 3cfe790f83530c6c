"""Throughput of the population env and simulator, numpy vs numba kernel, next to the floor.

User-steps per second (one in-session user served one slate, through choice and transition)
with the slates given (random, pre-drawn, reused cyclically; no policy, no text encoder), for

* ``--n-users`` (default 1e3, 1e4, 1e5; add 1e6 where memory allows) at d = 64, k = 10;
* ``--slates`` (default 5, 10, 20) at ``--sweep-users`` users, d = 64;
* ``--dims`` (default 32, 64, 128, 384) at ``--sweep-users`` users, k = 10;

and for each configuration the impls ``env_numpy`` / ``env_numba``
(:class:`~recsim_llm.envs.population.PopulationEnv` ``step``: platform serve, observation
refresh, a copy of the observations, rewards and info; ``env_numba_nocopy`` the same env built
with ``copy=False``, Gymnasium's convention for handing out the env's own observation buffer),
``sim_numpy`` / ``sim_numba``
(``Simulator.serve``), ``numpy_floor`` (``benchmarks/numpy_floor.py``: the bare numpy step
over all users, no validation, masking or day logic) and ``torch_cpu``
(:class:`~recsim_llm.kernels.torch_population.TorchPopulation` on CPU torch, the pool's
slates). On request (``--impls``): ``torch_cpu_oracle`` (the click oracle ranks every item on
the device each request, then the step), and with ``--gpu`` ``torch_cuda`` and
``torch_cuda_oracle`` (the same on a CUDA device; ``--gpu`` without one is an error). The
kernel is switched by the config key ``simulator.kernel``. Repetitions are interleaved
(machine noise hits every impl alike); each record keeps the median of ``--reps`` and lists
them all, in wall-clock and per process-CPU-second terms (numba and torch run 2 threads, so
their CPU figures count both).

It also measures the memory per user: the bytes of every per-user array of the simulator
state, the platform log and the env's observation buffer (``nbytes`` of the arrays as
allocated, divided by n), and the process's resident-memory growth when an env of
the largest ``--n-users`` is built and reset.

Writes JSON (``--out``) and a PNG plot next to it.

Usage::

    PYTHONPATH=. python benchmarks/throughput.py --out benchmarks/results/throughput.json
    PYTHONPATH=. python benchmarks/throughput.py --quick --out /tmp/throughput_quick.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

IMPLS = ("env_numpy", "env_numba", "env_numba_nocopy", "sim_numpy", "sim_numba", "numpy_floor",
         "torch_cpu")
TORCH_EXTRA = ("torch_cpu_oracle", "torch_cuda", "torch_cuda_oracle")
"""torch impls run on request (``--impls``; ``--gpu`` adds the two CUDA ones)"""
ALL_IMPLS = IMPLS + TORCH_EXTRA


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="benchmarks/results/throughput.json")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1e3/1e4 users, 0.3 s per impl, 1 repetition, no sweeps")
    ap.add_argument("--n-users", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    ap.add_argument("--slates", type=int, nargs="*", default=[5, 10, 20])
    ap.add_argument("--dims", type=int, nargs="*", default=[32, 64, 128, 384])
    ap.add_argument("--sweep-users", type=int, default=100_000,
                    help="population of the slate-size and dimension sweeps")
    ap.add_argument("--n-items", type=int, default=1000)
    ap.add_argument("--impls", nargs="+", default=list(IMPLS), choices=ALL_IMPLS)
    ap.add_argument("--gpu", action="store_true",
                    help="also run torch_cuda and torch_cuda_oracle (an error where torch "
                         "sees no CUDA device)")
    ap.add_argument("--seconds", type=float, default=1.5,
                    help="minimum timed seconds per impl and repetition")
    ap.add_argument("--days", type=int, default=3, help="simulated days per episode")
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions (median)")
    ap.add_argument("--no-memory", action="store_true",
                    help="skip the memory-per-user measurement (it builds a numba env of the "
                         "largest population)")
    ap.add_argument("--report", metavar="JSON",
                    help="print the markdown table of a result file and exit")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_users, args.slates, args.dims = [1_000, 10_000], [], []
        args.seconds, args.reps, args.days = 0.3, 1, 1
    if args.gpu:
        import torch

        if not torch.cuda.is_available():
            ap.error(f"--gpu: torch {torch.__version__} sees no CUDA device (run without --gpu "
                     "for the CPU impls)")
        args.impls += [i for i in ("torch_cuda", "torch_cuda_oracle") if i not in args.impls]
    return args


def kernel_world(world, kernel: str):
    from dataclasses import replace

    from recsim_llm.config import override

    return replace(world, cfg=override(world.cfg, **{"simulator.kernel": kernel}))


def time_impl(impl: str, world, pool, seconds: float, days: int) -> dict:
    from _common import time_simulator
    from bench_population import time_env
    from numpy_floor import bench_floor

    from recsim_llm.envs.population import PopulationEnv
    from recsim_llm.simulator import Simulator

    if impl == "numpy_floor":
        r = bench_floor(world.n_users, world.dim, world.cfg.slate_size, world.n_items,
                        min_seconds=seconds, world=world, slate_pool=pool)
        return {k: r[k] for k in ("user_steps_per_s", "user_steps_per_cpu_s",
                                  "in_session_fraction", "n_steps", "seconds")}
    kind, kernel, *rest = impl.split("_")
    if kind == "torch":
        return time_torch(world, pool, seconds, days, device=kernel, oracle=rest == ["oracle"])
    w = kernel_world(world, kernel)
    if kind == "env":
        r = time_env(PopulationEnv, w, pool, seconds, days, warmup_steps=2,
                     copy=rest != ["nocopy"])
    else:
        r = time_simulator(lambda s: Simulator(w, seed=s), pool, seconds, days, 2)
    return {k: r[k] for k in ("user_steps_per_s", "user_steps_per_cpu_s",
                              "in_session_fraction", "n_steps", "seconds")}


def time_torch(world, pool, seconds: float, days: int, device: str, oracle: bool) -> dict:
    """:class:`~recsim_llm.kernels.torch_population.TorchPopulation` on ``device``: the
    pool's slates (moved to the device once, ``validate=False``: valid by construction), or
    with ``oracle`` the click oracle ranking every item on the device each request. On CUDA
    the host checks for the end of a session round every 16 requests, and the served and
    click counts stay on the device until the clock stops (after a synchronize)."""
    import time

    import torch
    from _common import summarize

    from recsim_llm.kernels.torch_population import (
        TorchPopulation,
        click_scores,
        resolve_device,
        scored_policy,
    )

    dev = resolve_device(device)
    cuda = dev.type == "cuda"
    slates = torch.from_numpy(pool).to(dev)
    policy = scored_policy(click_scores)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(dev)

    def episode(seed: int) -> TorchPopulation:
        pop = TorchPopulation(world, seed, device=str(dev), sync_every=16 if cuda else 1)
        pop.reset()
        sync()
        return pop

    def request(pop: TorchPopulation, j: int):
        return pop.step(policy(pop) if oracle else slates[j % len(slates)], validate=False)

    warm = episode(10_000)
    for j in range(2):
        request(warm, j)
    del warm
    acc = {"served": 0, "clicks": 0, "seconds": 0.0, "cpu_seconds": 0.0, "steps": 0,
           "episodes": 0}
    while acc["episodes"] == 0 or acc["seconds"] < seconds:
        pop = episode(acc["episodes"])
        served = torch.zeros((), dtype=torch.int64, device=dev)
        clicks = torch.zeros_like(served)
        j = 0
        c0, t0 = time.process_time(), time.perf_counter()
        while not pop.done and pop.day < days:
            fb = request(pop, j)
            served += fb.served.sum()
            clicks += (fb.items >= 0).sum()
            j += 1
        sync()
        acc["seconds"] += time.perf_counter() - t0
        acc["cpu_seconds"] += time.process_time() - c0
        acc["served"] += int(served)
        acc["clicks"] += int(clicks)
        acc["steps"] += j
        acc["episodes"] += 1
    return summarize(acc, world.n_users)


def measure(n: int, d: int, k: int, args: argparse.Namespace, sweep: str) -> list[dict]:
    from _common import make_slate_pool, make_world

    world = make_world(n, d, args.n_items, k)
    pool = make_slate_pool(n, args.n_items, k)
    runs: dict[str, list[dict]] = {i: [] for i in args.impls}
    for _ in range(args.reps):
        for impl in args.impls:
            runs[impl].append(time_impl(impl, world, pool, args.seconds, args.days))
    out = []
    for impl, rs in runs.items():
        rec = {"sweep": sweep, "impl": impl, "n_users": n, "dim": d, "slate_size": k,
               "user_steps_per_s": statistics.median(r["user_steps_per_s"] for r in rs),
               "user_steps_per_cpu_s": statistics.median(r["user_steps_per_cpu_s"] for r in rs),
               "in_session_fraction": statistics.median(r["in_session_fraction"] for r in rs),
               "reps_user_steps_per_s": [round(r["user_steps_per_s"]) for r in rs],
               "reps_user_steps_per_cpu_s": [round(r["user_steps_per_cpu_s"]) for r in rs],
               "load_average": list(os.getloadavg())}
        out.append(rec)
        print(f"{sweep:6s} n={n:>9,} d={d:>4} k={k:>3} {impl:12s} "
              f"{rec['user_steps_per_s']:>12,.0f} user-steps/s  "
              f"({rec['user_steps_per_cpu_s']:>11,.0f} per CPU-s)  reps "
              f"{rec['reps_user_steps_per_s']}  load {os.getloadavg()[0]:.1f}", flush=True)
    for rec in out:
        base = next((r for r in out if r["impl"] == rec["impl"].replace("numba", "numpy")), None)
        floor = next((r for r in out if r["impl"] == "numpy_floor"), None)
        if "numba" in rec["impl"] and base is not None:
            rec["speedup_vs_numpy"] = rec["user_steps_per_s"] / base["user_steps_per_s"]
        if floor is not None and rec["impl"] != "numpy_floor":
            rec["ratio_to_floor"] = rec["user_steps_per_s"] / floor["user_steps_per_s"]
    return out


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_per_user(n: int, d: int, k: int, n_items: int) -> dict:
    """Bytes per user of the per-user arrays (simulator state, platform log, observations)
    and the resident-memory growth of building and resetting an env of ``n`` users."""
    import gc

    import numpy as np
    from _common import make_world

    from recsim_llm.envs.population import PopulationEnv

    gc.collect()
    rss0 = _rss_bytes()
    world = make_world(n, d, n_items, k)
    env = PopulationEnv(world=kernel_world(world, "numba"))
    env.reset(seed=0)
    rss1 = _rss_bytes()
    plat = env.platform
    parts: dict[str, float] = {}
    for name, arr in plat.sim.state.arrays().items():
        key = "world (static: interest0, dislike, logw, hook)" if name in (
            "interest0", "dislike", "interest_logw") else f"state.{name}"
        parts[key] = parts.get(key, 0) + arr.nbytes / n
    for name, arr in plat.log.arrays().items():
        if arr.shape[:1] == (n,):
            parts[f"log.{name}"] = arr.nbytes / n
    parts["env.observation"] = env._obs.nbytes / n
    from recsim_llm.kernels.torch_population import TorchPopulation

    tpop = TorchPopulation(world, 0, device="cpu")
    tpop.reset()
    torch_bytes = tpop.bytes_per_user()
    del tpop
    groups = {"simulator state": sum(v for k_, v in parts.items() if k_.startswith("state.")),
              "world (static)": sum(v for k_, v in parts.items() if k_.startswith("world")),
              "platform log": sum(v for k_, v in parts.items() if k_.startswith("log.")),
              "env observation": parts["env.observation"]}
    del env, world, plat
    gc.collect()
    return {"n_users": n, "dim": d, "slate_size": k,
            "bytes_per_user_by_array": {k_: round(v, 1) for k_, v in
                                        sorted(parts.items(), key=lambda kv: -kv[1])},
            "bytes_per_user_by_group": {k_: round(v, 1) for k_, v in groups.items()},
            "bytes_per_user_total_arrays": round(sum(parts.values()), 1),
            "rss_growth_bytes_per_user": round((rss1 - rss0) / n, 1),
            "torch_population_bytes_per_user": round(torch_bytes, 1),
            "note": "arrays: nbytes of the per-user arrays as allocated; rss: resident memory "
                    "after building the world and env and one reset, minus before "
                    "(includes the world's placeholder catalog/persona objects); "
                    f"numpy {np.__version__}"}


def plot(records: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweeps = [("users", "n_users", "users"), ("slate", "slate_size", "slate size k"),
              ("dim", "dim", "embedding dimension d")]
    present = [s for s in sweeps if any(r["sweep"] == s[0] for r in records)]
    fig, axes = plt.subplots(1, len(present), figsize=(5 * len(present), 4), squeeze=False)
    for ax, (sweep, key, label) in zip(axes[0], present, strict=True):
        for impl in ALL_IMPLS:
            rs = sorted((r for r in records if r["sweep"] == sweep and r["impl"] == impl),
                        key=lambda r: r[key])
            if rs:
                ax.plot([r[key] for r in rs], [r["user_steps_per_s"] for r in rs], "o-",
                        label=impl)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("user-steps/s (wall, median)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("population step throughput (2-core CPU, shared; see the JSON's load average)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def markdown(data: dict) -> str:
    """The records of a result file as the markdown table of ``docs/benchmarks.md``."""
    lines = ["| sweep | n_users | d | k | impl | user-steps/s (wall, median) | per CPU-s "
             "| numba / numpy | / floor | load (1 min) |", "|---|---:|---:|---:|---|---:|---:|"
             "---:|---:|---:|"]
    for r in data["results"]:
        sp = f"{r['speedup_vs_numpy']:.2f}x" if "speedup_vs_numpy" in r else ""
        fl = f"{r['ratio_to_floor']:.2f}" if "ratio_to_floor" in r else ""
        lines.append(f"| {r['sweep']} | {r['n_users']:,} | {r['dim']} | {r['slate_size']} | "
                     f"{r['impl']} | {r['user_steps_per_s']:,.0f} | "
                     f"{r['user_steps_per_cpu_s']:,.0f} | {sp} | {fl} | "
                     f"{r['load_average'][0]:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        with open(args.report) as fh:
            print(markdown(json.load(fh)))
        return 0
    import numba
    import numpy as np
    from _common import machine_info

    from recsim_llm.kernels import population  # noqa: F401  (compile/load before timing)

    load0, t0 = os.getloadavg(), time.perf_counter()
    records: list[dict] = []
    for n in args.n_users:
        records += measure(n, 64, 10, args, "users")
    for k in args.slates:
        records += measure(args.sweep_users, 64, k, args, "slate")
    for d in args.dims:
        records += measure(args.sweep_users, d, 10, args, "dim")
    mem = (None if args.no_memory else
           memory_per_user(max(args.n_users or [args.sweep_users]), 64, 10, args.n_items))
    print("memory per user:", json.dumps(mem, indent=1))
    out = {"benchmark": "population throughput, numpy vs numba kernel (slates given)",
           "command": " ".join(["python", *(sys.argv if argv is None else ["throughput", *argv])]),
           "machine": {**machine_info(), "numba": numba.__version__,
                       "numba_threads": numba.get_num_threads()},
           "settings": {k: v for k, v in vars(args).items() if k != "out"},
           "results": records, "memory": mem,
           "goal": "env_numba >= 2e6 user-steps/s at 1e5 users, d=64, k=10",
           "load_average_before_after": [list(load0), list(os.getloadavg())],
           "total_wall_s": round(time.perf_counter() - t0, 1)}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=1, default=lambda o: o.item() if isinstance(
            o, np.generic) else str(o))
    png = os.path.splitext(args.out)[0] + ".png"
    plot(records, png)
    print(f"wrote {args.out} and {png} ({out['total_wall_s']} s)")
    return 0


if __name__ == "__main__":
    sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)),
                    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
    sys.exit(main())
