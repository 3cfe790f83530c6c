"""Run a suite: every (scenario, policy, seed) on a backend, then the leaderboard.

Layout of the results folder ``OUT``::

    OUT/manifest.json            suite (normal form), backend, timings, versions, retries
    OUT/results.csv              one row per run: headline numbers, seconds, host
    OUT/leaderboard.csv / .md    per (scenario, policy): mean over seeds and t-interval
    OUT/runs/<scenario>/         daily.csv, groups.csv, users.csv, manifest.json as written by
                                 ``recsim-llm simulate``, and figures/ (``recsim-llm plot``)
    OUT/units/<run>.pkl          each finished run's tables (written by the driver only)
    OUT/attempts/<run>__<host>__pid<pid>.json   one file per attempt (retries show here)

Running the same suite into the same folder again skips finished runs (an interrupted suite
resumes); another suite in the same folder is refused.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsim_llm.bench.backends import (
    BACKENDS,
    BackendError,
    UnitResult,
    run_local,
    run_ray,
)
from recsim_llm.bench.leaderboard import (
    METRICS,
    leaderboard,
    leaderboard_markdown,
    run_headline,
)
from recsim_llm.bench.suite import Suite, Unit, load_suite, suite_digest
from recsim_llm.integrity import (
    NotAJSONObjectError,
    RunIOError,
    read_json_object,
    write_bytes_atomic,
)

SUITE_FORMAT = 1
"""version of the suite results layout"""


@dataclass
class SuiteResult:
    out: Path
    results: pd.DataFrame
    """one row per run (``results.csv``)"""
    board: pd.DataFrame
    """``leaderboard.csv``"""
    manifest: dict[str, Any]


def _part(out: Path, unit: Unit) -> Path:
    return out / "units" / f"{unit.key}.pkl"


def _save_part(out: Path, res: UnitResult) -> None:
    import pickle

    payload = {"unit": res.unit, "daily": res.daily, "groups": res.groups, "users": res.users,
               "seconds": res.seconds, "host": res.host, "pid": res.pid}
    write_bytes_atomic(_part(out, res.unit), pickle.dumps(payload))


def _load_part(out: Path, unit: Unit) -> dict[str, Any]:
    return pd.read_pickle(_part(out, unit))


def _check_folder(out: Path, suite: Suite) -> None:
    path = out / "manifest.json"
    if not path.exists():
        return
    try:
        old = read_json_object(path)
    except (NotAJSONObjectError, RunIOError) as err:
        raise BackendError(f"{err}; use another --out") from None
    if old.get("suite_format") != SUITE_FORMAT or old.get("suite_digest") != suite_digest(suite):
        raise BackendError(f"{out} holds the results of another suite (or another version of "
                           f"suite {suite.name!r}); use another --out, or delete the folder")


def preflight(suite: Suite, units: list[Unit]) -> None:
    """Load each scenario's catalog and users once (no encoding) before anything runs, so a
    missing dataset fails at once with the scenario's name, not after hours of other runs."""
    from recsim_llm.config import ScenarioConfig
    from recsim_llm.rng import RngStreams
    from recsim_llm.scenarios import SCENARIOS

    for sid in dict.fromkeys(u.scenario_id for u in units):
        sc = suite.scenario(sid)
        if sc.scenario == "synthetic":
            continue  # generated, needs nothing
        cfg = ScenarioConfig.from_dict(json.loads(json.dumps(sc.config.to_dict())))
        try:
            SCENARIOS[sc.scenario](cfg, RngStreams(sc.seeds[0]), sc.data)
        except (FileNotFoundError, ValueError) as err:
            raise BackendError(f"scenario {sid!r} of suite {suite.name!r} cannot load its data: "
                               f"{err}") from None


def _progress(total: int, enabled: bool) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("days · {task.fields[runs]} runs"), TimeElapsedColumn(),
                    TimeRemainingColumn(), disable=not enabled)


