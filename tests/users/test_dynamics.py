"""Property tests of the user model's equations (``recsim_llm.users.dynamics``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from recsim_llm.users import dynamics as dyn

PROPERTY = settings(deadline=None, max_examples=100)
"""shared box: no per-example deadline"""

N, D = 6, 5
finite = st.floats(-50, 50, allow_nan=False, allow_infinity=False)
vec = st.floats(-3, 3, allow_nan=False, allow_infinity=False)


def _rows(x: np.ndarray) -> np.ndarray:
    """Unit rows; an all-zero row becomes the first basis vector."""
    x = np.asarray(x, np.float64).copy()
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    zero = norm[:, 0] < 1e-6
    x[zero] = 0.0
    x[zero, 0] = 1.0
    norm[zero] = 1.0
    return x / norm


unit_rows = arrays(np.float64, (N, D), elements=vec).map(_rows)


@PROPERTY
@given(unit_rows, unit_rows, arrays(np.float64, N, elements=st.floats(-5, 3)),
       arrays(np.bool_, N), st.floats(0, 1))
def test_drift_toward_keeps_unit_norm(p: np.ndarray, e: np.ndarray, y: np.ndarray,
                                      clicked: np.ndarray, rate: float) -> None:
    # (1 - s) p + s e vanishes only for e = -p at step s = 1/2: a measure-zero corner.
    assume(np.einsum("nd,nd->n", p, e).min() > -0.999)
    p32, e32 = p.astype(np.float32), e.astype(np.float32)
    out = dyn.drift_toward(p32, e32, y, clicked, rate)
    assert out.shape == p.shape and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    # rows without a click (or without positive satisfaction) do not move
    still = ~clicked | (y <= 0) | (rate == 0)
    np.testing.assert_allclose(out[still], p32[still], atol=1e-6)
    assert not np.shares_memory(out, p32)


def test_drift_moves_toward_consumed_item() -> None:
    p = np.array([[1.0, 0.0, 0.0]], np.float32)
    e = np.array([[0.0, 1.0, 0.0]], np.float32)
    out = dyn.drift_toward(p, e, np.array([1.0]), np.array([True]), 0.2)
    assert float(out[0] @ e[0]) > float(p[0] @ e[0])
    # negative satisfaction: no drift
    out = dyn.drift_toward(p, e, np.array([-1.0]), np.array([True]), 0.2)
    np.testing.assert_allclose(out, p)
    # drift_by="consumed": every click moves the interest by eta, however it satisfied
    for y in (-1.0, 0.3, 2.0):
        moved = dyn.drift_toward(p, e, np.array([y]), np.array([True]), 0.2,
                                 by_satisfaction=False)
        np.testing.assert_allclose(moved, dyn.unit_norm(p + 0.2 * (e - p)), rtol=1e-6)
    np.testing.assert_allclose(dyn.drift_toward(p, e, np.array([1.0]), np.array([False]), 0.2,
                                                by_satisfaction=False), p)


@PROPERTY
@given(unit_rows, unit_rows, arrays(np.float64, (N, D), elements=st.floats(-4, 4)),
       st.floats(0, 1), st.floats(0, 0.5))
def test_overnight_interest_keeps_unit_norm(p: np.ndarray, p0: np.ndarray, noise: np.ndarray,
                                            kappa: float, sigma: float) -> None:
    raw = p + kappa * (p0 - p) + sigma * noise
    assume(np.linalg.norm(raw, axis=1).min() > 1e-3)  # a vanishing sum has no direction
    out = dyn.overnight_interest(p, p0, noise, kappa, sigma)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-9)


def test_overnight_anchor_pulls_back_to_persona() -> None:
    p0 = np.array([[1.0, 0.0]])
    p = np.array([[0.0, 1.0]])
    out = dyn.overnight_interest(p, p0, np.zeros_like(p), 0.3, 0.0)
    assert out[0] @ p0[0] > p[0] @ p0[0]
    np.testing.assert_allclose(dyn.overnight_interest(p, p0, np.zeros_like(p), 1.0, 0.0), p0)


@st.composite
def fatigue_inputs(draw):
    f_dir = _rows(draw(arrays(np.float64, (N, D), elements=vec)))
    f = f_dir * draw(arrays(np.float64, (N, 1), elements=st.floats(0, 1)))
    consumed = _rows(draw(arrays(np.float64, (N, D), elements=vec)))
    k = draw(st.integers(1, 6))
    shown = _rows(draw(arrays(np.float64, (N * k, D), elements=vec))).reshape(N, k, D)
    return f, consumed, shown.mean(axis=1)


@PROPERTY
@given(fatigue_inputs(), arrays(np.bool_, N), st.floats(0, 0.999), st.floats(0, 1),
       st.integers(1, 5))
def test_update_fatigue_norm_at_most_one(inputs, clicked: np.ndarray, decay: float, w: float,
                                         repeats: int) -> None:
    f, consumed, shown_mean = inputs
    for _ in range(repeats):  # stays in the unit ball however many requests follow
        f = dyn.update_fatigue(f, consumed, shown_mean, clicked, decay, w)
        assert np.linalg.norm(f, axis=1).max() <= 1.0 + 1e-9


def test_fatigue_converges_to_the_repeated_item() -> None:
    e = np.array([[0.0, 1.0]])
    f = np.zeros((1, 2))
    for _ in range(400):
        f = dyn.update_fatigue(f, e, e, np.array([True]), 0.9, 0.25)
    np.testing.assert_allclose(f, e, atol=1e-6)


@PROPERTY
@given(arrays(np.float64, N, elements=st.floats(0, 20)),
       arrays(np.float64, N, elements=finite), arrays(np.bool_, N),
       st.floats(1e-3, 5), st.floats(0, 5))
def test_update_budget_never_negative(budget: np.ndarray, y: np.ndarray, clicked: np.ndarray,
                                      cost: float, refund: float) -> None:
    out = budget
    for _ in range(30):
        out = dyn.update_budget(out, y, clicked, cost, refund)
        assert np.all(out >= 0.0)
    one = dyn.update_budget(budget, y, clicked, cost, refund)
    # a request costs time unless a satisfying click refunds it
    gain = np.where(clicked, refund * np.maximum(y, 0), 0.0)
    np.testing.assert_allclose(one, np.maximum(budget - cost + gain, 0.0))
    assert np.all(one[gain == 0] <= budget[gain == 0])


@PROPERTY
@given(arrays(np.float64, N, elements=st.floats(-3, 3)),
       arrays(np.float64, N, elements=st.floats(-3, 3)), arrays(np.bool_, N),
       st.floats(1e-3, 1))
def test_satisfaction_ema_leaves_non_visitors_untouched(s: np.ndarray, mean: np.ndarray,
                                                        visited: np.ndarray, ema: float) -> None:
    out = dyn.satisfaction_ema(s, mean, visited, ema)
    np.testing.assert_array_equal(out[~visited], s[~visited])  # bit-identical
    lo, hi = np.minimum(s, mean), np.maximum(s, mean)
    assert np.all(out[visited] >= lo[visited] - 1e-12)
    assert np.all(out[visited] <= hi[visited] + 1e-12)
    if ema == 1.0:
        np.testing.assert_allclose(out[visited], mean[visited])


@PROPERTY
@given(arrays(np.float64, 12, elements=st.floats(-2, 2)), st.floats(-6, 6), st.floats(0, 8))
def test_return_probability_in_unit_interval_and_monotone(s: np.ndarray, bias: float,
                                                          slope: float) -> None:
    p = dyn.return_probability(np.sort(s), bias, slope)
    assert np.all(p > 0.0) and np.all(p < 1.0)
    assert np.all(np.diff(p) >= 0.0)  # more satisfied users return at least as often
    if slope > 1e-3:
        a, b = dyn.return_probability(np.array([-1.0, 1.0]), bias, slope)
        assert b > a


def test_return_probability_extremes_stay_probabilities() -> None:
    with np.errstate(over="ignore"):
        p = dyn.return_probability(np.array([-1e6, 0.0, 1e6]), 0.0, 10.0)
    assert np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))
    assert p[1] == 0.5


@PROPERTY
@given(arrays(np.float64, N, elements=st.floats(-1, 1)),
       arrays(np.float64, N, elements=st.floats(-1, 1)),
       arrays(np.float64, N, elements=st.floats(0, 1)), st.floats(0, 3), st.floats(0, 3))
def test_affinity_decreases_with_dislike(ci: np.ndarray, cd: np.ndarray, extra: np.ndarray,
                                         lam: float, lam_extra: float) -> None:
    a = dyn.affinity(ci, cd, lam)
    assert np.all(a <= ci + 1e-12)  # the dislike term only ever takes away
    np.testing.assert_array_equal(a[cd <= 0], ci[cd <= 0])  # no penalty without dislike
    # more dislike, or a heavier dislike weight, never raises the affinity
    assert np.all(dyn.affinity(ci, cd + extra, lam) <= a + 1e-12)
    assert np.all(dyn.affinity(ci, cd, lam + lam_extra) <= a + 1e-12)
    strict = (cd > 0) & (extra > 1e-6) & (lam > 1e-6)
    assert np.all(dyn.affinity(ci, cd + extra, lam)[strict] < a[strict])


@PROPERTY
@given(arrays(np.float64, (N, 3), elements=st.floats(-1, 1)), st.floats(0, 3))
def test_boredom_nonnegative(dot: np.ndarray, beta: float) -> None:
    b = dyn.boredom(dot, beta)
    assert np.all(b >= 0)
    np.testing.assert_allclose(b, beta * np.maximum(dot, 0))


def test_utility_and_satisfaction_formulas() -> None:
    a = np.array([[0.5, 0.2]])
    b = np.array([[0.1, 0.0]])
    c = np.array([[0.3, 0.9]])
    pen = np.array([0.0, 0.15])
    hook = np.array([[2.0]])
    np.testing.assert_allclose(dyn.click_utility(a, b, c, hook, 10.0, pen),
                               [[10 * 0.4 + 2 * 0.3, 10 * 0.2 + 2 * 0.9 - 0.15]])
    value = np.array([-0.5, 0.9])  # value is not in the click utility, appeal not in y
    np.testing.assert_allclose(dyn.realized_satisfaction(a[0], b[0], value, 2.0,
                                                         np.array([0.1, 0])),
                               [0.4 - 1.0 + 0.1, 0.2 + 1.8])
    np.testing.assert_allclose(dyn.expected_satisfaction(a[0], b[0], value, 2.0),
                               [0.4 - 1.0, 0.2 + 1.8])


def test_unit_norm_keeps_zero_rows() -> None:
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(dyn.unit_norm(x), [[0.6, 0.8], [0.0, 0.0]])


def test_functions_do_not_mutate_inputs() -> None:
    rng = np.random.default_rng(0)
    p = _rows(rng.normal(size=(N, D)))
    e = _rows(rng.normal(size=(N, D)))
    f = 0.5 * _rows(rng.normal(size=(N, D)))
    y = rng.normal(size=N)
    clicked = rng.random(N) < 0.5
    copies = [x.copy() for x in (p, e, f, y, clicked)]
    dyn.drift_toward(p, e, y, clicked, 0.3)
    dyn.overnight_interest(p, e, f, 0.1, 0.1)
    dyn.update_fatigue(f, e, p, clicked, 0.9, 0.3)
    dyn.update_budget(y, y, clicked, 1.0, 1.0)
    dyn.satisfaction_ema(y, y, clicked, 0.5)
    for x, c in zip((p, e, f, y, clicked), copies, strict=True):
        np.testing.assert_array_equal(x, c)


def test_population_state_copy_and_alive(small_world) -> None:
    from recsim_llm.simulator import Simulator

    sim = Simulator(small_world, 0)
    sim.reset()
    st_ = sim.state
    st_.churned[1] = True
    st_.joined[2] = False
    alive = st_.alive
    assert alive[0] and not alive[1] and not alive[2]
    np.testing.assert_array_equal(alive, st_.joined & ~st_.churned)
    cp = st_.copy()
    cp.interest[0] = 5.0
    cp.churned[0] = True
    assert st_.interest[0, 0, 0] != 5.0 and not st_.churned[0]  # a deep copy
    assert set(st_.arrays()) == set(cp.arrays())
    for k, v in st_.arrays().items():
        assert not np.shares_memory(v, cp.arrays()[k]), k


def test_pool_interests_is_a_soft_maximum() -> None:
    tau = 0.1
    cos = np.array([[0.5, 0.0], [0.3, 0.3], [0.2, 0.9]], np.float32)
    logw = np.full((3, 2), -np.log(2), np.float32)
    pooled = dyn.pool_interests(cos, logw, tau)
    np.testing.assert_allclose(pooled, tau * np.log(0.5 * np.exp(cos / tau).sum(1)), rtol=1e-5)
    assert np.all(pooled <= cos.max(1) + 1e-6) and np.all(pooled >= cos.mean(1) - 1e-6)
    assert pooled[1] == pytest.approx(0.3, abs=1e-6)  # equal cosines give that cosine
    # a padding slot (-inf) never counts, a single interest is exact
    pad = dyn.pool_interests(np.array([[0.4, 0.9]], np.float32),
                             np.array([[0.0, -np.inf]], np.float32), tau)
    assert pad[0] == pytest.approx(0.4)
    one = np.array([[0.25]], np.float32)
    assert dyn.pool_interests(one, np.zeros((1, 1), np.float32), tau)[0] == 0.25


def test_drift_moves_the_responsible_interest() -> None:
    p = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]], np.float32)   # [1, K=2, d]
    e = np.array([[0.8, 0.0, 0.6]], np.float32)                        # close to interest 0
    cos = np.einsum("nkd,nd->nk", p, e)
    r = dyn.responsibility(cos, np.full((1, 2), -np.log(2), np.float32), 0.1)
    assert r[0, 0] > 0.99
    new = dyn.drift_toward(p, e, np.array([1.0]), np.array([True]), 0.5, r)
    assert new[0, 0, 2] > 0.2 and abs(new[0, 1, 2]) < 0.01  # interest 1 hardly moves
    np.testing.assert_allclose(np.linalg.norm(new, axis=-1), 1.0, rtol=1e-6)
    same = dyn.drift_toward(p, e, np.array([1.0]), np.array([False]), 0.5, r)
    np.testing.assert_array_equal(same, p)  # no click, no drift
