from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from recsim_llm.bench.compare import CompareError, compare, compare_markdown, paired_bootstrap
from recsim_llm.bench.leaderboard import METRICS, RANGES, interval, leaderboard, run_headline


def _results(folder: Path, shift: float = 0.0, seeds: tuple[int, ...] = (0, 1, 2, 3)) -> Path:
    rng = np.random.default_rng(1)
    rows = []
    for pol in ("random", "greedy"):
        for s in seeds:
            rows.append({"scenario_id": "syn", "policy": pol, "seed": s,
                         **{m: float(rng.normal()) for m in METRICS}})
    df = pd.DataFrame(rows)
    df["retention_final"] += shift
    folder.mkdir(parents=True, exist_ok=True)
    df.to_csv(folder / "results.csv", index=False)
    return folder


def test_compare_with_itself_is_zero(tmp_path: Path) -> None:
    a = _results(tmp_path / "a")
    t = compare(a, a)
    assert len(t) == 2 * len(METRICS)
    assert (t["change"] == 0).all() and (t["lo"] == 0).all() and (t["hi"] == 0).all()
    assert not t["significant"].any()


def test_compare_finds_a_paired_shift(tmp_path: Path) -> None:
    a, b = _results(tmp_path / "a"), _results(tmp_path / "b", shift=0.5)
    t = compare(a, b)
    r = t[(t.metric == "retention_final") & (t.policy == "greedy")].iloc[0]
    # every pair differs by exactly 0.5 -> the paired interval is the point
    assert r["change"] == pytest.approx(0.5) and r["lo"] == pytest.approx(0.5)
    assert r["significant"] and r["pairs"] == 4
    other = t[t.metric == "topic_entropy_final"]
    assert (other["change"].abs() < 1e-12).all()
    md = compare_markdown(t, a, b)
    assert "## syn" in md and "+0.5000" in md


def test_paired_bootstrap_is_scipys() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=8)
    b = a + rng.normal(0.3, 0.2, size=8)
    mean, lo, hi = paired_bootstrap(a, b, n_resamples=2000, seed=5)
    ref = sps.bootstrap((a, b), lambda x, y, axis: np.mean(y - x, axis=axis), paired=True,
                        vectorized=True, n_resamples=2000, method="percentile",
                        rng=np.random.default_rng(5)).confidence_interval
    assert mean == pytest.approx(float(np.mean(b - a)))
    assert (lo, hi) == pytest.approx((ref.low, ref.high))
    assert lo < mean < hi
    m1, lo1, hi1 = paired_bootstrap(a[:1], b[:1])
    assert np.isfinite(m1) and np.isnan(lo1) and np.isnan(hi1)


def test_compare_errors(tmp_path: Path) -> None:
    with pytest.raises(CompareError, match=r"results\.csv not found"):
        compare(tmp_path / "nothing", tmp_path / "nothing")
    a = _results(tmp_path / "a", seeds=(0, 1))
    b = _results(tmp_path / "b", seeds=(5, 6))
    with pytest.raises(CompareError, match="no \\(scenario, policy, seed\\) run in common"):
        compare(a, b)


def test_intervals_stay_in_each_metric_range() -> None:
    """Two seeds far apart put a plain t interval outside [0, 1] (t(1) = 12.7): the
    leaderboard's intervals stay inside every metric's range."""
    x = [0.05, 0.6]
    t = sps.ttest_1samp(x, 0.0).confidence_interval()
    assert t.low < 0 and t.high > 1                  # what the leaderboard used to print
    mean, lo, hi, n = interval(x, "retention_d120")
    assert n == 2 and mean == pytest.approx(0.325) and 0 < lo < mean < hi < 1
    assert set(RANGES) == set(METRICS)
    for m, (lower, upper) in RANGES.items():
        vals = [0.0, 0.9] if lower == 0.0 else [-0.8, 0.7]
        _mean, lo, hi, _n = interval(vals, m)
        assert (lower is None or lo >= lower) and (upper is None or hi <= upper), m
    _m, lo, hi, _n = interval([12.0, 300.0], "cum_clicks_per_initial_user")
    assert 0 < lo < hi
    assert np.isnan(interval([0.3], "retention_final")[1])
    assert interval([], "retention_final")[3] == 0
    assert interval([0.2, 0.2], "retention_final") == (0.2, 0.2, 0.2, 2)


def _daily(days: int, clicks: float = 3.0) -> pd.DataFrame:
    d = np.arange(1, days + 1)
    return pd.DataFrame({
        "policy": "p", "seed": 0, "day": d, "retention": 1.0 - d / 1000.0,
        "joined_users": 50, "clicks": clicks, "topic_entropy": d.astype(float),
        "homogenization": 0.5, "merit_share:big": 0.8, "merit_share:small": 0.2,
        "disparity:big": 1.1, "disparity:small": 0.4})


def test_run_headline_definitions() -> None:
    h = run_headline(_daily(200), None)
    assert h["retention_d120"] == pytest.approx(1 - 0.12)
    assert h["retention_d180"] == pytest.approx(1 - 0.18)
    assert h["retention_final"] == pytest.approx(1 - 0.2)
    assert h["cum_clicks_per_initial_user"] == pytest.approx(200 * 3.0 / 50)
    assert h["topic_entropy_final"] == pytest.approx(np.mean(np.arange(194, 201)))
    assert h["provider_disparity_final"] == pytest.approx(0.4)  # the smaller-merit group
    assert np.isnan(h["group_retention_gap"])
    short = run_headline(_daily(30), None)
    assert np.isnan(short["retention_d120"]) and np.isnan(short["retention_d180"])
    with_col = _daily(30).assign(cumulative_clicks_per_initial_user=7.5)
    assert run_headline(with_col, None)["cum_clicks_per_initial_user"] == 7.5


def test_leaderboard_aggregates_seeds() -> None:
    rows = [{"scenario_id": "s", "policy": "p", "seed": k, **{m: float(k) for m in METRICS}}
            for k in range(3)]
    board = leaderboard(pd.DataFrame(rows))
    assert len(board) == 1 and board.loc[0, "n_seeds"] == 3
    assert board.loc[0, "retention_final"] == pytest.approx(1.0)
    assert board.loc[0, "retention_final_lo"] < 1.0 < board.loc[0, "retention_final_hi"]
