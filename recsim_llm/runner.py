"""Experiments: policies x seeds over a scenario's horizon, with paired (common) randomness.

For each seed one :class:`~recsim_llm.simulator.World` is built and every policy is run on it
from the same initial users with the same exogenous draws, so policy differences are paired.
"""

from __future__ import annotations

import json
import os
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
from recsim_llm.agents.base import BasePolicy, Observation, PolicyContext
from recsim_llm.agents.baselines import make_policy
from recsim_llm.analysis.recorder import DailyRecorder
from recsim_llm.analysis.trajectory import TrajectoryLogger, check_log_level, save_trajectory
from recsim_llm.checkpoint import (
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
    world_fingerprint,
)
from recsim_llm.config import ScenarioConfig
from recsim_llm.history import PlatformHistory
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
    final_history: PlatformHistory | None = None
    trajectory: TrajectoryLogger | None = None
    users: pd.DataFrame | None = None


@dataclass
class ExperimentResult:
    daily: pd.DataFrame
    groups: pd.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)
    users: pd.DataFrame | None = None


def policy_context(world: World) -> PolicyContext:
    return PolicyContext(n_users=world.n_users, slate_size=world.cfg.slate_size,
                         horizon_days=world.cfg.horizon_days, catalog=world.catalog,
                         item_emb=world.item_emb, user_groups=dict(world.personas.groups))


def observation(sim: Simulator, history: PlatformHistory, policy: BasePolicy) -> Observation:
    return Observation(day=sim.day, tick=sim.tick, users=np.flatnonzero(sim.state.in_session),
                       n_available=sim.n_available, history=history,
                       simulator=sim if getattr(policy, "privileged", False) else None)


def unit_name(policy_spec: str, seed: int) -> str:
    """File-safe name of one (policy, seed) run, e.g. ``mmr-0.3__seed2``."""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in policy_spec)
    return f"{safe}__seed{seed}"


def run_policy(world: World, policy_spec: str | BasePolicy, seed: int,
               progress: DayCallback | None = None, *, log_level: str = "daily",
               checkpoint: Path | None = None, checkpoint_every: int = 10,
               train_days: int = 0, freeze: bool = False) -> RunResult:
    """Run one policy on ``world`` for the whole horizon and record the daily metrics.

    Args:
        world: the scenario's world (shared by all policies of a seed).
        policy_spec: a policy name (see :func:`make_policy`) or a policy object.
        seed: simulation seed (exogenous noise); the world fixes users and items.
        log_level: trajectory detail, see :mod:`recsim_llm.analysis.trajectory`.
        checkpoint: file to resume from (if it exists) and to write every
            ``checkpoint_every`` days; None = no checkpoints.
        train_days: length of the training phase (rows get ``phase = "train"``; later days
            ``"eval"``); 0 = no phases.
        freeze: after the training phase the policy stops learning: ``observe`` is no longer
            called and it sees the platform history as it was at the end of training
            (a frozen model replayed over the horizon). False = continual learning.
    """
    # BLAS on one thread for the whole run, metrics included: a multi-threaded sgemm rounds
    # differently, and a last-bit difference in a policy's scores can flip a ranking weeks later
    # (measured: the same seed on 1 and 2 OpenBLAS threads diverged on day 150; the recorder's
    # nearest-neighbour pairing changed at once). Pinning makes runs bit-identical whatever the
    # machine's thread setting; the simulation's own array work is single-threaded numpy anyway.
    with threadpool_limits(limits=1, user_api="blas"):
        return _run_policy(world, policy_spec, seed, progress, log_level=log_level,
                           checkpoint=checkpoint, checkpoint_every=checkpoint_every,
                           train_days=train_days, freeze=freeze)


