"""Cost of recording, and wall time of a long run, at 10,000 users.

Measures, on the synthetic scenario:

1. the simulation alone (:class:`~recsim_llm.platform.Platform`: simulator + platform log, and
   the policy acting on its views), then the same with the daily
   recorder, then with trajectories at each log level -> the recording overhead in percent;
2. a full ``run_policy`` of a baseline over a long horizon (default 10,000 users x 365 days).

Usage::

    python benchmarks/bench_recording.py [--users 10000] [--days 30] [--long-days 365]
        [--policy greedy] [--encoder hashing:64] [--out benchmarks/results/recording.json]

Torch is not used here; numpy's threads are whatever the machine gives. Times are wall-clock
seconds, the minimum of ``--reps`` interleaved repetitions (the box is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's recsim_llm

import numpy as np

from recsim_llm.agents.registry import make_policy
from recsim_llm.analysis.recorder import DailyRecorder
from recsim_llm.analysis.trajectory import TrajectoryLogger
from recsim_llm.config import ScenarioConfig, merge_config
from recsim_llm.platform import Platform
from recsim_llm.rng import RngStreams
from recsim_llm.runner import run_policy
from recsim_llm.scenarios import build_world
from recsim_llm.simulator import World


def timed_run(world: World, policy_name: str, seed: int, record: str | None) -> float:
    """Seconds to simulate the world's horizon with the given recording attached.

    record: None (no recorder), "daily" (DailyRecorder + users table), or a trajectory log
    level ("user-day", "request") on top of the daily recorder.
    """
    policy = make_policy(policy_name)
    platform = Platform(world, seed)
    if record is not None:
        DailyRecorder(world, {"policy": policy_name, "seed": seed}).attach(platform.sim)
        TrajectoryLogger(world, "daily" if record == "daily" else record).attach(platform.sim)
    policy.bind(platform.context, RngStreams(seed).fresh(f"policy/{policy_name}"))
    t0 = time.perf_counter()
    platform.reset()
    while not platform.done:
        _fb, logged = platform.serve(policy.act(platform.view(privileged=policy.privileged)))
        policy.observe(logged)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=30, help="horizon of the overhead runs")
    ap.add_argument("--long-days", type=int, default=365, help="horizon of the long run (0: skip)")
    ap.add_argument("--policy", default="greedy")
    ap.add_argument("--encoder", default="hashing:64")
    ap.add_argument("--reps", type=int, default=3,
                    help="interleaved repetitions; the minimum time of each config is kept")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/recording.json"))
    args = ap.parse_args()

    base = merge_config(ScenarioConfig(), dotted={"population.n_users": args.users,
                                                  "encoder": args.encoder,
                                                  "horizon_days": args.days})
    t0 = time.perf_counter()
    world = build_world(base, 0)
    build_s = time.perf_counter() - t0
    results: dict[str, object] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/bench_recording.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "numpy": np.__version__},
        "users": args.users, "days": args.days, "policy": args.policy, "encoder": args.encoder,
        "world_build_s": round(build_s, 2), "runs": {}}
    runs: dict[str, float] = {}
    # Interleaved repetitions, minimum kept: the box is shared and single timings are noisy.
    for _ in range(args.reps):
        for record in (None, "daily", "user-day", "request"):
            key = record or "none"
            runs[key] = min(runs.get(key, float("inf")), timed_run(world, args.policy, 0, record))
    for key, sec in runs.items():
        print(f"{key:>9}: {sec:.2f} s")
    results["runs"] = {k: round(v, 3) for k, v in runs.items()}
    results["overhead_percent"] = {k: round(100 * (v / runs["none"] - 1), 1)
                                   for k, v in runs.items() if k != "none"}
    print("overhead %:", results["overhead_percent"])
    if args.long_days:
        long_cfg = merge_config(base, dotted={"horizon_days": args.long_days})
        long_world = build_world(long_cfg, 0)
        t0 = time.perf_counter()
        res = run_policy(long_world, args.policy, 0)
        long_s = time.perf_counter() - t0
        last = res.daily[-1]
        results["long_run"] = {"days": args.long_days, "seconds": round(long_s, 1),
                               "final_retention": round(float(last["retention"]), 4),
                               "days_per_s": round(args.long_days / long_s, 2)}
        print(f"long run {args.users} users x {args.long_days} days: {long_s:.1f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
