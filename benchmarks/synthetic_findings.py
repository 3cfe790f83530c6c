"""Check the default synthetic scenario's long-horizon findings on a finished run.

Reads a results folder written by ``recsim-llm simulate`` (with at least the policies random,
greedy and mmr on several seeds) and prints, as Markdown, the numbers behind each claim of the
Core issue, each with a 95 % t-interval over seeds and a paired difference where two policies
are compared. It asserts nothing: it measures and reports.

Usage::

    python benchmarks/synthetic_findings.py results/synthetic > findings.md
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from recsim_llm.analysis.stats import mean_ci, paired_difference


def fmt(m: float, lo: float, hi: float) -> str:
    return f"{m:.3f} [{lo:.3f}, {hi:.3f}]"


def per_seed(daily: pd.DataFrame, policy: str, metric: str, days: tuple[int, int]) -> pd.Series:
    sub = daily[(daily.policy == policy) & daily.day.between(*days)]
    return sub.groupby("seed")[metric].mean()


def change(daily: pd.DataFrame, policy: str, metric: str, start: tuple[int, int],
           end: tuple[int, int]) -> pd.Series:
    """Per-seed change of a metric between two windows of days."""
    return per_seed(daily, policy, metric, end) - per_seed(daily, policy, metric, start)


def main(run_dir: Path) -> None:
    daily = pd.read_csv(run_dir / "daily.csv")
    policies = list(dict.fromkeys(daily.policy))
    last = int(daily.day.max())
    end = (last - 9, last)
    start = (1, 7)
    n_seeds = daily.seed.nunique()
    print(f"Run: `{run_dir}`, policies {policies}, {n_seeds} seeds, {last} days; intervals are "
          f"95 % t-intervals over seeds; 'paired' = per-seed difference on common random "
          f"numbers.\n")

    print("### Day-1 click-through rate\n")
    print("| policy | CTR on day 1 |\n|---|---|")
    for p in policies:
        print(f"| {p} | {fmt(*mean_ci(per_seed(daily, p, 'ctr', (1, 1))))} |")
    if {"greedy", "random"} <= set(policies):
        d = paired_difference(daily, "ctr", "greedy", "random", day=1)
        print(f"\nPaired greedy - random on day 1: {fmt(d['mean'], d['lo'], d['hi'])}\n")

    for metric, label in (("topic_entropy", "Exposure topic entropy (bits)"),
                          ("homogenization", "Homogenization (Jaccard, Chaney et al.)"),
                          ("interest_homogenization", "Interest homogenization (mean cosine)"),
                          ("consumed_topic_entropy", "Consumed topic entropy (bits)")):
        print(f"### {label}: days {start[0]}-{start[1]} vs days {end[0]}-{end[1]}\n")
        print("| policy | first week | last 10 days | change | relative change |\n"
              "|---|---|---|---|---|")
        for p in policies:
            a = per_seed(daily, p, metric, start)
            b = per_seed(daily, p, metric, end)
            c = b - a
            rel = c / a.abs()
            print(f"| {p} | {fmt(*mean_ci(a))} | {fmt(*mean_ci(b))} | {fmt(*mean_ci(c))} | "
                  f"{fmt(*mean_ci(rel))} |")
        if {"greedy", "mmr", "random"} <= set(policies):
            cg = change(daily, "greedy", metric, start, end)
            for other in ("mmr", "random"):
                diff = cg - change(daily, other, metric, start, end)
                print(f"\nPaired change(greedy) - change({other}): {fmt(*mean_ci(diff))}")
        print()

    print("### Speed of the topic-entropy decline\n")
    print("Days until the exposure topic entropy first falls below half its day-1 value "
          "(horizon + 1 if never):\n")
    print("| policy | days to half |\n|---|---|")
    for p in policies:
        halves = []
        for _, g in daily[daily.policy == p].groupby("seed"):
            g = g.sort_values("day")
            below = g[g.topic_entropy < 0.5 * g.topic_entropy.iloc[0]]
            halves.append(int(below.day.iloc[0]) if len(below) else last + 1)
        print(f"| {p} | {fmt(*mean_ci(pd.Series(halves, dtype=float)))} |")
    print()

    print(f"### Retention on day {last}\n")
    print("| policy | retention |\n|---|---|")
    for p in policies:
        print(f"| {p} | {fmt(*mean_ci(per_seed(daily, p, 'retention', (last, last))))} |")
    for other in [p for p in policies if p != "greedy"]:
        if "greedy" in policies:
            d = paired_difference(daily, "retention", other, "greedy", day=last)
            print(f"\nPaired {other} - greedy on day {last}: {fmt(d['mean'], d['lo'], d['hi'])}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "results/synthetic"))
