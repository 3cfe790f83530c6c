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

from recsim_llm import __version__
from recsim_llm.agents.base import BasePolicy, Observation, PolicyContext
from recsim_llm.agents.baselines import make_policy
from recsim_llm.analysis.recorder import DailyRecorder
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


@dataclass
class ExperimentResult:
    daily: pd.DataFrame
    groups: pd.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)


def policy_context(world: World) -> PolicyContext:
    return PolicyContext(n_users=world.n_users, slate_size=world.cfg.slate_size,
                         horizon_days=world.cfg.horizon_days, catalog=world.catalog,
                         item_emb=world.item_emb, user_groups=dict(world.personas.groups))


def observation(sim: Simulator, history: PlatformHistory, policy: BasePolicy) -> Observation:
    return Observation(day=sim.day, tick=sim.tick, users=np.flatnonzero(sim.state.in_session),
                       n_available=sim.n_available, history=history,
                       simulator=sim if getattr(policy, "privileged", False) else None)


def run_policy(world: World, policy_spec: str, seed: int,
               progress: DayCallback | None = None) -> RunResult:
    """Run one policy on ``world`` for the whole horizon and record the daily metrics."""
    policy = make_policy(policy_spec)
    sim = Simulator(world, seed)
    history = PlatformHistory(world.n_users, world.item_emb)
    sim.on_request.append(history.update)
    labels = {"scenario": world.cfg.name, "policy": policy_spec, "seed": seed}
    rec = DailyRecorder(world, labels).attach(sim)
    if progress is not None:
        sim.on_day_end.append(lambda s, d: progress(policy_spec, seed, d))
    # The policy's stream depends on its name, so adding a policy disturbs no other stream.
    policy.reset(policy_context(world), RngStreams(seed).fresh(f"policy/{policy_spec}"))
    sim.reset()
    while not sim.done:
        fb = sim.step(policy.act(observation(sim, history, policy)))
        policy.observe(fb)
    return RunResult(daily=rec.rows, groups=rec.group_rows, final_history=history)


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


def simulate(cfg: ScenarioConfig, policies: Sequence[str], seeds: Sequence[int],
             out: str | Path | None = None, *, data_path: str | Path | None = None,
             encoder: TextEncoder | None = None, progress: DayCallback | None = None
             ) -> ExperimentResult:
    """Run every policy on every seed; write ``daily.csv``, ``groups.csv`` and
    ``manifest.json`` to ``out`` (when given) and return them.
    """
    if not policies:
        raise ValueError("give at least one policy")
    for p in policies:
        make_policy(p)  # fail fast on unknown names, before any encoding
    if len(set(policies)) != len(policies):
        raise ValueError(f"duplicate policies in {list(policies)}")
    encoder = encoder or make_encoder(cfg.encoder)
    daily: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    identity = encoder.identity
    for seed in seeds:
        world = build_world(cfg, seed, encoder=encoder, data_path=data_path)
        identity = world.encoder_identity
        for spec in policies:
            res = run_policy(world, spec, seed, progress)
            daily += res.daily
            groups += res.groups
    result = ExperimentResult(pd.DataFrame(daily), pd.DataFrame(groups),
                              manifest(cfg, policies, seeds, identity, data_path))
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(out / "daily.csv", lambda p: result.daily.to_csv(p, index=False))
        write_atomic(out / "groups.csv", lambda p: result.groups.to_csv(p, index=False))
        write_atomic(out / "manifest.json",
                     lambda p: p.write_text(json.dumps(result.manifest, indent=2)))
    return result
