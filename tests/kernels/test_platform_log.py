"""The numba platform-log update against ``PlatformLog.update`` (the reference): bit for bit."""

from __future__ import annotations

import numpy as np

from recsim_llm.kernels import platform_log as klog
from recsim_llm.kernels.population import PARALLEL_MIN
from recsim_llm.platform import EMA_RATE, LoggedFeedback, Platform, PlatformLog, new_log
from recsim_llm.scenarios import build_world


def _assert_logs_equal(a: PlatformLog, b: PlatformLog) -> None:
    arrs_a, arrs_b = a.arrays(), b.arrays()
    assert arrs_a.keys() == arrs_b.keys()
    for name, arr in arrs_a.items():
        assert arr.dtype == arrs_b[name].dtype, name
        np.testing.assert_array_equal(arr, arrs_b[name], err_msg=name, strict=True)


def _feedback(rng: np.random.Generator, users: np.ndarray, n_items: int, k: int, day: int
              ) -> LoggedFeedback:
    m = len(users)
    slates = np.stack([rng.choice(n_items, k, replace=False) for _ in range(m)])
    pos = rng.integers(-1, k, m)
    items = np.where(pos >= 0, slates[np.arange(m), np.maximum(pos, 0)], -1)
    dwell = np.where(pos >= 0, rng.standard_normal(m), np.nan)
    dwell[rng.random(m) < 0.2] = np.nan          # clicks without a dwell signal too
    return LoggedFeedback(day=day, request=0, users=users, slates=slates, positions=pos,
                          items=items, dwell=dwell, session_ended=rng.random(m) < 0.3)


def _random_run(n: int, skipped: int, recent: int, steps: int, watched: bool) -> None:
    rng = np.random.default_rng(n + skipped)
    n_items, d, k = 40, 6, 5
    emb = rng.standard_normal((n_items, d)).astype(np.float32)
    history = [rng.choice(n_items, 3, replace=False) for _ in range(n)] if watched else None
    ref = PlatformLog(n, emb, recent=recent, skipped=skipped, watched=history)
    fused = PlatformLog(n, emb, recent=recent, skipped=skipped, watched=history)
    for t in range(steps):
        users = np.sort(rng.choice(n, rng.integers(1, n + 1), replace=False))
        fb = _feedback(rng, users, n_items, k, day=t // 3)
        ref.update(fb)
        klog.update(fused, fb, EMA_RATE)
        _assert_logs_equal(ref, fused)


def test_update_bit_identical_to_the_reference() -> None:
    """Sessions across days, ended sessions, clicks with and without dwell, ring wrap."""
    _random_run(n=30, skipped=12, recent=4, steps=25, watched=False)


def test_update_with_a_ring_smaller_than_the_slate_and_consume_once() -> None:
    _random_run(n=20, skipped=3, recent=2, steps=12, watched=True)
    _random_run(n=10, skipped=0, recent=1, steps=6, watched=False)


def test_threaded_path_bit_identical_to_the_reference() -> None:
    """>= PARALLEL_MIN served users: the prange path writes the reference's bits."""
    _random_run(n=PARALLEL_MIN + 300, skipped=50, recent=20, steps=3, watched=False)


def test_numba_platform_logs_what_the_numpy_update_logs(make_small_config) -> None:
    """A whole run under ``simulator.kernel = "numba"``: the platform's log equals a log fed
    the same feedback through ``PlatformLog.update``."""
    cfg = make_small_config(**{"simulator.kernel": "numba", "horizon_days": 4})
    world = build_world(cfg, 0)
    platform = Platform(world, seed=1)
    platform.reset()
    shadow = new_log(world)
    rng = np.random.default_rng(0)
    while not platform.done:
        view = platform.view()
        slates = np.stack([rng.choice(view.n_available, cfg.slate_size, replace=False)
                           for _ in view.users]).astype(np.int64)
        _, logged = platform.serve(slates)
        shadow.update(logged)
    _assert_logs_equal(shadow, platform.log)
    assert platform.log.clicks.sum() > 0
