"""The appeal/value tension on the torch population, with its two on-device oracles.

Runs ``scored_policy(click_scores)`` and ``scored_policy(value_scores)``
(:mod:`recsim_llm.kernels.torch_population`) on the default synthetic world (MiniLM) for
``--seeds`` paired seeds and prints, per seed and on average, the value oracle minus the click
oracle in CTR over days 1-7, retention on the last day and cumulative clicks per initial user.
These are the platform's ``oracle:click`` and ``oracle:value`` (they skip what the platform's
policies skip; on the reference's draws they give its runs day for day, tested), on device
draws: another sample of the same model, for populations the numpy path is too slow for. One
world per seed, paired across the two oracles, as ``recsim-llm simulate`` builds them.

Usage::

    PYTHONPATH=. python benchmarks/torch_tension.py --users 1000 --days 120 --seeds 3
    PYTHONPATH=. python benchmarks/torch_tension.py --device cuda --users 100000 --days 120
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto")
    args = ap.parse_args(argv)
    from recsim_llm.config import ScenarioConfig, override
    from recsim_llm.kernels.torch_population import (
        TorchPopulation,
        click_scores,
        scored_policy,
        value_scores,
    )
    from recsim_llm.scenarios import build_world

    cfg = override(ScenarioConfig(), **{"population.n_users": args.users,
                                        "horizon_days": args.days})
    runs: dict[str, list[list[dict]]] = {"click": [], "value": []}
    for seed in range(args.seeds):
        world = build_world(cfg, seed)   # one world per seed, as `recsim-llm simulate`
        print(f"seed {seed} world: {world.n_users} users, {world.n_items} items, "
              f"d = {world.dim}, {world.encoder_identity}")
        for name, score in (("click", click_scores), ("value", value_scores)):
            t0 = time.perf_counter()
            days = TorchPopulation(world, seed, device=args.device).run(scored_policy(score),
                                                                        validate=False)
            runs[name].append(days)
            print(f"oracle:{name} seed {seed}: {time.perf_counter() - t0:.1f} s")
    metrics = {"CTR days 1-7": lambda r: np.mean([d["ctr"] for d in r[:7]]),
               "retention on the last day": lambda r: r[-1]["alive"] / r[-1]["joined"],
               "clicks per initial user": lambda r: sum(d["clicks"] for d in r) / args.users}
    for label, f in metrics.items():
        click = np.array([f(r) for r in runs["click"]])
        value = np.array([f(r) for r in runs["value"]])
        diff = value - click
        print(f"{label}: click {click.mean():.3f}, value {value.mean():.3f}, value - click "
              f"{diff.mean():+.3f} (per seed {', '.join(f'{x:+.3f}' for x in diff)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
