"""Synthetic personas: taste groups, text, arrivals, determinism; and, with the real MiniLM
encoder through the scenario, that the persona text drives preference."""

from __future__ import annotations

import numpy as np
import pytest

from recsim_llm.catalog.synthetic import TOPICS
from recsim_llm.config import PopulationConfig, ScenarioConfig, override
from recsim_llm.personas.synthetic import MINORITY, generate_personas, taste_group_topics
from recsim_llm.scenarios import build_world
from recsim_llm.simulator import World
from recsim_llm.users import dynamics as dyn

SHARE = np.array([0.3, 0.2, 0.15, 0.1, 0.08, 0.07, 0.05, 0.05])
"""catalog share per topic, biggest first"""


def _personas(seed: int = 0, horizon: int = 0, **kw):
    return generate_personas(PopulationConfig(**kw), SHARE, np.random.default_rng(seed), horizon)


def _named_topics(text: str, n_topics: int) -> list[int]:
    return [t for t in range(n_topics) if TOPICS[t].name in text]


def test_taste_groups_favourites_and_dislikes() -> None:
    favs, dislikes = taste_group_topics(4, SHARE, np.random.default_rng(0))
    assert len(favs) == len(dislikes) == 4
    big, small = set(range(4)), set(range(4, 8))  # SHARE is sorted, half = 4
    for g in range(3):
        assert set(favs[g]) <= big and len(favs[g]) == 3
    assert set(favs[3]) <= small  # the minority likes the long tail
    for f, d in zip(favs, dislikes, strict=True):
        assert not set(f) & set(d)  # nobody dislikes a favourite topic


def test_personas_text_and_groups() -> None:
    p = _personas(n_users=300, minority_share=0.2, n_taste_groups=4)
    assert p.n_users == 300 and len(set(p.user_ids)) == 300
    groups = p.groups["taste"]
    assert set(groups) <= {"taste0", "taste1", "taste2", MINORITY}
    assert 0.1 < np.mean(groups == MINORITY) < 0.3
    for u in range(p.n_users):
        named = _named_topics(p.likes[u], len(SHARE))
        assert len(named) == 2, p.likes[u]  # every persona names two favourite topics
        if p.dislikes[u]:
            bad = _named_topics(p.dislikes[u], len(SHARE))
            assert len(bad) == 1 and bad[0] not in named
    assert 0.6 < np.mean([bool(d) for d in p.dislikes]) < 0.95  # ~80% dislike something
    assert "Likes:" in p.text(0)


def test_minority_names_long_tail_topics() -> None:
    p = _personas(n_users=400, minority_share=0.25)
    minority = p.groups["taste"] == MINORITY
    for u in np.flatnonzero(minority):
        assert all(t >= 4 for t in _named_topics(p.likes[u], len(SHARE)))
    for u in np.flatnonzero(~minority):
        assert all(t < 4 for t in _named_topics(p.likes[u], len(SHARE)))


def test_arrivals() -> None:
    p = _personas(n_users=10, horizon=5, new_users_per_day=2)
    # arrivals on days 1 .. horizon - 1: the last simulated day is horizon - 1
    assert p.n_users == 10 + 2 * 4
    assert p.arrival_day is not None
    np.testing.assert_array_equal(np.bincount(p.arrival_day), [10, 2, 2, 2, 2])


def test_deterministic_per_seed() -> None:
    a, b, c = _personas(1, n_users=30), _personas(1, n_users=30), _personas(2, n_users=30)
    assert a.likes == b.likes and a.dislikes == b.dislikes
    np.testing.assert_array_equal(a.groups["taste"], b.groups["taste"])
    assert a.likes != c.likes


def test_zero_minority_share() -> None:
    p = _personas(n_users=100, minority_share=0.0)
    assert not np.any(p.groups["taste"] == MINORITY)


# ------------------------------------------------------------------ real encoder: text drives taste
@pytest.fixture(scope="module")
def minilm_world() -> World:
    cfg = override(ScenarioConfig(), **{"encoder": "minilm", "population.n_users": 40,
                                        "catalog.n_items": 60, "horizon_days": 3})
    return build_world(cfg, 0)


def _affinity(world: World) -> np.ndarray:
    """[n_users, n_items] taste at day 0: pooled interests minus dislike (no boredom yet)."""
    ch = world.cfg.choice
    assert world.interest_logw is not None
    a, _ = dyn.all_item_terms(world.interest0, world.interest_logw, world.dislike,
                              np.zeros_like(world.dislike), world.item_emb, ch.lam_dislike,
                              ch.beta_fatigue, ch.pool_temperature)
    return a


def test_minilm_persona_topics_get_higher_affinity(minilm_world: World) -> None:
    w = minilm_world
    assert w.dim == 384 and "transformer" in w.encoder_identity
    cat, aff = w.catalog, _affinity(w)
    compared = 0
    for t, name in enumerate(cat.topic_names):
        users = [u for u in range(w.n_users) if name in w.personas.likes[u]]
        in_topic = cat.topic_matrix[:, t]
        if not users or not in_topic.any():
            continue
        compared += 1
        a_in, a_out = aff[users][:, in_topic].mean(), aff[users][:, ~in_topic].mean()
        assert a_in > a_out, f"users who like {name!r}: {a_in:.3f} <= {a_out:.3f}"
    assert compared >= 5


def test_minilm_top_items_lie_in_favourite_topics(minilm_world: World) -> None:
    w = minilm_world
    cat, aff = w.catalog, _affinity(w)
    shares = []
    for u in range(w.n_users):
        fav = [t for t, n in enumerate(cat.topic_names) if n in w.personas.likes[u]]
        top = np.argsort(-aff[u])[:5]
        shares.append(cat.topic_matrix[top][:, fav].any(axis=1).mean())
    # chance level is the favourite topics' catalog share (well under one half)
    chance = np.mean([cat.topic_matrix[:, [t for t, n in enumerate(cat.topic_names)
                                           if n in w.personas.likes[u]]].any(axis=1).mean()
                      for u in range(w.n_users)])
    assert np.mean(shares) > 0.7 and np.mean(shares) > chance + 0.3


def test_two_interest_personas_top_20_cover_both_interests() -> None:
    """One vector per stated interest, pooled by a soft maximum: a persona who loves A and also
    enjoys B gets both in its top 20 (one mean vector gave 20 of one and 0 of the other)."""
    cfg = override(ScenarioConfig(), **{"encoder": "minilm", "population.n_users": 30,
                                        "catalog.n_items": 600, "horizon_days": 3})
    w = build_world(cfg, 0)
    assert w.n_interests == 2
    cat, aff = w.catalog, _affinity(w)
    names = list(cat.topic_names)
    both = []
    for u in range(w.n_users):
        first, second = w.personas.interests[u]
        ta = [t for t, n in enumerate(names) if n in first]
        tb = [t for t, n in enumerate(names) if n in second]
        top = np.argsort(-aff[u])[:20]
        both.append(cat.topic_matrix[top][:, ta].any() and cat.topic_matrix[top][:, tb].any())
    assert np.mean(both) >= 0.9, np.mean(both)
