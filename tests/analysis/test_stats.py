"""Statistics of the analysis layer on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recsim_llm.analysis import stats as S

T975 = {1: 12.706204736174698, 2: 4.302652729749464, 3: 3.182446305284263}
"""Student-t 97.5% quantiles by degrees of freedom (the textbook table: 12.71, 4.303, 3.182)."""
Z975 = 1.959963984540054


def make_daily(values: dict[tuple[str, int], list[float]], metric: str = "score",
               scenario: str = "s") -> pd.DataFrame:
    """A daily table from {(policy, seed): [value on day 1, day 2, ...]}."""
    rows = [{"scenario": scenario, "policy": p, "seed": s, "day": d + 1, metric: v}
            for (p, s), vals in values.items() for d, v in enumerate(vals)]
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- mean_ci


def test_mean_ci_t_interval_by_hand() -> None:
    # [1, 2, 3, 4]: mean 2.5, s = sqrt(5/3), se = s / 2, half-width = t(0.975, 3) * se
    m, lo, hi = S.mean_ci([1.0, 2.0, 3.0, 4.0])
    half = T975[3] * math.sqrt(5 / 3) / 2
    assert m == pytest.approx(2.5)
    assert (lo, hi) == pytest.approx((2.5 - half, 2.5 + half))
    assert (lo, hi) == pytest.approx((0.44574, 4.55426), abs=1e-5)
    # two values: s = sqrt(2), se = 1 -> 3 +- 12.706
    assert S.mean_ci([2.0, 4.0]) == pytest.approx((3.0, 3.0 - T975[1], 3.0 + T975[1]))


def test_mean_ci_level_method_nan_and_small_n() -> None:
    m, lo, hi = S.mean_ci([1.0, 2.0, 3.0, 4.0], level=0.90)
    assert hi - m == pytest.approx(2.353363434801823 * math.sqrt(5 / 3) / 2)
    m, lo, hi = S.mean_ci([1.0, 2.0, 3.0, 4.0], method="normal")
    assert hi - m == pytest.approx(Z975 * math.sqrt(5 / 3) / 2)
    # NaNs are not replicates
    assert S.mean_ci([2.0, np.nan, 4.0]) == pytest.approx(S.mean_ci([2.0, 4.0]))
    m, lo, hi = S.mean_ci([7.0])
    assert m == 7.0 and math.isnan(lo) and math.isnan(hi)
    assert all(math.isnan(x) for x in S.mean_ci([]))
    assert S.mean_ci([3.0, 3.0, 3.0]) == (3.0, 3.0, 3.0)
    with pytest.raises(ValueError, match="level"):
        S.mean_ci([1.0, 2.0], level=1.5)
    with pytest.raises(ValueError, match="method"):
        S.mean_ci([1.0, 2.0], method="bayes")


def test_bootstrap_ci_needs_explicit_rng_and_leaves_global_rng_alone() -> None:
    with pytest.raises(TypeError, match="default_rng"):
        S.bootstrap_ci([1.0, 2.0, 3.0])
    with pytest.raises(TypeError):
        S.bootstrap_ci([1.0, 2.0, 3.0], rng=0)  # type: ignore[arg-type]
    # Reading the legacy global state is the point here: bootstrap_ci must not advance it.
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    a = S.bootstrap_ci(np.arange(20.0), 0.95, 500, np.random.default_rng(7))
    b = S.bootstrap_ci(np.arange(20.0), 0.95, 500, np.random.default_rng(7))
    assert np.array_equal(np.random.get_state()[1], before)  # noqa: NPY002
    assert a == b
    m, lo, hi = a
    assert m == pytest.approx(9.5) and lo < m < hi
    # close to the t interval for a well-behaved sample
    _, tlo, thi = S.mean_ci(np.arange(20.0))
    assert lo == pytest.approx(tlo, abs=1.0) and hi == pytest.approx(thi, abs=1.0)
    assert S.bootstrap_ci([5.0, 5.0], rng=np.random.default_rng(0)) == (5.0, 5.0, 5.0)
    one = S.bootstrap_ci([5.0], rng=np.random.default_rng(0))
    assert one[0] == 5.0 and math.isnan(one[1])


# --------------------------------------------------------------------------- curves


def test_curve_with_ci_per_day_across_seeds() -> None:
    d = make_daily({("a", 0): [1.0, 2.0], ("a", 1): [3.0, 4.0], ("a", 2): [5.0, np.nan],
                    ("b", 0): [0.0, 0.0], ("b", 1): [0.0, 0.0], ("b", 2): [0.0, 0.0]})
    c = S.curve_with_ci(d, "score")
    assert list(c.columns) == ["policy", "day", "mean", "lo", "hi", "n_seeds"]
    a1 = c[(c.policy == "a") & (c.day == 1)].iloc[0]
    assert (a1["mean"], a1["lo"], a1["hi"]) == pytest.approx(S.mean_ci([1.0, 3.0, 5.0]))
    assert a1["n_seeds"] == 3
    a2 = c[(c.policy == "a") & (c.day == 2)].iloc[0]  # the NaN seed does not count
    assert a2["n_seeds"] == 2
    assert (a2["mean"], a2["lo"], a2["hi"]) == pytest.approx(S.mean_ci([2.0, 4.0]))
    b = c[c.policy == "b"]
    assert (b["lo"] == 0).all() and (b["hi"] == 0).all()


def test_unknown_metric_lists_valid_ones() -> None:
    d = make_daily({("a", 0): [1.0]})
    with pytest.raises(ValueError, match=r"'nope' missing.*valid metrics: \['score'\]"):
        S.curve_with_ci(d, "nope")
    with pytest.raises(ValueError, match="valid metrics"):
        S.headline_table(d, metrics=("score", "nope"))
    with pytest.raises(ValueError, match="no rows"):
        S.curve_with_ci(d.iloc[:0], "score")
    with pytest.raises(ValueError, match="minority provider group"):
        S.curve_with_ci(d, S.MINORITY_EXPOSURE)


def test_mixed_scenarios_and_duplicates_are_refused() -> None:
    d = pd.concat([make_daily({("a", 0): [1.0]}, scenario="x"),
                   make_daily({("a", 0): [2.0]}, scenario="y")])
    with pytest.raises(ValueError, match="mixes scenarios"):
        S.curve_with_ci(d, "score")
    assert len(S.curve_with_ci(d, "score", by=("scenario", "policy"))) == 2
    with pytest.raises(ValueError, match="duplicate"):
        S.curve_with_ci(d.assign(scenario="x"), "score")


def test_minority_exposure_alias() -> None:
    d = make_daily({("a", 0): [0.9, 0.8], ("a", 1): [0.7, 0.9]}, metric="exposure_share:major")
    d["exposure_share:indie"] = 1.0 - d["exposure_share:major"]
    assert S.minority_exposure_column(d) == "exposure_share:indie"
    c = S.curve_with_ci(d, S.MINORITY_EXPOSURE)
    assert c["mean"].tolist() == pytest.approx([0.2, 0.15])
    assert S.minority_exposure_column(d[["policy", "seed", "day", "exposure_share:major"]]) \
        is None


# --------------------------------------------------------------------------- windows


@pytest.mark.parametrize(("window", "expected"), [
    (None, (1, 20)), ("all", (1, 20)), ("last", (20, 20)), (5, (5, 5)),
    ("last 10 days", (11, 20)), ("last 1 day", (20, 20)), ("last 50 days", (1, 20)),
    ((3, 7), (3, 7)), (("last", 4), (17, 20)),
])
def test_parse_window(window: object, expected: tuple[int, int]) -> None:
    assert S.parse_window(window, np.arange(1, 21)) == expected


@pytest.mark.parametrize("window", ["first week", (7, 3), (30, 40), "last 0 days", 2.5])
def test_parse_window_rejects(window: object) -> None:
    with pytest.raises(ValueError, match="window"):
        S.parse_window(window, np.arange(1, 21))


# --------------------------------------------------------------------------- paired


def _pair_frame() -> pd.DataFrame:
    # day-2 values: a = [1, 2, 3], b = [0.5, 1, 2.5] -> differences [0.5, 1, 0.5]
    return make_daily({("a", 0): [9.0, 1.0], ("a", 1): [9.0, 2.0], ("a", 2): [9.0, 3.0],
                       ("b", 0): [1.0, 0.5], ("b", 1): [2.0, 1.0], ("b", 2): [3.0, 2.5]})


def test_paired_difference_by_hand() -> None:
    r = S.paired_difference(_pair_frame(), "score", "a", "b", day="last")
    # mean 2/3, s = sqrt(1/12), se = s / sqrt(3) = 1/6, half = t(0.975, 2) / 6
    assert r["mean"] == pytest.approx(2 / 3)
    assert (r["lo"], r["hi"]) == pytest.approx((2 / 3 - T975[2] / 6, 2 / 3 + T975[2] / 6))
    assert r["n"] == 3 and r["window"] == (2, 2)
    # paired t = 4 on 2 dof: two-sided p = 1 - t / sqrt(t^2 + 2)
    assert r["p_value"] == pytest.approx(1 - 4 / math.sqrt(18))
    assert r["differences"].to_dict() == pytest.approx({0: 0.5, 1: 1.0, 2: 0.5})
    assert (r["mean_a"], r["mean_b"]) == pytest.approx((2.0, 4 / 3))


def test_paired_difference_windows_and_unmatched_seeds() -> None:
    d = _pair_frame()
    # whole horizon: a = [5, 5.5, 6], b = [0.75, 1.5, 2.75]
    r = S.paired_difference(d, "score", "a", "b")
    assert r["differences"].tolist() == pytest.approx([4.25, 4.0, 3.25])
    assert S.paired_difference(d, "score", "a", "b", day=1)["mean"] == pytest.approx(7.0)
    assert S.paired_difference(d, "score", "a", "b", day=(1, 2))["mean"] == pytest.approx(
        r["mean"])
    assert S.paired_difference(d, "score", "a", "b", day="last 1 day")["mean"] == pytest.approx(
        2 / 3)
    # seed 2 of b is missing: only seeds 0 and 1 pair up
    r = S.paired_difference(d[~((d.policy == "b") & (d.seed == 2))], "score", "a", "b", "last")
    assert r["n"] == 2 and list(r["differences"].index) == [0, 1]
    # identical differences on every seed: a zero-width interval and no test
    twin = pd.concat([d, d[d.policy == "b"].assign(policy="c")])
    same = S.paired_difference(twin, "score", "c", "b")
    assert same["mean"] == 0.0 and same["lo"] == same["hi"] == 0.0
    assert math.isnan(same["p_value"])
    with pytest.raises(ValueError, match="with itself"):
        S.paired_difference(d, "score", "a", "a")


def test_paired_difference_errors_name_the_valid_choices() -> None:
    d = _pair_frame()
    with pytest.raises(ValueError, match=r"\['zz'\] not in .*valid policies: \['a', 'b'\]"):
        S.paired_difference(d, "score", "zz", "b")
    with pytest.raises(ValueError, match=r"'clicks' missing.*valid metrics: \['score'\]"):
        S.paired_difference(d, "clicks", "a", "b")


def test_headline_and_paired_tables() -> None:
    d = _pair_frame()
    d["retention"] = d["score"] * 0 + 1.0
    h = S.headline_table(d, metrics=("score", "retention"), window="last 1 day")
    assert list(h["policy"]) == ["a", "a", "b", "b"]
    assert list(h["metric"]) == ["score", "retention"] * 2
    a = h[(h.policy == "a") & (h.metric == "score")].iloc[0]
    assert (a["mean"], a["lo"], a["hi"]) == pytest.approx(S.mean_ci([1.0, 2.0, 3.0]))
    assert a["n_seeds"] == 3 and (a["first_day"], a["last_day"]) == (2, 2)
    assert a["label"] == "Score"
    # the minority alias is skipped when no provider groups exist
    # default metrics: the headline ones present (score is not one)
    assert set(S.headline_table(d, window="last")["metric"]) == {"retention"}
    # the policy order decides the rows and the default reference
    h2 = S.headline_table(d, metrics=("score",), policies=["b", "a"])
    assert list(h2["policy"]) == ["b", "a"]

    p = S.paired_table(d, metrics=("score",), window="last 1 day")
    assert len(p) == 1
    row = p.iloc[0]
    assert (row["policy"], row["reference"]) == ("b", "a")
    assert row["diff"] == pytest.approx(-2 / 3) and row["n_pairs"] == 3
    p2 = S.paired_table(d, metrics=("score",), reference="b", window="last 1 day")
    assert p2.iloc[0]["diff"] == pytest.approx(2 / 3)
    assert S.paired_table(d[d.policy == "a"], metrics=("score",)).empty
    with pytest.raises(ValueError, match="valid policies"):
        S.paired_table(d, reference="nobody")


def test_completeness_issues() -> None:
    d = _pair_frame()
    assert S.completeness_issues(d) == []
    assert S.completeness_issues(d, policies=["a", "b", "c"]) == [
        "policy 'c' has no rows in daily table"]
    assert S.completeness_issues(d[~((d.policy == "b") & (d.seed == 2))]) == [
        "policy 'b' lacks seeds [2]"]
    assert S.completeness_issues(d, seeds=[0, 1, 2, 3]) == [
        "policy 'a' lacks seeds [3]", "policy 'b' lacks seeds [3]"]
    gap = d[~((d.policy == "a") & (d.seed == 1) & (d.day == 1))]
    assert S.completeness_issues(gap) == ["policy 'a' seed 1 lacks days [1] (of 1..2)"]
    # every run stopped early: only the expected horizon reveals it
    assert len(S.completeness_issues(d, days=3)) == 6
    assert S.completeness_issues(d, days=3)[0] == "policy 'a' seed 0 lacks days [3] (of 1..3)"


# --------------------------------------------------------------------------- groups


def test_group_gap_weights_the_rest_by_users() -> None:
    rows = []
    for seed, shift in ((0, 0.0), (1, 0.1)):
        for g, users, ret, act, ctr in (("minority", 10, 0.5, 0.5, 0.1),
                                        ("taste0", 30, 1.0, 1.0, 0.3),
                                        ("taste1", 10, 0.0, 0.0, np.nan)):
            rows.append({"policy": "p", "seed": seed, "day": 1, "group_key": "taste",
                         "group": g, "users": users, "retention": ret + shift,
                         "active_share": act, "score": ctr})
    g = pd.DataFrame(rows)
    gap = S.group_gap(g, "taste", "retention")
    # rest = (30 * 1.0 + 10 * 0.0) / 40 = 0.75 (+ shift on seed 1, same for both sides)
    assert gap["gap"].tolist() == pytest.approx([-0.25, -0.25])
    assert gap.attrs["focus"] == "minority" and gap.attrs["versus"] == "rest"
    # ctr: taste1 has no active users (NaN), so the rest is taste0 alone
    assert S.group_gap(g, "taste", "score")["gap"].tolist() == pytest.approx([-0.2, -0.2])
    assert S.group_gap(g, "taste", "retention", versus="taste1")["gap"].tolist() == \
        pytest.approx([0.5, 0.5])
    with pytest.raises(ValueError, match=r"valid keys: \['taste'\]"):
        S.group_gap(g, "age", "retention")
    with pytest.raises(ValueError, match="valid groups"):
        S.group_gap(g, "taste", "retention", focus="nobody")
    with pytest.raises(ValueError, match="valid metrics"):
        S.group_gap(g, "taste", "clicks")


# --------------------------------------------------------------------------- survival


def test_kaplan_meier_six_subjects_by_hand() -> None:
    # Six subjects: events at 1, 3, 3, 5; censored at 2 and 4.
    #   t  n  d  S                  Greenwood sum d/(n(n-d))
    #   1  6  1  5/6                1/30
    #   2  5  0  5/6 (censoring)    1/30
    #   3  4  2  5/6 * 2/4 = 5/12   1/30 + 2/8 = 17/60
    #   4  2  0  5/12 (censoring)   17/60
    #   5  1  1  0                  undefined
    km = S.kaplan_meier([1, 2, 3, 3, 4, 5], [1, 0, 1, 1, 0, 1])
    assert km["time"].tolist() == [1, 2, 3, 4, 5]
    assert km["at_risk"].tolist() == [6, 5, 4, 2, 1]
    assert km["events"].tolist() == [1, 0, 2, 0, 1]
    assert km["censored"].tolist() == [0, 1, 0, 1, 0]
    assert km["survival"].tolist() == pytest.approx([5 / 6, 5 / 6, 5 / 12, 5 / 12, 0.0])
    assert km["hazard"].tolist() == pytest.approx([1 / 6, 0, 1 / 2, 0, 1])
    se = km["se"].to_numpy()
    assert se[:4] == pytest.approx([5 / 6 * math.sqrt(1 / 30)] * 2
                                   + [5 / 12 * math.sqrt(17 / 60)] * 2)
    assert se[0] == pytest.approx(0.152145, abs=1e-6)
    assert se[2] == pytest.approx(0.221788, abs=1e-6)
    # log-log interval: S ** exp(+-z * sqrt(GW sum) / |log S|)
    for i, (s, gw) in enumerate([(5 / 6, 1 / 30), (5 / 12, 17 / 60)]):
        v = math.sqrt(gw) / abs(math.log(s))
        row = km.iloc[2 * i]
        assert row["lo"] == pytest.approx(s ** math.exp(Z975 * v))
        assert row["hi"] == pytest.approx(s ** math.exp(-Z975 * v))
    assert (km.loc[0, "lo"], km.loc[0, "hi"]) == pytest.approx((0.273123, 0.974712), abs=1e-6)
    assert np.isnan(km.loc[4, ["se", "lo", "hi"]].to_numpy(np.float64)).all()


def test_kaplan_meier_edge_cases() -> None:
    km = S.kaplan_meier([2, 2, 4])  # every event observed
    assert km["survival"].tolist() == pytest.approx([1 / 3, 0.0])
    censored = S.kaplan_meier([3, 5], [0, 0])  # nobody churned: S = 1, a degenerate interval
    assert censored["survival"].tolist() == [1.0, 1.0]
    assert censored["lo"].tolist() == [1.0, 1.0] and censored["hi"].tolist() == [1.0, 1.0]
    assert censored["se"].tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="at least one"):
        S.kaplan_meier([])
    with pytest.raises(ValueError, match="differ in length"):
        S.kaplan_meier([1, 2], [1])
    with pytest.raises(ValueError, match=">= 0"):
        S.kaplan_meier([-1, 2])
    with pytest.raises(ValueError, match="0/1"):
        S.kaplan_meier([1, 2], [1, 2])


def test_kaplan_meier_by_policy_from_a_users_table() -> None:
    users = pd.DataFrame({"policy": ["a"] * 6 + ["b"] * 2,
                          "duration": [1, 2, 3, 3, 4, 5, 2, 2],
                          "churned": ["True", "False", "True", "True", "False", "True",
                                      "True", "False"]})  # strings, as after a CSV round trip
    km = S.kaplan_meier_by(users)
    a = km[km.policy == "a"].drop(columns="policy").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, S.kaplan_meier([1, 2, 3, 3, 4, 5], [1, 0, 1, 1, 0, 1]))
    b = km[km.policy == "b"]
    assert b["survival"].tolist() == [0.5] and b["at_risk"].tolist() == [2]
    with pytest.raises(ValueError, match="True/False"):
        S.kaplan_meier_by(users.assign(churned="maybe"))


def test_churn_hazard_by_hand() -> None:
    # joined 100, 120 (20 join on day 2), 120, 120; alive 100, 108, 108, 54
    d = pd.DataFrame({"policy": "p", "seed": 0, "day": [1, 2, 3, 4],
                      "joined_users": [100, 120, 120, 120],
                      "retention": [1.0, 0.9, 0.9, 0.45]})
    h = S.churn_hazard(d)
    assert h["at_risk"].tolist() == [100, 120, 108, 108]
    assert h["churned"].tolist() == [0, 12, 0, 54]
    assert h["hazard"].tolist() == pytest.approx([0.0, 0.1, 0.0, 0.5])
    two = pd.concat([d, d.assign(seed=1, retention=[1.0, 0.8, 0.8, 0.8])])
    c = S.curve_with_ci(S.churn_hazard(two), "hazard")
    # day 2: seed 1 has 96 of 120 alive -> hazard 0.2; mean over seeds 0.15
    assert c.loc[c.day == 2, "mean"].item() == pytest.approx(0.15)
    with pytest.raises(ValueError, match="without gaps"):
        S.churn_hazard(d[d.day != 2])
    with pytest.raises(ValueError, match="'joined_users' missing"):
        S.churn_hazard(d.drop(columns="joined_users"))


def test_metric_info() -> None:
    assert S.metric_info("ctr").label == "Click-through rate"
    assert S.metric_info("exposure_share:independent").label == "Exposure share: independent"
    assert S.metric_info("some_new_metric").label == "Some new metric"
    assert S.metric_info("disparity:independent").label == "Exposure / merit: independent"
    assert S.metric_info("merit_share:major").unit == "share of total item merit (value in [0, 1])"


# --------------------------------------------------------------------------- issue 7/12: scipy


def test_scipy_backed_numbers_equal_the_closed_forms() -> None:
    """mean_ci (ttest_1samp), the paired interval (ttest_rel) and Kaplan-Meier (ecdf, log-log)
    give the numbers of the hand-written formulas they replaced."""
    rng = np.random.default_rng(3)
    for n in (2, 3, 5, 20):
        v = rng.normal(size=n)
        half = T975.get(n - 1, None)
        from scipy import stats as sps

        q = sps.t.ppf(0.975, n - 1) if half is None else half
        h = q * v.std(ddof=1) / math.sqrt(n)
        assert S.mean_ci(v) == pytest.approx((v.mean(), v.mean() - h, v.mean() + h))
    a, b = rng.normal(size=6), rng.normal(size=6)
    d = make_daily({**{("a", s): [a[s]] for s in range(6)}, **{("b", s): [b[s]]
                                                                for s in range(6)}})
    pd_ = S.paired_difference(d, "score", "a", "b")
    diff = a - b
    h = sps.t.ppf(0.975, 5) * diff.std(ddof=1) / math.sqrt(6)
    assert (pd_["mean"], pd_["lo"], pd_["hi"]) == pytest.approx(
        (diff.mean(), diff.mean() - h, diff.mean() + h))
    t = diff.mean() / (diff.std(ddof=1) / math.sqrt(6))
    assert pd_["p_value"] == pytest.approx(2 * sps.t.sf(abs(t), 5))
    # Kaplan-Meier with Kalbfleisch-Prentice log-log bands, by hand.
    dur = rng.integers(1, 15, size=60).astype(float)
    ev = rng.random(60) < 0.7
    km = S.kaplan_meier(dur, ev)
    times = np.unique(dur)
    at_risk = np.array([(dur >= x).sum() for x in times])
    dd = np.array([((dur == x) & ev).sum() for x in times])
    surv = np.cumprod(1 - dd / at_risk)
    gw = np.cumsum(np.where(dd > 0, dd / (at_risk * (at_risk - dd)), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        se_v = np.sqrt(gw) / np.abs(np.log(surv))
    ok = (surv < 1) & (surv > 0)
    np.testing.assert_allclose(km["survival"], surv)
    np.testing.assert_allclose(km["lo"][ok], (surv ** np.exp(Z975 * se_v))[ok], rtol=1e-9)
    np.testing.assert_allclose(km["hi"][ok], (surv ** np.exp(-Z975 * se_v))[ok], rtol=1e-9)


@pytest.mark.parametrize("metric", ["retention", "ctr", "coverage", "hazard", "exposure_gini"])
def test_intervals_of_shares_stay_in_0_1(metric: str) -> None:
    # The issue's case: popular retention 0.0753 [-0.0461, 0.197] under a t interval.
    vals = [0.02, 0.05, 0.155]
    d = make_daily({("p", s): [v] for s, v in enumerate(vals)}, metric=metric)
    _, tlo, _ = S.mean_ci(vals)
    assert tlo < 0  # the t interval leaves the range
    row = S.headline_table(d, metrics=(metric,)).iloc[0]
    assert 0.0 < row["lo"] < row["mean"] < row["hi"] < 1.0
    c = S.curve_with_ci(d, metric).iloc[0]
    assert 0.0 < c["lo"] and c["hi"] < 1.0
    # A seed on the bound: the bootstrap fallback, inside [min, max] of the seeds.
    d2 = make_daily({("p", 0): [0.0], ("p", 1): [0.1], ("p", 2): [0.3]}, metric=metric)
    c2 = S.curve_with_ci(d2, metric).iloc[0]
    assert 0.0 <= c2["lo"] <= c2["mean"] <= c2["hi"] <= 0.3


def test_nonnegative_amounts_and_scores_stay_in_range() -> None:
    d = make_daily({("p", 0): [0.1], ("p", 1): [0.2], ("p", 2): [2.5]},
                   metric="topic_entropy")
    c = S.curve_with_ci(d, "topic_entropy").iloc[0]
    assert c["lo"] > 0  # log scale: positive
    d = make_daily({("p", 0): [-0.95], ("p", 1): [-0.5], ("p", 2): [0.9]},
                   metric="interest_homogenization")
    c = S.curve_with_ci(d, "interest_homogenization").iloc[0]
    assert -1 < c["lo"] and c["hi"] < 1
    # realised satisfaction has no bound (taste + value + Gaussian noise): above 1 is valid
    d = make_daily({("p", 0): [1.1], ("p", 1): [0.9], ("p", 2): [1.3]},
                   metric="mean_satisfaction")
    c = S.curve_with_ci(d, "mean_satisfaction").iloc[0]
    assert c["lo"] < 1.1 < c["hi"]


def test_value_outside_a_metrics_range_is_refused() -> None:
    d = make_daily({("p", 0): [1.5]}, metric="ctr")
    with pytest.raises(ValueError, match=r"'ctr'.*1\.5 outside its range \[0\.0, 1\.0\]"):
        S.curve_with_ci(d, "ctr")


def test_wilson_interval() -> None:
    from recsim_llm.analysis.stats.intervals import wilson_ci

    lo, hi = wilson_ci([0, 5, 10], [10, 10, 10])
    assert lo[0] == 0.0 and 0 < hi[0] < 0.35 and hi[2] == pytest.approx(1.0) and 0.65 < lo[2] < 1
    assert lo[1] == pytest.approx(0.2366, abs=1e-4) and hi[1] == pytest.approx(0.7634, abs=1e-4)
    from scipy import stats as sps

    ci = sps.binomtest(5, 10).proportion_ci(method="wilson")
    assert (lo[1], hi[1]) == pytest.approx((ci.low, ci.high))


def test_paired_difference_of_shares_is_cut_to_the_range() -> None:
    d = make_daily({("a", 0): [0.9], ("a", 1): [0.95], ("a", 2): [0.1],
                    ("b", 0): [0.0], ("b", 1): [0.0], ("b", 2): [0.05]}, metric="ctr")
    r = S.paired_difference(d, "ctr", "a", "b")
    assert -1.0 <= r["lo"] and r["hi"] <= 1.0
