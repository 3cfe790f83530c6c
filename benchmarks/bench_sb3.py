"""Environment transitions per second that Stable-Baselines3 sees: single-user env vs the
population adapter, measured in one run (the figure is their ratio).

Two measurements for each face, on the synthetic scenario (hashing encoder, ``--dim``):

* ``env``: the ``VecEnv`` API alone (``step_async``/``step_wait`` with actions sampled from the
  action space before timing), the way SB3's rollout loop calls it: ``DummyVecEnv([Monitor(
  SingleUserEnv)])`` (one transition per call) against ``VecMonitor(PopulationVecEnv)`` of
  ``--users`` users (``--users`` transitions per call). Observation, reward, autoreset
  (episode ends, respawns, horizon resets) are all inside the timing.
* ``ppo``: ``PPO.learn`` end to end (rollouts + gradient updates, CPU, one torch thread) for
  ``--ppo-single`` / ``--ppo-population`` transitions (SB3 rounds up to whole rollouts), so
  the ratio includes the network's cost.

Usage::

    python benchmarks/bench_sb3.py [--users 1000] [--seconds 10] [--mode strategy]
        [--out benchmarks/results/sb3.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=1000, help="population size of the adapter")
    ap.add_argument("--dim", type=int, default=64, help="hashing-encoder dimension")
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--days", type=int, default=30, help="episode horizon (days)")
    ap.add_argument("--mode", default="strategy", help="action mode (strategy|query|scores)")
    ap.add_argument("--seconds", type=float, default=10.0, help="timed stepping per face")
    ap.add_argument("--ppo-single", type=int, default=4096,
                    help="transitions of PPO.learn on the single-user env (0 = skip PPO)")
    ap.add_argument("--ppo-population", type=int, default=32_000,
                    help="transitions of PPO.learn through the adapter")
    ap.add_argument("--out", default=None, help="JSON file for the results")
    return ap.parse_args(argv)


def _envs(args: argparse.Namespace) -> tuple:
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

    from recsim_llm.envs.population import PopulationEnv
    from recsim_llm.envs.sb3 import PopulationVecEnv
    from recsim_llm.envs.single_user import SingleUserEnv

    kw = {"scenario": "synthetic", "encoder": f"hashing:{args.dim}",
          "config": {"catalog": {"n_items": args.items},
                     "population": {"n_users": args.users}},
          "horizon_days": args.days, "action_mode": args.mode}
    single = SingleUserEnv(**kw)
    one = DummyVecEnv([lambda: Monitor(single)])
    pop = VecMonitor(PopulationVecEnv(PopulationEnv(world=single.world,
                                                    action_mode=args.mode)))
    return one, pop


def time_vecenv(venv, seconds: float, seed: int = 0) -> dict:
    """Transitions/s of ``venv`` under SB3's calling pattern (actions drawn before timing)."""
    import numpy as np

    venv.seed(seed)
    venv.reset()
    space = venv.action_space
    space.seed(seed)
    pool = np.stack([np.stack([space.sample() for _ in range(venv.num_envs)])
                     for _ in range(8)])
    calls = dones = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        venv.step_async(pool[calls % len(pool)])
        _, _, d, _ = venv.step_wait()
        dones += int(d.sum())
        calls += 1
    dt = time.perf_counter() - t0
    return {"calls": calls, "transitions": calls * venv.num_envs, "seconds": dt,
            "transitions_per_s": calls * venv.num_envs / dt, "episodes_ended": dones}


def time_ppo(venv, steps: int, seed: int = 0) -> dict:
    import torch
    from stable_baselines3 import PPO

    from recsim_llm.agents.sb3 import default_hparams

    torch.set_num_threads(1)
    model = PPO("MlpPolicy", venv, seed=seed, device="cpu",
                **default_hparams("ppo", venv.num_envs))
    t0 = time.perf_counter()
    model.learn(steps)
    dt = time.perf_counter() - t0
    return {"transitions": int(model.num_timesteps), "seconds": dt,
            "transitions_per_s": model.num_timesteps / dt,
            "n_steps": model.n_steps, "batch_size": model.batch_size}


def machine_info() -> dict:
    import platform

    import numpy as np
    import stable_baselines3
    import torch

    return {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "python": sys.version.split()[0], "numpy": np.__version__,
            "torch": torch.__version__, "stable_baselines3": stable_baselines3.__version__}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    one, pop = _envs(args)
    res: dict = {"args": vars(args), "machine": machine_info(),
                 "load_before": os.getloadavg()}
    res["env_single"] = time_vecenv(one, args.seconds)
    res["env_population"] = time_vecenv(pop, args.seconds)
    res["env_ratio"] = (res["env_population"]["transitions_per_s"]
                        / res["env_single"]["transitions_per_s"])
    if args.ppo_single:
        res["ppo_single"] = time_ppo(one, args.ppo_single)
        res["ppo_population"] = time_ppo(pop, args.ppo_population)
        res["ppo_ratio"] = (res["ppo_population"]["transitions_per_s"]
                            / res["ppo_single"]["transitions_per_s"])
    res["load_after"] = os.getloadavg()
    for key in ("env_single", "env_population", "ppo_single", "ppo_population"):
        if key in res:
            print(f"{key:16s} {res[key]['transitions_per_s']:12,.0f} transitions/s "
                  f"({res[key]['transitions']:,} in {res[key]['seconds']:.1f} s)")
    print(f"ratio env {res['env_ratio']:.1f}x" + (f", ppo {res['ppo_ratio']:.1f}x"
                                                  if "ppo_ratio" in res else ""))
    print(f"load average before {res['load_before']}, after {res['load_after']}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(res, fh, indent=2, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
