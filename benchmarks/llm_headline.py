"""Headline of the LLM ranker in the loop: NDCG@10 against the simulator's ground truth, cold
start, and the long-horizon metrics, against ``llm:0``, ``mf``, ``bpr`` and ``greedy``.

Runs every policy on the same worlds (one per seed: paired users and exogenous draws) through
:func:`recsim_llm.runner.run_policy`, with request-level trajectories so that exposure of new
items can be counted. Per (policy, seed) it reports:

* ``ndcg_after``: mean of the daily ``ndcg_at_k`` (the recorder's probe of 500 users' first
  slate of the day against the simulator's true utilities, k = slate size) over the days after
  the first retraining (day > R, R = 7), and ``ndcg_before`` over days 1..R;
* ``new_item_impression_share`` / ``new_item_click_share``: share of impressions / clicks that
  went to items within their first 3 days after arrival (items arriving after day 0,
  ``catalog.new_items_per_day``), i.e. whether a policy serves cold-start items at all;
* final ``retention``, cumulative clicks per initial user, mean ``topic_entropy``,
  ``exposure_gini``, ``homogenization``, and the ranker's measured serving/training costs.

Paired differences ``llm - other`` per seed are summarised with a t interval
(``scipy.stats.t``) over seeds. Usage::

    python benchmarks/llm_headline.py --users 200 --days 60 --seeds 0 1 2 \
        --policies llm llm:0 mf bpr greedy --out benchmarks/results/llm_headline.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats
import torch

from recsim_llm.analysis.trajectory import Trajectory
from recsim_llm.config import ScenarioConfig, override
from recsim_llm.runner import run_policy
from recsim_llm.scenarios import build_world
from recsim_llm.text import make_encoder

FRESH_DAYS = 3
"""an item counts as new during its first FRESH_DAYS days after arrival"""


def unit(world: Any, spec: str, seed: int, retrain_every: int) -> dict[str, Any]:
    t0, c0 = time.perf_counter(), time.process_time()
    res = run_policy(world, spec, seed, log_level="request")
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    daily = pd.DataFrame(res.daily)
    traj = Trajectory(res.trajectory.arrays(), {"log_level": "request"})  # type: ignore[union-attr]
    arrival = world.catalog.arrival_day
    imp = new_imp = clicks = new_clicks = 0
    for d, _t, _u, s, p in traj.requests():
        fresh = (arrival[s] > 0) & (d - arrival[s] < FRESH_DAYS)          # [m, k]
        imp += s.size
        new_imp += int(fresh.sum())
        c = p >= 0
        clicks += int(c.sum())
        new_clicks += int(fresh[np.flatnonzero(c), p[c]].sum())
    after = daily["day"] > retrain_every
    row: dict[str, Any] = {
        "policy": spec, "seed": seed, "wall_s": wall, "cpu_s": cpu,
        "ndcg_before": float(daily.loc[~after, "ndcg_at_k"].mean()),
        "ndcg_after": float(daily.loc[after, "ndcg_at_k"].mean()),
        "retention_final": float(daily["retention"].iloc[-1]),
        "clicks_per_initial_user": float(daily["clicks"].sum()
                                         / max(int(daily["joined_users"].iloc[0]), 1)),
        "topic_entropy": float(daily["topic_entropy"].mean()),
        "exposure_gini": float(daily["exposure_gini"].mean()),
        "homogenization": float(daily["homogenization"].mean()),
        "new_item_impression_share": new_imp / max(imp, 1),
        "new_item_click_share": new_clicks / max(clicks, 1),
        "ndcg_daily": daily["ndcg_at_k"].round(4).tolist(),
    }
    pol = res.policy
    if hasattr(pol, "costs"):
        row["costs"] = pol.costs()
    return row


def paired(rows: list[dict[str, Any]], ref: str, metric: str) -> dict[str, dict[str, float]]:
    df = pd.DataFrame(rows)
    out = {}
    base = df[df.policy == ref].set_index("seed")[metric]
    for pol in df.policy.unique():
        if pol == ref:
            continue
        other = df[df.policy == pol].set_index("seed")[metric]
        diff = (base - other).dropna()
        n = len(diff)
        mean = float(diff.mean()) if n else float("nan")
        half = (float(scipy.stats.t.ppf(0.975, n - 1) * diff.std(ddof=1) / np.sqrt(n))
                if n > 1 else float("nan"))
        out[pol] = {"mean_diff": mean, "ci95_low": mean - half, "ci95_high": mean + half,
                    "n_seeds": n}
    return out


def render(path: Path) -> str:
    """Markdown tables of a results file: per-policy means over seeds, paired diffs vs llm."""
    data = json.loads(path.read_text())
    df = pd.DataFrame(data["rows"])
    cols = ["ndcg_before", "ndcg_after", "new_item_impression_share", "new_item_click_share",
            "retention_final", "clicks_per_initial_user", "topic_entropy", "exposure_gini",
            "homogenization", "cpu_s"]
    g = df.groupby("policy", sort=False)[cols].mean()
    lines = ["| policy | seeds | " + " | ".join(cols) + " |", "|---" * (len(cols) + 2) + "|"]
    for pol, row in g.iterrows():
        n = int((df.policy == pol).sum())
        lines.append(f"| {pol} | {n} | " + " | ".join(f"{row[c]:.4g}" for c in cols) + " |")
    lines += ["", "| metric | vs | mean diff (llm - other) | 95% t-CI | seeds |",
              "|---|---|---|---|---|"]
    for metric, per in data.get("paired_vs_llm", {}).items():
        for pol, d in per.items():
            lines.append(f"| {metric} | {pol} | {d['mean_diff']:.4g} | "
                         f"[{d['ci95_low']:.4g}, {d['ci95_high']:.4g}] | {d['n_seeds']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--render", type=Path, default=None,
                    help="print the markdown tables of an existing results file and exit")
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--new-items-per-day", type=int, default=2)
    ap.add_argument("--encoder", default="minilm")
    ap.add_argument("--policies", nargs="+", default=["llm", "llm:0", "mf", "bpr", "greedy"])
    ap.add_argument("--retrain-every", type=int, default=7, help="R of the `llm` spec")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/llm_headline.json"))
    args = ap.parse_args()
    if args.render is not None:
        print(render(args.render))
        return
    torch.set_num_threads(args.threads)
    cfg = override(ScenarioConfig(), encoder=args.encoder, horizon_days=args.days,
                   **{"population.n_users": args.users,
                      "catalog.new_items_per_day": args.new_items_per_day})
    encoder = make_encoder(args.encoder)
    rows: list[dict[str, Any]] = []
    result: dict[str, Any] = {"args": {k: str(v) if isinstance(v, Path) else v
                                       for k, v in vars(args).items()},
                              "config": cfg.to_dict(), "rows": rows}
    for seed in args.seeds:
        world = build_world(cfg, seed, encoder=encoder)
        for spec in args.policies:
            row = unit(world, spec, seed, args.retrain_every)
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "ndcg_daily"}), flush=True)
            result["paired_vs_llm"] = {m: paired(rows, args.policies[0], m) for m in (
                "ndcg_after", "new_item_impression_share", "retention_final",
                "clicks_per_initial_user", "topic_entropy", "exposure_gini")}
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
