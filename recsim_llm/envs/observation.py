"""Flat observations: a pure function of the platform view (its logs and the public catalog).

The user's interaction history is encoded by the text encoder: the item embeddings *are* the
encoder's vectors of the item texts, so pooling the embeddings of the items a user recently
clicked and of those they were shown and passed over summarises, in the encoder's space, what
the user's recent history said in words. Layout of one user's observation vector (float32,
length ``2 d + N_SCALARS``, every entry in [-1, 1]):

=====================  ==========================================================
slice                  meaning
=====================  ==========================================================
``[0, d)``             unit-norm sum of the embeddings of the user's last
                       :data:`~recsim_llm.platform.RECENT` (20) clicked items (0 if none)
``[d, 2d)``            unit-norm sum of the embeddings of the last
                       :data:`~recsim_llm.platform.RECENT_SKIPPED` (50) items shown to the
                       user and not clicked (0 if none)
``2d + 0``             1 if the user is served at this request (in a session), else 0
``2d + 1``             request index within the session / max session length
``2d + 2``             day / horizon
``2d + 3``             days since the user was last served / 7, clipped to 1 (0 if never)
``2d + 4``             days between the latest visit and the one before / 7, clipped to 1
``2d + 5``             recent CTR: exponential average of clicks per request (weight 0.2,
                       about the last five requests), bias-corrected
``2d + 6``             lifetime click-through rate
``2d + 7``             log1p(clicks so far) / log1p(1000), clipped to 1
``2d + 8``             tanh of the recent mean logged dwell of clicks (same average; 0
                       without dwell): the only value-related signal a platform sees
``2d + 9``             share of the catalog available today
=====================  ==========================================================

Never included: the true interest, persona text, fatigue, satisfaction, appeal or value. The
same function serves the environments and any policy replaying an agent trained on them, so a
saved agent sees in the runner exactly what it saw in training.

Cost: the pooled blocks gather ``RECENT + RECENT_SKIPPED`` embeddings per user, in blocks of
users (no loop over users); the population refreshes them only for the users a step served.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from recsim_llm.platform import EMA_RATE, PlatformView

N_SCALARS = 10
DAYS_SCALE = 7.0
"""days that saturate the two day-gap features (a week)"""
BLOCK_FLOATS = 1 << 22
"""floats gathered at once when pooling (bounds the temporary at 16 MB)"""


def observation_size(dim: int) -> int:
    return 2 * dim + N_SCALARS


def observation_space(dim: int) -> spaces.Box:
    return spaces.Box(low=-1.0, high=1.0, shape=(observation_size(dim),), dtype=np.float32)


def pool(ids: npt.NDArray[np.int64], emb: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Unit-norm sum of the embeddings of ``ids`` [m, R] (-1 = empty slot) per row, [m, d]."""
    m, r = ids.shape
    d = emb.shape[1]
    out = np.zeros((m, d), np.float32)
    if m == 0 or r == 0:
        return out
    step = max(1, BLOCK_FLOATS // max(r * d, 1))
    for lo in range(0, m, step):  # blocks of users, not a loop over users
        blk = ids[lo:lo + step]
        valid = (blk >= 0).astype(np.float32)
        g = np.take(emb, np.maximum(blk, 0), axis=0)                   # [b, R, d]
        np.einsum("br,brd->bd", valid, g, out=out[lo:lo + step])
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    out /= np.where(norm > 0, norm, 1.0)
    # float32 rounding may exceed unit norm by an ulp; the space is [-1, 1]
    return np.clip(out, -1.0, 1.0, out=out)


def _scalars(view: PlatformView, u: npt.NDArray[np.int64], out: npt.NDArray[np.float32]
             ) -> None:
    ctx, log = view.context, view.log
    clicks, reqs = log.clicks[u], log.requests[u]
    last = log.last_visit_day[u]
    if len(u) == ctx.n_users:
        served = np.zeros(ctx.n_users, bool)
        served[view.users] = True
        out[:, 0] = served[u]
    else:  # a few rows: O(rows + served), not O(population)
        out[:, 0] = np.isin(u, view.users)
    out[:, 1] = log.session_requests[u] / ctx.max_session_len
    out[:, 2] = min(view.day / ctx.horizon_days, 1.0)
    out[:, 3] = np.where(last >= 0, np.minimum((view.day - last) / DAYS_SCALE, 1.0), 0.0)
    out[:, 4] = np.minimum(log.visit_gap[u] / DAYS_SCALE, 1.0)
    keep = 1.0 - EMA_RATE
    out[:, 5] = np.where(reqs > 0, log.click_ema[u] / (1.0 - keep ** np.maximum(reqs, 1)), 0.0)
    out[:, 6] = np.where(reqs > 0, clicks / np.maximum(reqs, 1), 0.0)
    out[:, 7] = np.minimum(np.log1p(clicks) / np.log1p(1000.0), 1.0)
    nd = log.dwell_count[u]
    out[:, 8] = np.where(nd > 0, np.tanh(log.dwell_ema[u] / (1.0 - keep ** np.maximum(nd, 1))),
                         0.0)
    out[:, 9] = view.n_available / ctx.catalog.n_items
    np.clip(out, -1.0, 1.0, out=out)  # bias correction may overshoot 1 by an ulp


def _embeddings(view: PlatformView, u: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
    d = view.item_emb.shape[1]
    out = np.empty((len(u), 2 * d), np.float32)
    out[:, :d] = pool(view.log.recent[u], view.item_emb)
    out[:, d:] = pool(view.log.skipped[u], view.item_emb)
    return out


def observe(view: PlatformView, users: npt.NDArray[np.int64] | None = None
            ) -> npt.NDArray[np.float32]:
    """Observation rows of ``users`` (default: the users served now), [len(users), 2 d + 10]."""
    u = np.asarray(view.users if users is None else users, np.int64)
    d = view.item_emb.shape[1]
    out = np.empty((len(u), observation_size(d)), np.float32)
    out[:, :2 * d] = _embeddings(view, u)
    _scalars(view, u, out[:, 2 * d:])
    return out


def refresh(obs: npt.NDArray[np.float32], view: PlatformView,
            changed: npt.NDArray[np.int64], counters: npt.NDArray[np.int64] | None = None
            ) -> npt.NDArray[np.float32]:
    """Update every user's row of ``obs`` [n, 2 d + 10] in place after a step that served
    ``changed``.

    Only served users' histories can have changed, so only their pooled blocks are
    recomputed. The ten counters are recomputed for every user (``counters=None``), or only for
    the rows ``counters`` where the caller knows no other row's counters moved (same day,
    same catalog share: see :func:`counter_rows`). Equal to ``observe(view, arange(n))``.
    """
    d = view.item_emb.shape[1]
    if len(changed):
        obs[changed, :2 * d] = _embeddings(view, np.asarray(changed, np.int64))
    if counters is None:
        _scalars(view, np.arange(obs.shape[0]), obs[:, 2 * d:])
    elif len(counters):
        rows = np.asarray(counters, np.int64)
        block = np.empty((len(rows), N_SCALARS), np.float32)
        _scalars(view, rows, block)
        obs[rows, 2 * d:] = block
    return obs


def counter_rows(view: PlatformView, changed: npt.NDArray[np.int64],
                 before: tuple[int, int] | None) -> npt.NDArray[np.int64] | None:
    """The rows whose counters a step that served ``changed`` can have moved, or None for all.

    ``before`` is ``(day, n_available)`` when the counters were last computed for everyone. On
    the same day with the same catalog share, a user's counters move only if the user was
    served (their log changed, and the "served now" flag may drop) or is served now (the flag
    rises); every other row is as it was. A new day moves the day features of every user.
    """
    if before != (view.day, view.n_available):
        return None
    changed = np.asarray(changed, np.int64)
    now = np.asarray(view.users, np.int64)
    # Within a day the users served now are among those just served (sessions only end), so
    # the union is ``changed`` itself; both are ascending, so a binary search checks it.
    at = np.minimum(np.searchsorted(changed, now), max(len(changed) - 1, 0))
    if len(now) == 0 or (len(changed) and np.array_equal(changed[at], now)):
        return changed
    return np.union1d(changed, now)
