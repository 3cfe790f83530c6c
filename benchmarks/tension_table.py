"""The appeal/value tension of a run folder's daily table.

CTR over days 1-7, final retention, cumulative clicks per initial user, trap exposure by
period, and the paired differences value oracle - click oracle (t-intervals over seeds,
``scipy.stats.ttest_1samp``)::

    python benchmarks/tension_table.py results/synthetic/daily.csv
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import pandas as pd
from scipy import stats

Stat = Callable[[pd.DataFrame], float]


def main(path: str) -> None:
    d = pd.read_csv(path)
    horizon = int(d.day.max())

    def per_seed(policy: str, f: Stat) -> pd.Series:
        return d[d.policy == policy].groupby("seed").apply(f)

    def ctr17(g: pd.DataFrame) -> float:
        return float(g[g.day <= 7].ctr.mean())

    def retention(g: pd.DataFrame) -> float:
        return float(g[g.day == horizon].retention.iloc[0])

    def clicks(g: pd.DataFrame) -> float:
        return float(g[g.day == horizon].cumulative_clicks_per_initial_user.iloc[0])

    def trap(a: int, b: int) -> Stat:
        return lambda g: float(g[(g.day >= a) & (g.day <= b)].trap_exposure.mean())

    periods = ((1, 1), (2, 7), (8, 30), (horizon - 6, horizon))
    print(f"| policy | CTR days 1-7 | retention day {horizon} | cum. clicks / initial user | "
          "trap exp. day 1 | days 2-7 | days 8-30 | last 7 days |")
    print("|---|---|---|---|---|---|---|---|")
    for pol in dict.fromkeys(d.policy):
        traps = " | ".join(f"{per_seed(pol, trap(a, b)).mean():.3f}" for a, b in periods)
        print(f"| {pol} | {per_seed(pol, ctr17).mean():.3f} | "
              f"{per_seed(pol, retention).mean():.3f} | {per_seed(pol, clicks).mean():.1f} | "
              f"{traps} |")

    def paired(x: pd.Series, name: str) -> None:
        ci = stats.ttest_1samp(x.values, 0).confidence_interval(0.95)
        seeds = ", ".join(f"{v:+.3f}" for v in x.values)
        print(f"- {name}: {x.mean():+.3f} [{ci.low:+.3f}, {ci.high:+.3f}]; per seed {seeds}")

    for f, name in ((ctr17, "CTR days 1-7"), (retention, f"retention day {horizon}"),
                    (clicks, "cumulative clicks per initial user")):
        paired(per_seed("oracle:value", f) - per_seed("oracle:click", f),
               f"{name} oracle:value - oracle:click")
    if "mf" in set(d.policy):
        paired(per_seed("mf", trap(horizon - 6, horizon)) - per_seed("mf", trap(1, 1)),
               "mf trap exposure, last 7 days minus day 1")


if __name__ == "__main__":
    main(sys.argv[1])
