"""Checkpoints of a running simulation: append-only, checksummed, refused when damaged.

A checkpoint of ``unit.ckpt`` is two files:

* ``unit.ckpt.log``: the *growing* parts of the state (daily rows, trajectory lists: everything
  that only ever gets longer) as a sequence of records, each holding only what is new since the
  previous checkpoint. A record is ``MAGIC`` + its length (8 bytes) + SHA-256 + payload.
* ``unit.ckpt``: the *fixed-size* rest (simulator arrays, platform log, policy parameters,
  RNG states), rewritten at each checkpoint via a uniquely named temporary file and a rename.
  It records how many bytes of the log and how many elements of each growing list it goes with.

So the bytes written per checkpoint do not grow with the day reached (a 400-day request log
used to be rewritten whole at every checkpoint: 697 MB written for 7 MB of results). A run
killed at any instant leaves a consistent checkpoint: the fixed file is replaced atomically and
points at a log prefix that was fsynced before it; log bytes past that prefix (a record cut off
mid-write) are ignored on load and truncated before the next append. Every frame's checksum is
bound to the world fingerprint and the code version: a checkpoint written for another world,
encoder or version of the code is refused with one line naming the file.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np

from recsim_llm.integrity import (
    IntegrityError,
    RunIOError,
    code_version,
    describe_os_error,
    frame,
    unframe,
    write_bytes_atomic,
)

MAGIC = b"RSLCKPT2"
LOG_MAGIC = b"RSLCKLG2"
_LEN = struct.Struct("<Q")

DEFAULT_GROWING = ("recorder.rows", "recorder.group_rows", "trajectory")
"""Dotted keys of the run loop's snapshot whose lists only grow: a key naming a list is that
list; a key naming a dict means every list directly inside it."""


class CheckpointError(RuntimeError):
    """A checkpoint is damaged or belongs to another run."""


def world_fingerprint(world: Any) -> str:
    """Hash of the world's embeddings and config: a checkpoint only resumes the same world."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(world.item_emb).tobytes())
    h.update(np.ascontiguousarray(world.interest0).tobytes())
    h.update(repr(world.cfg.to_dict()).encode())
    h.update(str(getattr(world, "encoder_identity", "")).encode())
    return h.hexdigest()


def log_path(path: Path) -> Path:
    """The append-only log file of checkpoint ``path``."""
    return path.with_name(path.name + ".log")


def checkpoint_exists(path: Path) -> bool:
    return Path(path).exists()


def remove_checkpoint(path: Path) -> None:
    """Delete a checkpoint (both files); a finished unit needs neither."""
    path = Path(path)
    for p in (path, log_path(path)):
        try:
            p.unlink()
        except FileNotFoundError:
            pass
        except OSError as err:
            raise RunIOError(f"cannot delete {p}: {describe_os_error(err)}") from err
    _WRITTEN.pop(_key(path), None)


# -------------------------------------------------------------------------- state splitting


def _growing_lists(state: dict[str, Any], growing: tuple[str, ...]) -> dict[str, list[Any]]:
    """The append-only lists of ``state`` by dotted key."""
    out: dict[str, list[Any]] = {}
    for key in growing:
        node: Any = state
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, list):
            out[key] = node
        elif isinstance(node, dict):
            out.update({f"{key}.{k}": v for k, v in node.items() if isinstance(v, list)})
    return out


