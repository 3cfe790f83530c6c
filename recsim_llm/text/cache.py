"""A persistent on-disk embedding cache (stdlib sqlite3) and an encoder wrapper that uses it.

Embedding a catalog or a population of personas with a transformer is the slowest step of building
an environment; the cache makes every later run (and every seed of an experiment) reuse them.
Entries are keyed by (encoder identity, sha256 of the text), so two encoders never share vectors.

Integrity ("it is only a cache"): every row carries a SHA-256 over its identity, text key, width,
vector bytes and the encoder code version, checked on every read -- flipped bits inside a vector
(which sqlite's own ``integrity_check`` does not see) make the row a miss, so it is re-encoded and
overwritten. A file that is not a readable database is deleted and rebuilt, with a warning. An
unwritable cache location is reported as such, and the encoder then runs without a cache.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import warnings
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import numpy.typing as npt

from recsim_llm.text.base import FloatArray, TextEncoder

CACHE_ENV_VAR = "RECSIM_LLM_CACHE"
CACHE_FILE_NAME = "embeddings.sqlite"
# Stay well below SQLite's bound-parameter limit (999 on old builds) in ``IN (...)`` queries.
_CHUNK = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    identity  TEXT    NOT NULL,
    text_hash BLOB    NOT NULL,
    dim       INTEGER NOT NULL,
    vector    BLOB    NOT NULL,
    checksum  BLOB    NOT NULL,
    PRIMARY KEY (identity, text_hash)
) WITHOUT ROWID
"""
_SCHEMA_VERSION = 2
"""``PRAGMA user_version`` of this layout; a file of another version is rebuilt"""


class CacheLocationError(RuntimeError):
    """The cache folder or file cannot be created or written (not a damaged cache)."""


class CacheRebuiltWarning(UserWarning):
    """The cache file (or some of its rows) was damaged and is being rebuilt."""


@lru_cache(maxsize=1)
def encoder_code_version() -> str:
    """Version + hash of the encoder sources: vectors cached by other encoder code are misses."""
    from recsim_llm import __version__

    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in ("base.py", "hashing.py", "transformer.py"):
        p = here / name
        if p.is_file():
            h.update(p.read_bytes())
    return f"{__version__}+{h.hexdigest()[:16]}"


def _row_checksum(identity: str, key: bytes, dim: int, blob: bytes) -> bytes:
    h = hashlib.sha256(identity.encode("utf-8", "surrogatepass"))
    h.update(b"\0" + key + dim.to_bytes(8, "little") + blob)
    h.update(encoder_code_version().encode())
    return h.digest()


