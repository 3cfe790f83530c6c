"""Named RNG streams: reproducible, independent of request order, disjoint across names/seeds."""

from __future__ import annotations

import numpy as np
import pytest

from recsim_llm.rng import RngStreams, seed_sequence


def test_same_seed_same_name_same_draws() -> None:
    a, b = RngStreams(7), RngStreams(7)
    np.testing.assert_array_equal(a["choice"].random(5), b["choice"].random(5))


def test_streams_do_not_depend_on_request_order() -> None:
    a, b = RngStreams(3), RngStreams(3)
    a["users"].random(100)  # drawing from one stream first ...
    x = a["choice"].random(4)
    y = b["choice"].random(4)  # ... does not move another
    np.testing.assert_array_equal(x, y)


def test_names_and_seeds_differ() -> None:
    s = RngStreams(0)
    assert not np.array_equal(s.fresh("users").random(4), s.fresh("items").random(4))
    assert not np.array_equal(RngStreams(0).fresh("users").random(4),
                              RngStreams(1).fresh("users").random(4))


def test_getitem_is_cached_fresh_restarts() -> None:
    s = RngStreams(5)
    assert s["drift"] is s["drift"]
    first = s["drift"].random(3)
    np.testing.assert_array_equal(s.fresh("drift").random(3), first)
    assert not np.array_equal(s["drift"].random(3), first)  # the cached stream advanced


def test_child_prefix() -> None:
    s = RngStreams(9)
    day = s.child("day2")
    np.testing.assert_array_equal(day.fresh("choice").random(3),
                                  s.fresh("day2/choice").random(3))
    assert not np.array_equal(day.fresh("choice").random(3), s.fresh("choice").random(3))
    np.testing.assert_array_equal(day.child("x").fresh("y").random(2),
                                  s.fresh("day2/x/y").random(2))


def test_state_round_trip() -> None:
    s = RngStreams(1)
    s["a"].random(10)
    s["b"].random(3)
    snap = s.state()
    want = (s["a"].random(4), s["b"].random(4))
    t = RngStreams(1)
    t.set_state(snap)
    np.testing.assert_array_equal(t["a"].random(4), want[0])
    np.testing.assert_array_equal(t["b"].random(4), want[1])


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True, None])
def test_bad_seeds(bad: object) -> None:
    with pytest.raises(ValueError, match="seed"):
        RngStreams(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed"):
        seed_sequence(bad, "x")  # type: ignore[arg-type]


def test_numpy_integer_seed_accepted() -> None:
    np.testing.assert_array_equal(RngStreams(np.int64(4)).fresh("x").random(2),
                                  RngStreams(4).fresh("x").random(2))



def test_stream_keys_do_not_collide_over_long_horizons() -> None:
    # A 32-bit digest made two day streams equal within 13,537 days; 128-bit keys must not.
    from recsim_llm.rng import _name_key

    names = [f"day{d}/{s}" for d in range(200_000) for s in ("choice", "satisfaction")]
    keys = {_name_key(n) for n in names}
    assert len(keys) == len(names)
    assert all(len(k) == 4 and all(0 <= w < 2**32 for w in k) for k in list(keys)[:100])
    sq = seed_sequence(0, "day13537/choice")
    assert len(sq.spawn_key) == 4
