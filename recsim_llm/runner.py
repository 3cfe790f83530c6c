"""Experiments: policies x seeds over a scenario's horizon, with paired (common) randomness.

For each seed one :class:`~recsim_llm.simulator.World` is built and every policy is run on it
from the same initial users with the same exogenous draws, so policy differences are paired.
"""

from __future__ import annotations

import contextlib
import copy
import platform
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from recsim_llm import __version__
from recsim_llm.agents.base import BasePolicy
from recsim_llm.agents.registry import policy_label, resolve_policy
from recsim_llm.analysis.recorder import DailyRecorder
from recsim_llm.analysis.trajectory import TrajectoryLogger, check_log_level, save_trajectory
from recsim_llm.checkpoint import (
    CheckpointError,
    load_checkpoint,
    remove_checkpoint,
    save_checkpoint,
    world_fingerprint,
)
from recsim_llm.config import ScenarioConfig
from recsim_llm.platform import Platform, PlatformLog
from recsim_llm.results_store import (  # noqa: F401  (re-exported)
    RESULT_FORMAT,
    IncompatibleRunError,
    ResultsStore,
)
from recsim_llm.rng import RngStreams
from recsim_llm.scenarios import build_world
from recsim_llm.simulator import Simulator, World
from recsim_llm.text import TextEncoder, make_encoder

DayCallback = Callable[[str, int, int], None]
"""progress(policy, seed, day) after each simulated day"""


@dataclass
class RunResult:
    """Daily rows of one (policy, seed) run."""

    daily: list[dict[str, Any]]
    groups: list[dict[str, Any]]
    final_log: PlatformLog | None = None
    trajectory: TrajectoryLogger | None = None
    users: pd.DataFrame | None = None
    policy: BasePolicy | None = None
    """the policy as it ended the run (trained, when it learned)"""


@dataclass
class ExperimentResult:
    daily: pd.DataFrame
    groups: pd.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)
    users: pd.DataFrame | None = None


def unit_name(policy_label: str, seed: int) -> str:
    """File-safe name of one (policy, seed) run, e.g. ``mmr-0.3__seed2``."""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in policy_label)
    return f"{safe}__seed{seed}"


PolicySpec = str | Path | BasePolicy
"""a spec string (``mmr:0.3``), a saved-policy file, or a policy object"""


def run_policy(world: World, policy: PolicySpec, seed: int,
               progress: DayCallback | None = None, *, log_level: str = "daily",
               checkpoint: Path | None = None, checkpoint_every: int = 10,
               train_days: int = 0, freeze: bool = False, label: str | None = None,
               attach: Sequence[Callable[[Simulator], object]] = ()) -> RunResult:
    """Run one policy on ``world`` for the whole horizon and record the daily metrics.

    Args:
        world: the scenario's world (shared by all policies of a seed).
        policy: a spec, a saved-policy path, or a policy object (used as it is: binding keeps
            its learned parameters, and it goes on learning unless frozen).
        seed: simulation seed (exogenous noise); the world fixes users and items.
        log_level: trajectory detail, see :mod:`recsim_llm.analysis.trajectory`.
        checkpoint: file to resume from (if it exists) and to write every
            ``checkpoint_every`` days; None = no checkpoints.
        train_days: length of the training phase (rows get ``phase = "train"``; later days
            ``"eval"``); 0 = no phases.
        freeze: after the training phase (from the start when ``train_days`` is 0) the policy
            stops learning: ``observe`` and ``on_day_end`` are no longer called and it sees the
            platform log as it was when it froze (a trained model replayed over the horizon).
            False = continual learning.
        label: the ``policy`` column of the rows (default: the spec or the policy's name).
        attach: extra observers, each called once with the run's simulator before the first day
            to register its own hooks (e.g. a benchmark's probe against the ground truth);
            they must only read (the run is then identical to one without them).
    """
    # BLAS on one thread for the whole run, metrics included: a multi-threaded sgemm rounds
    # differently, and a last-bit difference in a policy's scores can flip a ranking weeks later
    # (measured: the same seed on 1 and 2 OpenBLAS threads diverged on day 150; the recorder's
    # nearest-neighbour pairing changed at once). Pinning makes runs bit-identical whatever the
    # machine's thread setting; the simulation's own array work is single-threaded numpy anyway.
    with threadpool_limits(limits=1, user_api="blas"):
        return _run_policy(world, policy, seed, progress, log_level=log_level,
                           checkpoint=checkpoint, checkpoint_every=checkpoint_every,
                           train_days=train_days, freeze=freeze, label=label, attach=attach)


