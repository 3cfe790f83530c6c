"""Training the ranker on another policy's saved run (issue 9: "its own, or another policy's").

A run saved by the runner with ``--log-level request`` (``recsim-llm simulate ... --out DIR
--log-level request``) holds, per (policy, seed), ``DIR/trajectories/<unit>.npz``: every
request's day, tick, users served, slates, clicked slots, logged dwell of each click and the
realised satisfaction (hidden). This module reads the platform-view part only — slates, clicked
slots, dwell — and replays it, request by request and in order, through the ranker's own
:meth:`~recsim_llm.agents.llm.policy.LLMRankerPolicy.observe`. The history *before* each
request is thus rebuilt with the same rule the ranker uses online (a click; or the top-slot item
of a request without a click as a skip), so a row trained from another policy's run is exactly
the row the ranker would have logged had it served those slates. Satisfaction, true interests,
appeal and value are never read.

The world is rebuilt from the run's ``manifest.json`` (config, seed, data path) for the public
item texts and titles only: the policy is bound to :class:`~recsim_llm.platform.PolicyContext`,
the public context a run gives every policy.

Usage::

    pol = LLMRankerPolicy.fit_from_run("results/mf_run", policy="mf", seed=0, spec="llm")
    pol.save_checkpoint("ckpt/llm_from_mf")
    # then, in a new run: recsim-llm simulate --policy "llm:7,init=ckpt/llm_from_mf" ...
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recsim_llm.analysis.trajectory import Trajectory, load_trajectory
from recsim_llm.integrity import NotAJSONObjectError, RunIOError, read_json_object

if TYPE_CHECKING:
    from recsim_llm.agents.llm.policy import LLMRankerPolicy
    from recsim_llm.config import ScenarioConfig


class RunLogError(ValueError):
    """A results folder that cannot be trained on: missing, damaged, or not request-level."""


@dataclass(frozen=True)
class RunLog:
    """One (policy, seed) unit of a saved run, read for training."""

    cfg: ScenarioConfig
    """the run's scenario config (from its manifest)"""
    seed: int
    policy: str
    data_path: str | None
    trajectory: Trajectory

    @property
    def n_requests(self) -> int:
        return len(self.trajectory.arrays["req_day"])

    @property
    def n_rows(self) -> int:
        """served (user, request) pairs"""
        return len(self.trajectory.arrays["req_users"])


def read_manifest(results_dir: Path) -> dict[str, Any]:
    path = results_dir / "manifest.json"
    if not results_dir.is_dir():
        raise RunLogError(f"results folder {results_dir} does not exist")
    if not path.is_file():
        raise RunLogError(f"{results_dir} is not a saved run (no manifest.json)")
    try:
        meta = read_json_object(path)
    except (NotAJSONObjectError, RunIOError) as err:
        raise RunLogError(f"run manifest damaged: {err}") from None
    if "config" not in meta:
        raise RunLogError(f"run manifest {path} has no 'config'")
    return meta


def load_run_log(results_dir: str | Path, policy: str, seed: int) -> RunLog:
    """The request-level log of one unit of a saved run, verified.

    Raises:
        RunLogError: the folder, its manifest or the unit's trajectory is missing or damaged,
            the unit is not in the run, or it was logged below level ``request`` (each a
            one-line message naming the file and what to do).
    """
    from recsim_llm.config import ScenarioConfig
    from recsim_llm.runner import unit_name

    root = Path(results_dir)
    meta = read_manifest(root)
    policies, seeds = meta.get("policies", []), meta.get("seeds", [])
    if policies and policy not in policies:
        raise RunLogError(f"run {root} has no policy {policy!r}; it ran {policies}")
    if seeds and seed not in seeds:
        raise RunLogError(f"run {root} has no seed {seed}; it ran seeds {seeds}")
    level = meta.get("log_level")
    if level is not None and level != "request":
        raise RunLogError(f"run {root} was logged at level {level!r}; training on it needs "
                          f"request-level logs (rerun with --log-level request)")
    path = root / "trajectories" / f"{unit_name(policy, seed)}.npz"
    if not path.is_file():
        raise RunLogError(f"run {root} has no trajectory {path.name} (unfinished unit, or not "
                          f"run with --out and --log-level request)")
    try:
        traj = load_trajectory(path)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise RunLogError(f"trajectory {path} is damaged: {err}") from None
    if traj.level != "request" or "req_offsets" not in traj.arrays:
        raise RunLogError(f"trajectory {path} was logged at level {traj.level!r}; training "
                          f"needs 'request' (rerun with --log-level request)")
    try:
        cfg = ScenarioConfig.from_dict(meta["config"])
    except (TypeError, ValueError) as err:
        raise RunLogError(f"run manifest {root / 'manifest.json'}: bad config ({err})") from None
    return RunLog(cfg=cfg, seed=int(seed), policy=policy, data_path=meta.get("data_path"),
                  trajectory=traj)


def replay_into(pol: LLMRankerPolicy, log: RunLog, min_day: int = 0) -> int:
    """Feed every logged request, in order, to ``pol.observe`` (as the platform would have).

    The policy must be bound to the run's context. Rows of days before ``min_day`` still build
    the histories but are dropped from the interaction log at each day change (bounded memory).
    Returns the number of requests replayed. One call per request (vectorised over its
    users), as in the loop.
    """
    from recsim_llm.platform import LoggedFeedback

    a = log.trajectory.arrays
    off = a["req_offsets"]
    dwell = log.trajectory.request_dwell()
    n_items = pol.ctx.catalog.n_items
    n_users = pol.ctx.n_users
    slates_all = a["req_slates"]
    if len(slates_all) and (int(slates_all.max()) >= n_items or int(slates_all.min()) < 0):
        raise RunLogError(f"run of {log.policy!r} seed {log.seed}: slates hold item ids outside "
                          f"the catalog's {n_items} items (another config?)")
    if len(a["req_users"]) and int(a["req_users"].max()) >= n_users:
        raise RunLogError(f"run of {log.policy!r} seed {log.seed}: users outside the "
                          f"{n_users} of its config")
    day = -1
    for i in range(len(off) - 1):
        if int(a["req_day"][i]) != day:
            day = int(a["req_day"][i])
            if day <= min_day:
                pol.log.keep_from(min_day)
        sl = slice(int(off[i]), int(off[i + 1]))
        users = a["req_users"][sl].astype(np.int64)
        slates = slates_all[sl].astype(np.int64)
        pos = a["req_positions"][sl].astype(np.int64)
        rows = np.arange(len(users))
        items = np.where(pos >= 0, slates[rows, np.maximum(pos, 0)], -1)
        pol.observe(LoggedFeedback(
            day=int(a["req_day"][i]), request=int(a["req_tick"][i]), users=users,
            slates=slates, positions=pos, items=items, dwell=dwell[sl].astype(np.float64),
            session_ended=np.zeros(len(users), bool)))
    return len(off) - 1
