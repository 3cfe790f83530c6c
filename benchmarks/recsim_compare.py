"""User-steps/s of the population env next to RecSim's interest-evolution environment.

Issue 11, part 4: "side by side in the same run, the same workload on RecSim's
interest-evolution environment as people install it from PyPI (one user per step), reported as
a ratio". RecSim is **not** a dependency of recsim_llm: it runs in its own virtual environment
(``--recsim-python``, default ``/work/recsim-venv/bin/python``; how to build it:
``benchmarks/README.md``, "RecSim comparison"), in a subprocess started by this script, so
that its TensorFlow, gym and numpy versions never meet ours.

The workload, for each candidate count C in ``--candidates`` (default 10, 100, 1000):

* **RecSim**: ``interest_evolution.create_environment({"num_candidates": C, "slate_size": k,
  "resample_documents": True, "seed": 0})``, the environment as its README builds it; one user
  per ``env.step(slate)``; slates are uniform random k-subsets of the C candidates, drawn
  before timing and cycled. When an episode ends (the user's time budget is spent)
  ``env.reset()`` starts a new user; resets are timed separately and left out of the
  headline rate (which favours RecSim). A user-step is one ``step``.
* **population env** (``recsim_llm.envs.population.PopulationEnv``): a world of
  ``--n-users`` users and a catalog of C items with random unit embeddings of ``--dim``
  dimensions (RecSim's documents have 20 topic features: the default), two interests per
  user, the default user model; ``env.step(slates)`` with random k-subsets of the C items for
  every user, cycled; a user-step is one in-session user served one slate
  (``info["served"]``), as in ``bench_population.py``. ``reset`` is not timed. Each step
  kernel of ``--kernels`` is timed (``numpy``, the reference; ``numba``, the fused kernel,
  which uses numba's threads: compare it per CPU-second).

Both report user-steps per wall second and per CPU second (process CPU time; both sides run on
one thread: ``OMP_NUM_THREADS`` etc. are set to 1 for both processes), and the ratio of ours to
RecSim's. Run it with nothing else heavy running and read the load average in the JSON::

    PYTHONPATH=. python benchmarks/recsim_compare.py --out benchmarks/results/recsim_compare.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import THREAD_VARS

for _var in THREAD_VARS:  # one thread on both sides, set before numpy is imported
    os.environ[_var] = "1"

import numpy as np  # noqa: E402
from _common import machine_info, make_slate_pool, make_world, time_episodes  # noqa: E402

GOAL = 500.0
"""issue 11: population env / RecSim >= 500x at every candidate count"""

RECSIM_WORKER = r"""
import json, os, sys, time, warnings
warnings.filterwarnings("ignore")
args = json.loads(sys.argv[1])
import numpy as np
t0 = time.perf_counter()
from recsim.environments import interest_evolution
import recsim
import_s = time.perf_counter() - t0
C, k = args["candidates"], args["slate"]
env = interest_evolution.create_environment({"num_candidates": C, "slate_size": k,
                                             "resample_documents": True, "seed": args["seed"]})
rng = np.random.default_rng(1)
pool = np.argsort(rng.random((4096, C)), axis=1)[:, :k]
slates = [list(map(int, row)) for row in pool]
env.reset()
for j in range(20):  # warm-up
    done = env.step(slates[j])[2]
    if done:
        env.reset()
steps = resets = 0
step_s = step_cpu = reset_s = reset_cpu = 0.0
reward = 0.0
env.reset()
while step_s < args["seconds"]:
    t, c = time.perf_counter(), time.process_time()
    obs, r, done, info = env.step(slates[steps % len(slates)])[:4]
    step_s += time.perf_counter() - t
    step_cpu += time.process_time() - c
    steps += 1
    reward += float(r)
    if done:
        t, c = time.perf_counter(), time.process_time()
        env.reset()
        reset_s += time.perf_counter() - t
        reset_cpu += time.process_time() - c
        resets += 1
import gym, tensorflow as tf
print(json.dumps({
    "user_steps": steps, "seconds": step_s, "cpu_seconds": step_cpu,
    "user_steps_per_s": steps / step_s, "user_steps_per_cpu_s": steps / step_cpu,
    "resets": resets, "reset_seconds": reset_s, "reset_cpu_seconds": reset_cpu,
    "user_steps_per_s_with_resets": steps / (step_s + reset_s),
    "mean_steps_per_user": steps / max(resets, 1), "mean_reward": reward / steps,
    "import_seconds": import_s,
    "versions": {"python": sys.version.split()[0], "numpy": np.__version__,
                 "tensorflow": tf.__version__, "gym": gym.__version__,
                 "recsim": getattr(recsim, "__version__", "0.2.4")}}))
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--candidates", type=int, nargs="+", default=[10, 100, 1000])
    p.add_argument("--slate", type=int, default=10, help="slate size of both (ours: default)")
    p.add_argument("--n-users", type=int, default=100_000, help="population env users")
    p.add_argument("--dim", type=int, default=20, help="population env embedding dimension")
    p.add_argument("--seconds", type=float, default=5.0,
                   help="minimum timed seconds per side and candidate count")
    p.add_argument("--days", type=int, default=3, help="simulated days per env episode")
    p.add_argument("--kernels", nargs="+", default=["numpy", "numba"],
                   help="population step kernels to time (SimulatorConfig.kernel)")
    p.add_argument("--recsim-python", default="/work/recsim-venv/bin/python",
                   help="python of the virtual environment where recsim is installed")
    p.add_argument("--out", type=Path, default=None, help="JSON file to write")
    return p.parse_args(argv)