def _run_policy(world: World, policy_spec: str | BasePolicy, seed: int,
               progress: DayCallback | None = None, *, log_level: str = "daily",
               checkpoint: Path | None = None, checkpoint_every: int = 10,
               train_days: int = 0, freeze: bool = False) -> RunResult:
    """:func:`run_policy` without the BLAS thread limit."""
    if checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
    check_log_level(log_level)
    policy = make_policy(policy_spec) if isinstance(policy_spec, str) else policy_spec
    label = policy_spec if isinstance(policy_spec, str) else policy.name
    sim = Simulator(world, seed)
    history = PlatformHistory(world.n_users, world.item_emb)
    sim.on_request.append(history.update)
    labels = {"scenario": world.cfg.name, "policy": label, "seed": seed}
    if freeze and train_days < 1:
        raise ValueError("freeze needs a training phase: train_days >= 1")
    rec = DailyRecorder(world, labels, train_days=train_days).attach(sim)
    traj = TrajectoryLogger(world, log_level).attach(sim)
    if progress is not None:
        sim.on_day_end.append(lambda s, d: progress(label, seed, d))
    # The policy's stream depends on its name, so adding a policy disturbs no other stream.
    policy.reset(policy_context(world), RngStreams(seed).fresh(f"policy/{label}"))
    sim.reset()
    frozen: PlatformHistory | None = None
    fingerprint = world_fingerprint(world) if checkpoint is not None else ""

    run_key = {"policy": label, "seed": seed, "log_level": log_level, "train_days": train_days,
               "freeze": freeze}

    def snapshot() -> dict[str, Any]:
        return {"day": sim.day, "run": run_key, "sim": sim.get_state(),
                "history": history.state(), "recorder": rec.state(),
                "trajectory": traj.state(), "policy": policy._state(),
                "frozen": None if frozen is None else frozen.state()}

    if checkpoint is not None and checkpoint.exists():
        snap = load_checkpoint(checkpoint, fingerprint)
        saved = snap.get("run", {})
        for key, value in run_key.items():
            if saved.get(key) != value:
                raise CheckpointError(
                    f"checkpoint {checkpoint} belongs to another run: its {key} is "
                    f"{saved.get(key)!r}, not {value!r}; delete it to restart this run")
        sim.set_state(snap["sim"])
        history.set_state(snap["history"])
        rec.set_state(snap["recorder"])
        traj.set_state(snap["trajectory"])
        policy._set_state(snap["policy"])
        if snap["frozen"] is not None:
            frozen = PlatformHistory(world.n_users, world.item_emb)
            frozen.set_state(snap["frozen"])
        if progress is not None:
            for d in range(sim.day):
                progress(label, seed, d)
    while not sim.done:
        day = sim.day
        learning = not freeze or day < train_days
        if not learning and frozen is None:
            frozen = PlatformHistory(world.n_users, world.item_emb)
            frozen.set_state(history.state())
        fb = sim.step(policy.act(observation(sim, history if learning else frozen, policy)))
        if learning:
            policy.observe(fb)
        if (checkpoint is not None and sim.day != day and not sim.done
                and sim.day % checkpoint_every == 0):
            save_checkpoint(checkpoint, snapshot(), fingerprint)
    traj.finish(sim)
    return RunResult(daily=rec.rows, groups=rec.group_rows, final_history=history,
                     trajectory=traj, users=traj.users_table(labels))


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


