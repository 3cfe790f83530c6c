"""Why `mf`'s trap exposure falls over the horizon: composition vs within-user, and how fast MF
learns the hooks (docs/results_synthetic.md, "The engagement trap under mf").

Runs each policy with the same loop as :func:`recsim_llm.runner.run_policy` (bind, serve,
observe, ``on_day_end``) and records, for every request, the trap impressions of every served
user, so that the trap share can be split by cohort:

* population share per day (what ``daily.csv``'s ``trap_exposure`` reports);
* the share among the **stayers**: users who have not churned by the last day (a fixed cohort);
* the share among the **leavers** (churned by the end);
* per request in days 0-3 (how fast the policy learns the hooks).

It also reports the mean hook susceptibility of users still active each week (does churn
select the less hook-prone?), and the Pearson correlation of ``h_u`` with each user's day-0-6
trap share.

    PYTHONPATH=. python benchmarks/mf_trap_diagnosis.py --users 300 --days 120 --seeds 0 1 2 \
        --policy mf --policy random --out results/mf_trap
    # extra config overrides as key=value (parsed as JSON when possible):
    ... --set dynamics.habit_rate=0.5
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from recsim_llm.agents.registry import resolve_policy
from recsim_llm.config import ScenarioConfig, override
from recsim_llm.platform import Platform
from recsim_llm.rng import RngStreams
from recsim_llm.scenarios import build_world
from recsim_llm.simulator import Feedback, Simulator


def run_one(cfg: ScenarioConfig, policy_spec: str, seed: int) -> dict[str, np.ndarray]:
    world = build_world(cfg, seed)
    n, horizon = world.n_users, cfg.horizon_days
    trap_imp = np.zeros((horizon, n))
    imp = np.zeros((horizon, n))
    clicks = np.zeros((horizon, n))
    trap_clicks = np.zeros((horizon, n))
    req_rows: list[tuple[int, int, float, int]] = []   # day, tick, trap share, served
    policy = resolve_policy(policy_spec)
    platform = Platform(world, seed)
    sim = platform.sim

    def on_request(fb: Feedback) -> None:
        trap = sim.trap_items()     # today's trap (the supply side moves it overnight)
        t = trap[fb.slates]                                   # [m, k]
        np.add.at(trap_imp[fb.day], fb.users, t.sum(axis=1))
        np.add.at(imp[fb.day], fb.users, t.shape[1])
        c = fb.items >= 0
        np.add.at(clicks[fb.day], fb.users[c], 1.0)
        np.add.at(trap_clicks[fb.day], fb.users[c], trap[fb.items[c]].astype(float))
        if fb.day <= 3:
            req_rows.append((fb.day, fb.tick, float(t.mean()), len(fb.users)))

    sim.on_request.append(on_request)

    def day_end(_sim: Simulator, _day: int) -> None:
        policy.on_day_end(platform.view(privileged=policy.privileged))

    sim.on_day_end.append(day_end)
    policy.bind(platform.context, RngStreams(seed).fresh(f"policy/{policy_spec}"))
    with threadpool_limits(limits=1, user_api="blas"):
        platform.reset()
        while not sim.done:
            _fb, logged = platform.serve(policy.act(platform.view(privileged=policy.privileged)))
            policy.observe(logged)
    return {"trap_imp": trap_imp, "imp": imp, "clicks": clicks, "trap_clicks": trap_clicks,
            "churned": sim.state.churned.copy(), "hook": np.asarray(world.hook, float),
            "requests": np.array(req_rows)}


def share(num: np.ndarray, den: np.ndarray, rows: np.ndarray, days: slice) -> float:
    d = den[days][:, rows].sum()
    return float(num[days][:, rows].sum() / d) if d else float("nan")


def summarise(r: dict[str, np.ndarray], horizon: int) -> dict[str, float]:
    stay = ~r["churned"]
    everyone = np.ones_like(stay)
    last = slice(horizon - 7, horizon)
    out: dict[str, float] = {"stayers": float(stay.mean())}
    for name, rows in (("pop", everyone), ("stay", stay), ("leave", ~stay)):
        for pname, days in (("d0", slice(0, 1)), ("d1_6", slice(1, 7)), ("d7_29", slice(7, 30)),
                            ("last7", last)):
            out[f"{name}_{pname}"] = share(r["trap_imp"], r["imp"], rows, days)
        out[f"{name}_click_trap_d0_6"] = share(r["trap_clicks"], r["clicks"], rows, slice(0, 7))
        out[f"{name}_click_trap_last7"] = share(r["trap_clicks"], r["clicks"], rows, last)
    h = r["hook"]
    active = r["imp"] > 0                                      # [days, n]
    for wk in (0, 4, 8, 12, 16):
        days = slice(7 * wk, min(7 * wk + 7, horizon))
        act = active[days].any(axis=0)
        out[f"hook_active_week{wk}"] = float(h[act].mean()) if act.any() else float("nan")
    out["hook_stayers"] = float(h[stay].mean())
    out["hook_leavers"] = float(h[~stay].mean()) if (~stay).any() else float("nan")
    # composition vs within-user, week by week: C_w = users served in week 0 and in week w
    n_days = r["imp"].shape[0]
    wk_imp = np.add.reduceat(r["imp"], np.arange(0, n_days, 7), axis=0)        # [weeks, n]
    wk_trap = np.add.reduceat(r["trap_imp"], np.arange(0, n_days, 7), axis=0)
    for wk in (1, 2, 4, 8, 12, 16):
        if wk >= len(wk_imp):
            continue
        cohort = (wk_imp[0] > 0) & (wk_imp[wk] > 0)
        out[f"w{wk}_cohort"] = float(cohort.mean())
        out[f"w{wk}_pop_share"] = float(wk_trap[wk].sum() / max(wk_imp[wk].sum(), 1))
        if cohort.any():
            s0 = wk_trap[0, cohort].sum() / wk_imp[0, cohort].sum()
            sw = wk_trap[wk, cohort].sum() / wk_imp[wk, cohort].sum()
            out[f"w{wk}_cohort_share_w0"] = float(s0)
            out[f"w{wk}_cohort_share_now"] = float(sw)
            out[f"w{wk}_within"] = float(sw - s0)
            out[f"w{wk}_selection"] = float(s0 - wk_trap[0].sum() / wk_imp[0].sum())
    first = r["imp"][:7].sum(axis=0)
    ok = first > 0
    out["corr_hook_trapshare_d0_6"] = float(np.corrcoef(
        h[ok], r["trap_imp"][:7].sum(axis=0)[ok] / first[ok])[0, 1])
    req = r["requests"]
    for day in range(4):
        sel = req[req[:, 0] == day]
        if len(sel):
            out[f"req_day{day}_first"] = float(sel[0, 2])
            out[f"req_day{day}_last"] = float(sel[-1, 2])
            out[f"req_day{day}_mean"] = float(np.average(sel[:, 2], weights=sel[:, 3]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--policy", action="append", default=None)
    ap.add_argument("--encoder", default="hashing:64")
    ap.add_argument("--set", action="append", default=[], help="config override key=value")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    over: dict[str, object] = {"encoder": a.encoder, "population.n_users": a.users,
                               "horizon_days": a.days}
    for kv in a.set:
        k, v = kv.split("=", 1)
        try:
            over[k] = json.loads(v)
        except json.JSONDecodeError:
            over[k] = v
    cfg = override(ScenarioConfig(), **over)
    rows = []
    for pol in a.policy or ["mf", "random"]:
        for seed in a.seeds:
            s = summarise(run_one(cfg, pol, seed), a.days)
            rows.append({"policy": pol, "seed": seed, **s})
            print(json.dumps(rows[-1]), flush=True)
    df = pd.DataFrame(rows)
    if a.out is not None:
        a.out.mkdir(parents=True, exist_ok=True)
        df.to_csv(a.out / "summary.csv", index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 100):
        print(df.groupby("policy").mean(numeric_only=True).T.round(3))


if __name__ == "__main__":
    main()
