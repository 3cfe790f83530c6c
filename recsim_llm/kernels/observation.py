"""The population env's observation refresh as numba passes (``simulator.kernel="numba"``).

:func:`refresh_pooled` recomputes, for the users a step served, the two pooled blocks of
:mod:`recsim_llm.envs.observation` — the unit-norm sum of the embeddings of the recent clicked
and of the recent skipped items (-1 = an empty slot), clipped to [-1, 1] — writing them into
the observation rows in place. Same content as ``observation.pool``; the float32 sums are
reassociated, so values agree to float32 rounding (tested). :func:`refresh_counters` writes the
ten counters of ``observation._scalars`` for the given rows, with the same float64 operations
(one row per iteration, no reduction), then cast to float32.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from recsim_llm.kernels.population import CHUNK, FAST, PARALLEL_MIN


@nb.njit(cache=True, nogil=True, fastmath=FAST)
def _pool_into(obs, row, col, ids, r, emb, x):  # pragma: no cover
    d = emb.shape[1]
    for t in range(d):
        x[t] = 0.0
    for j in range(ids.shape[1]):
        it = ids[r, j]
        if it >= 0:
            for t in range(d):
                x[t] += emb[it, t]
    nrm = np.float32(0.0)
    for t in range(d):
        nrm += x[t] * x[t]
    nrm = np.sqrt(nrm)
    if nrm <= 0:
        nrm = np.float32(1.0)
    for t in range(d):
        obs[row, col + t] = min(max(x[t] / nrm, np.float32(-1.0)), np.float32(1.0))


@nb.njit(cache=True, nogil=True, fastmath=FAST)
def _rows(lo, hi, obs, recent, skipped, emb, users):  # pragma: no cover
    d = emb.shape[1]
    x = np.empty(d, np.float32)
    for i in range(lo, hi):
        u = users[i]
        _pool_into(obs, u, 0, recent, u, emb, x)
        _pool_into(obs, u, d, skipped, u, emb, x)


@nb.njit(parallel=True, cache=True, nogil=True)
def _parallel(obs, recent, skipped, emb, users):  # pragma: no cover
    m = users.shape[0]
    for c in nb.prange((m + CHUNK - 1) // CHUNK):
        _rows(c * CHUNK, min(m, (c + 1) * CHUNK), obs, recent, skipped, emb, users)


def refresh_pooled(obs, recent, skipped, emb, users) -> None:
    """Rows ``users`` [m] of ``obs`` [n, 2 d + 10]: columns [0, d) pooled from ``recent``
    [n, R], [d, 2 d) from ``skipped`` [n, S] (item ids, -1 = empty), ``emb`` [n_items, d]."""
    if len(users) >= PARALLEL_MIN:
        _parallel(obs, recent, skipped, emb, users)
    else:
        _rows(0, len(users), obs, recent, skipped, emb, users)


@nb.njit(cache=True, nogil=True)
def _counter_rows(lo, hi, obs, col, rows, served, clicks, requests,  # pragma: no cover
                  last_visit_day, session_requests, visit_gap, click_ema, dwell_count,
                  dwell_ema, day, day_share, max_session_len, days_scale, keep, clicks_scale,
                  avail_share):
    m = served.shape[0]
    v = np.empty(10, np.float64)    # one scratch row per task, not per user
    for i in range(lo, hi):
        u = rows[i]
        j = np.searchsorted(served, u)
        v[0] = 1.0 if (j < m and served[j] == u) else 0.0
        v[1] = session_requests[u] / max_session_len
        v[2] = day_share
        last = last_visit_day[u]
        v[3] = min((day - last) / days_scale, 1.0) if last >= 0 else 0.0
        v[4] = min(visit_gap[u] / days_scale, 1.0)
        r = requests[u]
        v[5] = click_ema[u] / (1.0 - keep ** np.float64(r)) if r > 0 else 0.0
        v[6] = clicks[u] / r if r > 0 else 0.0
        v[7] = min(np.log1p(np.float64(clicks[u])) / clicks_scale, 1.0)
        nd = dwell_count[u]
        v[8] = np.tanh(dwell_ema[u] / (1.0 - keep ** np.float64(nd))) if nd > 0 else 0.0
        v[9] = avail_share
        for t in range(10):
            obs[u, col + t] = min(max(np.float32(v[t]), np.float32(-1.0)), np.float32(1.0))


@nb.njit(parallel=True, cache=True, nogil=True)
def _counters_parallel(obs, col, rows, served, clicks, requests,  # pragma: no cover
                       last_visit_day, session_requests, visit_gap, click_ema, dwell_count,
                       dwell_ema, day, day_share, max_session_len, days_scale, keep,
                       clicks_scale, avail_share):
    m = rows.shape[0]
    for c in nb.prange((m + CHUNK - 1) // CHUNK):
        _counter_rows(c * CHUNK, min(m, (c + 1) * CHUNK), obs, col, rows, served, clicks,
                      requests, last_visit_day, session_requests, visit_gap, click_ema,
                      dwell_count, dwell_ema, day, day_share, max_session_len, days_scale, keep,
                      clicks_scale, avail_share)


def refresh_counters(obs, view, rows, days_scale: float, ema: float) -> None:
    """Columns [2 d, 2 d + 10) of rows ``rows`` [m] of ``obs`` [n, 2 d + 10]: the counters of
    ``observation._scalars`` from ``view`` (a :class:`~recsim_llm.platform.PlatformView`)."""
    ctx, log = view.context, view.log
    col = view.item_emb.shape[1] * 2
    args = (obs, col, np.ascontiguousarray(rows, np.int64),
            np.ascontiguousarray(view.users, np.int64), log.clicks, log.requests,
            log.last_visit_day, log.session_requests, log.visit_gap, log.click_ema,
            log.dwell_count, log.dwell_ema, int(view.day),
            min(view.day / ctx.horizon_days, 1.0), float(ctx.max_session_len),
            float(days_scale), 1.0 - ema, float(np.log1p(1000.0)),
            view.n_available / ctx.catalog.n_items)
    if len(rows) >= PARALLEL_MIN:
        _counters_parallel(*args)
    else:
        _counter_rows(0, len(rows), *args)


__all__ = ["refresh_counters", "refresh_pooled"]
