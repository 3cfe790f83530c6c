"""Headline: an SB3 agent trained for long-term return vs myopic rankers, over 120 days.

1. Trains an agent on the synthetic scenario's population through the SB3 ``VecEnv`` adapter
   (:func:`recsim_llm.agents.sb3.train`) with the reward ``clicks + return_bonus * [comes back
   on a later day] - churn_penalty * [churns]``, on the world of ``--world-seed``.
2. Replays it frozen (deterministic actions) with the runner next to the baselines on held-out
   worlds (seeds ``--seed-start`` ...; every policy meets the same users and draws on a seed).
3. Reports, per policy, retention on the last day and cumulative clicks per initial user
   (sum over days of ``clicks_per_active_user * active_users`` / users), and the agent's paired
   differences against each baseline with a 95 % t interval over seeds (scipy).

Usage (what docs/rl_agents.md ran; the baselines once, then each agent, then the tables)::

    P="--users 300 --days 120 --seeds 5 --encoder hashing:64"
    python benchmarks/rl_headline.py --no-agent $P --baselines greedy mf dwell random llm \
        --out benchmarks/results/rl_headline2/baselines
    python benchmarks/rl_headline.py $P --timesteps 500000 --train-days 60 --mode strategy \
        --return-bonus 1 --churn-penalty 5 --gamma 0.995 --baselines --also-compare \
        --out benchmarks/results/rl_headline2/b1_strategy_long
    python benchmarks/rl_headline.py --no-agent $P --baselines greedy mf llm dwell random \
        --reuse benchmarks/results/rl_headline2/baselines \
        --from benchmarks/results/rl_headline2/b1_strategy_long --out .../combined

A benchmark script, not a test: nothing in it names a policy to favour, and the numbers are
whatever the run gives.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--days", type=int, default=120, help="evaluation horizon")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--seed-start", type=int, default=101, help="first held-out world seed")
    ap.add_argument("--encoder", default="hashing:64")
    ap.add_argument("--algo", default="ppo")
    ap.add_argument("--mode", default="strategy")
    ap.add_argument("--timesteps", type=int, default=300_000)
    ap.add_argument("--train-days", type=int, default=30, help="training episode horizon")
    ap.add_argument("--train-users", type=int, default=None, help="default: --users")
    ap.add_argument("--world-seed", type=int, default=0, help="world the agent trains on")
    ap.add_argument("--reward", default="click")
    ap.add_argument("--return-bonus", type=float, default=1.0)
    ap.add_argument("--churn-penalty", type=float, default=5.0)
    ap.add_argument("--gamma", type=float, default=0.99)
    ap.add_argument("--hparams", default="{}", help="SB3 keyword arguments (JSON)")
    ap.add_argument("--seed", type=int, default=0, help="SB3 seed of the training run")
    ap.add_argument("--strategies", nargs="+", default=None,
                    help="rankers of the strategy mode (default: DEFAULT_STRATEGIES)")
    ap.add_argument("--query-dim", type=int, default=None)
    ap.add_argument("--baselines", nargs="*", default=["greedy", "mf", "llm", "dwell"])
    ap.add_argument("--also-compare", nargs="*", default=["dwell"],
                    help="baselines whose paired differences against the others are reported "
                         "too (next to the agent's)")
    ap.add_argument("--agent", default=None, help="skip training: replay this model.zip")
    ap.add_argument("--no-agent", action="store_true",
                    help="no agent at all: simulate the baselines only (for --reuse later)")
    ap.add_argument("--extra-agent", action="append", default=[],
                    help="another saved model.zip to replay next to it (e.g. an ablation)")
    ap.add_argument("--reuse", action="append", default=[],
                    help="headline folder of an earlier run with the same --users, --days and "
                         "--encoder (repeatable, e.g. one folder per seed run in parallel): take "
                         "the baselines' daily rows of this run's seeds from it instead of "
                         "simulating them again (they are deterministic); (baseline, seed) "
                         "pairs none of them has are simulated")
    ap.add_argument("--from", dest="from_runs", action="append", default=[],
                    help="headline folder of an earlier run on the same worlds: take its agents' "
                         "daily rows (no simulation), to compare agents of several runs")
    ap.add_argument("--out", default="benchmarks/results/rl_headline")
    return ap.parse_args(argv)


def per_seed(daily, n_users: int):
    """[policy, seed] rows: retention on the last day, cumulative clicks per initial user."""
    import numpy as np

    d = daily.copy()
    d["clicks"] = np.nan_to_num(d["clicks_per_active_user"]) * d["active_users"]
    last = d["day"].max()
    g = d.groupby(["policy", "seed"])
    out = g["clicks"].sum().div(n_users).rename("cum_clicks_per_user").to_frame()
    out["retention_last"] = d[d["day"] == last].set_index(["policy", "seed"])["retention"]
    out["ctr_days_1_7"] = d[d["day"] <= 7].groupby(["policy", "seed"])["ctr"].mean()
    return out.reset_index()


def paired(table, metric: str, a: str, b: str) -> dict:
    import numpy as np
    from scipy import stats

    wa = table[table.policy == a].set_index("seed")[metric]
    wb = table[table.policy == b].set_index("seed")[metric]
    diff = (wa - wb).dropna().to_numpy()
    n = len(diff)
    mean = float(diff.mean())
    if n > 1 and diff.std(ddof=1) > 0:
        half = float(stats.t.ppf(0.975, n - 1) * diff.std(ddof=1) / np.sqrt(n))
        p = float(stats.ttest_rel(wa.loc[wb.index], wb).pvalue)
    else:
        half, p = 0.0, float("nan")
    return {"metric": metric, "a": a, "b": b, "n": n, "mean_diff": mean,
            "lo": mean - half, "hi": mean + half, "p_value": p,
            "excludes_zero": bool(mean - half > 0 or mean + half < 0)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import pandas as pd
    import torch

    from recsim_llm.agents.sb3 import TrainConfig, train
    from recsim_llm.config import ScenarioConfig, merge_config
    from recsim_llm.runner import simulate

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record: dict = {"args": vars(args), "load_start": os.getloadavg()}
    t0, c0 = time.perf_counter(), time.process_time()
    agents: list[str] = []
    if args.no_agent:
        pass
    elif args.agent is None:
        cfg = TrainConfig(algo=args.algo, action_mode=args.mode, scenario="synthetic",
                          timesteps=args.timesteps, population=args.train_users or args.users,
                          seed=args.seed, world_seed=args.world_seed,
                          horizon_days=args.train_days, encoder=args.encoder,
                          reward={"kind": args.reward, "return_bonus": args.return_bonus,
                                  "churn_penalty": args.churn_penalty, "gamma": args.gamma},
                          strategies=args.strategies, query_dim=args.query_dim,
                          hparams=json.loads(args.hparams))
        res = train(cfg, out / "agent", progress_bar=True)
        agents.append(f"sb3:{res.path}")
        record["train_seconds"] = res.seconds
        record["train_cpu_seconds"] = time.process_time() - c0
        record["train_stats"] = res.stats
        record["load_after_train"] = os.getloadavg()
        print(f"trained in {res.seconds:.0f} s ({record['train_cpu_seconds']:.0f} CPU s): "
              f"{res.stats}", flush=True)
    else:
        agents.append(f"sb3:{Path(args.agent)}")
    agents += [f"sb3:{p}" for p in args.extra_agent]
    earlier = []
    for run in args.from_runs:
        rows = pd.read_csv(Path(run) / "daily.csv")
        rows = rows[rows.policy.str.startswith("sb3:")]
        earlier.append(rows)
        agents += [p for p in dict.fromkeys(rows.policy) if p not in agents]
    scen = merge_config(ScenarioConfig(encoder=args.encoder, horizon_days=args.days),
                        {"population": {"n_users": args.users}})
    seeds = list(range(args.seed_start, args.seed_start + args.seeds))
    old = None
    reused = []
    for folder in args.reuse:
        prev = json.loads((Path(folder) / "headline.json").read_text())["args"]
        for key in ("users", "days", "encoder"):
            if prev[key] != getattr(args, key):
                raise SystemExit(f"--reuse {folder}: its {key} is {prev[key]!r}, this run's "
                                 f"{getattr(args, key)!r}")
        if prev.get("new_items_per_day", 0) != 0:
            raise SystemExit(f"--reuse {folder}: its worlds have new items every day "
                             f"({prev['new_items_per_day']}); this run's have none")
        rows = pd.read_csv(Path(folder) / "daily.csv")
        reused.append(rows[rows.policy.isin(args.baselines) & rows.seed.isin(seeds)])
    if reused:
        old = pd.concat(reused, ignore_index=True).drop_duplicates(["policy", "seed", "day"])
    # a baseline is reused only when every seed of this run has its rows
    have = set() if old is None else {
        p for p, g in old.groupby("policy") if set(g.seed) >= set(seeds)}
    if old is not None:
        old = old[old.policy.isin(have)]
    t1, c1 = time.perf_counter(), time.process_time()
    # The agent's network does not learn while replayed (SB3Policy.observe only feeds the
    # learning rankers of its strategy mode, e.g. mf); the baselines keep learning online as
    # they always do (mf and llm retrain on their logs).
    simulated_elsewhere = {p for rows in earlier for p in rows.policy}
    to_run = [*[a for a in agents if a not in simulated_elsewhere],
              *[b for b in args.baselines if b not in have]]
    parts = ([] if old is None else [old]) + earlier
    if to_run:
        parts.append(simulate(scen, to_run, seeds).daily)
    daily = pd.concat(parts, ignore_index=True)
    record["eval_seconds"] = time.perf_counter() - t1
    record["eval_cpu_seconds"] = time.process_time() - c1
    record["simulated"] = to_run
    daily.to_csv(out / "daily.csv", index=False)
    table = per_seed(daily, args.users)
    table.to_csv(out / "per_seed.csv", index=False)
    summary = table.groupby("policy")[["retention_last", "cum_clicks_per_user",
                                       "ctr_days_1_7"]].mean()
    print(summary.to_string(float_format=lambda v: f"{v:.4f}"))
    comps = []
    everyone = [*agents, *args.baselines]
    for a in [*agents, *[b for b in args.also_compare if b in args.baselines]]:
        for other in everyone:
            if other == a:
                continue
            for metric in ("retention_last", "cum_clicks_per_user"):
                c = paired(table, metric, a, other)
                comps.append(c)
                print(f"{metric:20s} {a[-40:]:>40s} - {other[-24:]:24s} {c['mean_diff']:+.4f} "
                      f"[{c['lo']:+.4f}, {c['hi']:+.4f}] n={c['n']} p={c['p_value']:.3g}")
    record.update(summary=summary.reset_index().to_dict("records"), comparisons=comps,
                  total_seconds=time.perf_counter() - t0,
                  total_cpu_seconds=time.process_time() - c0, load_end=os.getloadavg())
    (out / "headline.json").write_text(json.dumps(record, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
