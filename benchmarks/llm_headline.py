"""Headline of the LLM ranker in the loop: NDCG@10 against the simulator's ground truth, cold
start, the engagement trap and the long-horizon metrics, against ``llm:0``, ``mf``, ``bpr``,
``greedy`` and the value-aware ``llm:7,target=dwell``.

Runs every policy on the same worlds (one per seed: paired users and exogenous draws) through
:func:`recsim_llm.runner.run_policy`, with a read-only :class:`ColdStartProbe` attached to the
simulator. Per (policy, seed) it reports:

* ``ndcg_before`` / ``ndcg_after``: mean daily ``ndcg_at_k`` (the recorder's probe of up to 500
  users' first slate of the day against the simulator's true click utilities) over days 1..R /
  after R (R = 7, the first retraining);
* final ``retention``, ``cumulative_clicks_per_initial_user`` at the horizon, mean
  ``topic_entropy``, ``homogenization``, ``exposure_gini``, ``provider_exposure_gini`` and the
  provider-group exposure/merit ``disparity:<group>`` columns;
* ``trap_first_week`` / ``trap_last_week``: mean daily ``trap_exposure`` (share of impressions
  on high-appeal, low-value items) over days 1-7 / the last 7 days;
* cold start: ``new_item_impression_share`` / ``new_item_click_share`` (items in their first 3
  days after arrival, ``catalog.new_items_per_day``), and ``cold_auc`` / ``cold_spearman``:
  whether the policy's *scores* of those items carry knowledge (per-user AUC against the
  ground-truth relevance, Spearman against the click margin), next to ``warm_*`` over older
  items; for the policies whose scores can be read without their random stream (llm, mf, bpr);
* the ranker's measured serving/training costs.

Paired differences ``ref - other`` per seed are summarised with a t interval
(``scipy.stats.t``) over seeds. Usage (one process per seed, then render them together)::

    python benchmarks/llm_headline.py --users 300 --days 60 --seeds 0 \
        --policies llm llm:7,target=dwell mf bpr greedy --out results/seed0.json
    python benchmarks/llm_headline.py --render results/seed*.json [--ref llm]
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

from recsim_llm.config import ScenarioConfig, override
from recsim_llm.runner import run_policy
from recsim_llm.scenarios import build_world
from recsim_llm.text import make_encoder

FRESH_DAYS = 3
"""an item counts as new during its first FRESH_DAYS days after arrival"""

PROBE_USERS = 200
"""users (fixed per world) whose first request of each day the cold-start probe scores"""


def policy_scores(pol: Any, users: np.ndarray, a: int) -> np.ndarray | None:
    """[m, a] the policy's own scores of the available items, where it exposes them without
    drawing from its random stream (llm: the cached user and item vectors it served with; mf,
    bpr: U V^T + b). None for other policies (greedy's cold users draw random relevance)."""
    from recsim_llm.agents.collaborative import OnlineMFPolicy
    from recsim_llm.agents.llm import LLMRankerPolicy

    if isinstance(pol, LLMRankerPolicy):
        return None if pol.cache is None else pol.cache.scores(users, a)
    if isinstance(pol, OnlineMFPolicy):
        return pol.U[users] @ pol.V[:a].T + pol.b[:a]
    return None


def _row_ranks(x: np.ndarray) -> np.ndarray:
    return scipy.stats.rankdata(x, axis=1)


def auc_rows(scores: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """[m] ROC AUC of each row's scores against its binary relevance (NaN without both
    classes); ties count one half (average ranks, Mann-Whitney)."""
    n = rel.shape[1]
    npos = rel.sum(axis=1)
    r = _row_ranks(scores)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((r * rel).sum(axis=1) - npos * (npos + 1) / 2) / (npos * (n - npos))
    return np.where((npos > 0) & (npos < n), auc, np.nan)


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """[m] Spearman correlation of each row pair (NaN where a row is constant)."""
    rx, ry = _row_ranks(x), _row_ranks(y)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    den = np.sqrt((rx**2).sum(axis=1) * (ry**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(axis=1) / den, np.nan)


class ColdStartProbe:
    """Does a policy's score of a *new* item carry knowledge? Privileged benchmark code.

    At the first request of each day of ``PROBE_USERS`` fixed users it takes the policy's scores
    of the available items (:func:`policy_scores`, after the policy ranked) and the simulator's
    ground truth before that request (the click margin ``v_ui - no_click_utility`` of
    :mod:`recsim_llm.analysis.accuracy`: relevant = clicked w.p. > 1/2 if shown alone), and
    records, over the items in their first ``FRESH_DAYS`` days, the per-user AUC of the scores
    against relevance and their Spearman correlation with the margin; the same over the older
    items for reference, and (``unseen_*``) over the new items no policy slate has shown yet:
    what a score knows before any feedback on the item (an id-based model such as ``mf`` scores
    them with its random initial factors). It also counts impressions and clicks of new items
    (every request).
    """

    def __init__(self, world: Any, pol: Any) -> None:
        self.world, self.pol = world, pol
        rng = np.random.default_rng(np.random.SeedSequence(7, spawn_key=(world.n_users,)))
        self.in_sample = np.zeros(world.n_users, bool)
        self.in_sample[rng.choice(world.n_users, min(PROBE_USERS, world.n_users),
                                  replace=False)] = True
        self.seen = np.full(world.n_users, -1, np.int64)
        self.vals: dict[str, list[np.ndarray]] = {k: [] for k in (
            "cold_auc", "cold_spearman", "warm_auc", "warm_spearman", "unseen_auc",
            "unseen_spearman")}
        self.item_imp = np.zeros(world.n_items, np.int64)
        self.imp = self.new_imp = self.clicks = self.new_clicks = 0
        self.arrival = world.catalog.arrival_day

    def attach(self, sim: Any) -> None:
        sim.before_request.append(self.before_request)
        sim.on_request.append(self.on_request)

    def _fresh(self, day: int, items: np.ndarray) -> np.ndarray:
        arr = self.arrival[items]
        return (arr > 0) & (day - arr < FRESH_DAYS)

    def on_request(self, fb: Any) -> None:
        fresh = self._fresh(fb.day, fb.slates)                                 # [m, k]
        self.item_imp += np.bincount(fb.slates.ravel(), minlength=len(self.item_imp))
        self.imp += fb.slates.size
        self.new_imp += int(fresh.sum())
        c = fb.positions >= 0
        self.clicks += int(c.sum())
        self.new_clicks += int(fresh[np.flatnonzero(c), fb.positions[c]].sum())

    def before_request(self, sim: Any, users: np.ndarray, slates: np.ndarray) -> None:
        from recsim_llm.users import dynamics as dyn

        pick = self.in_sample[users] & (self.seen[users] != sim.day)
        if not pick.any():
            return
        u = users[pick]
        self.seen[u] = sim.day
        a = sim.n_available
        fresh = self._fresh(sim.day, np.arange(a))
        if fresh.sum() < 2:
            return
        s = policy_scores(self.pol, u, a)
        if s is None:
            return
        ch, st = sim.cfg.choice, sim.state
        aff, bor = dyn.all_item_terms(st.interest[u], st.interest_logw[u], st.dislike[u],
                                      st.fatigue[u], self.world.item_emb[:a], ch.lam_dislike,
                                      ch.beta_fatigue, ch.pool_temperature)
        v = dyn.click_utility(aff, bor, self.world.catalog.appeal[:a], st.hook[u][:, None],
                              ch.temperature)
        margin = v - ch.no_click_utility                                       # [p, a]
        unseen = fresh & (self.item_imp[:a] == 0)
        for name, cols in (("cold", fresh), ("warm", ~fresh), ("unseen", unseen)):
            if cols.sum() < 2:
                continue
            sc, mg = np.asarray(s)[:, cols].astype(np.float64), margin[:, cols]
            self.vals[f"{name}_auc"].append(auc_rows(sc, mg > 0))
            self.vals[f"{name}_spearman"].append(spearman_rows(sc, mg))

    def results(self) -> dict[str, float]:
        out: dict[str, float] = {
            "new_item_impression_share": self.new_imp / max(self.imp, 1),
            "new_item_click_share": self.new_clicks / max(self.clicks, 1)}
        for k, v in self.vals.items():
            x = np.concatenate(v) if v else np.zeros(0)
            ok = np.isfinite(x)
            out[k] = float(x[ok].mean()) if ok.any() else float("nan")
            out[f"{k}_n"] = int(ok.sum())
        return out


def unit(world: Any, spec: str, seed: int, retrain_every: int,
         daily_rows: list[pd.DataFrame] | None = None) -> dict[str, Any]:
    from recsim_llm.agents.registry import make_policy

    pol = make_policy(spec)
    probe = ColdStartProbe(world, pol)
    t0, c0 = time.perf_counter(), time.process_time()
    res = run_policy(world, pol, seed, attach=[probe.attach], label=spec)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    daily = pd.DataFrame(res.daily)
    if daily_rows is not None:
        daily_rows.append(daily.assign(policy=spec, seed=seed))
    after = daily["day"] > retrain_every
    last = daily["day"] > daily["day"].max() - 7
    row: dict[str, Any] = {
        "policy": spec, "seed": seed, "wall_s": wall, "cpu_s": cpu,
        "ndcg_before": float(daily.loc[~after, "ndcg_at_k"].mean()),
        "ndcg_after": float(daily.loc[after, "ndcg_at_k"].mean()),
        "retention_final": float(daily["retention"].iloc[-1]),
        "clicks_per_initial_user": float(daily["cumulative_clicks_per_initial_user"].iloc[-1]),
        "topic_entropy": float(daily["topic_entropy"].mean()),
        "homogenization": float(daily["homogenization"].mean()),
        "exposure_gini": float(daily["exposure_gini"].mean()),
        "provider_exposure_gini": float(daily["provider_exposure_gini"].mean()),
        "trap_first_week": float(daily.loc[daily["day"] <= 7, "trap_exposure"].mean()),
        "trap_last_week": float(daily.loc[last, "trap_exposure"].mean()),
        "trap_mean": float(daily["trap_exposure"].mean()),
        "ndcg_daily": daily["ndcg_at_k"].round(4).tolist(),
        "trap_daily": daily["trap_exposure"].round(4).tolist(),
    }
    for col in daily.columns:
        if col.startswith("disparity:"):
            row[col] = float(daily[col].mean())
    row.update(probe.results())
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


MEAN_COLS = ("ndcg_before", "ndcg_after", "retention_final", "clicks_per_initial_user",
             "topic_entropy", "homogenization", "provider_exposure_gini", "trap_first_week",
             "trap_last_week", "new_item_impression_share", "new_item_click_share", "cpu_s")
COLD_COLS = ("cold_auc", "warm_auc", "unseen_auc", "cold_spearman", "warm_spearman",
             "new_item_impression_share", "new_item_click_share")
PAIRED = ("ndcg_after", "retention_final", "clicks_per_initial_user", "topic_entropy",
          "homogenization", "provider_exposure_gini", "trap_first_week", "trap_last_week",
          "new_item_impression_share", "cold_auc", "unseen_auc")


def load_rows(paths: list[Path]) -> tuple[list[dict[str, Any]], list[str]]:
    rows: list[dict[str, Any]] = []
    order: list[str] = []
    for p in paths:
        data = json.loads(p.read_text())
        rows += data["rows"]
        for pol in data["args"]["policies"]:
            if pol not in order:
                order.append(pol)
    return rows, order


def _table(df: pd.DataFrame, order: list[str], cols: list[str]) -> list[str]:
    cols = [c for c in cols if c in df.columns]  # files from before a column existed lack it
    g = df.groupby("policy")[cols].mean()
    lines = ["| policy | seeds | " + " | ".join(cols) + " |", "|---" * (len(cols) + 2) + "|"]
    for pol in order:
        if pol not in g.index:
            continue
        n = int((df.policy == pol).sum())
        lines.append(f"| {pol} | {n} | " + " | ".join(f"{g.loc[pol, c]:.4g}" for c in cols)
                     + " |")
    return lines


def window_metric(rows: list[dict[str, Any]], first: int, last: int) -> str:
    """Add ``ndcg_days_<first>_<last>`` (mean daily NDCG@10 over days first..last, 1-based,
    inclusive) to every row whose run lasted that long; returns the column's name. A run's
    first D days do not depend on its horizon, so a short run of one policy pairs exactly with
    the first days of a long run of another on the same seed."""
    name = f"ndcg_days_{first}_{last}"
    for row in rows:
        daily = row.get("ndcg_daily", [])
        if len(daily) >= last:
            row[name] = float(np.mean(daily[first - 1:last]))
    return name


def render(paths: list[Path], ref: str | None = None,
           window: tuple[int, int] | None = None) -> str:
    """Markdown tables of results files (one per seed, or one for all): per-policy means over
    seeds, the cold-start probe, and paired differences ``ref - other`` with t intervals
    (with ``window``, also of the mean NDCG@10 over those days)."""
    rows, order = load_rows(paths)
    ref = ref or order[0]
    extra = [window_metric(rows, *window)] if window else []
    df = pd.DataFrame(rows)
    disp = sorted(c for c in df.columns if c.startswith("disparity:"))
    lines = _table(df, order, [*MEAN_COLS, *extra])
    lines += ["", *_table(df, order, [*disp, "exposure_gini"])]
    lines += ["", *_table(df, order, list(COLD_COLS))]
    lines += ["", f"| metric | vs | mean diff ({ref} - other) | 95% t-CI | seeds |",
              "|---|---|---|---|---|"]
    for metric in [*extra, *PAIRED, *disp]:
        if metric not in df.columns:
            continue
        for pol, d in paired(rows, ref, metric).items():
            lines.append(f"| {metric} | {pol} | {d['mean_diff']:.4g} | "
                         f"[{d['ci95_low']:.4g}, {d['ci95_high']:.4g}] | {d['n_seeds']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--render", type=Path, nargs="+", default=None,
                    help="print the markdown tables of existing results files and exit")
    ap.add_argument("--window", type=int, nargs=2, metavar=("FIRST", "LAST"), default=None,
                    help="with --render: also compare the mean NDCG@10 over days FIRST..LAST "
                         "(e.g. a 30-day llm:0 run against the first 30 days of 120-day runs)")
    ap.add_argument("--ref", default=None, help="reference policy of the paired differences "
                                                "(default: the first policy)")
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--new-items-per-day", type=int, default=2)
    ap.add_argument("--encoder", default="minilm")
    ap.add_argument("--policies", nargs="+",
                    default=["llm", "llm:7,target=dwell", "mf", "bpr", "greedy", "llm:0"])
    ap.add_argument("--retrain-every", type=int, default=7, help="R of the `llm` spec")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/llm_headline.json"))
    ap.add_argument("--daily-dir", type=Path, default=None,
                    help="also write every unit's daily rows to DIR/daily.csv (with DIR/"
                         "headline.json naming users, days, encoder), a folder that "
                         "rl_headline.py --reuse reads: one run serves both headlines")
    args = ap.parse_args()
    if args.render is not None:
        print(render(args.render, args.ref, tuple(args.window) if args.window else None))
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
    daily_rows: list[pd.DataFrame] = []
    for seed in args.seeds:
        world = build_world(cfg, seed, encoder=encoder)
        for spec in args.policies:
            row = unit(world, spec, seed, args.retrain_every, daily_rows)
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items()
                              if k not in ("ndcg_daily", "trap_daily")}), flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(result, indent=2))
            if args.daily_dir is not None:
                args.daily_dir.mkdir(parents=True, exist_ok=True)
                pd.concat(daily_rows, ignore_index=True).to_csv(args.daily_dir / "daily.csv",
                                                                index=False)
                (args.daily_dir / "headline.json").write_text(json.dumps({"args": {
                    "users": args.users, "days": args.days, "encoder": args.encoder,
                    "seeds": args.seeds, "new_items_per_day": args.new_items_per_day,
                    "policies": args.policies, "source": "benchmarks/llm_headline.py"}}))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