def default_cache_dir() -> Path:
    """Directory of the embedding cache.

    Returns:
        ``$RECSIM_LLM_CACHE`` if that variable is set and non-empty, else ``~/.cache/recsim_llm``.
    """
    env = os.environ.get(CACHE_ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "recsim_llm"


def _text_key(text: str) -> bytes:
    """32-byte sha256 of the UTF-8 text (``surrogatepass`` so no str can fail to encode)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class EmbeddingCache:
    """Embeddings stored in ``<dir>/embeddings.sqlite``.

    The connection is opened lazily and re-opened after a ``fork`` (sqlite connections must not
    cross processes), so one instance may be handed to worker processes.

    Args:
        path: Cache directory; ``None`` means :func:`default_cache_dir`. Created if missing.

    Raises:
        RuntimeError: (on first use) if the file is not a readable SQLite database; the message
            names the file and says to delete it.
    """

    def __init__(self, path: Path | str | None = None) -> None:
        self.dir: Path = Path(path).expanduser() if path is not None else default_cache_dir()
        self.file: Path = self.dir / CACHE_FILE_NAME
        self._conn: sqlite3.Connection | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    # -- connection handling -------------------------------------------------------------------

    def _corrupt(self, err: BaseException) -> RuntimeError:
        return RuntimeError(
            f"The embedding cache {self.file} is corrupted or unreadable ({err}). "
            f"Delete that file (it is only a cache and will be rebuilt) and run again."
        )

    def _location_error(self, err: BaseException) -> CacheLocationError:
        return CacheLocationError(
            f"embedding cache location {self.dir} is not writable ({err}); set "
            f"{CACHE_ENV_VAR} to a writable folder"
        )

    def _raise(self, err: sqlite3.Error) -> NoReturn:
        """Re-raise an sqlite error: lock contention as is, anything else as a bad-file error."""
        msg = str(err).lower()
        if isinstance(err, sqlite3.OperationalError) and ("locked" in msg or "busy" in msg):
            raise err
        if isinstance(err, sqlite3.OperationalError) and (
                "unable to open" in msg or "readonly" in msg or "read-only" in msg):
            raise self._location_error(err) from err
        raise self._corrupt(err) from err

    def _rebuild(self, err: BaseException) -> None:
        """Delete a damaged cache file (and its journals) so that it is rebuilt."""
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
        self._conn, self._pid = None, None
        warnings.warn(f"embedding cache {self.file} was damaged ({err}); deleted, it is being "
                      "rebuilt (it is only a cache)", CacheRebuiltWarning, stacklevel=4)
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                Path(f"{self.file}{suffix}").unlink()
            except FileNotFoundError:
                pass
            except OSError as os_err:
                raise self._corrupt(err) from os_err

    def _open(self) -> sqlite3.Connection:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise self._location_error(err) from err
        if not os.access(self.dir, os.W_OK) or (
                self.file.exists() and not os.access(self.file, os.W_OK)):
            raise self._location_error(PermissionError("permission denied"))
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves so a batch is one transaction.
            conn = sqlite3.connect(
                self.file, timeout=60.0, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as err:
            self._raise(err)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version != _SCHEMA_VERSION:
                # An older layout (no row checksums): its vectors cannot be verified, rebuild.
                conn.execute("DROP TABLE IF EXISTS embeddings")
                conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            conn.execute(_SCHEMA)
            # Touch the table so a non-database file fails here with a clear message.
            conn.execute("SELECT 1 FROM embeddings LIMIT 1").fetchall()
        except sqlite3.Error as err:
            conn.close()
            self._raise(err)
        return conn

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        try:
            conn = self._open()
        except CacheLocationError:
            raise
        except RuntimeError as err:  # a damaged file: it is only a cache, rebuild it
            if not self.file.exists():
                raise
            self._rebuild(err.__cause__ or err)
            conn = self._open()
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _recover(self, err: sqlite3.Error) -> None:
        """A query failed: contention and location errors propagate, damage rebuilds."""
        try:
            self._raise(err)
        except CacheLocationError:
            raise
        except sqlite3.OperationalError:
            raise
        except RuntimeError:
            self._rebuild(err)

    def close(self) -> None:
        """Close the connection (it is reopened on the next use)."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
            self._pid = None

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- queries -------------------------------------------------------------------------------

    def get_many(
        self, identity: str, texts: Sequence[str], dim: int | None = None
    ) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        """Look ``texts`` up for encoder ``identity``.

        Args:
            identity: The encoder's ``identity``.
            texts: n strings (duplicates allowed).
            dim: Expected width; when given, stored vectors of another width count as misses and
                the result has shape [0, dim] when nothing hits.

        Returns:
            ``(vectors, mask)``: ``mask`` is bool [n], True where the text was found; ``vectors``
            is float32 [mask.sum(), d], the hits in the order of ``texts``. With no hits and no
            ``dim`` given, ``vectors`` has shape [0, 0].

        Raises:
            RuntimeError: If the cache file is corrupted.
        """
        keys = [_text_key(t) for t in texts]
        found: dict[bytes, bytes] = {}
        found_dim: dict[bytes, int] = {}
        unique = list(dict.fromkeys(keys))
        damaged = 0
        with self._lock:
            conn = self._connection()
            try:
                for start in range(0, len(unique), _CHUNK):
                    chunk = unique[start : start + _CHUNK]
                    marks = ",".join("?" * len(chunk))
                    rows = conn.execute(
                        "SELECT text_hash, dim, vector, checksum FROM embeddings "
                        f"WHERE identity = ? AND text_hash IN ({marks})",
                        [identity, *chunk],
                    ).fetchall()
                    for key, d, blob, check in rows:
                        # A row that fails its checksum (flipped bits, other encoder code) or
                        # has the wrong width is a miss: re-encoded and overwritten later.
                        if _row_checksum(identity, key, d, blob) != check or len(blob) != 4 * d:
                            damaged += 1
                        elif dim is None or d == dim:
                            found[key], found_dim[key] = blob, d
            except sqlite3.Error as err:
                self._recover(err)
                found.clear()
                found_dim.clear()
        if damaged:
            warnings.warn(f"{damaged} cached embedding(s) in {self.file} failed their checksum "
                          "(damaged or written by other encoder code); they are re-encoded",
                          CacheRebuiltWarning, stacklevel=2)
        mask = np.fromiter((k in found for k in keys), dtype=bool, count=len(keys))
        hit_keys = [k for k in keys if k in found]
        if not hit_keys:
            return np.zeros((0, dim or 0), dtype=np.float32), mask
        widths = {found_dim[k] for k in hit_keys}
        if len(widths) != 1:
            raise RuntimeError(
                f"The embedding cache {self.file} holds vectors of several widths {sorted(widths)}"
                f" for identity {identity!r}; pass dim= or delete the file."
            )
        d = widths.pop()
        vectors = np.frombuffer(b"".join(found[k] for k in hit_keys), dtype="<f4").reshape(-1, d)
        return vectors.astype(np.float32), mask  # astype copies: the result is writable

    def put_many(self, identity: str, texts: Sequence[str], vectors: npt.ArrayLike) -> None:
        """Store ``vectors[i]`` as the embedding of ``texts[i]`` under ``identity``.

        All rows are written in one transaction: either every row lands or none does, even if
        the process is killed midway.

        Args:
            identity: The encoder's ``identity``.
            texts: n strings.
            vectors: Array of shape [n, d]; stored as little-endian float32.

        Raises:
            ValueError: If the shapes disagree.
            RuntimeError: If the cache file is corrupted.
        """
        arr = np.asarray(vectors)
        if arr.ndim != 2 or arr.shape[0] != len(texts):
            raise ValueError(f"vectors must have shape [{len(texts)}, d], got {arr.shape}")
        if len(texts) == 0:
            return
        arr = np.ascontiguousarray(arr, dtype="<f4")
        d = int(arr.shape[1])
        # A generator: rows are built while the transaction is open, so memory stays flat and a
        # failure midway rolls back everything written by this call.
        def rows() -> Any:
            for i, t in enumerate(texts):
                key, blob = _text_key(t), arr[i].tobytes()
                yield identity, key, d, blob, _row_checksum(identity, key, d, blob)

        with self._lock:
            for attempt in (0, 1):
                conn = self._connection()
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        conn.executemany(
                            "INSERT OR REPLACE INTO embeddings "
                            "(identity, text_hash, dim, vector, checksum) VALUES (?, ?, ?, ?, ?)",
                            rows(),
                        )
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                    conn.execute("COMMIT")
                    return
                except sqlite3.Error as err:
                    if attempt:
                        self._raise(err)
                    self._recover(err)

    def count(self, identity: str | None = None) -> int:
        """Number of stored vectors (for ``identity`` only, if given)."""
        with self._lock:
            conn = self._connection()
            try:
                if identity is None:
                    row = conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()
                else:
                    row = conn.execute(
                        "SELECT COUNT(*) FROM embeddings WHERE identity = ?", (identity,)
                    ).fetchone()
            except sqlite3.Error as err:
                self._raise(err)
        return int(row[0])

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.dir)!r})"


