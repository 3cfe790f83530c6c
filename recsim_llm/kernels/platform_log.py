"""The platform log's per-request update as one numba pass (``simulator.kernel="numba"``).

:func:`update` does what :meth:`recsim_llm.platform.PlatformLog.update` does (the numpy code is
the reference): for each served user the request and session counters, the visit gap, the
click EMA, the skipped-items ring (the whole slate, the clicked slot as -1), and for a click the
click count, the clicked-embedding sum, the last and recent clicks and the dwell sums and EMA.
Each entry is the same float operation on the same operands as the reference (element-wise
adds and one multiply-add per EMA, no reduction), so the log is **bit-identical** to the numpy
update (tested). The per-item counters (impressions, clicks, dwell; several users may touch an
item, so they are scatter-adds) and the consume-once memory stay numpy: they are O(served x k)
and O(clicks).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from recsim_llm.kernels.population import CHUNK, PARALLEL_MIN


@nb.njit(cache=True, nogil=True)
def _rows(lo, hi, users, slates, positions, items, dwell, ended, day, ema,  # pragma: no cover
          requests, session_requests, visit_gap, last_visit_day, click_ema, skipped,
          skipped_ptr, clicks, clicked_sum, item_emb, last_clicked, recent, recent_ptr,
          dwell_sum, dwell_count, dwell_ema):
    k = slates.shape[1]
    size = skipped.shape[1]
    r = recent.shape[1]
    d = item_emb.shape[1]
    first = k - size if k > size else 0   # a ring smaller than a slate keeps its last items
    for j in range(lo, hi):
        u = users[j]
        requests[u] += 1
        prev = last_visit_day[u]
        if prev != day:
            session_requests[u] = 1
            visit_gap[u] = day - prev if prev >= 0 else 0
        else:
            session_requests[u] += 1
        if ended[j]:
            session_requests[u] = 0
        last_visit_day[u] = day
        pos = positions[j]
        hit = 1.0 if pos >= 0 else 0.0
        click_ema[u] += ema * (hit - click_ema[u])
        if size > 0:
            p = skipped_ptr[u]
            for s in range(first, k):
                skipped[u, (p + s - first) % size] = -1 if s == pos else slates[j, s]
            skipped_ptr[u] = p + (k - first)
        if pos >= 0:
            it = items[j]
            clicks[u] += 1
            for t in range(d):
                clicked_sum[u, t] += item_emb[it, t]
            last_clicked[u] = it
            if r > 0:
                recent[u, recent_ptr[u] % r] = it
            recent_ptr[u] += 1
            dw = dwell[j]
            if np.isfinite(dw):
                dwell_sum[u] += dw
                dwell_count[u] += 1
                dwell_ema[u] += ema * (dw - dwell_ema[u])


@nb.njit(parallel=True, cache=True, nogil=True)
def _parallel(users, slates, positions, items, dwell, ended, day, ema,  # pragma: no cover
              requests, session_requests, visit_gap, last_visit_day, click_ema, skipped,
              skipped_ptr, clicks, clicked_sum, item_emb, last_clicked, recent, recent_ptr,
              dwell_sum, dwell_count, dwell_ema):
    m = users.shape[0]
    for c in nb.prange((m + CHUNK - 1) // CHUNK):
        _rows(c * CHUNK, min(m, (c + 1) * CHUNK), users, slates, positions, items, dwell,
              ended, day, ema, requests, session_requests, visit_gap, last_visit_day,
              click_ema, skipped, skipped_ptr, clicks, clicked_sum, item_emb, last_clicked,
              recent, recent_ptr, dwell_sum, dwell_count, dwell_ema)


def update(log, fb, ema: float) -> None:
    """Fold one request's :class:`~recsim_llm.platform.LoggedFeedback` ``fb`` into ``log`` (a
    :class:`~recsim_llm.platform.PlatformLog`), as ``log.update(fb)`` does; ``ema`` is
    :data:`~recsim_llm.platform.EMA_RATE`. The served users of a request are distinct, so the
    per-user rows are written by one thread each."""
    u = np.ascontiguousarray(fb.users, np.int64)
    m = len(u)
    if m == 0:
        return
    slates = np.ascontiguousarray(fb.slates, np.int64)
    n_items = len(log.item_impressions)
    log.item_impressions += np.bincount(slates.ravel(), minlength=n_items)
    args = (u, slates, np.ascontiguousarray(fb.positions, np.int64),
            np.ascontiguousarray(fb.items, np.int64),
            np.ascontiguousarray(fb.dwell, np.float64),
            np.ascontiguousarray(fb.session_ended, np.bool_), int(fb.day), float(ema),
            log.requests, log.session_requests, log.visit_gap, log.last_visit_day,
            log.click_ema, log.skipped, log.skipped_ptr, log.clicks, log.clicked_sum,
            log.item_emb, log.last_clicked, log.recent, log.recent_ptr, log.dwell_sum,
            log.dwell_count, log.dwell_ema)
    if m >= PARALLEL_MIN:
        _parallel(*args)
    else:
        _rows(0, m, *args)
    clicked = fb.positions >= 0
    if clicked.any():
        cu, ci = u[clicked], fb.items[clicked]
        log.item_clicks += np.bincount(ci, minlength=n_items)
        if log.consume_once:
            log._log_watched(cu, ci)
        dw = fb.dwell[clicked]
        has = np.isfinite(dw)
        if has.any():
            np.add.at(log.item_dwell_sum, ci[has], dw[has])
            np.add.at(log.item_dwell_count, ci[has], 1)


__all__ = ["update"]
