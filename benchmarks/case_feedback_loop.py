"""Case study: feedback loops on MovieLens 100K -- homogenization and popularity amplification.

Five policies run on the ML-100K scenario (943 users with personas written from their own rating
histories, 1,682 films, MiniLM text embeddings) with paired seeds (``recsim_llm.runner.simulate``):

* ``popular`` -- most-clicked items so far (retrained on its own clicks every request),
* ``greedy``  -- content-based, the user's clicked-item profile against item texts,
* ``mf``      -- online matrix factorisation on item ids, trained on its own impressions,
* ``random``  -- uniform slates (no loop at all),
* ``oracle``  -- the ideal recommender: ranks by each user's true current utility.

Every learning policy is retrained on the feedback its own slates produced, every request, so a
simulated day is one iteration of the loop. Per day, with 95 % t-intervals over seeds:

* **homogenization** -- the recorder's ``homogenization`` column: the mean Jaccard index of the
  last 10 clicked items of each sampled user and of the user most similar to them by persona
  interest (Chaney, Stewart & Engelhardt 2018); its paired difference to the oracle is what
  Chaney et al. plot (homogenization relative to the ideal recommender).
* **popularity bias amplification** -- with ``T`` the top 10 % of films by MovieLens ratings
  count (``catalog.extra["n_ratings"]``, 169 films holding 42.9 % of the 100,000 ratings)::

      amplification_imp(t)   = (impressions of T on day t / all impressions on day t) / share_T
      amplification_click(t) = (clicks on T on day t / all clicks on day t) / share_T

  where ``share_T`` is T's share of the MovieLens ratings. 1 = the policy concentrates on the
  historically popular films exactly as much as the MovieLens users did; > 1 amplifies that
  popularity bias, < 1 dampens it. Counted from the request-level trajectories.
* **exposure Gini** -- the recorder's ``exposure_gini`` (Gini of the day's impressions over the
  catalog), next to the Gini of the MovieLens ratings counts (0.629) as the historical reference.

Two runs are reported in ``docs/case_studies.md``: the calibrated choice constants
(``docs/configs/ml-100k-calibrated.toml``, the default here: no churn, so the loop runs on a fixed
population as in Chaney et al.) and the package defaults (``--default-choice``: users churn).
Usage (each writes its run folder and figure, and prints Markdown tables)::

    OMP_NUM_THREADS=1 python benchmarks/case_feedback_loop.py          # calibrated, 4 x 60 d
    python benchmarks/case_feedback_loop.py --default-choice --days 90 --seeds 5 \
        --out results/case_ml100k_default --img docs/img/feedback_loop_default.png
    python benchmarks/case_feedback_loop.py --analyse-only             # tables of a finished run

Rerunning with the same ``--out`` resumes / reuses the finished simulations (the runner's
results folder is resumable). ``benchmarks/case_group_gaps.py`` reads the same folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # a shared 2-core box: one thread each, set before numpy

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from recsim_llm.analysis import metrics as M  # noqa: E402
from recsim_llm.analysis import stats as S  # noqa: E402
from recsim_llm.analysis.plots import policy_colors  # noqa: E402
from recsim_llm.analysis.trajectory import load_trajectory  # noqa: E402
from recsim_llm.config import ScenarioConfig  # noqa: E402
from recsim_llm.runner import simulate, unit_name  # noqa: E402

POLICIES = ("popular", "greedy", "mf", "random", "oracle")
"""the compared policies; ``oracle`` is the ideal recommender of the relative measures"""
IDEAL = "oracle"
TOP_SHARE = 0.10
"""the "popular" films are the top 10 % by MovieLens ratings count"""
EARLY = (1, 7)
"""first week: the loop's starting point"""
LAST_N = 10
"""final window: the last 10 days"""
ROOT = Path(__file__).resolve().parents[1]
CALIBRATED = ROOT / "docs" / "configs" / "ml-100k-calibrated.toml"
"""the choice constants fitted on ML-100K (docs/validation.md), as a run configuration"""