def run_suite(suite: Suite | str | Path, out: str | Path, *, backend: str = "local",
              workers: int | None = None, address: str | None = None, progress: bool = True,
              plots: bool = True, level: float = 0.95) -> SuiteResult:
    """Run every unit of ``suite`` not yet finished in ``out``, then write the leaderboard.

    Args:
        suite: a :class:`Suite`, a suite file, or the name of a shipped suite.
        backend: ``"local"`` (this process with ``workers`` 1 or None, else a pool of
            processes) or ``"ray"`` (one Ray task per run; ``address`` of an existing cluster,
            or None for a local Ray with ``workers`` CPUs, default the CPU count).
        progress: show a rich progress bar (simulated days, runs finished).
        plots: write each scenario's figures (PNG) under ``runs/<scenario>/figures``.
    Raises:
        SuiteError: a bad suite file; BackendError: the backend cannot run it, a run failed.
    """
    if isinstance(suite, str | Path):
        suite = load_suite(suite)
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; valid: {list(BACKENDS)}")
    if address is not None and backend != "ray":
        raise BackendError("--address is for --backend ray")
    out = Path(out)
    _check_folder(out, suite)
    for sub in ("units", "runs", "attempts"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    units = suite.units()
    todo = [u for u in units if not _part(out, u).exists()]
    preflight(suite, todo)
    info: dict[str, Any] = {
        "suite_format": SUITE_FORMAT, "suite": suite.to_dict(), "suite_digest":
        suite_digest(suite), "suite_file": suite.source, "backend": backend, "workers": workers,
        "address": address, "n_runs": len(units), "runs_resumed": len(units) - len(todo),
        "complete": False, **_versions()}
    write_bytes_atomic(out / "manifest.json", json.dumps(info, indent=2).encode())
    status_dir = str(out / "attempts")
    horizon = {u.key: int(u.config["horizon_days"]) for u in units}
    t0 = time.perf_counter()
    bar = _progress(sum(horizon.values()), progress)
    with bar:
        task = bar.add_task(f"suite {suite.name}", total=sum(horizon.values()),
                            completed=sum(horizon[u.key] for u in units if u not in todo),
                            runs=f"{len(units) - len(todo)}/{len(units)}")
        days_seen: dict[str, int] = {}
        n_done = len(units) - len(todo)

        def on_day(unit: Unit, day: int) -> None:
            days_seen[unit.key] = days_seen.get(unit.key, 0) + 1
            bar.update(task, advance=1, description=f"{unit.scenario_id} {unit.policy} "
                                                    f"seed {unit.seed} day {day + 1}")

        results: Iterator[UnitResult]
        backend_stats: dict[str, Any] = {}
        if backend == "local":
            results = run_local(todo, workers or 1, status_dir, on_day, suite.gpus_per_run)
        else:
            results = run_ray(todo, address, workers, status_dir,
                              gpus_per_run=suite.gpus_per_run, stats=backend_stats)
        for res in results:
            _save_part(out, res)
            n_done += 1
            bar.update(task, advance=horizon[res.unit.key] - days_seen.pop(res.unit.key, 0),
                       runs=f"{n_done}/{len(units)}",
                       description=f"{res.unit.scenario_id} {res.unit.policy} seed "
                                   f"{res.unit.seed} done")
    run_seconds = time.perf_counter() - t0
    result = assemble(suite, out, plots=plots, level=level)
    attempts = _attempts(out, units)
    startup = float(backend_stats.get("startup_s", 0.0))
    info.update(complete=True, seconds_this_invocation=round(run_seconds, 2),
                runs_this_invocation=len(todo), backend_stats=backend_stats,
                runs_per_hour=(round(3600 * len(todo) / run_seconds, 1)
                               if todo and run_seconds > 0 else None),
                runs_per_hour_after_startup=(
                    round(3600 * len(todo) / (run_seconds - startup), 1)
                    if todo and run_seconds > startup else None),
                retried_runs={k: v for k, v in attempts.items() if v > 1})
    write_bytes_atomic(out / "manifest.json", json.dumps(info, indent=2).encode())
    result.manifest = info
    return result


def _attempts(out: Path, units: list[Unit]) -> dict[str, int]:
    names = [p.name for p in (out / "attempts").glob("*.json")]
    return {u.key: sum(n.startswith(f"{u.key}__") for n in names) for u in units}


def _versions() -> dict[str, Any]:
    from recsim_llm import __version__
    from recsim_llm.runner import git_commit

    return {"recsim_llm_version": __version__, "git_commit": git_commit(),
            "python": platform.python_version(), "numpy": np.__version__,
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()}}


def assemble(suite: Suite, out: Path, plots: bool = True, level: float = 0.95) -> SuiteResult:
    """Per-scenario run folders, ``results.csv`` and the leaderboard from the finished runs."""
    from recsim_llm.config import ScenarioConfig
    from recsim_llm.runner import RESULT_FORMAT, manifest

    rows: list[dict[str, Any]] = []
    for sc in suite.scenarios:
        parts = [(u, _load_part(out, u)) for u in suite.units() if u.scenario_id == sc.id]
        run_dir = out / "runs" / sc.id
        run_dir.mkdir(parents=True, exist_ok=True)
        tables: dict[str, list[pd.DataFrame]] = {"daily": [], "groups": [], "users": []}
        for u, p in parts:
            for name in tables:
                if p[name] is not None:
                    tables[name].append(p[name].drop(columns=["scenario_id"]))
            head = run_headline(p["daily"], p["groups"], sc.group_key)
            rows.append({"scenario_id": sc.id, "policy": u.policy, "seed": u.seed, **head,
                         "days": int(p["daily"]["day"].max()), "seconds": round(p["seconds"], 3),
                         "host": p["host"]})
        for name, dfs in tables.items():
            df = pd.concat(dfs, ignore_index=True) if dfs else pd.DataFrame()
            write_bytes_atomic(run_dir / f"{name}.csv", df.to_csv(index=False).encode())
        cfg = ScenarioConfig.from_dict(json.loads(json.dumps(sc.config.to_dict())))
        man = manifest(cfg, list(sc.policies), list(sc.seeds), "", sc.data)
        man.update(result_format=RESULT_FORMAT, log_level="daily", train_days=0, freeze=False,
                   complete=True, suite=suite.name)
        write_bytes_atomic(run_dir / "manifest.json", json.dumps(man, indent=2).encode())
        if plots:
            import matplotlib

            matplotlib.use("Agg")
            import warnings

            from recsim_llm.analysis.plots import plot_run

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # one-seed suites: "no confidence band"
                plot_run(run_dir, formats=("png",), dpi=100, individual=False)
    results = pd.DataFrame(rows, columns=["scenario_id", "policy", "seed", *METRICS, "days",
                                          "seconds", "host"])
    board = leaderboard(results, level)
    write_bytes_atomic(out / "results.csv", results.to_csv(index=False).encode())
    write_bytes_atomic(out / "leaderboard.csv", board.to_csv(index=False).encode())
    notes = [f"{sc.id}: scenario `{sc.scenario}`, {sc.config.population.n_users} users, "
             f"{sc.config.horizon_days} days, seeds {list(sc.seeds)}, encoder "
             f"`{sc.config.encoder}`" for sc in suite.scenarios]
    md = leaderboard_markdown(board, suite.name, level, notes)
    write_bytes_atomic(out / "leaderboard.md", (md + "\n").encode())
    return SuiteResult(out=out, results=results, board=board, manifest={})
