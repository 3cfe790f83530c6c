"""Where the runs of a suite execute: this process, a pool of local processes, or Ray.

Every backend calls the same :func:`run_unit` on the same :class:`~recsim_llm.bench.suite.Unit`
values, and a run is a deterministic function of its unit (the world comes from the scenario
config and seed, the policy's stream from its label and seed, BLAS is pinned to one thread), so
the backends give identical results. Results travel back to the driver, which alone writes
them (one file per unit, atomically): a retried task can neither lose nor duplicate a run.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd

from recsim_llm.bench.suite import Unit

BACKENDS = ("local", "ray")


class BackendError(RuntimeError):
    """A backend cannot run the suite: Ray missing or not answering, no GPU, a run failed."""


@dataclass
class UnitResult:
    """What one run sends back to the driver."""

    unit: Unit
    daily: pd.DataFrame
    groups: pd.DataFrame
    users: pd.DataFrame | None
    seconds: float
    """wall seconds of the run (world build included when this worker had to build it)"""
    host: str
    pid: int


@lru_cache(maxsize=2)
def _world(config_json: str, seed: int, data: str | None) -> Any:
    """The world of one (scenario config, seed), cached per process: a worker running several
    policies of one seed builds it once."""
    from recsim_llm.config import ScenarioConfig
    from recsim_llm.scenarios import build_world

    return build_world(ScenarioConfig.from_dict(json.loads(config_json)), seed, data_path=data)


def _attempt_file(status_dir: str, unit: Unit) -> Path:
    return Path(status_dir) / f"{unit.key}__{socket.gethostname()}__pid{os.getpid()}.json"


def run_unit(unit: Unit, status_dir: str | None = None,
             progress: Callable[[str, int, int], None] | None = None) -> UnitResult:
    """Run one policy on one scenario and seed over the horizon (what a task executes).

    ``status_dir``: where each attempt leaves ``<unit>__<host>__pid<pid>.json``, marked
    ``"finished": true`` at the end (shows what runs where, and which runs were retried).
    """
    from recsim_llm.runner import run_policy

    t0, started = time.perf_counter(), time.time()
    status = None if status_dir is None else _attempt_file(status_dir, unit)
    if status is not None:
        status.parent.mkdir(parents=True, exist_ok=True)
        status.write_text(json.dumps({"unit": unit.key, "pid": os.getpid(),
                                      "host": socket.gethostname(), "started": started,
                                      "finished": False}))
    world = _world(json.dumps(unit.config, sort_keys=True), unit.seed, unit.data)
    res = run_policy(world, unit.policy, unit.seed, progress, label=unit.policy)
    daily, groups = pd.DataFrame(res.daily), pd.DataFrame(res.groups)
    for df in (daily, groups, res.users):
        if df is not None:
            df.insert(0, "scenario_id", unit.scenario_id)
    seconds = time.perf_counter() - t0
    if status is not None:
        status.write_text(json.dumps({"unit": unit.key, "pid": os.getpid(),
                                      "host": socket.gethostname(), "started": started,
                                      "finished": True, "seconds": seconds}))
    return UnitResult(unit, daily, groups, res.users, seconds, socket.gethostname(),
                      os.getpid())


# --------------------------------------------------------------------------- GPUs
def local_gpu_count() -> int:
    """CUDA devices torch sees here (0 without torch or CUDA)."""
    try:
        import torch
    except ImportError:
        return 0
    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


def check_local_gpus(gpus_per_run: float) -> None:
    if gpus_per_run > 0 and local_gpu_count() == 0:
        raise BackendError(
            f"the suite asks {gpus_per_run:g} GPU(s) per run, but this machine has no CUDA GPU "
            f"(torch.cuda.is_available() is False); set gpus_per_run = 0 (the simulator runs "
            f"on CPU; GPUs only serve torch policies) or run on a machine/cluster with GPUs")


# --------------------------------------------------------------------------- local
def run_local(units: Sequence[Unit], workers: int = 1, status_dir: str | None = None,
              on_day: Callable[[Unit, int], None] | None = None,
              gpus_per_run: float = 0.0) -> Iterator[UnitResult]:
    """Yield each unit's result as it finishes; ``workers`` > 1 uses a process pool.

    With one worker the runs execute in this process, in order (``on_day`` is called after
    every simulated day); a pool reports whole runs only.
    """
    if workers < 1:
        raise BackendError(f"workers must be >= 1, got {workers}")
    check_local_gpus(gpus_per_run)
    if workers == 1:
        for u in units:
            cb = None if on_day is None else (lambda _p, _s, d, u=u: on_day(u, d))
            yield run_unit(u, status_dir, cb)
        return
    # spawn: a clean interpreter per worker (no forked BLAS/torch thread state)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        pending: dict[Future[UnitResult], Unit] = {
            pool.submit(run_unit, u, status_dir): u for u in units}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                unit = pending.pop(fut)
                try:
                    yield fut.result()
                except Exception as err:
                    raise BackendError(f"run {unit.key} failed: {type(err).__name__}: {err}"
                                       ) from err


# --------------------------------------------------------------------------- ray
def check_ray_address(address: str, timeout: float = 3.0) -> None:
    """Fail fast, with the address in the message, when nothing listens at ``host:port``."""
    if address in ("auto", "local"):
        return
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise BackendError(f"Ray address {address!r} is not HOST:PORT, ray://HOST:PORT, "
                           f"'auto' or 'local'")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as err:
        raise BackendError(f"Ray address {address!r} does not answer ({err}); start the "
                           f"cluster (`ray start --head`) or omit --address to run a local "
                           f"Ray") from None


def _package_root() -> str:
    import recsim_llm

    return str(Path(recsim_llm.__file__).resolve().parents[1])


def run_ray(units: Sequence[Unit], address: str | None = None, workers: int | None = None,
            status_dir: str | None = None, max_retries: int = 3,
            gpus_per_run: float = 0.0, stats: dict[str, Any] | None = None
            ) -> Iterator[UnitResult]:
    """Yield each unit's result as its Ray task finishes.

    ``address=None`` starts a local Ray with ``workers`` CPUs (its workers import this same
    ``recsim_llm``); otherwise connects to the cluster at ``address``. A task whose worker
    dies (killed, out of memory, node lost) is retried up to ``max_retries`` times; a run that
    raises is not (it would raise again) and stops the suite with its error. ``stats`` (if
    given) receives ``startup_s``, the seconds to start or reach Ray, and ``cluster_cpus``.
    """
    if address is not None:
        check_ray_address(address)
    try:
        import ray
        from ray.exceptions import RayError
    except ImportError:
        raise BackendError("the Ray backend needs ray: pip install 'recsim-llm[ray]'") from None
    started_here = False
    t0 = time.perf_counter()
    if not ray.is_initialized():
        kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                              "configure_logging": False}
        if address in (None, "local"):
            kw.update(num_cpus=workers or os.cpu_count() or 1,
                      runtime_env={"env_vars": {"PYTHONPATH": _package_root()}})
        else:
            kw["address"] = address
        try:
            ray.init(**kw)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise BackendError(f"cannot start or reach Ray at {address or 'local'}: {err}"
                               ) from None
        started_here = True
    if stats is not None:
        stats.update(startup_s=round(time.perf_counter() - t0, 2),
                     cluster_cpus=float(ray.cluster_resources().get("CPU", 0.0)))
    try:
        if gpus_per_run > 0:
            have = float(ray.cluster_resources().get("GPU", 0.0))
            if have < gpus_per_run:
                raise BackendError(
                    f"the suite asks {gpus_per_run:g} GPU(s) per run, but the Ray cluster at "
                    f"{address or 'local'} has {have:g}; set gpus_per_run = 0 or add GPU nodes "
                    f"(a task asking for absent GPUs would wait forever)")
        task: Any = ray.remote(num_cpus=1, num_gpus=gpus_per_run, max_retries=max_retries,
                          retry_exceptions=False)(run_unit)
        refs = {task.remote(u, status_dir): u for u in units}
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            for ref in done:
                unit = refs.pop(ref)
                try:
                    yield ray.get(ref)
                except RayError as err:
                    raise BackendError(f"run {unit.key} failed on Ray: {err}") from None
    finally:
        if started_here:
            ray.shutdown()
