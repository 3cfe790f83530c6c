"""SlateSpace: a MultiDiscrete whose samples are distinct ids and whose contains rejects
duplicates."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from recsim_llm.envs.spaces import SlateSpace


@pytest.mark.parametrize(("n_items", "k"), [(10, 10), (50, 5), (1000, 20), (2, 1)])
def test_samples_are_distinct_ids_in_range(n_items: int, k: int) -> None:
    space = SlateSpace(n_items, k, seed=0)
    for _ in range(50):
        x = space.sample()
        assert x.shape == (k,) and x.dtype == np.int64
        assert len(set(x.tolist())) == k
        assert x.min() >= 0 and x.max() < n_items
        assert space.contains(x) and x in space


def test_batched_samples() -> None:
    space = SlateSpace(30, 6, n_slates=40, seed=1)
    x = space.sample()
    assert x.shape == (40, 6)
    assert np.all(np.diff(np.sort(x, axis=1), axis=1) > 0)
    assert space.contains(x)
    assert len({tuple(r) for r in x}) > 1  # rows drawn independently


def test_contains_rejects() -> None:
    space = SlateSpace(20, 4)
    assert space.contains(np.array([0, 5, 19, 3]))
    assert not space.contains(np.array([0, 5, 5, 3]))  # duplicate
    assert not space.contains(np.array([0, 5, 20, 3]))  # out of range
    assert not space.contains(np.array([0, -1, 2, 3]))
    assert not space.contains(np.array([0, 1, 2]))  # wrong shape
    batch = SlateSpace(20, 3, n_slates=2)
    assert batch.contains(np.array([[0, 1, 2], [2, 1, 0]]))
    assert not batch.contains(np.array([[0, 1, 2], [2, 2, 0]]))


def test_seeding_is_reproducible() -> None:
    a, b = SlateSpace(100, 8, seed=42), SlateSpace(100, 8, seed=42)
    np.testing.assert_array_equal([a.sample() for _ in range(5)], [b.sample() for _ in range(5)])
    c = SlateSpace(100, 8)
    c.seed(42)
    np.testing.assert_array_equal(c.sample(), SlateSpace(100, 8, seed=42).sample())
    assert not np.array_equal(SlateSpace(100, 8, seed=1).sample(),
                              SlateSpace(100, 8, seed=2).sample())


def test_is_a_multidiscrete() -> None:
    space = SlateSpace(12, 3)
    assert isinstance(space, spaces.MultiDiscrete)
    np.testing.assert_array_equal(space.nvec, [12, 12, 12])
    assert space == SlateSpace(12, 3) and space != SlateSpace(12, 4)
    assert space != SlateSpace(12, 3, n_slates=2)
    assert repr(space) == "SlateSpace(n_items=12, slate_size=3)"
    assert "n_slates=2" in repr(SlateSpace(12, 3, n_slates=2))


def test_mask_sampling_falls_back_to_multidiscrete() -> None:
    space = SlateSpace(4, 2, seed=0)
    mask = (np.array([1, 0, 0, 0], np.int8), np.array([0, 1, 0, 0], np.int8))
    np.testing.assert_array_equal(space.sample(mask=mask), [0, 1])


def test_slate_larger_than_catalog() -> None:
    with pytest.raises(ValueError, match="slate_size 5 exceeds n_items 4"):
        SlateSpace(4, 5)
