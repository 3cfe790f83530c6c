"""Render benchmark JSON as the markdown tables used in ``docs/benchmarks.md``.

Usage::

    python benchmarks/report.py [benchmarks/results/population.json]

(The tables of the removed ``fast_step.py`` copy of the simulator step stay, as measured, in
``docs/benchmarks.md``; its JSON files are kept in ``benchmarks/results/``.)
"""

from __future__ import annotations

import argparse
import json


def population_table(data: dict) -> str:
    recs = data["results"]
    ratios = {(r["n_users"], r["dim"]): r for r in data.get("ratios", [])}
    configs = sorted({(r["n_users"], r["dim"]) for r in recs})
    lines = [
        "| n_users | dim | impl | user-steps/s (wall) | user-steps/s (per CPU-s) | steps/s "
        "| in-session | slowdown vs floor (wall / CPU) |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for n, d in configs:
        for impl in ("simulator", "platform", "env", "numpy_floor"):
            r = next((x for x in recs if (x["n_users"], x["dim"], x["impl"]) == (n, d, impl)),
                     None)
            if r is None:
                continue
            ratio = ratios.get((n, d), {})
            slow = ("-" if impl == "numpy_floor" else
                    f"{ratio.get(f'{impl}_slowdown_vs_floor', float('nan')):.2f} / "
                    f"{ratio.get(f'{impl}_slowdown_vs_floor_cpu', float('nan')):.2f}")
            lines.append(
                f"| {n:,} | {d} | {impl} | {r['user_steps_per_s']:,.0f} | "
                f"{r.get('user_steps_per_cpu_s', float('nan')):,.0f} | {r['steps_per_s']:,.1f} | "
                f"{r['in_session_fraction']:.3f} | {slow} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("population", nargs="?", default="benchmarks/results/population.json")
    args = ap.parse_args(argv)
    with open(args.population) as fh:
        data = json.load(fh)
    m = data["machine"]
    print(f"Measured {m['date']} on {m['cpu_count']} CPUs ({m['processor']}), numpy "
          f"{m['numpy']}, threads {m['thread_env']}, load average before/after "
          f"{data.get('load_average_before_after')}; command `{data['command']}`\n")
    print(population_table(data))
    print("\nGoals:", json.dumps(data.get("goals", {}), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