def _run_policy(world: World, policy_spec: PolicySpec, seed: int,
                progress: DayCallback | None, *, log_level: str, checkpoint: Path | None,
                checkpoint_every: int, train_days: int, freeze: bool, label: str | None,
                attach: Sequence[Callable[[Simulator], object]] = ()) -> RunResult:
    """:func:`run_policy` without the BLAS thread limit."""
    if checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
    if train_days < 0:
        raise ValueError(f"train_days must be >= 0, got {train_days}")
    check_log_level(log_level)
    policy = resolve_policy(policy_spec)
    label = label or policy_label(policy_spec)
    platform = Platform(world, seed)
    sim = platform.sim
    labels = {"scenario": world.cfg.name, "policy": label, "seed": seed}
    rec = DailyRecorder(world, labels, train_days=train_days).attach(sim)
    traj = TrajectoryLogger(world, log_level).attach(sim)
    for observer in attach:
        observer(sim)

    def learning(day: int) -> bool:
        return not freeze or day < train_days

    def day_end(_sim: Simulator, day: int) -> None:
        if learning(day):
            policy.on_day_end(platform.view(privileged=policy.privileged))
        if progress is not None:
            progress(label, seed, day)

    sim.on_day_end.append(day_end)
    # The policy's stream depends on its label, so adding a policy disturbs no other stream.
    policy.bind(platform.context, RngStreams(seed).fresh(f"policy/{label}"))
    platform.reset()
    fingerprint = world_fingerprint(world) if checkpoint is not None else ""
    run_key = {"policy": label, "seed": seed, "log_level": log_level, "train_days": train_days,
               "freeze": freeze}

    def snapshot() -> dict[str, Any]:
        return {"day": sim.day, "run": run_key, "platform": platform.state(),
                "recorder": rec.state(), "trajectory": traj.state(),
                "policy": policy.state_dict()}

    if checkpoint is not None and checkpoint.exists():
        snap = load_checkpoint(checkpoint, fingerprint)
        saved = snap.get("run", {})
        for key, value in run_key.items():
            if saved.get(key) != value:
                raise CheckpointError(
                    f"checkpoint {checkpoint} belongs to another run: its {key} is "
                    f"{saved.get(key)!r}, not {value!r}; delete it to restart this run")
        platform.set_state(snap["platform"])
        rec.set_state(snap["recorder"])
        traj.set_state(snap["trajectory"])
        policy.load_state_dict(snap["policy"])
        if progress is not None:
            for d in range(sim.day):
                progress(label, seed, d)
    while not sim.done:
        day = sim.day
        if not learning(day) and platform.frozen_log is None:
            platform.freeze_log()
        _fb, logged = platform.serve(policy.act(platform.view(privileged=policy.privileged)))
        if learning(day):
            policy.observe(logged)
        if (checkpoint is not None and sim.day != day and not sim.done
                and sim.day % checkpoint_every == 0):
            save_checkpoint(checkpoint, snapshot(), fingerprint)
    traj.finish(sim)
    return RunResult(daily=rec.rows, groups=rec.group_rows, final_log=platform.log,
                     trajectory=traj, users=traj.users_table(labels), policy=policy)


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=5, check=False)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def manifest(cfg: ScenarioConfig, policies: Sequence[str], seeds: Sequence[int],
             encoder_identity: str, data_path: str | Path | None) -> dict[str, Any]:
    return {"recsim_llm_version": __version__, "git_commit": git_commit(),
            "config": cfg.to_dict(), "policies": list(policies), "seeds": list(seeds),
            "encoder_identity": encoder_identity,
            "data_path": None if data_path is None else str(data_path),
            "python": platform.python_version(), "numpy": np.__version__}


