"""Checkpoint write cost against the day reached (append-only checkpoints, issue 12).

Runs one policy at ``--log-level request`` (the heaviest trajectory) and times every
checkpoint write, recording its bytes. Before append-only checkpoints each write rewrote the
whole request log, so cost grew linearly with the day reached.

    python benchmarks/checkpoint_cost.py --users 500 --days 400 --every 10
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import recsim_llm.checkpoint as C
import recsim_llm.runner as R
from recsim_llm.config import ScenarioConfig, override
from recsim_llm.scenarios import build_world


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--days", type=int, default=400)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--policy", default="greedy")
    args = ap.parse_args()
    cfg = override(ScenarioConfig(), **{"encoder": "hashing:32",
                                        "population.n_users": args.users,
                                        "horizon_days": args.days})
    world = build_world(cfg, 0)
    rows: list[tuple[int, int, float]] = []
    real = C.save_checkpoint

    def timed(path, state, fingerprint, *a, **k):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        n = real(path, state, fingerprint, *a, **k)
        if n is None:  # the old whole-file writer returned nothing: its size is the cost
            n = path.stat().st_size
        rows.append((int(state["day"]), n, time.perf_counter() - t))
        return n

    R.save_checkpoint = timed  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as tmp:
        ck = Path(tmp) / "u.ckpt"
        t0 = time.perf_counter()
        R.run_policy(world, args.policy, 0, log_level="request", checkpoint=ck,
                     checkpoint_every=args.every)
        total = time.perf_counter() - t0
        lp = C.log_path(ck) if hasattr(C, "log_path") else None  # absent before issue 12
        log_size = lp.stat().st_size if lp is not None and lp.exists() else 0
        fixed_size = ck.stat().st_size
    days = np.array([r[0] for r in rows])
    nbytes = np.array([r[1] for r in rows])
    secs = np.array([r[2] for r in rows])
    print(f"users={args.users} days={args.days} every={args.every} policy={args.policy}")
    print(f"checkpoints: {len(rows)}; total run {total:.1f} s; checkpoint I/O "
          f"{secs.sum():.2f} s ({secs.sum() / total:.1%} of the run)")
    print(f"bytes written in all checkpoints: {nbytes.sum() / 1e6:.1f} MB "
          f"(final log {log_size / 1e6:.1f} MB + fixed {fixed_size / 1e6:.2f} MB)")
    q = max(1, len(rows) // 5)
    for part in (slice(0, q), slice(len(rows) - q, len(rows))):
        kb, ms = nbytes[part].mean() / 1e3, secs[part].mean() * 1e3
        print(f"  days {days[part][0]:>4}-{days[part][-1]:>4}: mean {kb:8.1f} kB, {ms:6.1f} ms "
              "per checkpoint")
    slope = np.polyfit(days, secs * 1e3, 1)[0]
    print(f"fit: {slope * 100:+.2f} ms per checkpoint per 100 days reached")


if __name__ == "__main__":
    main()
