"""Checkpoints of a running simulation: atomic, checksummed, refused when damaged.

File layout: ``MAGIC`` (8 bytes) + SHA-256 of the payload (32 bytes) + payload (a pickle of
the simulator, platform history, recorders and policy states). A checkpoint is written to a
temporary file, flushed to disk and renamed over the old one, so a run killed at any instant
leaves either the previous checkpoint or the new one, never half of one. On load the magic and
the checksum are verified; any mismatch raises :class:`CheckpointError` instead of resuming from
damaged state.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = b"RSLCKPT1"


class CheckpointError(RuntimeError):
    """A checkpoint is damaged or belongs to another run."""


def world_fingerprint(world: Any) -> str:
    """Hash of the world's embeddings and config: a checkpoint only resumes the same world."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(world.item_emb).tobytes())
    h.update(np.ascontiguousarray(world.interest0).tobytes())
    h.update(repr(world.cfg.to_dict()).encode())
    return h.hexdigest()


def save_checkpoint(path: Path, state: dict[str, Any], fingerprint: str) -> None:
    """Write ``state`` (plain data: arrays, lists, numbers) atomically with its checksum."""
    payload = pickle.dumps({"fingerprint": fingerprint, **state},
                           protocol=pickle.HIGHEST_PROTOCOL)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(MAGIC + hashlib.sha256(payload).digest() + payload)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Read and verify a checkpoint file; raise :class:`CheckpointError` if damaged."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise CheckpointError(f"checkpoint {path} cannot be read: {err}") from err
    hint = "delete it to restart this run from day 1"
    if len(raw) < len(MAGIC) + 32 or raw[: len(MAGIC)] != MAGIC:
        raise CheckpointError(f"checkpoint {path} is not a recsim_llm checkpoint or is "
                              f"truncated; {hint}")
    digest, payload = raw[len(MAGIC):len(MAGIC) + 32], raw[len(MAGIC) + 32:]
    if hashlib.sha256(payload).digest() != digest:
        raise CheckpointError(f"checkpoint {path} is corrupted (checksum mismatch); {hint}")
    try:
        return pickle.loads(payload)
    except Exception as err:  # the checksum matched, so this is a version problem
        raise CheckpointError(f"checkpoint {path} cannot be decoded ({err}); {hint}") from err


def load_checkpoint(path: Path, fingerprint: str) -> dict[str, Any]:
    """Read, verify and return the state saved in ``path`` for the world ``fingerprint``."""
    data = read_checkpoint(path)
    if data.get("fingerprint") != fingerprint:
        raise CheckpointError(f"checkpoint {path} was written for a different world (config, "
                              f"data or encoder changed); delete it to restart this run")
    return data
