"""Tests of the deterministic feature-hashing encoder."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from recsim_llm.text import HashingEncoder, TextEncoder

TEXTS = [
    "I love science fiction films about space travel",
    "A documentary about space travel and astronauts",
    "A cookbook of Italian pasta recipes",
    "",
    "!!! ...",
    "the the the the",
]


def test_protocol_and_identity() -> None:
    enc = HashingEncoder(dim=64, seed=3)
    assert isinstance(enc, TextEncoder)
    assert enc.dim == 64
    assert enc.identity == "hashing:d64:s3"


def test_deterministic_across_instances() -> None:
    a = HashingEncoder(dim=128, seed=1).encode(TEXTS)
    b = HashingEncoder(dim=128, seed=1).encode(TEXTS)
    np.testing.assert_array_equal(a, b)
    c = HashingEncoder(dim=128, seed=2).encode(TEXTS)
    assert not np.allclose(a, c)


def test_deterministic_across_processes() -> None:
    # Guards against anyone switching to Python's per-process salted hash().
    code = (
        "from recsim_llm.text.hashing import HashingEncoder;"
        "print(HashingEncoder(dim=32, seed=5).encode(['hello world']).tobytes().hex())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    here = HashingEncoder(dim=32, seed=5).encode(["hello world"]).tobytes().hex()
    assert out == here


@pytest.mark.parametrize("dim", [1, 7, 256])
def test_shape_dtype_unit_norm(dim: int) -> None:
    x = HashingEncoder(dim=dim).encode(TEXTS)
    assert x.shape == (len(TEXTS), dim)
    assert x.dtype == np.float32
    assert np.all(np.isfinite(x))
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


def test_empty_inputs() -> None:
    enc = HashingEncoder(dim=16, seed=4)
    assert enc.encode([]).shape == (0, 16)
    x = enc.encode(["", "   ", "?!"])
    # Token-less texts share one fixed unit vector, derived from the seed only.
    np.testing.assert_array_equal(x[0], x[1])
    np.testing.assert_array_equal(x[0], x[2])
    np.testing.assert_array_equal(x[0], HashingEncoder(dim=16, seed=4).encode([""])[0])
    assert np.linalg.norm(x[0]) == pytest.approx(1.0, abs=1e-6)


def test_case_and_punctuation_insensitive() -> None:
    enc = HashingEncoder()
    x = enc.encode(["Space Travel!", "space, travel"])
    np.testing.assert_allclose(x[0], x[1])


def test_similar_texts_closer() -> None:
    x = HashingEncoder(dim=512).encode(TEXTS[:3])
    sim = x @ x.T
    assert sim[0, 1] > sim[0, 2]


def test_invalid_args() -> None:
    with pytest.raises(ValueError):
        HashingEncoder(dim=0)
    with pytest.raises(TypeError):
        HashingEncoder().encode("not a list")  # type: ignore[arg-type]
