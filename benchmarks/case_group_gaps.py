"""Case study: gender and age-group gaps in utility and retention on MovieLens 100K, per policy.

Reads the ``groups.csv`` of an ML-100K run folder (by default the package-default-constants run of
``benchmarks/case_feedback_loop.py --default-choice``, where users can churn; it runs that study
first if the folder has no results).
ML-100K users carry the public labels ``gender`` (F, M) and ``age`` (``<25``, ``25-34``,
``35-44``, ``45+``, from ``u.user``); the simulated users differ *only* by their persona texts
(written from their own MovieLens ratings), so any gap between groups comes from how well each
policy serves the tastes those groups wrote down, never from a group-specific rule.

For each policy and metric -- ``mean_satisfaction`` (realised utility of active users), ``ctr``
(clicks per slate) and ``retention`` (share of the group not churned) -- the gap is taken per
seed and day with :func:`recsim_llm.analysis.stats.group_gap`:

* gender: ``F - M``;
* age: each band minus the rest of the users (weighted as the population).

Each gap is averaged over a window of days per seed (all days, and the last 10), then over seeds
with a 95 % t-interval. ``vs random`` is the paired per-seed difference ``gap(policy) -
gap(random)``: whether personalising widens (> 0 in the direction of the gap) or closes it
compared with serving everybody the same random slates.

Usage::

    python benchmarks/case_group_gaps.py --run results/case_ml100k_default \\
        --img docs/img/group_gaps_ml100k.png
    python benchmarks/case_group_gaps.py --run results/case_ml100k_calibrated --img /tmp/g.png
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from recsim_llm.analysis import stats as S  # noqa: E402
from recsim_llm.analysis.plots import policy_colors  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from case_feedback_loop import POLICIES, ROOT, _shown, fmt, run_study  # noqa: E402

METRICS = ("mean_satisfaction", "ctr", "retention")
AGE_BANDS = ("<25", "25-34", "35-44", "45+")
BASELINE = "random"
LAST_N = 10


def gap_frame(groups: pd.DataFrame) -> pd.DataFrame:
    """Long table of gaps per (comparison, metric, policy, seed, day).

    Comparisons: ``gender F-M`` and ``age <band>-rest`` for each band present.
    """
    parts = []
    comparisons = [("gender", "F", "M", "gender F-M")]
    bands = set(groups.loc[groups["group_key"] == "age", "group"].astype(str))
    comparisons += [("age", b, None, f"age {b} - rest") for b in AGE_BANDS if b in bands]
    for key, focus, versus, label in comparisons:
        for metric in METRICS:
            g = S.group_gap(groups, key, metric, focus=focus, versus=versus)
            parts.append(g.assign(comparison=label, metric=metric))
    return pd.concat(parts, ignore_index=True)


def window_values(gaps: pd.DataFrame, window: tuple[int, int]) -> pd.DataFrame:
    """Per (comparison, metric, policy, seed): the gap averaged over the days of ``window``."""
    sub = gaps[gaps["day"].between(*window)]
    return sub.groupby(["comparison", "metric", "policy", "seed"], sort=False)["gap"].mean(
        ).rename("value").reset_index()


def table(gaps: pd.DataFrame, policies: Sequence[str], window: tuple[int, int]) -> str:
    """Markdown: the gap averaged over ``window`` (rows: comparison x metric, columns:
    policies), then the paired difference of each policy's gap to random's."""
    vals = window_values(gaps, window)
    rows = [(c, m) for c in pd.unique(gaps["comparison"]) for m in METRICS]
    others = [p for p in policies if p != BASELINE]
    out = [f"**Gap, days {window[0]}-{window[1]}**", "",
           "| comparison | metric | " + " | ".join(policies) + " |",
           "|---|---" + "|---" * len(policies) + "|"]
    paired = [f"**Gap minus random's gap, paired by seed, days {window[0]}-{window[1]}**", "",
              "| comparison | metric | " + " | ".join(others) + " |",
              "|---|---" + "|---" * len(others) + "|"]
    for comp, metric in rows:
        sel = vals[(vals["comparison"] == comp) & (vals["metric"] == metric)].set_index(
            ["policy", "seed"])["value"]
        cells = [fmt(*S.mean_ci(sel.loc[p])) if p in sel.index.get_level_values(0) else "—"
                 for p in policies]
        out.append(f"| {comp} | {metric} | " + " | ".join(cells) + " |")
        if BASELINE in sel.index.get_level_values(0):
            diffs = [fmt(*S.mean_ci((sel.loc[p] - sel.loc[BASELINE]).dropna()))
                     for p in others]
            paired.append(f"| {comp} | {metric} | " + " | ".join(diffs) + " |")
    return "\n".join([*out, "", *paired])


def group_sizes(groups: pd.DataFrame) -> str:
    first = groups[(groups["day"] == 1) & (groups["policy"] == groups["policy"].iloc[0])
                   & (groups["seed"] == groups["seed"].iloc[0])]
    sub = first[first["group_key"].isin(["gender", "age"])]
    return ", ".join(f"{k} {g}: {int(n)}" for k, g, n in
                     sub[["group_key", "group", "users"]].itertuples(index=False))


def figure(gaps: pd.DataFrame, policies: Sequence[str], last_day: int, n_seeds: int) -> Figure:
    """Row 1: F - M gap over days (band = 95 % t-interval over seeds). Row 2: each age band
    minus the rest averaged over all days, bars with 95 % intervals."""
    colors = policy_colors(list(policies))
    fig = Figure(figsize=(12, 7.0), layout="constrained")
    axes = fig.subplots(2, len(METRICS))
    for j, metric in enumerate(METRICS):
        ax = axes[0, j]
        g = gaps[(gaps["comparison"] == "gender F-M") & (gaps["metric"] == metric)]
        curve = S.curve_with_ci(g, "gap")
        for p in policies:
            c = curve[curve["policy"] == p]
            x = c["day"].to_numpy()
            ax.plot(x, c["mean"], color=colors[p], lw=1.5, label=p)
            lo, hi = c["lo"].to_numpy(np.float64), c["hi"].to_numpy(np.float64)
            ok = ~(np.isnan(lo) | np.isnan(hi))
            ax.fill_between(x, lo, hi, where=ok, color=colors[p], alpha=0.18, lw=0)
        ax.axhline(0, color="0.35", lw=0.8, ls="--")
        ax.set_title(f"{S.metric_info(metric).label}: F − M", fontsize="medium")
        ax.set_xlabel("Day")
        ax.grid(alpha=0.3, lw=0.5)

        ax = axes[1, j]
        vals = window_values(gaps[gaps["metric"] == metric], (1, last_day))
        comps = [c for c in pd.unique(vals["comparison"]) if c.startswith("age")]
        width = 0.8 / len(policies)
        for i, p in enumerate(policies):
            stats = [S.mean_ci(vals.loc[(vals["comparison"] == c) & (vals["policy"] == p),
                                        "value"]) for c in comps]
            m = np.array([s[0] for s in stats])
            err = np.array([[s[0] - s[1], s[2] - s[0]] for s in stats]).T
            ax.bar(np.arange(len(comps)) + (i - (len(policies) - 1) / 2) * width, m, width,
                   yerr=np.nan_to_num(err), color=colors[p], label=p, capsize=2,
                   error_kw={"lw": 0.8})
        ax.axhline(0, color="0.35", lw=0.8)
        ax.set_xticks(np.arange(len(comps)), [c.replace("age ", "") for c in comps],
                      fontsize="small")
        ax.set_title(f"{S.metric_info(metric).label}: age band − rest, days 1-{last_day}",
                     fontsize="medium")
        ax.grid(alpha=0.3, lw=0.5, axis="y")
    handles = axes[0, 0].get_lines()[: len(policies)]
    fig.legend(handles, [h.get_label() for h in handles], loc="outside lower center",
               ncols=len(policies), frameon=False)
    fig.suptitle(f"Group gaps on MovieLens 100K ({n_seeds} seeds, 95% t-intervals)",
                 fontsize="medium")
    return fig


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", type=Path, default=ROOT / "results" / "case_ml100k_default",
                    help="ML-100K run folder (runs case_feedback_loop's study there if empty)")
    ap.add_argument("--days", type=int, default=90, help="horizon if the study must run")
    ap.add_argument("--seeds", type=int, default=5, help="seeds if the study must run")
    ap.add_argument("--img", type=Path, default=ROOT / "docs" / "img" / "group_gaps_ml100k.png")
    args = ap.parse_args(argv)
    if not (args.run / "groups.csv").is_file():
        run_study(args.run, args.days, range(args.seeds), None, "minilm")
    groups = pd.read_csv(args.run / "groups.csv")
    if set(groups["scenario"]) != {"ml-100k"}:
        raise SystemExit(f"{args.run} is not an ml-100k run")
    policies = [p for p in POLICIES if p in set(groups["policy"])]
    policies += [p for p in pd.unique(groups["policy"]) if p not in policies]
    gaps = gap_frame(groups)
    last_day = int(groups["day"].max())
    n_seeds = int(groups["seed"].nunique())
    print(f"Run `{_shown(args.run)}`: {len(policies)} policies x {n_seeds} seeds x "
          f"{last_day} days; groups on day 1: {group_sizes(groups)}. "
          "Mean over seeds [95% t-interval].\n")
    print(table(gaps, policies, (1, last_day)))
    print()
    print(table(gaps, policies, (max(1, last_day - LAST_N + 1), last_day)))
    if args.img is not None:
        args.img.parent.mkdir(parents=True, exist_ok=True)
        figure(gaps, policies, last_day, n_seeds).savefig(args.img, dpi=90)


if __name__ == "__main__":
    main()