def scenario_config(config: Path | None, days: int, encoder: str) -> ScenarioConfig:
    """ML-100K config: defaults, then the ``[scenario]`` table of a TOML file, then ``days``.

    Args:
        config: an optional run configuration as ``recsim-llm simulate --config`` reads it.
        days: horizon.
        encoder: text encoder spec (``minilm`` for the study, ``hashing:D`` for a smoke run).
    """
    data = ScenarioConfig(name="ml-100k").to_dict()
    if config is not None:
        import tomllib  # Python >= 3.11, as the CLI's --config

        table = tomllib.loads(config.read_text()).get("scenario", {})
        for key, value in table.items():
            if isinstance(value, dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
    data.update(horizon_days=days, encoder=encoder)
    if data["name"] != "ml-100k":
        raise ValueError(f"this study runs on ml-100k, the config names {data['name']!r}")
    return ScenarioConfig.from_dict(data)


def training_popularity() -> tuple[np.ndarray, np.ndarray, float]:
    """(ratings count per film, mask of the top-10 % films, their share of all ratings)."""
    from recsim_llm.catalog.movielens import load_movielens

    counts = np.asarray(load_movielens(None, variant="100k").catalog.extra["n_ratings"],
                        np.float64)
    n_top = int(np.ceil(TOP_SHARE * len(counts)))
    top = np.zeros(len(counts), bool)
    top[np.argsort(-counts, kind="stable")[:n_top]] = True
    return counts, top, float(counts[top].sum() / counts.sum())


def popularity_rows(run_dir: Path, policies: Sequence[str], seeds: Sequence[int],
                    top: np.ndarray, share_top: float) -> pd.DataFrame:
    """Per (policy, seed, day): shares of impressions and clicks on the top films, and the
    amplification ratios, from the request-level trajectories of a run folder."""
    rows = []
    for policy in policies:
        for seed in seeds:
            tr = load_trajectory(run_dir / "trajectories" / f"{unit_name(policy, seed)}.npz")
            a = tr.arrays
            lengths = np.diff(a["req_offsets"])
            day = np.repeat(a["req_day"].astype(np.int64), lengths)        # [rows]
            slates = a["req_slates"].astype(np.int64)                      # [rows, k]
            pos = a["req_positions"].astype(np.int64)                      # [rows], -1 = none
            n_days = int(day.max()) + 1 if day.size else 0
            imp_all = np.bincount(day, weights=np.full(day.size, slates.shape[1]),
                                  minlength=n_days)
            imp_top = np.bincount(day, weights=top[slates].sum(axis=1), minlength=n_days)
            hit = pos >= 0
            item = slates[np.flatnonzero(hit), pos[hit]]
            clk_all = np.bincount(day[hit], minlength=n_days).astype(np.float64)
            clk_top = np.bincount(day[hit], weights=top[item], minlength=n_days)
            with np.errstate(invalid="ignore", divide="ignore"):
                s_imp = imp_top / imp_all
                s_clk = np.where(clk_all > 0, clk_top / clk_all, np.nan)
            rows.append(pd.DataFrame({
                "scenario": "ml-100k", "policy": policy, "seed": seed,
                "day": np.arange(1, n_days + 1), "top_impression_share": s_imp,
                "top_click_share": s_clk, "amplification_impressions": s_imp / share_top,
                "amplification_clicks": s_clk / share_top}))
    return pd.concat(rows, ignore_index=True)


def relative_to_ideal(daily: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per (policy, seed, day): ``metric`` minus the ideal recommender's on the same seed/day."""
    ideal = daily[daily["policy"] == IDEAL].set_index(["seed", "day"])[metric]
    out = daily[["scenario", "policy", "seed", "day"]].copy()
    out[f"{metric}_vs_ideal"] = (daily.set_index(["seed", "day"])[metric]
                                 - ideal.reindex(daily.set_index(["seed", "day"]).index)
                                 ).to_numpy()
    return out


def fmt(mean: float, lo: float, hi: float, digits: int = 3) -> str:
    if np.isnan(lo):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


TABLE_METRICS = (
    ("homogenization", "homog."), ("homogenization_vs_ideal", "homog. − oracle"),
    ("amplification_impressions", "amp. impressions"), ("amplification_clicks", "amp. clicks"),
    ("exposure_gini", "exposure Gini"), ("ctr", "CTR"), ("retention", "retention"))
"""(column, header) of the printed tables"""
CHANGE_METRICS = 5
"""the first five are also shown as a change between the windows"""


def window_tables(table: pd.DataFrame, policies: Sequence[str], last_day: int) -> str:
    """Markdown: per policy, each metric averaged over the first week and over the last 10 days,
    then the change between the two; each cell is the mean over seeds with a 95 % t-interval
    (the change is taken per seed, then averaged)."""
    last = (max(1, last_day - LAST_N + 1), last_day)

    def per_seed(p: str, window: tuple[int, int], metric: str) -> pd.Series:
        sub = table[(table["policy"] == p) & table["day"].between(*window)]
        return sub.groupby("seed")[metric].mean()

    out = []
    for name, window in ((f"Days {EARLY[0]}-{EARLY[1]}", EARLY),
                         (f"Days {last[0]}-{last[1]}", last)):
        out += [f"**{name}**", "", "| policy | " + " | ".join(h for _, h in TABLE_METRICS)
                + " |", "|---" * (len(TABLE_METRICS) + 1) + "|"]
        out += [f"| {p} | " + " | ".join(fmt(*S.mean_ci(per_seed(p, window, m)))
                                         for m, _ in TABLE_METRICS) + " |" for p in policies]
        out.append("")
    shown = TABLE_METRICS[:CHANGE_METRICS]
    out += [f"**Change, days {last[0]}-{last[1]} minus days {EARLY[0]}-{EARLY[1]} (per seed)**",
            "", "| policy | " + " | ".join(h for _, h in shown) + " |",
            "|---" * (len(shown) + 1) + "|"]
    out += [f"| {p} | " + " | ".join(
        fmt(*S.mean_ci((per_seed(p, last, m) - per_seed(p, EARLY, m)).dropna()))
        for m, _ in shown) + " |" for p in policies]
    return "\n".join(out)


def figure(curves: dict[str, pd.DataFrame], policies: Sequence[str], ref_gini: float,
           title: str) -> Figure:
    """Six panels, one line per policy with its 95 % band across seeds."""
    colors = policy_colors(list(policies))
    fig = Figure(figsize=(13.5, 7.4), layout="constrained")
    axes = fig.subplots(2, 3).ravel()
    panels = [
        ("homogenization", "Homogenization\n(Jaccard of neighbours' last 10 clicks)"),
        ("homogenization_vs_ideal", "Homogenization minus the ideal's\n"
                                    "(policy − oracle, paired by seed)"),
        ("retention", "Retention\n(share of users not churned: who is still measured)"),
        ("amplification_impressions", "Popularity amplification, impressions\n"
                                      "(top-10% share / MovieLens share)"),
        ("amplification_clicks", "Popularity amplification, clicks\n"
                                 "(top-10% share / MovieLens share)"),
        ("exposure_gini", "Exposure Gini of the day's impressions"),
    ]
    for ax, (metric, label) in zip(axes, panels, strict=True):
        c = curves[metric]
        for p in policies:
            cp = c[c["policy"] == p]
            x = cp["day"].to_numpy()
            ax.plot(x, cp["mean"], color=colors[p], lw=1.5, label=p)
            lo, hi = cp["lo"].to_numpy(np.float64), cp["hi"].to_numpy(np.float64)
            ok = ~(np.isnan(lo) | np.isnan(hi))
            ax.fill_between(x, lo, hi, where=ok, color=colors[p], alpha=0.18, lw=0)
        if metric.startswith("amplification"):
            ax.axhline(1.0, color="0.35", lw=0.8, ls="--")
        if metric == "retention":
            ax.set_ylim(0.0, 1.05)
        if metric == "homogenization_vs_ideal":
            ax.axhline(0.0, color="0.35", lw=0.8, ls="--")
        if metric == "exposure_gini":
            ax.axhline(ref_gini, color="0.35", lw=0.8, ls="--")
            ax.text(1, ref_gini, " Gini of MovieLens ratings counts", va="bottom",
                    fontsize="x-small", color="0.35")
        ax.set_title(label, fontsize="medium")
        ax.set_xlabel("Day (= retraining iteration)")
        ax.grid(alpha=0.3, lw=0.5)
    handles = axes[0].get_lines()[: len(policies)]
    fig.legend(handles, [h.get_label() for h in handles], loc="outside lower center",
               ncols=len(policies), frameon=False)
    fig.suptitle(title, fontsize="medium")
    return fig


def run_study(out: Path, days: int, seeds: Sequence[int], config: Path | None,
              encoder: str, policies: Sequence[str] = POLICIES) -> float:
    """Run (or resume) the simulations into ``out``; returns the wall time in seconds."""
    cfg = scenario_config(config, days, encoder)
    t0 = time.perf_counter()

    def progress(policy: str, seed: int, day: int) -> None:
        if day + 1 == cfg.horizon_days:
            print(f"  {policy} seed {seed}: {cfg.horizon_days} days done, "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)

    simulate(cfg, list(policies), list(seeds), out, log_level="request", progress=progress)
    return time.perf_counter() - t0


def _shown(path: Path) -> str:
    """``path`` relative to the repository when inside it (for printed tables)."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def analyse(out: Path, img: Path | None) -> str:
    """Tables (Markdown) and figure of a finished run folder."""
    daily = pd.read_csv(out / "daily.csv")
    policies = [p for p in POLICIES if p in set(daily["policy"])]
    seeds = sorted(int(s) for s in daily["seed"].unique())
    counts, top, share_top = training_popularity()
    pop = popularity_rows(out, policies, seeds, top, share_top)
    table = daily.merge(pop, on=["scenario", "policy", "seed", "day"], how="left")
    table = table.merge(relative_to_ideal(daily, "homogenization"),
                        on=["scenario", "policy", "seed", "day"])
    last_day = int(table["day"].max())
    metrics = ["homogenization", "amplification_impressions", "amplification_clicks",
               "exposure_gini"]
    curves = {m: S.curve_with_ci(table, m)
              for m in [*metrics, "homogenization_vs_ideal", "retention"]}
    ref_gini = M.gini(counts)
    n_seeds = len(seeds)
    if img is not None:
        ch = json.loads((out / "manifest.json").read_text())["config"]["choice"]
        title = (f"Feedback loops on MovieLens 100K: {n_seeds} seeds, 95% t-interval bands; "
                 f"choice: temperature {ch['temperature']:g}, no_click_utility "
                 f"{ch['no_click_utility']:g}, lam_dislike {ch['lam_dislike']:g}, "
                 f"w_quality {ch['w_quality']:g}")
        fig = figure(curves, policies, ref_gini, title)
        img.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(img, dpi=90)
    parts = [
        f"Run `{_shown(out)}`: {len(policies)} policies x {n_seeds} seeds x {last_day} days; "
        f"top-10% films: {int(top.sum())} holding {share_top:.3f} of MovieLens ratings; "
        f"Gini of MovieLens ratings counts {ref_gini:.3f}. Mean over seeds [95% t-interval].",
        "",
        window_tables(table, policies, last_day),
    ]
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "case_ml100k_calibrated")
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--config", type=Path, default=CALIBRATED,
                    help="TOML run configuration ([scenario] table); default the calibrated "
                         "ML-100K constants")
    ap.add_argument("--default-choice", action="store_true",
                    help="ignore --config: the package's default constants")
    ap.add_argument("--encoder", default="minilm")
    ap.add_argument("--img", type=Path, default=ROOT / "docs" / "img" / "feedback_loop.png")
    ap.add_argument("--analyse-only", action="store_true",
                    help="only read an existing run folder")
    args = ap.parse_args(argv)
    if not args.analyse_only:
        config = None if args.default_choice else args.config
        secs = run_study(args.out, args.days, range(args.seeds), config, args.encoder)
        print(f"simulation wall time: {secs:.0f} s", file=sys.stderr)
    print(analyse(args.out, args.img))


if __name__ == "__main__":
    main()