# The results-folder machinery (lock, manifest check, verified parts, atomic writes) lives in
# recsim_llm.results_store; RESULT_FORMAT and IncompatibleRunError stay importable from here.
def simulate(cfg: ScenarioConfig, policies: Sequence[PolicySpec], seeds: Sequence[int],
             out: str | Path | None = None, *, data_path: str | Path | None = None,
             encoder: TextEncoder | None = None, progress: DayCallback | None = None,
             log_level: str = "daily", checkpoint_every: int = 10, train_days: int = 0,
             freeze: bool = False) -> ExperimentResult:
    """Run every policy on every seed (paired: one world per seed, shared by the policies).

    With ``out`` the run is resumable: each (policy, seed) checkpoints every
    ``checkpoint_every`` days under ``out/checkpoints`` and stores its finished rows under
    ``out/parts``; running the same call again skips finished units and resumes the others
    from their checkpoints, ending with the same results as an uninterrupted run.
    ``train_days``/``freeze``: see :func:`run_policy` (train then frozen replay, or continual
    learning; ``freeze`` without training days replays a trained policy frozen). Finally
    ``daily.csv``, ``groups.csv``, ``users.csv`` and ``manifest.json`` are written atomically,
    and trajectories under ``out/trajectories`` (see ``log_level``).

    ``policies`` holds spec strings (``"mmr:0.3"``, ``"sb3:runs/ppo/model.zip"``), paths of
    policies saved with :meth:`~recsim_llm.agents.base.BasePolicy.save`, or policy objects.
    Every (policy, seed) unit starts from the same policy: a fresh one for a spec, the saved
    parameters for a file, and a copy of the object as it was passed (the object itself is not
    changed), so seeds stay paired and independent.
    """
    if not policies:
        raise ValueError("give at least one policy")
    templates = [resolve_policy(p) for p in policies]  # fail fast, before any encoding
    labels = [policy_label(p) for p in policies]
    if len(set(labels)) != len(labels):
        raise ValueError(f"duplicate policies in {labels}")
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ValueError(f"seeds must be distinct and non-empty, got {list(seeds)}")
    check_log_level(log_level)
    if checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
    out_dir = None if out is None else Path(out)
    info = manifest(cfg, labels, seeds, "", data_path)
    if train_days < 0:
        raise ValueError(f"train_days must be >= 0, got {train_days}")
    info.update(log_level=log_level, result_format=RESULT_FORMAT, train_days=train_days,
                freeze=freeze)
    encoder = encoder or make_encoder(cfg.encoder)  # cheap: models load on first encode
    store = None if out_dir is None else ResultsStore(out_dir, info)
    with store if store is not None else contextlib.nullcontext():
        if store is not None:
            store.encoder_identity = encoder.identity  # parts are bound to it
        daily, groups, users = [], [], []
        identity = None
        for seed in seeds:
            world: World | None = None
            for label, template in zip(labels, templates, strict=True):
                unit = unit_name(label, seed)
                stored = None if store is None else store.read_part(unit)
                if stored is not None:
                    d, g, u = stored
                    if progress is not None:
                        for day in range(cfg.horizon_days):
                            progress(label, seed, day)
                else:
                    if world is None:
                        world = build_world(cfg, seed, encoder=encoder, data_path=data_path)
                        identity = world.encoder_identity
                    ckpt = None if store is None else store.checkpoint_path(unit)
                    fresh = copy.deepcopy(template)
                    res = run_policy(world, fresh, seed, progress, log_level=log_level,
                                     checkpoint=ckpt, checkpoint_every=checkpoint_every,
                                     train_days=train_days, freeze=freeze, label=label)
                    d, g, u = pd.DataFrame(res.daily), pd.DataFrame(res.groups), res.users
                    if store is not None:
                        assert res.trajectory is not None
                        save_trajectory(store.trajectory_path(unit), res.trajectory,
                                        {"policy": label, "seed": seed, "scenario": cfg.name})
                        store.write_part(unit, (d, g, u))
                        if ckpt is not None:
                            remove_checkpoint(ckpt)
                daily.append(d)
                groups.append(g)
                users.append(u)
        info["encoder_identity"] = identity or encoder.identity
        result = ExperimentResult(pd.concat(daily, ignore_index=True),
                                  pd.concat(groups, ignore_index=True), info,
                                  users=pd.concat(users, ignore_index=True))
        if store is not None:
            store.write_csv("daily.csv", result.daily)
            store.write_csv("groups.csv", result.groups)
            store.write_csv("users.csv", result.users)
            store.write_manifest(complete=True)
    return result
