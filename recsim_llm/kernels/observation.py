"""The population env's observation refresh as one numba pass (``simulator.kernel="numba"``).

:func:`refresh_pooled` recomputes, for the users a step served, the two pooled blocks of
:mod:`recsim_llm.envs.observation` — the unit-norm sum of the embeddings of the recent clicked
and of the recent skipped items (-1 = an empty slot), clipped to [-1, 1] — writing them into
the observation rows in place. Same content as ``observation.pool``; the float32 sums are
reassociated, so values agree to float32 rounding (tested). The ten counters are left to
``observation.refresh`` (called with no changed rows).
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


__all__ = ["refresh_pooled"]
