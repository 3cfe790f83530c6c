"""Cost of ``action_space.sample()`` next to one population step (issue "One door", item 3).

The population's slate space samples k distinct *available* ids per user with Floyd's
algorithm (``recsim_llm.envs.spaces.sample_distinct``); the old sampler drew a random key for
every (user, item) and partitioned them. All three are timed in one run, so the ratios hold on
a loaded machine::

    PYTHONPATH=. python benchmarks/bench_action_sample.py --n-users 100000 --reps 3
"""

from __future__ import annotations

import argparse
import json
import os
import time

import gymnasium as gym
import numpy as np

import recsim_llm  # noqa: F401


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-users", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    args = ap.parse_args()
    env = gym.make_vec("recsim_llm/SyntheticUsersFast-v0", num_envs=args.n_users,
                       vectorization_mode="vector_entry_point", horizon_days=3)
    env.reset(seed=0)
    space = env.action_space
    t = time.perf_counter()
    actions = [space.sample() for _ in range(args.reps)]
    sample = (time.perf_counter() - t) / args.reps
    t = time.perf_counter()
    for a in actions:
        env.step(a)
    step = (time.perf_counter() - t) / args.reps
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    for _ in range(args.reps):
        keys = rng.random((args.n_users, space.n_items))
        np.argpartition(keys, space.slate_size - 1, axis=1)[:, : space.slate_size]
    old = (time.perf_counter() - t) / args.reps
    res = {"n_users": args.n_users, "n_items": space.n_items, "slate_size": space.slate_size,
           "sample_s": sample, "step_s": step, "old_sample_s": old,
           "sample_over_step": sample / step, "old_over_step": old / step,
           "load_avg_1min": os.getloadavg()[0]}
    print(json.dumps(res, indent=2))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()
