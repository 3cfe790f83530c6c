"""Tests of the sqlite embedding cache and the caching encoder wrapper."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from recsim_llm.text import (
    CachedEncoder,
    EmbeddingCache,
    HashingEncoder,
    TextEncoder,
    default_cache_dir,
    make_encoder,
)
from recsim_llm.text import cache as cache_module
from recsim_llm.text.base import FloatArray

TEXTS = ["space opera with aliens", "pasta recipes", "a quiet jazz album", "pasta recipes"]


class CountingEncoder:
    """A HashingEncoder that records every text it is asked to encode."""

    def __init__(self, dim: int = 32, seed: int = 0) -> None:
        self.inner = HashingEncoder(dim=dim, seed=seed)
        self.seen: list[str] = []

    @property
    def identity(self) -> str:
        return self.inner.identity

    @property
    def dim(self) -> int:
        return self.inner.dim

    def encode(self, texts: Sequence[str]) -> FloatArray:
        self.seen.extend(texts)
        return self.inner.encode(texts)


def test_second_run_encodes_nothing(tmp_path: Path) -> None:
    first = CachedEncoder(CountingEncoder(), EmbeddingCache(tmp_path))
    assert isinstance(first, TextEncoder)
    a = first.encode(TEXTS)
    # Duplicates are encoded once.
    assert first.n_encoded == 3 and first.n_cache_hits == 0
    assert first.encoder.seen == ["space opera with aliens", "pasta recipes", "a quiet jazz album"]
    np.testing.assert_array_equal(a, HashingEncoder(dim=32).encode(TEXTS))

    inner = CountingEncoder()
    second = CachedEncoder(inner, EmbeddingCache(tmp_path))  # fresh objects, same directory
    b = second.encode(TEXTS)
    assert second.n_encoded == 0 and inner.seen == []
    assert second.n_cache_hits == 3
    np.testing.assert_array_equal(a, b)
    assert b.dtype == np.float32 and b.shape == (4, 32)


def test_partial_hits_keep_order(tmp_path: Path) -> None:
    enc = CachedEncoder(CountingEncoder(), tmp_path)
    enc.encode(TEXTS[:2])
    mixed = ["new one", TEXTS[1], "another new", TEXTS[0]]
    out = enc.encode(mixed)
    assert enc.encoder.seen[-2:] == ["new one", "another new"]
    assert enc.n_cache_hits == 2
    np.testing.assert_array_equal(out, HashingEncoder(dim=32).encode(mixed))
    assert enc.encode([]).shape == (0, 32)


def test_different_identity_does_not_hit(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    CachedEncoder(CountingEncoder(seed=0), cache).encode(TEXTS)
    other = CachedEncoder(CountingEncoder(seed=1), cache)
    assert other.identity != "hashing:d32:s0"
    other.encode(TEXTS)
    assert other.n_encoded == 3 and other.n_cache_hits == 0
    assert cache.count() == 6 and cache.count("hashing:d32:s0") == 3


def test_get_put_many(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    vecs = np.arange(6, dtype=np.float32).reshape(2, 3)
    cache.put_many("enc", ["a", "b"], vecs)
    hits, mask = cache.get_many("enc", ["b", "zzz", "a"])
    np.testing.assert_array_equal(mask, [True, False, True])
    np.testing.assert_array_equal(hits, vecs[[1, 0]])
    hits, mask = cache.get_many("other", ["a"], dim=3)
    assert hits.shape == (0, 3) and not mask.any()
    # A width mismatch is a miss, not a wrong vector.
    _, mask = cache.get_many("enc", ["a"], dim=4)
    assert not mask.any()
    with pytest.raises(ValueError):
        cache.put_many("enc", ["a"], vecs)
    assert (tmp_path / "embeddings.sqlite").is_file()
    cache.close()


def test_damaged_file_is_rebuilt(tmp_path: Path) -> None:
    """A cache file that is not a database is deleted and rebuilt: it is only a cache."""
    path = tmp_path / "embeddings.sqlite"
    path.write_bytes(b"this is not an sqlite database at all" * 100)
    enc = CachedEncoder(CountingEncoder(), EmbeddingCache(tmp_path))
    with pytest.warns(cache_module.CacheRebuiltWarning, match=r"embeddings\.sqlite was damaged"):
        out = enc.encode(["x", "y"])
    np.testing.assert_array_equal(out, HashingEncoder(dim=32).encode(["x", "y"]))
    assert EmbeddingCache(tmp_path).count() == 2


def test_flipped_bits_inside_a_vector_are_re_encoded(tmp_path: Path) -> None:
    """sqlite's integrity_check says ok after bits flip inside a stored vector; the row checksum
    catches it, and the vector is re-encoded and overwritten."""
    enc = CachedEncoder(CountingEncoder(), EmbeddingCache(tmp_path))
    good = enc.encode(TEXTS)
    enc.cache.close()
    con = sqlite3.connect(tmp_path / "embeddings.sqlite")
    (blob,) = con.execute("SELECT vector FROM embeddings LIMIT 1").fetchone()
    bad = bytearray(blob)
    bad[5] ^= 0x40
    con.execute("UPDATE embeddings SET vector = ? WHERE vector = ?", (bytes(bad), blob))
    con.commit()
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    inner = CountingEncoder()
    again = CachedEncoder(inner, EmbeddingCache(tmp_path))
    with pytest.warns(cache_module.CacheRebuiltWarning, match="1 cached embedding"):
        out = again.encode(TEXTS)
    np.testing.assert_array_equal(out, good)
    assert len(inner.seen) == 1  # only the damaged row was re-encoded
    third = CachedEncoder(CountingEncoder(), EmbeddingCache(tmp_path))
    third.encode(TEXTS)
    assert third.n_encoded == 0  # and it was overwritten with a good row


def test_old_layout_is_rebuilt(tmp_path: Path) -> None:
    con = sqlite3.connect(tmp_path / "embeddings.sqlite")
    con.execute("CREATE TABLE embeddings (identity TEXT, text_hash BLOB, dim INTEGER, "
                "vector BLOB, PRIMARY KEY (identity, text_hash)) WITHOUT ROWID")
    con.execute("INSERT INTO embeddings VALUES ('hashing:d32:s0', ?, 32, ?)",
                (cache_module._text_key("x"), b"\0" * 128))
    con.commit()
    con.close()
    enc = CachedEncoder(CountingEncoder(), EmbeddingCache(tmp_path))
    np.testing.assert_array_equal(enc.encode(["x"]), HashingEncoder(dim=32).encode(["x"]))
    assert enc.n_encoded == 1  # the unverifiable old row was not used


def test_unwritable_location_is_reported_as_such(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    enc = CachedEncoder(CountingEncoder(), EmbeddingCache(blocker / "cache"))
    with pytest.warns(UserWarning, match=r"location .*a-file/cache is not writable.*"
                                         r"RECSIM_LLM_CACHE.*without a cache") as rec:
        out = enc.encode(["x"])
    assert not any("corrupted" in str(w.message) for w in rec)
    np.testing.assert_array_equal(out, HashingEncoder(dim=32).encode(["x"]))
    with pytest.raises(cache_module.CacheLocationError, match="not writable"):
        EmbeddingCache(blocker / "cache").count()


def test_put_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = EmbeddingCache(tmp_path)
    cache.put_many("enc", ["a"], np.ones((1, 2), dtype=np.float32))
    real_key = cache_module._text_key

    def failing_key(text: str) -> bytes:  # dies on the third row of the batch
        if text == "c":
            raise KeyboardInterrupt
        return real_key(text)

    monkeypatch.setattr(cache_module, "_text_key", failing_key)
    with pytest.raises(KeyboardInterrupt):
        cache.put_many("enc", ["b", "bb", "c", "d"], np.zeros((4, 2), dtype=np.float32))
    monkeypatch.undo()
    assert cache.count() == 1
    # An independent connection sees exactly the committed row.
    other = sqlite3.connect(tmp_path / "embeddings.sqlite")
    assert other.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == 1
    other.close()
    cache.put_many("enc", ["b"], np.zeros((1, 2), dtype=np.float32))  # still usable
    assert cache.count() == 2


def test_default_cache_dir_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSIM_LLM_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    assert EmbeddingCache().dir == tmp_path / "c"
    monkeypatch.delenv("RECSIM_LLM_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "recsim_llm"


def test_make_encoder(tmp_path: Path) -> None:
    enc = make_encoder("hashing:64", cache=tmp_path)
    assert isinstance(enc, CachedEncoder) and enc.dim == 64
    assert enc.cache.dir == tmp_path
    bare = make_encoder("hashing", cache=False)
    assert isinstance(bare, HashingEncoder) and bare.dim == 256
    for bad in ["nope", "hashing:x", "hashing:0", str(tmp_path / "missing")]:
        with pytest.raises(ValueError, match="hashing"):
            make_encoder(bad, cache=False)
