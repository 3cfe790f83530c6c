"""Property tests of the choice models (``recsim_llm.users.choice``): MNL and cascade."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from recsim_llm.users import choice as ch

PROPERTY = settings(deadline=None, max_examples=150)
"""shared box: no per-example deadline"""

extreme = st.floats(-50, 50, allow_nan=False, allow_infinity=False)
unit_draw = st.floats(0, 1, exclude_max=True)


@st.composite
def utilities(draw, dtype=None):
    n = draw(st.integers(1, 6))
    k = draw(st.integers(1, 8))
    dt = dtype or draw(st.sampled_from([np.float32, np.float64]))
    return draw(arrays(dt, (n, k), elements=extreme.map(float) if dt == np.float64 else
                       st.floats(-50, 50, width=32)))


@pytest.mark.filterwarnings("error::RuntimeWarning")
@PROPERTY
@given(utilities(), extreme)
def test_mnl_probs_are_distributions(v: np.ndarray, v0: float) -> None:
    p = ch.choice_probs(v, v0)
    assert p.shape == (v.shape[0], v.shape[1] + 1)
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no overflow warnings at extremes
@PROPERTY
@given(utilities(), extreme)
def test_cascade_outcome_probs_are_distributions(v: np.ndarray, v0: float) -> None:
    p = ch.cascade_outcome_probs(v, v0)
    assert p.shape == (v.shape[0], v.shape[1] + 1)
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    c = ch.cascade_probs(v, v0)
    assert np.all((c >= 0) & (c <= 1))


def test_mnl_probs_match_softmax() -> None:
    v = np.array([[1.0, 2.0, 0.0]])
    p = ch.choice_probs(v, 0.5)
    e = np.exp([1.0, 2.0, 0.0, 0.5])
    np.testing.assert_allclose(p[0], e / e.sum())
    # higher utility, higher probability; a huge no-click utility means no click
    assert p[0, 1] > p[0, 0] > p[0, 2]
    assert ch.choice_probs(v, 50.0)[0, -1] > 0.999


@PROPERTY
@given(utilities(np.float64), extreme, st.data())
def test_sample_mnl_matches_cdf(v: np.ndarray, v0: float, data: st.DataObject) -> None:
    n, k = v.shape
    u = data.draw(arrays(np.float64, n, elements=unit_draw))
    pos = ch.sample_mnl(v, v0, u)
    assert pos.shape == (n,) and pos.dtype == np.int64
    assert np.all((pos == -1) | ((pos >= 0) & (pos < k)))
    cdf = np.cumsum(ch.choice_probs(v, v0), axis=1)
    for r in range(n):  # reference: the outcome j with cdf[j-1] <= u < cdf[j]
        j = pos[r]
        if j == -1:
            assert u[r] >= cdf[r, k - 1]
        else:
            lo = cdf[r, j - 1] if j > 0 else 0.0
            assert lo <= u[r] < cdf[r, j]


@PROPERTY
@given(utilities(np.float64), extreme, st.data())
def test_sample_cascade_first_success(v: np.ndarray, v0: float, data: st.DataObject) -> None:
    n, k = v.shape
    u = data.draw(arrays(np.float64, (n, k), elements=unit_draw))
    pos = ch.sample_cascade(v, v0, u)
    assert pos.shape == (n,) and pos.dtype == np.int64
    assert np.all((pos == -1) | ((pos >= 0) & (pos < k)))
    c = ch.cascade_probs(v, v0)
    for r in range(n):  # reference: scan top-down, click the first slot whose coin comes up
        hits = [j for j in range(k) if u[r, j] < c[r, j]]
        assert pos[r] == (hits[0] if hits else -1)


def test_sample_mnl_frequencies_match_probs() -> None:
    v = np.array([[1.0, 0.3, -0.5, 2.0]])
    m = 20000
    u = (np.arange(m) + 0.5) / m  # stratified uniforms: frequencies match the CDF to 1/m
    pos = ch.sample_mnl(np.repeat(v, m, axis=0), 0.8, u)
    freq = np.bincount(np.where(pos < 0, 4, pos), minlength=5) / m
    np.testing.assert_allclose(freq, ch.choice_probs(v, 0.8)[0], atol=2.0 / m)


def test_cascade_extreme_float32_gives_exact_limits() -> None:
    v = np.array([[-50.0, 50.0, 0.0]], np.float32)
    with np.errstate(over="raise"):  # the caller's error state must not matter
        c = ch.cascade_probs(v, 50.0)
    assert c[0, 0] == 0.0 and c[0, 1] == 0.5
    np.testing.assert_allclose(c, [[0.0, 0.5, 0.0]], atol=1e-20)
    np.testing.assert_allclose(ch.cascade_outcome_probs(v, 50.0), [[0.0, 0.5, 0.0, 0.5]],
                               atol=1e-20)


def test_sample_cascade_frequencies_match_outcome_probs() -> None:
    v = np.array([[0.5, 1.0, -1.0]])
    m = 40000
    u = np.random.default_rng(0).random((m, 3))
    pos = ch.sample_cascade(np.repeat(v, m, axis=0), 0.2, u)
    freq = np.bincount(np.where(pos < 0, 3, pos), minlength=4) / m
    np.testing.assert_allclose(freq, ch.cascade_outcome_probs(v, 0.2)[0], atol=0.01)


def test_same_uniforms_same_choice() -> None:
    rng = np.random.default_rng(1)
    v = rng.normal(size=(50, 5)) * 3
    u = rng.random(50)
    np.testing.assert_array_equal(ch.sample_mnl(v, 1.0, u), ch.sample_mnl(v.copy(), 1.0, u))


@pytest.mark.parametrize("k", [1, 5, 10])
def test_position_penalty(k: int) -> None:
    pen = ch.position_penalty(k, 0.15)
    assert pen.shape == (k,) and pen[0] == 0.0
    assert np.all(np.diff(pen) > 0)
    np.testing.assert_allclose(pen, 0.15 * np.log2(1 + np.arange(k)), rtol=1e-6)
    np.testing.assert_array_equal(ch.position_penalty(k, 0.0), np.zeros(k))
