"""The Ray backend on a local Ray the test starts: same results as the local backend, and a
worker killed in the middle of a run is retried with nothing lost or duplicated."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from recsim_llm.bench import parse_suite, run_suite
from recsim_llm.bench.leaderboard import METRICS

KEY = ["scenario_id", "policy", "seed"]


def _kill_first_running(attempts: Path, stop: threading.Event, killed: dict) -> None:
    """SIGKILL the worker of the first run seen in progress (its attempt file unfinished)."""
    while not stop.is_set():
        for f in sorted(attempts.glob("*.json")):
            try:
                info = json.loads(f.read_text())
            except (OSError, json.JSONDecodeError):
                continue  # being written
            if not info["finished"]:
                os.kill(info["pid"], signal.SIGKILL)
                killed.update(info)
                return
        time.sleep(0.01)


def test_ray_matches_local_and_survives_a_killed_worker(make_suite, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # a private local cluster
    data = make_suite(horizon_days=12)
    data["scenarios"][0]["config"]["population"]["n_users"] = 150
    suite = parse_suite(data, "tiny.toml")
    local = run_suite(suite, tmp_path / "local", progress=False, plots=False)

    out = tmp_path / "ray"
    (out / "attempts").mkdir(parents=True)
    stop, killed = threading.Event(), {}
    killer = threading.Thread(target=_kill_first_running, args=(out / "attempts", stop, killed))
    killer.start()
    try:
        ray = run_suite(suite, out, backend="ray", workers=2, progress=False, plots=False)
    finally:
        stop.set()
        killer.join()
    assert killed, "no run was seen in progress"
    # Retried: the killed run has a second, finished attempt in another worker process.
    tries = [json.loads(p.read_text())
             for p in (out / "attempts").glob(f"{killed['unit']}__*.json")]
    assert len(tries) >= 2 and any(t["finished"] for t in tries)
    assert {t["pid"] for t in tries} != {killed["pid"]}
    assert ray.manifest["retried_runs"].get(killed["unit"], 0) >= 2
    # Nothing lost or duplicated, and the numbers are the local backend's.
    res = ray.results.sort_values(KEY).reset_index(drop=True)
    ref = local.results.sort_values(KEY).reset_index(drop=True)
    assert len(res) == suite.n_units and not res.duplicated(KEY).any()
    pd.testing.assert_frame_equal(res[KEY + list(METRICS)], ref[KEY + list(METRICS)])
    assert (out / "runs/syn/daily.csv").read_text() == \
        (tmp_path / "local/runs/syn/daily.csv").read_text()