def run_recsim(python: str, candidates: int, slate: int, seconds: float) -> dict:
    """RecSim's interest-evolution env in its own interpreter (see RECSIM_WORKER)."""
    args = json.dumps({"candidates": candidates, "slate": slate, "seconds": seconds, "seed": 0})
    env = {**os.environ, **dict.fromkeys(THREAD_VARS, "1"), "TF_CPP_MIN_LOG_LEVEL": "3",
           "CUDA_VISIBLE_DEVICES": ""}
    env.pop("PYTHONPATH", None)
    try:
        out = subprocess.run([python, "-c", RECSIM_WORKER, args], capture_output=True,
                             text=True, env=env, check=True, timeout=1800)
    except FileNotFoundError:
        raise SystemExit(f"no python at --recsim-python {python!r}: build the RecSim venv "
                         f"(benchmarks/README.md, 'RecSim comparison')") from None
    except subprocess.CalledProcessError as err:
        raise SystemExit(f"RecSim worker failed (C={candidates}):\n{err.stderr[-3000:]}"
                         ) from None
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_ours(n_users: int, dim: int, candidates: int, slate: int, seconds: float,
             days: int, kernel: str) -> dict:
    """``PopulationEnv.step`` on a world of ``candidates`` items (random slates)."""
    import dataclasses

    from recsim_llm.config import SimulatorConfig
    from recsim_llm.envs.population import PopulationEnv

    world = make_world(n_users, dim, n_items=candidates, slate_size=slate)
    world = dataclasses.replace(world, cfg=dataclasses.replace(
        world.cfg, simulator=SimulatorConfig(kernel=kernel)))
    pool = make_slate_pool(n_users, candidates, slate)
    env = PopulationEnv(world=world)

    def new_episode(seed: int) -> PopulationEnv:
        env.reset(seed=seed)
        return env

    def run_step(e: PopulationEnv, j: int) -> tuple[int, int]:
        info = e.step(pool[j % len(pool)])[4]
        return (int(np.count_nonzero(info["served"])),
                int(np.count_nonzero(info["clicked_item"] >= 0)))

    def day_of(e: PopulationEnv) -> int | None:
        return None if e.sim.done else e.sim.day

    return time_episodes(run_step, new_episode, day_of, n_users, seconds, days)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import recsim_llm

    rows = []
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    for c in args.candidates:
        if args.slate > c:
            raise SystemExit(f"--slate {args.slate} exceeds {c} candidates")
        rs = run_recsim(args.recsim_python, c, args.slate, args.seconds)
        row: dict = {"candidates": c, "recsim": rs}
        for kernel in args.kernels:
            ours = run_ours(args.n_users, args.dim, c, args.slate, args.seconds, args.days,
                            kernel)
            row[kernel] = {"population_env": ours,
                           "ratio_wall": ours["user_steps_per_s"] / rs["user_steps_per_s"],
                           "ratio_cpu": ours["user_steps_per_cpu_s"]
                           / rs["user_steps_per_cpu_s"]}
            print(f"C={c:5d}  RecSim {rs['user_steps_per_s']:9.0f} user-steps/s "
                  f"({rs['user_steps_per_cpu_s']:.0f}/CPU-s)  ours[{kernel}] "
                  f"{ours['user_steps_per_s']:12.0f} ({ours['user_steps_per_cpu_s']:.0f}/CPU-s)"
                  f"  ratio {row[kernel]['ratio_wall']:7.0f}x wall / "
                  f"{row[kernel]['ratio_cpu']:7.0f}x CPU  load {os.getloadavg()[0]:.1f}",
                  flush=True)
        row["load_average"] = os.getloadavg()
        rows.append(row)
    result = {"benchmark": "recsim_compare", "goal_ratio": GOAL,
              "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "recsim_llm": recsim_llm.__file__, "rows": rows,
              "goal_met_cpu": {k: all(r[k]["ratio_cpu"] >= GOAL for r in rows)
                               for k in args.kernels},
              "seconds_total": time.perf_counter() - t0,
              "load_average_before_after": [load_before, os.getloadavg()],
              "machine": machine_info()}
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, default=str))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
