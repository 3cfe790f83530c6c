"""The results folder of :func:`recsim_llm.runner.simulate`: one run at a time, verified reuse.

Layout of ``--out``::

    .lock                 held (flock) by the one simulate process using the folder
    manifest.json         what run this folder holds; ``complete`` turns true at the very end
    parts/<unit>.part     finished (policy, seed) units: checksummed, bound to the run
    checkpoints/<unit>.ckpt(.log)   append-only checkpoints of unfinished units
    trajectories/<unit>.npz/.json   per-unit arrays (sha256 in the .json)
    daily.csv, groups.csv, users.csv

Rules: a second run on the same folder is refused at once with a message naming the holder; a
folder of another run is refused naming the keys that differ; every write goes through a
uniquely named temporary file that is removed if the write fails, and temporaries left by a
killed run are removed when the next run takes the lock; a part is used only if its checksum --
over its bytes, the code version, the encoder identity and the run's configuration -- verifies,
and a damaged part (or one whose trajectory is damaged) is recomputed, with a warning.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pickle
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from recsim_llm.integrity import (
    IntegrityError,
    NotAJSONObjectError,
    RunIOError,
    code_version,
    describe_os_error,
    frame,
    read_bytes,
    read_json_object,
    remove_stale_temps,
    unframe,
    write_atomic,
    write_bytes_atomic,
)

RESULT_FORMAT = 2
"""version of the results-folder layout; a folder of another format is refused"""

PART_MAGIC = b"RSLPART2"

MANIFEST_KEYS = ("config", "policies", "seeds", "log_level", "data_path", "train_days",
                 "freeze")
"""Manifest entries that must agree for a rerun to resume a folder."""


class IncompatibleRunError(ValueError):
    """A results folder holds a different run (config, policies, seeds or format)."""


class FolderLockedError(RuntimeError):
    """Another process is running on the same results folder."""


class DamagedPartWarning(UserWarning):
    """A finished unit's stored results were damaged and are being recomputed."""


def differing_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts (``a.b: 1 there, 2 now``)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in list(dict.fromkeys([*old, *new])):
            key = f"{prefix}{k}"
            if k not in old:
                out.append(f"{key} (absent there, {new[k]!r} now)")
            elif k not in new:
                out.append(f"{key} ({old[k]!r} there, absent now)")
            else:
                out += differing_keys(old[k], new[k], f"{key}.")
        return out
    if old != new:
        return [f"{prefix.rstrip('.')} ({old!r} there, {new!r} now)"]
    return []


def check_existing(out: Path, new: dict[str, Any]) -> None:
    """Refuse a folder that holds another run, naming the keys that differ."""
    path = out / "manifest.json"
    if not path.exists():
        return
    try:
        old = read_json_object(path)
    except NotAJSONObjectError as err:
        raise IncompatibleRunError(f"{err}; use another --out") from err
    if old.get("result_format") != RESULT_FORMAT:
        raise IncompatibleRunError(
            f"{out} was written by recsim_llm {old.get('recsim_llm_version', '?')} in results "
            f"format {old.get('result_format')!r}; this version writes format {RESULT_FORMAT}. "
            f"Use another --out")
    diffs = []
    for key in MANIFEST_KEYS:
        diffs += differing_keys(old.get(key), new.get(key), f"{key}.")
    if diffs:
        shown = "; ".join(diffs[:6]) + ("; ..." if len(diffs) > 6 else "")
        raise IncompatibleRunError(
            f"{out} holds another run: {len(diffs)} key(s) differ: {shown}. Use another --out, "
            "or delete the folder to start over")


class ResultsStore:
    """One run's use of a results folder (see the module docstring).

    Use as a context manager: entering checks the manifest, creates the folders, takes the
    lock and writes the incomplete manifest; leaving releases the lock.
    """

    def __init__(self, out: Path, info: dict[str, Any]) -> None:
        self.out = Path(out)
        self.info = info
        self._lock_fd: int | None = None
        self.encoder_identity = ""

    # ------------------------------------------------------------------ folder and lock

    def __enter__(self) -> ResultsStore:
        out = self.out
        check_existing(out, self.info)
        try:
            out.mkdir(parents=True, exist_ok=True)
            for sub in ("parts", "checkpoints", "trajectories"):
                (out / sub).mkdir(exist_ok=True)
        except OSError as err:
            raise RunIOError(f"cannot create results folder {out}: "
                             f"{describe_os_error(err)}") from err
        self._lock()
        try:
            check_existing(out, self.info)  # another run may have finished meanwhile
            remove_stale_temps(out)
            self.write_manifest(complete=False)
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._unlock()

    def _lock(self) -> None:
        path = self.out / ".lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise RunIOError(f"cannot create lock file {path}: {describe_os_error(err)}") from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "?"
            finally:
                os.close(fd)
            raise FolderLockedError(
                f"{self.out} is in use by another simulate run ({holder}); wait for it to "
                "finish or use another --out") from None
        # The lock is the flock, not the file's content: it is released even on SIGKILL.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(),
                  0)
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # ------------------------------------------------------------------ files

    def write_manifest(self, complete: bool) -> None:
        body = json.dumps({**self.info, "complete": complete}, indent=2)
        write_bytes_atomic(self.out / "manifest.json", body.encode())

    def write_csv(self, name: str, df: pd.DataFrame) -> None:
        write_atomic(self.out / name, lambda p: df.to_csv(p, index=False))

    def part_path(self, unit: str) -> Path:
        return self.out / "parts" / f"{unit}.part"

    def checkpoint_path(self, unit: str) -> Path:
        return self.out / "checkpoints" / f"{unit}.ckpt"

    def trajectory_path(self, unit: str) -> Path:
        return self.out / "trajectories" / f"{unit}.npz"

    def _binding(self, unit: str) -> str:
        key = {k: self.info.get(k) for k in MANIFEST_KEYS if k not in ("policies", "seeds")}
        blob = json.dumps({**key, "unit": unit, "encoder": self.encoder_identity,
                           "code": code_version()}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def write_part(self, unit: str, value: Any) -> None:
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        write_bytes_atomic(self.part_path(unit), frame(PART_MAGIC, payload, self._binding(unit)))

    def read_part(self, unit: str) -> Any | None:
        """The stored results of a finished unit, or None (absent or damaged: recompute)."""
        path = self.part_path(unit)
        if not path.exists():
            return None
        try:
            value = pickle.loads(unframe(PART_MAGIC, read_bytes(path), self._binding(unit),
                                         path))
            self._verify_trajectory(unit)
        except (IntegrityError, pickle.UnpicklingError, EOFError, ValueError) as err:
            warnings.warn(f"{err}: recomputing this unit", DamagedPartWarning, stacklevel=2)
            self.discard_part(unit)
            return None
        return value

    def _verify_trajectory(self, unit: str) -> None:
        from recsim_llm.analysis.trajectory import verify_trajectory

        verify_trajectory(self.trajectory_path(unit))

    def discard_part(self, unit: str) -> None:
        try:
            self.part_path(unit).unlink(missing_ok=True)
        except OSError as err:
            raise RunIOError(f"cannot delete {self.part_path(unit)}: "
                             f"{describe_os_error(err)}") from err
