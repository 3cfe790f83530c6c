"""The built-in synthetic text catalog: shapes, long tails, arrivals, text and determinism."""

from __future__ import annotations

import numpy as np
import pytest

from recsim_llm.catalog.synthetic import (
    CLICKBAIT_TAGS,
    CLICKBAIT_TEASERS,
    PROVIDER_GROUPS,
    TOPICS,
    generate_catalog,
    zipf_weights,
)
from recsim_llm.config import CatalogConfig


def _cat(seed: int = 0, horizon: int = 0, **kw):
    return generate_catalog(CatalogConfig(**kw), np.random.default_rng(seed), horizon)


def test_shapes_and_labels() -> None:
    cat = _cat(n_items=200, n_topics=8, n_providers=10)
    assert cat.n_items == 200 and cat.n_topics == 8 and cat.source == "synthetic"
    assert cat.topic_names == tuple(t.name for t in TOPICS[:8])
    assert cat.topics.min() >= 0 and cat.topics.max() < 8
    assert cat.provider.min() >= 0 and cat.provider.max() < 10
    assert cat.provider_group_names == PROVIDER_GROUPS
    assert set(np.unique(cat.provider_group)) <= {0, 1}
    assert np.all((cat.appeal > 0) & (cat.appeal < 1))
    assert np.all((cat.value > -1) & (cat.value < 1))
    assert len(set(cat.item_ids)) == 200
    assert np.all(cat.arrival_day == 0)
    # the primary topic is always one of the item's labels; a blend adds at most one more
    assert cat.topic_matrix is not None
    assert np.all(cat.topic_matrix[np.arange(200), cat.topics])
    assert set(np.unique(cat.topic_matrix.sum(axis=1))) <= {1, 2}
    np.testing.assert_allclose(cat.topic_onehot().sum(axis=1), 1.0)


def test_provider_groups_are_the_smallest_providers() -> None:
    cat = _cat(n_items=500, n_providers=10, minority_provider_share=0.3)
    indie = np.unique(cat.provider[cat.provider_group == 1])
    assert set(indie) <= {7, 8, 9}  # the 3 smallest (last by Zipf rank)
    # the independent group gets far fewer items than the majors
    assert (cat.provider_group == 1).mean() < 0.3


def test_texts_come_from_the_topic_vocabulary() -> None:
    cat = _cat(n_items=100)
    for i in range(cat.n_items):
        topic = TOPICS[cat.topics[i]]
        text = cat.texts[i]
        assert any(s in text for s in topic.subjects), text
        bait = bool(cat.extra["clickbait"][i])
        assert text.startswith(cat.titles[i] + ("!" if bait else ":"))
        assert "Tags:" in text
        words = cat.titles[i].split()
        assert len(words) == len(set(words))  # no repeated title words


def test_long_tail_of_topic_sizes() -> None:
    cat = _cat(n_items=3000, n_topics=12, popularity_exponent=1.1)
    sizes = np.sort(np.bincount(cat.topics, minlength=12))[::-1]
    assert sizes[0] > 4 * sizes[-1]
    flat = _cat(n_items=3000, n_topics=12, popularity_exponent=0.0)
    fsizes = np.bincount(flat.topics, minlength=12)
    assert fsizes.max() < 2 * fsizes.min()


def test_new_items_arrive_in_order() -> None:
    cat = _cat(n_items=50, horizon=4, new_items_per_day=3)
    assert cat.n_items == 50 + 3 * 3  # arrivals on days 1 .. horizon - 1
    assert np.all(np.diff(cat.arrival_day) >= 0)  # arrival-sorted: available ids are a prefix
    np.testing.assert_array_equal(np.bincount(cat.arrival_day), [50, 3, 3, 3])


def test_deterministic_per_seed() -> None:
    a, b, c = _cat(3, n_items=40), _cat(3, n_items=40), _cat(4, n_items=40)
    assert a.texts == b.texts
    np.testing.assert_array_equal(a.appeal, b.appeal)
    np.testing.assert_array_equal(a.value, b.value)
    np.testing.assert_array_equal(a.provider, b.provider)
    assert a.texts != c.texts


def test_zipf_weights() -> None:
    w = zipf_weights(6, 1.2)
    assert w.shape == (6,)
    np.testing.assert_allclose(w.sum(), 1.0)
    assert np.all(np.diff(w) < 0)
    np.testing.assert_allclose(w[0] / w[1], 2**1.2)
    np.testing.assert_allclose(zipf_weights(4, 0.0), 0.25)


@pytest.mark.parametrize("n_topics", [2, 16])
def test_topic_count_limits(n_topics: int) -> None:
    cat = _cat(n_items=60, n_topics=n_topics)
    assert cat.n_topics == n_topics and cat.topics.max() < n_topics


def test_subset_keeps_rows() -> None:
    cat = _cat(n_items=30)
    idx = np.array([5, 2, 9])
    sub = cat.subset(idx)
    assert sub.texts == [cat.texts[i] for i in idx]
    np.testing.assert_array_equal(sub.appeal, cat.appeal[idx])
    np.testing.assert_array_equal(sub.value, cat.value[idx])
    np.testing.assert_array_equal(sub.extra["topic_share"], cat.extra["topic_share"][idx])


def test_clickbait_register_is_in_the_text_and_its_appeal_and_value() -> None:
    cat = _cat(n_items=2000, clickbait_share=0.2)
    bait = cat.extra["clickbait"]
    assert 0.17 < bait.mean() < 0.23
    # the register is visible: a teaser title and viral tags; plain items have neither
    assert all(any(t in cat.titles[i] for t in CLICKBAIT_TEASERS) for i in np.flatnonzero(bait))
    assert not any(any(t in cat.texts[i] for t in CLICKBAIT_TAGS)
                   for i in np.flatnonzero(~bait))
    # high appeal, low value; the trap items are mostly clickbait
    assert cat.appeal[bait].mean() > 0.7 > 0.45 > cat.appeal[~bait].mean()
    assert cat.value[bait].mean() < -0.3 < 0.0 < cat.value[~bait].mean()
    trap = cat.trap_items()
    assert bait[trap].mean() > 0.8
    none = _cat(n_items=200, clickbait_share=0.0)
    assert not none.extra["clickbait"].any()


def test_history_clicks_are_checked_and_follow_a_subset() -> None:
    """A new platform has no history; a given history is [n] non-negative integer counts,
    kept row for row by ``subset`` (one-line errors otherwise)."""
    import dataclasses

    cat = _cat(n_items=50)
    assert cat.history_clicks is None
    hist = np.arange(50, dtype=np.int64)
    sub = dataclasses.replace(cat, history_clicks=hist).subset(np.array([4, 2]))
    np.testing.assert_array_equal(sub.history_clicks, [4, 2])
    for bad in (np.arange(49), -hist, hist.astype(float)):
        with pytest.raises(ValueError, match=r"Catalog\.history_clicks must be \[n_items\]"):
            dataclasses.replace(cat, history_clicks=bad)
