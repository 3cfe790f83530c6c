"""Metric functions against hand computations and brute force, and the recorder's counts."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from recsim_llm.analysis import metrics as M
from recsim_llm.runner import run_policy
from recsim_llm.simulator import World


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    v = rng.standard_normal((n, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


# ---------------------------------------------------------------- gini


def test_gini_hand_cases() -> None:
    assert M.gini([5, 5, 5, 5]) == 0.0
    assert M.gini([0, 0, 0, 1]) == pytest.approx(0.75)
    assert M.gini([1, 0, 0, 0]) == pytest.approx(0.75)  # order does not matter
    # [1, 2, 3]: sum (2i - 4) x_i = -2*1 + 0*2 + 2*3 = 4; / (3 * 6) = 2/9
    assert M.gini([3, 1, 2]) == pytest.approx(2 / 9)
    assert M.gini([]) == 0.0 and M.gini([0, 0]) == 0.0
    assert M.gini(np.array([[1, 0], [0, 0]])) == pytest.approx(0.75)  # flattened
    with pytest.raises(ValueError, match="non-negative"):
        M.gini([1, -1, 3])


def test_gini_matches_mean_absolute_difference() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 20, size=37).astype(float)
    n = len(x)
    mad = np.abs(x[:, None] - x[None, :]).sum() / (2 * n * n * x.mean())
    assert M.gini(x) == pytest.approx(mad)
    assert 0 <= M.gini(x) < 1


# ---------------------------------------------------------------- diversity


def test_intra_list_diversity_matches_pairwise() -> None:
    rng = np.random.default_rng(1)
    k, d, m = 5, 16, 40
    slates = np.stack([_unit(rng, k, d) for _ in range(m)])            # [m, k, d]
    ild = M.intra_list_diversity(slates.mean(axis=1), k)
    direct = np.array([1 - np.mean([s[i] @ s[j] for i, j in itertools.combinations(range(k), 2)])
                       for s in slates])
    np.testing.assert_allclose(ild, direct, atol=1e-12)
    # identical items: ILD 0; two opposite items: ILD 2
    e = _unit(rng, 1, d)[0]
    assert M.intra_list_diversity(np.array([e]), 4)[0] == pytest.approx(0.0, abs=1e-12)
    assert M.intra_list_diversity(np.zeros((1, d)), 2)[0] == pytest.approx(2.0)
    np.testing.assert_array_equal(M.intra_list_diversity(slates.mean(axis=1), 1), np.zeros(m))


def test_entropy_bits_hand_cases() -> None:
    assert M.entropy_bits(np.array([1, 1])) == pytest.approx(1.0)
    assert M.entropy_bits(np.array([4, 0])) == pytest.approx(0.0)
    assert M.entropy_bits(np.array([1, 1, 1, 1])) == pytest.approx(2.0)
    assert M.entropy_bits(np.array([0, 0, 0])) == 0.0
    # p = (1/2, 1/4, 1/4): 1/2 + 1/2 + 1/2 = 1.5 bits
    assert M.entropy_bits(np.array([2, 1, 1])) == pytest.approx(1.5)
    rows = np.array([[1, 1, 0], [4, 0, 0], [0, 0, 0], [2, 1, 1]])
    np.testing.assert_allclose(M.entropy_bits(rows), [1.0, 0.0, 0.0, 1.5])
    np.testing.assert_allclose(M.entropy_bits(rows.T, axis=0), [1.0, 0.0, 0.0, 1.5])


def test_mean_pairwise_cosine_matches_brute_force() -> None:
    rng = np.random.default_rng(2)
    v = _unit(rng, 23, 8)
    brute = np.mean([v[i] @ v[j] for i, j in itertools.combinations(range(len(v)), 2)])
    assert M.mean_pairwise_cosine(v) == pytest.approx(brute, abs=1e-12)
    same = np.repeat(v[:1], 5, axis=0)
    assert M.mean_pairwise_cosine(same) == pytest.approx(1.0)
    assert np.isnan(M.mean_pairwise_cosine(v[:1]))
    assert np.isnan(M.mean_pairwise_cosine(v[:0]))


def test_coverage() -> None:
    assert M.coverage([0, 3, 0, 1]) == 0.5
    assert M.coverage([]) == 0.0
    assert M.coverage(np.ones(7)) == 1.0


# ---------------------------------------------------------------- sets


def test_dedupe_rows() -> None:
    got = M.dedupe_rows(np.array([[3, 1, 3, -1], [2, 2, 2, 2]]))
    assert sorted(got[0][got[0] >= 0].tolist()) == [1, 3]
    assert got[1][got[1] >= 0].tolist() == [2]
    assert (got == -1).sum(axis=1).tolist() == [2, 3]


def test_jaccard_rows_by_hand() -> None:
    a = np.array([[1, 1, 2, -1],     # {1, 2}
                  [5, 6, 7, 8],      # {5, 6, 7, 8}
                  [-1, -1, -1, -1],  # {}
                  [-1, -1, -1, -1],  # {}
                  [4, 4, 4, 4],      # {4}
                  [9, 3, -1, 3]])    # {3, 9}
    b = np.array([[2, 3, -1, -1],    # {2, 3}: 1 / 3
                  [8, 7, 6, 5],      # same set: 1
                  [-1, -1, -1, -1],  # both empty: NaN
                  [1, 2, -1, -1],    # 0 / 2
                  [4, -1, 4, -1],    # {4}: 1
                  [3, 3, 3, 10]])    # {3, 10}: 1 / 3
    got = M.jaccard_rows(a, b)
    expected = [1 / 3, 1.0, np.nan, 0.0, 1.0, 1 / 3]
    np.testing.assert_allclose(got, expected, equal_nan=True)
    np.testing.assert_allclose(M.jaccard_rows(b, a), expected, equal_nan=True)  # symmetric


def test_jaccard_rows_matches_python_sets() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(-1, 8, size=(200, 6))
    b = rng.integers(-1, 8, size=(200, 6))
    got = M.jaccard_rows(a, b)
    for i in range(len(a)):
        sa, sb = set(a[i][a[i] >= 0].tolist()), set(b[i][b[i] >= 0].tolist())
        if not sa | sb:
            assert np.isnan(got[i])
        else:
            assert got[i] == pytest.approx(len(sa & sb) / len(sa | sb))


def test_nearest_neighbours_matches_brute_force() -> None:
    rng = np.random.default_rng(4)
    v = _unit(rng, 31, 6).astype(np.float32)
    got = M.nearest_neighbours(v.copy())
    for i in range(len(v)):
        sims = [(-np.inf if j == i else float(v[i] @ v[j])) for j in range(len(v))]
        assert got[i] == int(np.argmax(sims))
        assert got[i] != i
    assert got.shape == (31,)


# ---------------------------------------------------------------- the recorder's counts


def test_recorder_counts_match_user_day_trajectory(small_world: World) -> None:
    for policy in ("random", "greedy"):
        res = run_policy(small_world, policy, 1, log_level="user-day")
        a = res.trajectory.arrays()  # type: ignore[union-attr]
        daily = pd.DataFrame(res.daily)
        assert len(daily) == small_world.cfg.horizon_days
        np.testing.assert_array_equal(daily.requests, a["requests"].sum(axis=1))
        np.testing.assert_array_equal(daily.clicks, a["clicks"].sum(axis=1))
        np.testing.assert_array_equal(daily.active_users, a["visits"].sum(axis=1))
        np.testing.assert_allclose(daily.ctr, daily.clicks / daily.requests, rtol=1e-15)
        np.testing.assert_allclose(daily.clicks_per_active_user,
                                   daily.clicks / daily.active_users, rtol=1e-15)
        assert daily.requests.sum() > 0 and daily.clicks.sum() > 0
        # mean satisfaction is the visitors' mean of their day means
        np.testing.assert_allclose(daily.mean_satisfaction,
                                   np.nanmean(a["satisfaction"], axis=1), rtol=1e-5)
        joined = daily.joined_users.to_numpy()
        alive = joined - a["churned"].sum(axis=1)
        np.testing.assert_allclose(daily.retention, alive / joined)
        np.testing.assert_allclose(daily.active_share, daily.active_users / joined)
