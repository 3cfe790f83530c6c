"""Shared machinery for everything a rerun may reuse: code version, checksummed frames, atomic
writes with unique temporary names, and I/O errors as one clear line.

Why one module: parts, checkpoints, trajectories and the manifest are all written by the same
rules -- a temporary file with a name no other process can pick, flushed, renamed over the
target, removed if anything fails -- and read back only after a checksum that also binds the
bytes to the code version and the run they belong to (so a part written by another encoder or
another version of the simulator is never taken for this run's).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import uuid
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from recsim_llm import __version__

TEMP_MARK = ".tmp-"
"""Every temporary file is named ``.<target>.tmp-<pid>-<random>``: unique per writer."""


class RunIOError(OSError):
    """An I/O error while reading or writing run files, as one line naming the file."""

    def __str__(self) -> str:  # OSError's default adds "[Errno n]": keep the one clear line
        return str(self.args[0]) if self.args else "I/O error"


class IntegrityError(RuntimeError):
    """A reused file is damaged or belongs to another run/code version."""


@lru_cache(maxsize=1)
def code_version() -> str:
    """``<version>+<sha256 of the package's .py sources, 16 hex>``.

    Results depend on the code, not only on the version number: a part or checkpoint written by
    an edited simulator must not be resumed by another. Hashing the sources (a few hundred kB,
    ~1 ms) catches every edit, committed or not.
    """
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(path.read_bytes())
    return f"{__version__}+{h.hexdigest()[:16]}"


def describe_os_error(err: OSError) -> str:
    """The reason of an OSError in words (``no space left on device``, ...)."""
    if err.errno == errno.EFBIG:
        return "file too large (file size limit reached)"
    return (err.strerror or str(err)).lower()


def temp_path(path: Path) -> Path:
    """A temporary name next to ``path`` that no other writer can choose."""
    return path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:12]}")


def write_atomic(path: Path, writer: Callable[[Path], None], *, fsync: bool = True) -> None:
    """Write ``path`` via ``writer(tmp)`` and a rename; on any failure remove the temp file.

    A reader (or a later run) sees the old file or the new one, never half of one.

    Raises:
        RunIOError: the write failed (disk full, read-only folder, ...), naming ``path``.
    """
    tmp = temp_path(path)
    try:
        writer(tmp)
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except OSError as err:
        _remove(tmp)
        raise RunIOError(f"cannot write {path}: {describe_os_error(err)}") from err
    except BaseException:
        _remove(tmp)
        raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """:func:`write_atomic` of raw bytes."""
    def write(p: Path) -> None:
        p.write_bytes(data)

    write_atomic(path, write)


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:  # pragma: no cover - best effort on a failing file system
        pass


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete temporary files left in ``folder`` (recursively) by writers that were killed.

    Call only while holding the folder's lock: then no live writer owns them.
    """
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for p in folder.rglob(f".*{TEMP_MARK}*"):
        if p.is_file():
            _remove(p)
            removed.append(p)
    return removed


MAGIC_LEN = 8
DIGEST_LEN = 32


def frame(magic: bytes, payload: bytes, binding: str) -> bytes:
    """``magic`` + SHA-256(binding + payload) + payload.

    ``binding`` (e.g. code version, encoder identity, run key) enters the checksum but is not
    stored: a frame verifies only for the run it was written for.
    """
    assert len(magic) == MAGIC_LEN
    digest = hashlib.sha256(binding.encode() + b"\0" + payload).digest()
    return magic + digest + payload


def unframe(magic: bytes, raw: bytes, binding: str, path: Path) -> bytes:
    """The payload of a :func:`frame`, or :class:`IntegrityError` naming ``path`` and why."""
    if len(raw) < MAGIC_LEN + DIGEST_LEN or raw[:MAGIC_LEN] != magic:
        raise IntegrityError(f"{path} is truncated or not a recsim_llm file of this kind")
    digest, payload = raw[MAGIC_LEN:MAGIC_LEN + DIGEST_LEN], raw[MAGIC_LEN + DIGEST_LEN:]
    if hashlib.sha256(binding.encode() + b"\0" + payload).digest() != digest:
        raise IntegrityError(f"{path} is damaged or was written by another run or code version "
                             "(checksum mismatch)")
    return payload


def read_bytes(path: Path) -> bytes:
    """``path.read_bytes()`` with a one-line :class:`RunIOError`."""
    try:
        return path.read_bytes()
    except OSError as err:
        raise RunIOError(f"cannot read {path}: {describe_os_error(err)}") from err


class NotAJSONObjectError(ValueError):
    """A JSON run file (a manifest) that is not UTF-8, not JSON, or not a JSON object."""


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object stored in ``path`` (a ``manifest.json``): the one reader of manifests.

    Raises:
        RunIOError: the file cannot be read (one line naming it).
        NotAJSONObjectError: its bytes are not UTF-8 JSON, or the JSON is not an object (one
            line naming the file; each caller adds what to do about it).
    """
    raw = read_bytes(path)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise NotAJSONObjectError(f"{path} is unreadable: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise NotAJSONObjectError(f"{path} is unreadable: not a JSON object")
    return data
