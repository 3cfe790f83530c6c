"""The platform: its own logs (folded from logged feedback only), the public catalog, read-only
views, and the stepping core shared by the runner and the environments."""

from __future__ import annotations

import numpy as np
import pytest

from recsim_llm.platform import LoggedFeedback, Platform, PlatformLog, PublicCatalog
from recsim_llm.simulator import Feedback, Simulator, World

EMB = np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 0, 1]]
"""6 items in 4 dims: items 4 and 5 point like items 0 and 1"""


def fb(day: int, users, slates, positions, ended=None) -> LoggedFeedback:
    users, slates, positions = (np.asarray(users), np.asarray(slates), np.asarray(positions))
    r = np.arange(len(users))
    clicked = positions >= 0
    items = np.where(clicked, slates[r, np.maximum(positions, 0)], -1)
    return LoggedFeedback.of(Feedback(
        day=day, tick=0, users=users, slates=slates, positions=positions, items=items,
        satisfaction=np.where(clicked, 0.5, -0.05),
        session_ended=np.zeros(len(users), bool) if ended is None else np.asarray(ended),
        slate_mean_emb=EMB[slates].mean(axis=1)))


def test_update_counts() -> None:
    h = PlatformLog(3, EMB, recent=3)
    h.update(fb(0, [0, 2], [[0, 1], [2, 3]], [1, -1]))
    np.testing.assert_array_equal(h.requests, [1, 0, 1])
    np.testing.assert_array_equal(h.clicks, [1, 0, 0])
    np.testing.assert_array_equal(h.last_clicked, [1, -1, -1])
    np.testing.assert_array_equal(h.item_impressions, [1, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(h.item_clicks, [0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(h.clicked_sum[0], EMB[1])
    np.testing.assert_array_equal(h.recent[0], [1, -1, -1])
    np.testing.assert_array_equal(h.last_visit_day, [0, -1, 0])
    np.testing.assert_array_equal(h.session_requests, [1, 0, 1])


def test_recent_ring_buffer_wraps() -> None:
    h = PlatformLog(1, EMB, recent=3)
    for item in [0, 1, 2, 3, 4]:
        h.update(fb(0, [0], [[item, (item + 1) % 6]], [0]))
    assert sorted(h.recent[0]) == [2, 3, 4]  # the 3 newest clicks
    assert h.last_clicked[0] == 4 and h.clicks[0] == 5
    np.testing.assert_array_equal(h.item_clicks, [1, 1, 1, 1, 1, 0])


def test_session_requests_reset() -> None:
    h = PlatformLog(1, EMB)
    h.update(fb(0, [0], [[0, 1]], [-1]))
    h.update(fb(0, [0], [[0, 1]], [-1]))
    assert h.session_requests[0] == 2
    h.update(fb(0, [0], [[0, 1]], [-1], ended=[True]))
    assert h.session_requests[0] == 0
    h.update(fb(1, [0], [[0, 1]], [-1]))  # a new day starts a new session
    assert h.session_requests[0] == 1 and h.last_visit_day[0] == 1


def test_profile_unit_norm_or_zero() -> None:
    h = PlatformLog(2, EMB)
    h.update(fb(0, [0], [[0, 1]], [0]))
    h.update(fb(0, [0], [[1, 2]], [0]))
    prof = h.profile()
    np.testing.assert_allclose(prof[0], (EMB[0] + EMB[1]) / np.sqrt(2), rtol=1e-6)
    np.testing.assert_array_equal(prof[1], 0.0)
    np.testing.assert_allclose(h.profile(np.array([0])), prof[:1])


def test_state_round_trip() -> None:
    h = PlatformLog(2, EMB)
    h.update(fb(0, [0, 1], [[0, 1], [2, 3]], [0, 1]))
    snap = h.state()
    assert "item_emb" not in snap
    h.update(fb(1, [0], [[4, 5]], [1]))
    assert h.clicks[0] == 2
    h.set_state(snap)
    np.testing.assert_array_equal(h.clicks, [1, 1])
    np.testing.assert_array_equal(h.item_clicks, [1, 0, 0, 1, 0, 0])
    snap["clicks"][0] = 99  # the restored arrays are copies
    assert h.clicks[0] == 1


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_simulation_logs(small_world: World, seed: int) -> None:
    sim = Simulator(small_world, seed)
    h = PlatformLog(small_world.n_users, small_world.item_emb)
    sim.on_request.append(lambda f: h.update(LoggedFeedback.of(f)))
    log: list[Feedback] = []
    sim.on_request.append(log.append)
    sim.reset()
    rng = np.random.default_rng(seed)
    for _ in range(25):
        if sim.done:
            break
        keys = rng.random((small_world.n_users, sim.n_available))
        sim.step(np.argpartition(keys, 9, axis=1)[:, :10])
    clicks = np.concatenate([f.items[f.clicked] for f in log])
    assert h.clicks.sum() == len(clicks) == h.item_clicks.sum()
    np.testing.assert_array_equal(h.item_clicks, np.bincount(clicks, minlength=small_world.n_items))
    assert h.requests.sum() == sum(len(f.users) for f in log)
    assert h.item_impressions.sum() == h.requests.sum() * small_world.cfg.slate_size


def test_logged_feedback_hides_satisfaction() -> None:
    logged = fb(0, [0, 1], [[0, 1], [2, 3]], [0, -1])
    assert not hasattr(logged, "satisfaction")
    assert np.isnan(logged.dwell).all()  # no dwell signal in this feedback
    with pytest.raises(ValueError):
        logged.items[0] = 3  # read-only


def test_public_catalog_has_no_hidden_fields(small_world: World) -> None:
    pub = PublicCatalog.of(small_world.catalog)
    for hidden in ("quality", "appeal", "value"):
        assert not hasattr(pub, hidden)
    assert pub.n_items == small_world.n_items
    with pytest.raises(ValueError):
        pub.topics[0] = 1


def test_view_is_read_only_and_unprivileged(small_world: World) -> None:
    plat = Platform(small_world, 0)
    plat.reset()
    view = plat.view()
    assert view.hidden is None
    assert plat.view(privileged=True).hidden is plat.sim
    np.testing.assert_array_equal(view.users, np.flatnonzero(plat.sim.state.in_session))
    for arr in (view.users, view.item_emb, view.log.clicks, view.log.recent,
                view.context.user_groups[next(iter(view.context.user_groups))]):
        with pytest.raises(ValueError):
            arr.flat[0] = 1
    with pytest.raises(AttributeError):
        view.log.update(fb(0, [0], [[0, 1]], [0]))


def test_serve_takes_served_rows_only(small_world: World) -> None:
    plat = Platform(small_world, 0)
    plat.reset()
    users = plat.served_users()
    k = small_world.cfg.slate_size
    slates = np.tile(np.arange(k), (len(users), 1))
    fb_, logged = plat.serve(slates)
    np.testing.assert_array_equal(fb_.users, users)
    np.testing.assert_array_equal(logged.users, users)
    assert plat.log.requests.sum() == len(users)
    bad = np.tile(np.arange(k), (len(plat.served_users()), 1))
    bad[0, 1] = bad[0, 0]
    with pytest.raises(ValueError, match=f"user {int(plat.served_users()[0])} repeats"):
        plat.serve(bad)


def test_log_complete_before_day_end_callbacks(small_world: World) -> None:
    plat = Platform(small_world, 0)
    seen: list[int] = []
    plat.sim.on_day_end.append(lambda s, d: seen.append(int(plat.log.requests.sum())))
    plat.reset()
    served = 0
    k = small_world.cfg.slate_size
    while plat.day == 0:
        n = len(plat.served_users())
        plat.serve(np.tile(np.arange(k), (n, 1)))
        served += n
    assert seen == [served]  # every request of day 0 was logged when the day ended


def test_skipped_ring_visit_gap_and_recent_averages() -> None:
    """The history the RL observation encodes: shown-not-clicked items (the clicked slot is a
    hole), the gap between visit days, and bias-corrected recent CTR."""
    from recsim_llm.platform import EMA_RATE

    h = PlatformLog(2, EMB, skipped=5)
    h.update(fb(0, [0, 1], [[0, 1], [2, 3]], [1, -1]))
    np.testing.assert_array_equal(h.skipped[0], [0, -1, -1, -1, -1])  # item 1 was clicked
    np.testing.assert_array_equal(h.skipped[1], [2, 3, -1, -1, -1])
    for item in (4, 5):
        h.update(fb(3, [1], [[item, 0]], [-1]))
    np.testing.assert_array_equal(h.skipped[1], [0, 3, 4, 0, 5])  # wrapped: newest 5 slots
    assert h.skipped_ptr[1] == 6 and h.visit_gap[1] == 3 and h.visit_gap[0] == 0
    a = EMA_RATE
    assert h.click_ema[0] == pytest.approx(a)
    assert h.click_ema[1] == 0.0
    h.reset_users(np.array([1]))
    assert (h.skipped[1] == -1).all() and h.skipped_ptr[1] == 0 and h.visit_gap[1] == 0


def test_consume_once_memory_starts_from_history_and_grows() -> None:
    """A consume-once log excludes each user's history and every later click, never twice,
    and widens when a user's row is full."""
    h = PlatformLog(3, EMB, recent=2, watched=[np.array([5, 1]), np.zeros(0, np.int64),
                                                np.array([3])])
    assert h.consume_once
    np.testing.assert_array_equal(h.watched_count, [2, 0, 1])
    assert sorted(h.excluded(np.array([0]))[0][:2].tolist()) == [1, 5]
    assert (h.excluded(np.array([1])) == -1).all()
    h.update(fb(0, [0, 1], [[0, 2], [4, 2]], [0, 1]))      # user 0 clicks 0, user 1 clicks 2
    h.update(fb(0, [0, 1], [[1, 3], [2, 0]], [0, 0]))      # re-clicks of watched 1 and 2
    np.testing.assert_array_equal(h.watched_count, [3, 1, 1])
    assert set(h.excluded(np.array([0]))[0].tolist()) - {-1} == {0, 1, 5}
    assert set(h.excluded(np.array([1]))[0].tolist()) - {-1} == {2}
    for item in (3, 4):                                    # the 2-wide ring forgets, this does not
        h.update(fb(1, [0], [[item, 2]], [0]))
    assert h.watched.shape[1] >= 5
    assert set(h.excluded(np.array([0]))[0].tolist()) - {-1} == {0, 1, 3, 4, 5}
    assert sorted(h.recent[0].tolist()) == [3, 4]           # the recent ring is unchanged
    np.testing.assert_array_equal(h.watched_mask.sum(axis=1), h.watched_count)
    snap = h.copy()
    h.reset_users(np.array([0]))                           # a respawned user is a new account
    assert h.watched_count[0] == 0 and not h.watched_mask[0].any()
    assert (h.excluded(np.array([0])) == -1).all()
    assert snap.consume_once and snap.watched_count[0] == 5


def test_log_without_consume_once_excludes_recent_clicks() -> None:
    h = PlatformLog(2, EMB, recent=3)
    h.update(fb(0, [0], [[2, 3]], [1]))
    assert not h.consume_once
    np.testing.assert_array_equal(h.excluded(np.array([0, 1])), h.recent[[0, 1]])


def test_exclude_recent_names_only_the_latest_clicks() -> None:
    """``exclude_recent`` = e: the last e clicks, newest first, across the ring's wrap."""
    h = PlatformLog(2, EMB, recent=3, exclude_recent=2)
    users = np.array([0, 1])
    assert (h.excluded(users) == -1).all() and h.excluded(users).shape == (2, 2)
    h.update(fb(0, [0], [[2, 3]], [0]))                     # user 0 clicks 2
    np.testing.assert_array_equal(h.excluded(users), [[2, -1], [-1, -1]])
    for item in (3, 4, 5):                                  # 2, 3, 4, 5: the ring wraps
        h.update(fb(0, [0], [[item, 0]], [0]))
    np.testing.assert_array_equal(h.excluded(users)[0], [5, 4])
    assert sorted(h.recent[0].tolist()) == [3, 4, 5]        # the memory keeps all 3
    assert h.copy().excluded(users).tolist() == h.excluded(users).tolist()
    none = PlatformLog(1, EMB, recent=3, exclude_recent=0)
    none.update(fb(0, [0], [[2, 3]], [0]))
    assert (none.excluded(np.array([0])) == -1).all()
    with pytest.raises(ValueError, match=r"exclude_recent must be in \[0, 3\]"):
        PlatformLog(1, EMB, recent=3, exclude_recent=4)


def test_new_log_reads_exclude_recent(small_world: World) -> None:
    from dataclasses import replace

    from recsim_llm.platform import new_log

    cfg = small_world.cfg
    world = replace(small_world, cfg=replace(cfg, catalog=replace(cfg.catalog, exclude_recent=5)))
    assert new_log(world).exclude_recent == 5
    assert new_log(small_world).exclude_recent == 20


@pytest.mark.parametrize("history, match", [
    ([np.array([0])], "watched history for 1 users, the run has 2"),
    ([np.array([0]), np.array([6])], r"outside the catalog \[0, 6\)"),
])
def test_consume_once_history_errors(history, match) -> None:
    with pytest.raises(ValueError, match=match):
        PlatformLog(2, EMB, watched=history)
