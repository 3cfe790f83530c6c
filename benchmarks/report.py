"""Render benchmark JSON as the markdown tables used in ``docs/benchmarks.md``.

Usage::

    python benchmarks/report.py [benchmarks/results/population.json] [--fast-step FILE ...]
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
        for impl in ("simulator", "env", "numpy_floor"):
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


def fast_step_table(data: dict) -> str:
    lines = ["| n_users | dim | variant | user-steps/s (wall) | speed-up (wall) "
             "| user-steps/s per CPU-s | speed-up (CPU) |", "|---:|---:|---|---:|---:|---:|---:|"]
    for r in data["results"]:
        if r.get("variant") == "sections":
            continue
        lines.append(f"| {r['n_users']:,} | {r['dim']} | {r['variant']} | "
                     f"{r['user_steps_per_s']:,.0f} | {r['speedup_vs_original']:.2f}x | "
                     f"{r['best_user_steps_per_cpu_s']:,.0f} | "
                     f"{r['speedup_vs_original_cpu']:.2f}x |")
    return "\n".join(lines)


def sections_table(data: dict) -> str:
    out = []
    for r in data["results"]:
        if r.get("variant") != "sections":
            continue
        labels = [k for k in ("original", "all", "all+block") if k in r]
        keys = list(dict.fromkeys(k for lab in labels for k in r[lab]["cpu_ms_per_step"]))
        out.append(f"n_users={r['n_users']:,}, dim={r['dim']}, {r['days']} days, "
                   f"{r['original']['steps']} steps, CPU ms per step:\n")
        out.append("| section | " + " | ".join(labels) + " |")
        out.append("|---|" + "---:|" * len(labels))
        for k in sorted(keys, key=lambda k: -r["original"]["cpu_ms_per_step"].get(k, 0.0)):
            cells = [f"{r[lab]['cpu_ms_per_step'][k]:.1f}" if k in r[lab]["cpu_ms_per_step"]
                     else "-" for lab in labels]
            out.append(f"| {k} | " + " | ".join(cells) + " |")
        tot = [f"**{1e3 * r[lab]['total_cpu_s'] / r[lab]['steps']:.1f}**" for lab in labels]
        out.append("| **total** | " + " | ".join(tot) + " |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("population", nargs="?", default="benchmarks/results/population.json")
    ap.add_argument("--fast-step", nargs="*", default=[])
    args = ap.parse_args(argv)
    with open(args.population) as fh:
        data = json.load(fh)
    m = data["machine"]
    print(f"Measured {m['date']} on {m['cpu_count']} CPUs ({m['processor']}), numpy "
          f"{m['numpy']}, threads {m['thread_env']}, load average before/after "
          f"{data.get('load_average_before_after')}; command `{data['command']}`\n")
    print(population_table(data))
    print("\nGoals:", json.dumps(data.get("goals", {}), indent=1))
    for path in args.fast_step:
        with open(path) as fh:
            fs = json.load(fh)
        print(f"\n{path} (command `{fs['command']}`, {fs['machine']['date']}):\n")
        print(fast_step_table(fs))
        print()
        print(sections_table(fs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
