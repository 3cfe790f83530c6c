"""Ranking accuracy against the simulator's ground truth: hand-computed cases and a sanity run."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recsim_llm.analysis.accuracy import ACCURACY_COLUMNS, AccuracyProbe, ranking_metrics
from recsim_llm.analysis.recorder import DailyRecorder
from recsim_llm.runner import run_policy
from recsim_llm.scenarios import build_world
from recsim_llm.simulator import Simulator, World
from recsim_llm.users import dynamics as dyn


def test_hand_computed_single_slate() -> None:
    slates = np.array([[2, 0, 4]])
    relevant = np.zeros((1, 5), bool)
    relevant[0, [0, 1]] = True
    gains = np.array([[0.9, 0.8, 0.1, 0.3, 0.5]])
    m = ranking_metrics(slates, relevant, gains)
    assert set(m) == set(ACCURACY_COLUMNS)
    assert m["precision_at_k"][0] == pytest.approx(1 / 3)
    assert m["recall_at_k"][0] == pytest.approx(1 / 2)
    # hits at ranks 1..3: 0, 1, 0; P@2 = 1/2 at the one hit; divided by min(|rel|=2, k=3)
    assert m["map_at_k"][0] == pytest.approx((1 / 2 * 1) / min(2, 3)) == pytest.approx(0.25)
    dcg = 0.1 / math.log2(2) + 0.9 / math.log2(3) + 0.5 / math.log2(4)
    idcg = 0.9 / math.log2(2) + 0.8 / math.log2(3) + 0.5 / math.log2(4)
    assert m["ndcg_at_k"][0] == pytest.approx(dcg / idcg)
    assert m["ndcg_at_k"][0] == pytest.approx(0.55467, abs=1e-5)


def test_hand_computed_several_slates() -> None:
    slates = np.array([[0, 1, 2, 3],     # all relevant, in the ideal order
                       [3, 2, 1, 0],     # hits at ranks 3 and 4
                       [4, 5, 0, 1]])    # one hit at rank 1, 3 relevant overall
    relevant = np.array([[1, 1, 1, 1, 0, 0],
                         [1, 1, 0, 0, 0, 0],
                         [0, 0, 0, 0, 1, 1]], bool)
    relevant[2, 2] = True
    relevant[2, 5] = False
    gains = np.array([[0.9, 0.8, 0.7, 0.6, 0.1, 0.0],
                      [1.0, 0.5, 0.0, 0.0, 0.0, 0.0],
                      [0.2, 0.2, 0.6, 0.0, 0.4, 0.0]])
    m = ranking_metrics(slates, relevant, gains)
    np.testing.assert_allclose(m["precision_at_k"], [1.0, 0.5, 0.25])
    np.testing.assert_allclose(m["recall_at_k"], [1.0, 1.0, 1 / 2])
    ap1 = 1.0
    ap2 = (1 / 3 + 2 / 4) / 2
    ap3 = (1 / 1) / 2  # relevant {2, 4}: one hit at rank 1, min(|rel|=2, k=4) = 2
    np.testing.assert_allclose(m["map_at_k"], [ap1, ap2, ap3])
    disc = [1 / math.log2(j + 2) for j in range(4)]
    ndcg2 = (1.0 * disc[3] + 0.5 * disc[2]) / (1.0 * disc[0] + 0.5 * disc[1])
    ndcg3 = ((0.4 * disc[0] + 0.0 * disc[1] + 0.2 * disc[2] + 0.2 * disc[3])
             / (0.6 * disc[0] + 0.4 * disc[1] + 0.2 * disc[2] + 0.2 * disc[3]))
    np.testing.assert_allclose(m["ndcg_at_k"], [1.0, ndcg2, ndcg3])


def test_no_relevant_items_give_nan_recall_and_ap() -> None:
    slates = np.array([[0, 1], [2, 3]])
    relevant = np.zeros((2, 4), bool)
    relevant[1, 3] = True
    gains = np.array([[0.0, 0.0, 0.0, 0.0], [0.1, 0.1, 0.1, 0.9]])
    with np.errstate(all="raise"):  # no warnings leak out either
        m = ranking_metrics(slates, relevant, gains)
    assert m["precision_at_k"][0] == 0.0
    assert np.isnan(m["recall_at_k"][0]) and np.isnan(m["map_at_k"][0])
    assert np.isnan(m["ndcg_at_k"][0])  # zero ideal gain
    assert m["recall_at_k"][1] == 1.0 and m["map_at_k"][1] == pytest.approx(0.5)


def test_ranking_metrics_are_bounded_and_perfect_for_the_ideal_slate() -> None:
    rng = np.random.default_rng(0)
    s, n, k = 200, 30, 5
    gains = rng.random((s, n))
    relevant = gains > 0.5
    slates = np.stack([rng.permutation(n)[:k] for _ in range(s)])
    m = ranking_metrics(slates, relevant, gains)
    for key, vals in m.items():
        ok = vals[np.isfinite(vals)]
        assert ((ok >= 0) & (ok <= 1 + 1e-12)).all(), key
    ideal = np.argsort(-gains, axis=1)[:, :k]
    mi = ranking_metrics(ideal, relevant, gains)
    np.testing.assert_allclose(mi["ndcg_at_k"], 1.0)
    np.testing.assert_allclose(mi["precision_at_k"], np.minimum(relevant.sum(1), k) / k)
    assert (mi["ndcg_at_k"] >= m["ndcg_at_k"] - 1e-12).all()


@pytest.fixture(scope="module")
def world(make_small_config) -> World:
    return build_world(make_small_config(horizon_days=6), 0)


def test_oracle_beats_random_on_ndcg(world: World) -> None:
    res = {p: pd.DataFrame(run_policy(world, p, 0).daily) for p in ("oracle", "random",
                                                                    "greedy")}
    for df in res.values():
        for col in ACCURACY_COLUMNS:
            assert col in df.columns
        assert df.ndcg_at_k.notna().all()
    oracle, rnd = res["oracle"], res["random"]
    assert (oracle.ndcg_at_k.to_numpy() > rnd.ndcg_at_k.to_numpy()).all()
    assert oracle.ndcg_at_k.mean() > rnd.ndcg_at_k.mean() + 0.1
    # Day 1, first slate: nothing is excluded yet, so the oracle serves the ideal ranking.
    # (Later it skips each user's recent clicks, which are the most relevant items.)
    assert oracle.ndcg_at_k.iloc[0] == pytest.approx(1.0)
    assert oracle.map_at_k.iloc[0] == pytest.approx(1.0)
    assert oracle.precision_at_k.iloc[0] >= rnd.precision_at_k.iloc[0]


def test_probe_evaluates_first_slate_of_the_day_of_sampled_users(world: World) -> None:
    """The probe's day means equal a direct evaluation of each sampled user's first slate of
    the day against the pre-request state, slate by slate."""
    sample = np.arange(0, world.n_users, 3)
    sim = Simulator(world, 0)
    probe = AccuracyProbe(world, sample).attach(sim)
    ch = world.cfg.choice
    today: dict[str, list[float]] = {c: [] for c in ACCURACY_COLUMNS}
    seen: set[tuple[int, int]] = set()
    compared: list[tuple[dict[str, float], dict[str, float]]] = []

    def check(s: Simulator, users: np.ndarray, slates: np.ndarray) -> None:
        for j, u in enumerate(users):
            if u % 3 or (s.day, int(u)) in seen:
                continue
            seen.add((s.day, int(u)))
            a, st = s.n_available, s.state
            emb = world.item_emb[:a]
            cos = st.interest[u] @ emb.T                                    # [K, a]
            pooled = dyn.pool_interests(cos.T, st.interest_logw[u], ch.pool_temperature)
            aff = dyn.affinity(pooled, st.dislike[u] @ emb.T, ch.lam_dislike)
            v = (ch.temperature * (aff - dyn.boredom(st.fatigue[u] @ emb.T, ch.beta_fatigue))
                 + st.hook[u] * world.catalog.appeal[:a])
            margin = v - ch.no_click_utility
            r = ranking_metrics(slates[j:j + 1], (margin > 0)[None],
                                (1 / (1 + np.exp(-margin)))[None])
            for key, val in r.items():
                if np.isfinite(val[0]):
                    today[key].append(float(val[0]))

    def day_end(s: Simulator, day: int) -> None:
        mine = {k: (float(np.mean(v)) if v else float("nan")) for k, v in today.items()}
        compared.append((probe.day_means(), mine))
        for v in today.values():
            v.clear()

    sim.before_request.append(check)
    sim.on_day_end.append(day_end)
    sim.reset()
    rng = np.random.default_rng(0)
    k = world.cfg.slate_size
    while not sim.done:
        sim.step(np.stack([rng.permutation(sim.n_available)[:k]
                           for _ in range(world.n_users)]))
    assert len(compared) == world.cfg.horizon_days
    assert {u for d, u in seen if d == 0} == set(sample.tolist())  # all visit on day 0
    for got, want in compared:
        for key in ACCURACY_COLUMNS:
            np.testing.assert_allclose(got[key], want[key], rtol=1e-6, equal_nan=True)
    assert np.isfinite(compared[0][0]["ndcg_at_k"])


def test_recorder_accuracy_columns_match_probe(world: World) -> None:
    """The recorder's accuracy columns are those of an AccuracyProbe on its user sample."""
    sim = Simulator(world, 0)
    rec = DailyRecorder(world, {"policy": "x"}).attach(sim)
    probe = AccuracyProbe(world, np.flatnonzero(rec._accuracy.in_sample)).attach(sim)
    means = []
    sim.on_day_end.append(lambda s, d: means.append(probe.day_means()))
    rng = np.random.default_rng(5)
    k = world.cfg.slate_size
    sim.reset()
    while not sim.done:
        sim.step(np.stack([rng.permutation(sim.n_available)[:k]
                           for _ in range(world.n_users)]))
    for row, mean in zip(rec.rows, means, strict=True):
        for col in ACCURACY_COLUMNS:
            np.testing.assert_allclose(row[col], mean[col], rtol=1e-12, equal_nan=True)
