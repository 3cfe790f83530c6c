"""Calibration of the choice model on MovieLens (``recsim_llm.calibration``).

Fast: the end-to-end tests use the HashingEncoder on a user subsample of ML-100K (the copy in the
recbole wheel); one test runs MiniLM on a small slice of the catalog.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import expit

from recsim_llm import calibration as cal
from recsim_llm.catalog.movielens import MovieLensData, load_movielens
from recsim_llm.personas.ratings import personas_from_history

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def ml100k() -> MovieLensData:
    try:
        return load_movielens(None, variant="100k")
    except FileNotFoundError as exc:  # pragma: no cover - recbole is a test dependency
        pytest.skip(f"ML-100K not available: {exc}")


def _synthetic_events(n: int, theta: tuple[float, float, float, float], seed: int) -> cal.Events:
    """Events drawn from the model itself, ``P(y=1) = sigmoid(T*a + w*prior - c)``."""
    rng = np.random.default_rng(seed)
    t, lam, w, c = theta
    cos_p = rng.normal(0.0, 0.25, n)
    cos_q = rng.normal(0.0, 0.3, n)
    prior = rng.random(n)
    z = t * (cos_p - lam * np.maximum(cos_q, 0.0)) + w * prior - c
    label = (rng.random(n) < expit(z)).astype(np.float64)
    idx = np.arange(n, dtype=np.int64)
    return cal.Events(idx, idx, label, cos_p, cos_q, prior)


# ---------------------------------------------------------------- maximum likelihood


def test_mle_recovers_known_parameters() -> None:
    truth = {"temperature": 4.0, "lam_dislike": 0.8, "w_prior": 2.0, "no_click_utility": 1.0}
    ev = _synthetic_events(200_000, tuple(truth.values()), seed=1)
    fit = cal.fit_choice_model(ev, balance=False)
    assert fit.converged
    for name, value in truth.items():
        got = getattr(fit, name)
        assert abs(got - value) <= 0.1 * abs(value), (name, got, value)
        # the truth lies within 4 standard errors: the errors are honest
        assert abs(got - value) <= 4 * fit.std_err[name], (name, got, fit.std_err[name])


def test_mle_switched_off_terms_are_zero_and_balance_shifts_intercept() -> None:
    ev = _synthetic_events(20_000, (3.0, 0.5, 1.5, 0.5), seed=2)
    raw = cal.fit_choice_model(ev, text=False, balance=False)
    assert raw.temperature == 0.0 and raw.lam_dislike == 0.0 and raw.w_prior > 0
    assert set(raw.std_err) == {"w_prior", "no_click_utility"}
    bal = cal.fit_choice_model(ev, text=False, balance=True)
    n_pos = int(ev.label.sum())
    shift = math.log((len(ev) - n_pos) / n_pos)
    assert bal.intercept_shift == pytest.approx(shift)
    assert bal.no_click_utility == pytest.approx(raw.no_click_utility - shift, abs=1e-6)
    assert bal.choice_config() == {"temperature": 0.0, "no_click_utility": bal.no_click_utility,
                                   "lam_dislike": 0.0, "w_appeal": bal.w_prior}


def test_mle_rejects_degenerate_events() -> None:
    ev = _synthetic_events(100, (1.0, 0.0, 1.0, 0.0), seed=3)
    one_class = dataclasses.replace(ev, label=np.ones(len(ev)))
    with pytest.raises(ValueError, match="both liked and unseen"):
        cal.fit_choice_model(one_class)
    with pytest.raises(ValueError, match="at least one of text and prior"):
        cal.fit_choice_model(ev, text=False, prior=False)


# ---------------------------------------------------------------- metric helpers


def test_auc_score_hand_computed() -> None:
    # pairs: 3>1, 3>2, 2>1, 2=2 (half) -> 3.5 / 4
    assert cal.auc_score(np.array([3.0, 2.0]), np.array([1.0, 2.0])) == pytest.approx(0.875)
    assert cal.auc_score(np.array([1.0]), np.array([2.0, 3.0])) == 0.0
    with pytest.raises(ValueError):
        cal.auc_score(np.array([]), np.array([1.0]))


def test_per_user_auc_matches_pairwise_count() -> None:
    scores = np.array([[0.9, 0.1, 0.5, 0.7, 0.3],
                       [0.2, 0.2, 0.8, 0.1, 0.6],
                       [0.5, 0.4, 0.3, 0.2, 0.1]])
    pos = np.array([[1, 0, 0, 0, 1], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0]], bool)
    neg = np.array([[0, 1, 1, 0, 0], [0, 1, 0, 1, 1], [1, 1, 0, 0, 0]], bool)
    auc, pairs = cal.per_user_auc(scores, pos, neg)
    # row 0: pos {0.9, 0.3} vs neg {0.1, 0.5}: 0.9 beats both, 0.3 beats 0.1 -> 3/4
    # (0.7 in column 3 is neither and must not count)
    assert auc[0] == pytest.approx(0.75)
    # row 1: pos {0.2} vs neg {0.2, 0.1, 0.6}: tie (0.5) + win (1) -> 1.5/3
    assert auc[1] == pytest.approx(0.5)
    assert math.isnan(auc[2])
    assert pairs.tolist() == [4, 3, 0]
    for row in (0, 1):
        assert auc[row] == pytest.approx(cal.auc_score(scores[row, pos[row]],
                                                       scores[row, neg[row]]))


def test_binary_metrics_hand_computed() -> None:
    y_true = np.array([1, 1, 1, 0, 0, 0, 0, 0], bool)
    y_pred = np.array([1, 1, 0, 1, 0, 0, 0, 0], bool)
    m = cal.binary_metrics(y_true, y_pred)  # tp 2, fn 1, fp 1, tn 4
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert (m["n_pos"], m["n_neg"]) == (3, 5)
    none = cal.binary_metrics(y_true, np.zeros(8, bool))
    assert none["precision"] == 0.0 and none["f1"] == 0.0 and none["accuracy"] == 5 / 8


def test_item_prior_hand_computed() -> None:
    items = np.array([0, 0, 0, 1], np.int64)
    ratings = np.array([5.0, 5.0, 5.0, 1.0])
    pop = cal.item_prior(items, ratings, 3, "popularity", (1.0, 5.0))
    assert pop == pytest.approx([1.0, math.log(2) / math.log(4), 0.0])
    mean = cal.item_prior(items, ratings, 3, "mean_rating", (1.0, 5.0))
    mu = 4.0  # global mean
    expected = [(15 + 10 * mu) / 13, (1 + 10 * mu) / 11, mu]
    assert mean == pytest.approx([(e - 1) / 4 for e in expected])
    with pytest.raises(ValueError, match="popularity"):
        cal.item_prior(items, ratings, 3, "views", (1.0, 5.0))


# ---------------------------------------------------------------- periods and bad input


def test_split_periods_matches_persona_split(ml100k: MovieLensData) -> None:
    periods = cal.split_periods(ml100k)
    assert set(periods["period"]) == {0, 1, 2}
    # every user has every period and the persona period is the persona writer's training set
    assert (periods.groupby("user")["period"].nunique() == 3).all()
    _, held_60 = personas_from_history(ml100k, train_fraction=0.6, min_train_ratings=1)
    _, held_80 = personas_from_history(ml100k, train_fraction=0.8, min_train_ratings=1)
    assert int((periods["period"] >= 1).sum()) == len(held_60)
    assert int((periods["period"] == 2).sum()) == len(held_80)
    # within a user the periods follow time
    last_fit = periods[periods["period"] <= 1].groupby("user")["timestamp"].max()
    first_test = periods[periods["period"] == 2].groupby("user")["timestamp"].min()
    assert (last_fit <= first_test.reindex(last_fit.index)).all()


def _with_ratings(data: MovieLensData, ratings: pd.DataFrame) -> MovieLensData:
    return dataclasses.replace(data, ratings=ratings.reset_index(drop=True))


def test_too_few_ratings_to_split_is_a_clear_error(ml100k: MovieLensData) -> None:
    r = ml100k.ratings
    few = r.groupby("user_id", sort=False).head(3)  # every user keeps 3 ratings
    with pytest.raises(ValueError, match="too few ratings to split"):
        cal.split_periods(_with_ratings(ml100k, few))
    with pytest.raises(ValueError, match="too few ratings to split"):
        cal.calibrate(_with_ratings(ml100k, few), encoder="hashing:32", max_users=5)


def test_empty_heldout_period_is_a_clear_error(ml100k: MovieLensData) -> None:
    with pytest.raises(ValueError, match="held-out period is empty"):
        cal.split_periods(ml100k, train_fraction=1.0)
    # a held-out period with no liked film (every held-out rating is 1 star)
    periods = cal.split_periods(ml100k)
    periods.loc[periods["period"] == 2, "rating"] = 1.0
    with pytest.raises(ValueError, match="held-out period is empty of liked films"):
        cal.build_heldout(periods, len(periods.attrs["user_ids"]), ml100k.catalog.n_items,
                          rng=np.random.default_rng(0))


def test_unknown_scenario_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"valid scenarios: \['ml-100k', 'ml-latest-small'\]"):
        cal.calibrate_command("ml-20m", None, "hashing", None, None, 0)
    with pytest.raises(ValueError, match="no rating history"):
        cal.calibrate_command("synthetic", None, "hashing", None, None, 0)


# ---------------------------------------------------------------- held-out sampling


def test_heldout_samples_are_unseen_nested_and_sized(ml100k: MovieLensData) -> None:
    periods = cal.split_periods(ml100k)
    n_users, n_items = len(periods.attrs["user_ids"]), ml100k.catalog.n_items
    h = cal.build_heldout(periods, n_users, n_items, rng=np.random.default_rng(0))
    n_liked = h.liked.sum(axis=1)
    prev: set = set()
    for m in (1, 3, 9):
        u, i = h.neg_samples[m]
        assert h.unseen[u, i].all()  # never rated by the user at all
        assert not h.liked[u, i].any()
        per_user = np.bincount(u, minlength=n_users)
        expected = np.minimum(m * n_liked, h.unseen.sum(axis=1))
        assert (per_user == expected).all()
        assert len(set(zip(u.tolist(), i.tolist(), strict=True))) == len(u)  # no repeats
        pairs = set(zip(u.tolist(), i.tolist(), strict=True))
        assert prev <= pairs  # nested: 1:1 inside 1:3 inside 1:9
        prev = pairs


# ---------------------------------------------------------------- end to end


def test_calibrate_command_hashing_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "calib"
    r = cal.calibrate_command("ml-100k", None, "hashing", out, 150, 0)
    assert r["counts"]["users"] == 150
    assert r["best_prior"] in cal.ITEM_PRIORS
    cfg = r["recommended"]["choice_config"]
    assert set(cfg) == {"temperature", "no_click_utility", "lam_dislike", "w_appeal"}
    assert cfg["temperature"] >= 0 and cfg["w_appeal"] > 0
    assert "not identifiable" in r["position_bias"]
    ev = r["evaluation"]
    for name in ("text+popularity", "text-only", "popularity-only", "text+popularity/in-sample"):
        assert name in ev
        assert set(ev[name]["ratios"]) == {"1:1", "1:3", "1:9"}
        for m in ev[name]["ratios"].values():
            assert 0 <= m["accuracy"] <= 1 and 0 <= m["f1"] <= 1
    # the item prior carries most of the signal; text alone is weaker but above chance
    assert ev["popularity-only"]["auc"] > 0.75
    assert ev["text+popularity"]["auc"] > 0.75
    assert 0.5 < ev["text-only"]["auc"] < ev["popularity-only"]["auc"]
    # positives are shared: recall does not depend on the ratio, precision falls with it
    rat = ev["text+popularity"]["ratios"]
    assert rat["1:1"]["recall"] == rat["1:9"]["recall"]
    assert rat["1:1"]["precision"] > rat["1:3"]["precision"] > rat["1:9"]["precision"]
    # among watched films, the mean rating tells liked from disliked better than popularity
    rev = r["rating_evaluation"]
    assert rev["mean_rating-only"]["auc_liked_vs_disliked"] > 0.6
    assert 0 <= ev["text-only"]["auc_liked_vs_disliked"] <= 1
    assert set(r["rating_fits"]) == {"text+mean_rating", "text+popularity", "text-only",
                                     "mean_rating-only"}
    # the leakage check: personas written from the fit period inflate the temperature
    fits = r["fits"]
    assert fits["text-only/in-sample"]["temperature"] > fits["text-only"]["temperature"]
    saved = json.loads((out / "results.json").read_text())  # strict JSON
    assert saved["recommended"] == r["recommended"]
    assert "| text+popularity |" in (out / "report.md").read_text()
    # calibration.json: both protocols and 1:1 accuracy of the shipped model, with the
    # popularity-only and text-only figures beside them
    head = json.loads((out / "calibration.json").read_text())
    assert head["model"] == "text+popularity"
    for fig in (head, head["popularity_only"], head["text_only"]):
        assert set(fig) >= {"auc_random", "auc_popularity_matched", "accuracy_1to1"}
    assert head["auc_random"] == ev["text+popularity"]["auc"]
    # matched negatives take popularity away: popularity alone falls toward 0.5
    assert head["popularity_only"]["auc_popularity_matched"] < 0.65
    assert head["popularity_only"]["auc_popularity_matched"] < head["popularity_only"][
        "auc_random"] - 0.15
    # same seed, same numbers (a smaller run, twice)
    a = cal.calibrate_command("ml-100k", None, "hashing", None, 40, 3)
    b = cal.calibrate_command("ml-100k", None, "hashing", None, 40, 3)
    assert a["fits"]["text+popularity"]["temperature"] == b["fits"]["text+popularity"][
        "temperature"]
    assert a["evaluation"]["text+popularity"]["ratios"] == b["evaluation"]["text+popularity"][
        "ratios"]


def test_calibrate_minilm_small_slice(ml100k: MovieLensData) -> None:
    # the 118 films with >= 200 ratings and 25 users keep MiniLM fast on a CPU
    data = load_movielens(None, variant="100k", min_ratings_per_item=200)
    r = cal.calibrate(data, encoder="minilm", max_users=25, seed=0, compare_hashing=False,
                      min_ratings=5)
    assert "transformer" in r["encoder_identity"]
    assert r["fits"]["text+popularity"]["converged"]
    assert 0.0 <= r["evaluation"]["text-only"]["auc"] <= 1.0


def test_activity_curve_counts_returning_users_and_censors_late_ones() -> None:
    import pandas as pd

    from recsim_llm.calibration.activity import SECONDS_PER_DAY, activity_curve

    day = SECONDS_PER_DAY
    r = pd.DataFrame({"user_id": ["a", "a", "b", "c", "c", "d"],
                      "timestamp": [0, 40 * day, 5 * day, 10 * day, 100 * day, 95 * day]})
    c = activity_curve(r, [0, 30, 90]).set_index("day")
    # log ends on day 100; d joins on day 95: observable for d <= 5 only
    assert c.loc[0, "observable_users"] == 4 and c.loc[0, "still_active"] == 1.0
    assert c.loc[30, "observable_users"] == 3  # a, b, c
    assert c.loc[30, "still_active"] == pytest.approx(2 / 3)  # a (40 days), c (90 days)
    assert c.loc[90, "observable_users"] == 3  # a, b, c; d joined on day 95
    assert c.loc[90, "still_active"] == pytest.approx(1 / 3)  # c only
    assert c.loc[0, "single_day_share"] == pytest.approx(0.5)  # b and d
    for bad, msg in [(r.iloc[:0], "empty"), (r.drop(columns="timestamp"), "lack")]:
        with pytest.raises(ValueError, match=msg):
            activity_curve(bad, [0])
    with pytest.raises(ValueError, match=">= 0"):
        activity_curve(r, [-1])