def _without(state: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """A shallow copy of ``state`` with the lists at ``keys`` replaced by None."""
    out = dict(state)
    for key in keys:
        parts = key.split(".")
        node = out
        for p in parts[:-1]:
            node[p] = dict(node[p])
            node = node[p]
        node[parts[-1]] = None
    return out


def _put(state: dict[str, Any], key: str, value: list[Any]) -> None:
    parts = key.split(".")
    node = state
    for p in parts[:-1]:
        node = node[p]
    node[parts[-1]] = value


# -------------------------------------------------------------------------- writing

_WRITTEN: dict[str, tuple[dict[str, int], int]] = {}
"""Per checkpoint path (this process): list lengths and log bytes the last save wrote."""


def _key(path: Path) -> str:
    return str(Path(path).resolve())


def _binding() -> str:
    # The world fingerprint is checked separately (after the checksum) so that the message can
    # say "different world" rather than "damaged".
    return f"recsim_llm checkpoint|{code_version()}"


def save_checkpoint(path: Path, state: dict[str, Any], fingerprint: str,
                    growing: tuple[str, ...] = DEFAULT_GROWING) -> int:
    """Append what is new in ``state`` since the last checkpoint of ``path``; return bytes written.

    ``state`` is plain data (arrays, lists, numbers). The lists named by ``growing`` must only
    have grown since the previous save (rows are appended, never edited).

    Raises:
        RunIOError: the disk is full or the folder unwritable (the previous checkpoint stays).
        CheckpointError: a growing list shrank (it is not append-only).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunIOError(f"cannot create {path.parent}: {describe_os_error(err)}") from err
    lists = _growing_lists(state, growing)
    key = _key(path)
    if not path.exists():
        _WRITTEN[key] = ({}, 0)  # no checkpoint yet: a leftover log means nothing, start over
    elif key not in _WRITTEN:
        load_checkpoint(path, fingerprint, growing)  # learns what the files hold
    lengths, log_bytes = _WRITTEN[key]
    tails = {}
    for k, lst in lists.items():
        done = lengths.get(k, 0)
        if len(lst) < done:
            raise CheckpointError(f"checkpoint {path}: list {k!r} shrank from {done} to "
                                  f"{len(lst)} entries; it must be append-only")
        tails[k] = lst[done:]
    binding = _binding()
    record = frame(LOG_MAGIC, pickle.dumps(tails, protocol=pickle.HIGHEST_PROTOCOL), binding)
    record = record[:8] + _LEN.pack(len(record) - 8 - 32) + record[8:]
    lpath = log_path(path)
    try:
        with open(lpath, "r+b" if lpath.exists() else "wb") as fh:
            fh.truncate(log_bytes)  # drop a record cut off by a killed write
            fh.seek(log_bytes)
            fh.write(record)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as err:
        _WRITTEN.pop(key, None)  # the file may hold a partial record: re-learn on next save
        raise RunIOError(f"cannot write checkpoint {lpath}: {describe_os_error(err)}") from err
    new_lengths = {k: len(v) for k, v in lists.items()}
    fixed = {"fingerprint": fingerprint, "lengths": new_lengths,
             "log_bytes": log_bytes + len(record), "state": _without(state, list(lists))}
    payload = frame(MAGIC, pickle.dumps(fixed, protocol=pickle.HIGHEST_PROTOCOL), binding)
    try:
        write_bytes_atomic(path, payload)
    except RunIOError:
        _WRITTEN.pop(key, None)
        raise
    _WRITTEN[key] = (new_lengths, log_bytes + len(record))
    return len(record) + len(payload)


# -------------------------------------------------------------------------- reading


def _hint() -> str:
    return "delete it (and its .log) to restart this run from day 1"


def _verify(magic: bytes, raw: bytes, binding: str, path: Path, what: str) -> bytes:
    if len(raw) < 40 or raw[:8] != magic:
        if raw[:6] == magic[:6] and len(raw) >= 8:
            raise CheckpointError(f"{what} {path} was written by another recsim_llm (format "
                                  f"{raw[:8]!r}); {_hint()}")
        raise CheckpointError(f"{what} {path} is not a recsim_llm checkpoint or is truncated; "
                              f"{_hint()}")
    try:
        return unframe(magic, raw, binding, path)
    except IntegrityError as err:
        raise CheckpointError(
            f"{what} {path} is corrupted or was written by another code version than "
            f"{code_version()} (checksum mismatch); {_hint()}") from err


def read_checkpoint(path: Path, fingerprint: str = "",
                    growing: tuple[str, ...] = DEFAULT_GROWING) -> dict[str, Any]:
    """Read and verify a checkpoint (both files); raise :class:`CheckpointError` if damaged."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise CheckpointError(f"checkpoint {path} cannot be read: "
                              f"{describe_os_error(err)}") from err
    binding = _binding()
    payload = _verify(MAGIC, raw, binding, path, "checkpoint")
    try:
        fixed = pickle.loads(payload)
    except Exception as err:  # the checksum matched, so this is a version problem
        raise CheckpointError(f"checkpoint {path} cannot be decoded ({err}); {_hint()}") from err
    lpath = log_path(path)
    want = int(fixed["log_bytes"])
    try:
        log = lpath.read_bytes()[:want] if want else b""
    except OSError as err:
        raise CheckpointError(f"checkpoint log {lpath} cannot be read: "
                              f"{describe_os_error(err)}; {_hint()}") from err
    if len(log) < want:
        raise CheckpointError(f"checkpoint log {lpath} is truncated ({len(log)} of {want} "
                              f"bytes); {_hint()}")
    lists: dict[str, list[Any]] = {k: [] for k in fixed["lengths"]}
    pos = 0
    while pos < len(log):
        n = _LEN.unpack_from(log, pos + 8)[0] if pos + 16 <= len(log) else -1
        end = pos + 16 + 32 + n
        if n < 0 or end > len(log):
            raise CheckpointError(f"checkpoint log {lpath} is truncated at byte {pos}; {_hint()}")
        rec = log[pos:pos + 8] + log[pos + 16:end]
        tails = pickle.loads(_verify(LOG_MAGIC, rec, binding, lpath, "checkpoint log"))
        for k, tail in tails.items():
            lists.setdefault(k, []).extend(tail)
        pos = end
    for k, n in fixed["lengths"].items():
        if len(lists[k]) != n:
            raise CheckpointError(f"checkpoint log {lpath} holds {len(lists[k])} entries of "
                                  f"{k!r}, its checkpoint expects {n}; {_hint()}")
    state = fixed["state"]
    for k, lst in lists.items():
        _put(state, k, lst)
    _WRITTEN[_key(path)] = (dict(fixed["lengths"]), want)
    return {"fingerprint": fixed["fingerprint"], **state}


def load_checkpoint(path: Path, fingerprint: str,
                    growing: tuple[str, ...] = DEFAULT_GROWING) -> dict[str, Any]:
    """Read, verify and return the state saved in ``path`` for the world ``fingerprint``."""
    data = read_checkpoint(path, fingerprint, growing)
    if data.get("fingerprint") != fingerprint:
        _WRITTEN.pop(_key(path), None)
        raise CheckpointError(f"checkpoint {path} was written for a different world (config, "
                              f"data or encoder changed); {_hint()}")
    return data
