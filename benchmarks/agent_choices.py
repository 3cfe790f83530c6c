"""Which ranker a saved strategy agent picks, by block of days, when it is replayed.

Replays ``sb3:MODEL`` (a ``strategy``-mode agent) with the runner on one world, exactly as the
headline does (deterministic actions, frozen network), and counts its actions per served request
over blocks of ``--block`` days. A benchmark script: it reads the agent's actions, nothing else.

    python benchmarks/agent_choices.py MODEL.zip --users 1000 --days 120 --seed 101 \
        --encoder minilm --out choices.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--seed", type=int, default=101)
    ap.add_argument("--encoder", default="minilm")
    ap.add_argument("--block", type=int, default=30)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from recsim_llm.agents.registry import make_policy
    from recsim_llm.config import ScenarioConfig, merge_config
    from recsim_llm.envs.actions import DEFAULT_STRATEGIES
    from recsim_llm.runner import run_policy
    from recsim_llm.scenarios import build_world
    from recsim_llm.text import make_encoder

    torch.set_num_threads(1)
    cfg = merge_config(ScenarioConfig(encoder=args.encoder, horizon_days=args.days),
                       {"population": {"n_users": args.users}})
    world = build_world(cfg, args.seed, encoder=make_encoder(args.encoder))
    pol: Any = make_policy(f"sb3:{args.model}")
    names = list(pol.meta.get("strategies") or DEFAULT_STRATEGIES)
    counts: dict[int, np.ndarray] = {}
    day = {"d": 0}
    rank, predict = pol.rank, pol.model.predict

    def dated_rank(view: Any) -> Any:  # the day of the tick whose actions predict() returns
        day["d"] = int(view.day)
        return rank(view)

    def recording_predict(obs: Any, *a: Any, **kw: Any) -> Any:
        actions, state = predict(obs, *a, **kw)
        c = counts.setdefault(day["d"] // args.block, np.zeros(len(names), np.int64))
        c += np.bincount(np.asarray(actions).reshape(-1), minlength=len(names))
        return actions, state

    pol.rank, pol.model.predict = dated_rank, recording_predict
    run_policy(world, pol, args.seed, label="agent")
    out = {"model": args.model, "seed": args.seed, "users": args.users, "days": args.days,
           "encoder": args.encoder, "strategies": names,
           "blocks": {f"days {b * args.block}-{min((b + 1) * args.block, args.days) - 1}":
                      {n: round(float(c[i] / max(c.sum(), 1)), 3) for i, n in enumerate(names)}
                      for b, c in sorted(counts.items())}}
    print(json.dumps(out, indent=2))
    if args.out is not None:
        args.out.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