class CachedEncoder:
    """Wraps a :class:`TextEncoder` with an :class:`EmbeddingCache`.

    It has the inner encoder's ``identity`` and ``dim`` (caching does not change the vectors).
    ``encode`` deduplicates its input, looks everything up, sends only the misses to the inner
    encoder, stores them, and returns all rows in input order.

    Attributes:
        n_encoded: Texts sent to the inner encoder so far (distinct texts per call).
        n_cache_hits: Distinct texts per call served from the cache so far.

    Args:
        encoder: The encoder to wrap.
        cache: An :class:`EmbeddingCache`, a cache directory, or ``None`` for the default cache.
    """

    def __init__(
        self, encoder: TextEncoder, cache: EmbeddingCache | Path | str | None = None
    ) -> None:
        self.encoder = encoder
        self.cache: EmbeddingCache = (
            cache if isinstance(cache, EmbeddingCache) else EmbeddingCache(cache)
        )
        self.n_encoded = 0
        self.n_cache_hits = 0
        self._uncached = False  # set when the cache location turned out unwritable

    @property
    def identity(self) -> str:
        """The inner encoder's identity."""
        return self.encoder.identity

    @property
    def dim(self) -> int:
        """The inner encoder's width."""
        return self.encoder.dim

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """Embed ``texts`` through the cache.

        Args:
            texts: n strings.

        Returns:
            float32 array of shape [n, dim], rows in the order of ``texts``.
        """
        if isinstance(texts, str):
            raise TypeError("encode expects a sequence of strings, not a single string")
        texts = [str(t) for t in texts]
        dim = self.dim
        unique = list(dict.fromkeys(texts))
        out_unique = np.empty((len(unique), dim), dtype=np.float32)
        if unique and self._uncached:
            out_unique[:] = self._encode_fresh(unique)
            self.n_encoded += len(unique)
        elif unique:
            identity = self.identity
            try:
                hits, mask = self.cache.get_many(identity, unique, dim=dim)
            except CacheLocationError as err:
                # It is only a cache: an unwritable location costs speed, not the run.
                warnings.warn(f"{err}; encoding without a cache", stacklevel=2)
                self._uncached = True
                return self.encode(texts)
            out_unique[mask] = hits
            misses = [t for t, m in zip(unique, mask, strict=True) if not m]
            if misses:
                fresh = self._encode_fresh(misses)
                try:
                    self.cache.put_many(identity, misses, fresh)
                except CacheLocationError as err:
                    warnings.warn(f"{err}; encoding without a cache", stacklevel=2)
                    self._uncached = True
                out_unique[~mask] = fresh
            self.n_encoded += len(misses)
            self.n_cache_hits += int(mask.sum())
        position = {t: i for i, t in enumerate(unique)}
        return out_unique[[position[t] for t in texts]].reshape(len(texts), dim)

    def _encode_fresh(self, texts: list[str]) -> FloatArray:
        fresh = np.asarray(self.encoder.encode(texts), dtype=np.float32)
        if fresh.shape != (len(texts), self.dim):
            raise ValueError(
                f"{self.encoder!r} returned shape {fresh.shape}, expected {(len(texts), self.dim)}"
            )
        return fresh

    def __repr__(self) -> str:
        return f"CachedEncoder({self.encoder!r}, {self.cache!r})"