def write_atomic(path: Path, writer: Callable[[Path], None]) -> None:
    """Write via a temporary file in the same folder and rename (no half-written results)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    writer(tmp)
    os.replace(tmp, path)


RESULT_FORMAT = 1
"""version of the results-folder layout; a folder of another format is refused"""


class IncompatibleRunError(ValueError):
    """A results folder holds a different run (config, policies, seeds or format)."""


def _check_existing(out: Path, new: dict[str, Any]) -> None:
    path = out / "manifest.json"
    if not path.exists():
        return
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise IncompatibleRunError(f"{path} is unreadable ({err}); use another --out") from err
    if old.get("result_format") != RESULT_FORMAT:
        raise IncompatibleRunError(
            f"{out} was written by recsim_llm {old.get('recsim_llm_version', '?')} in results "
            f"format {old.get('result_format')!r}; this version writes format {RESULT_FORMAT}. "
            f"Use another --out")
    for key in ("config", "policies", "seeds", "log_level", "data_path", "train_days", "freeze"):
        if old.get(key) != new.get(key):
            raise IncompatibleRunError(
                f"{out} holds another run: its {key!r} differs ({old.get(key)!r} there, "
                f"{new.get(key)!r} now). Use another --out, or delete the folder to start over")


def simulate(cfg: ScenarioConfig, policies: Sequence[str], seeds: Sequence[int],
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
    learning). Finally
    ``daily.csv``, ``groups.csv``, ``users.csv`` and ``manifest.json`` are written atomically,
    and trajectories under ``out/trajectories`` (see ``log_level``).
    """
    if not policies:
        raise ValueError("give at least one policy")
    for p in policies:
        make_policy(p)  # fail fast on unknown names, before any encoding
    if len(set(policies)) != len(policies):
        raise ValueError(f"duplicate policies in {list(policies)}")
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ValueError(f"seeds must be distinct and non-empty, got {list(seeds)}")
    check_log_level(log_level)
    if checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
    out_dir = None if out is None else Path(out)
    info = manifest(cfg, policies, seeds, "", data_path)
    if freeze and train_days < 1:
        raise ValueError("freeze needs a training phase: train_days >= 1")
    info.update(log_level=log_level, result_format=RESULT_FORMAT, train_days=train_days,
                freeze=freeze)
    if out_dir is not None:
        _check_existing(out_dir, info)
        out_dir.mkdir(parents=True, exist_ok=True)
        for sub in ("parts", "checkpoints", "trajectories"):
            (out_dir / sub).mkdir(exist_ok=True)
        write_atomic(out_dir / "manifest.json",
                     lambda p: p.write_text(json.dumps({**info, "complete": False}, indent=2)))
    daily, groups, users = [], [], []
    identity = None
    for seed in seeds:
        world: World | None = None
        for spec in policies:
            unit = unit_name(spec, seed)
            part = None if out_dir is None else out_dir / "parts" / f"{unit}.pkl"
            if part is not None and part.exists():
                d, g, u = pd.read_pickle(part)
                if progress is not None:
                    for day in range(cfg.horizon_days):
                        progress(spec, seed, day)
            else:
                if world is None:
                    encoder = encoder or make_encoder(cfg.encoder)
                    world = build_world(cfg, seed, encoder=encoder, data_path=data_path)
                    identity = world.encoder_identity
                ckpt = None if out_dir is None else out_dir / "checkpoints" / f"{unit}.ckpt"
                res = run_policy(world, spec, seed, progress, log_level=log_level,
                                 checkpoint=ckpt, checkpoint_every=checkpoint_every,
                                 train_days=train_days, freeze=freeze)
                d, g, u = pd.DataFrame(res.daily), pd.DataFrame(res.groups), res.users
                if out_dir is not None and part is not None:
                    assert res.trajectory is not None
                    save_trajectory(out_dir / "trajectories" / f"{unit}.npz", res.trajectory,
                                    {"policy": spec, "seed": seed, "scenario": cfg.name})
                    write_atomic(part, lambda p, v=(d, g, u): pd.to_pickle(v, p))
                    if ckpt is not None and ckpt.exists():
                        ckpt.unlink()
            daily.append(d)
            groups.append(g)
            users.append(u)
    info["encoder_identity"] = identity
    result = ExperimentResult(pd.concat(daily, ignore_index=True),
                              pd.concat(groups, ignore_index=True), info,
                              users=pd.concat(users, ignore_index=True))
    if out_dir is not None:
        write_atomic(out_dir / "daily.csv", lambda p: result.daily.to_csv(p, index=False))
        write_atomic(out_dir / "groups.csv", lambda p: result.groups.to_csv(p, index=False))
        write_atomic(out_dir / "users.csv", lambda p: result.users.to_csv(p, index=False))
        write_atomic(out_dir / "manifest.json",
                     lambda p: p.write_text(json.dumps({**info, "complete": True}, indent=2)))
    return result
