"""Flat observations: a pure function of the platform view (its logs and the public catalog).

Layout of one user's observation vector (float32, length ``2 d + N_SCALARS``):

=====================  ==========================================================
slice                  meaning
=====================  ==========================================================
``[0, d)``             unit-norm mean embedding of the user's clicked items (0 if none)
``[d, 2d)``            embedding of the last clicked item (0 if none)
``2d + 0``             day / horizon
``2d + 1``             requests so far in this session (0 between sessions) / max length
``2d + 2``             click-through rate of the user so far
``2d + 3``             log1p(clicks so far) / log1p(1000), clipped to 1
``2d + 4``             1 if the user has clicked anything yet
``2d + 5``             share of the catalog available today
=====================  ==========================================================

Never included: the true interest, persona text, fatigue, satisfaction, appeal or value. The
same function serves the environments and any policy replaying an agent trained on them, so a
saved agent sees in the runner exactly what it saw in training.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from recsim_llm.platform import PlatformView

N_SCALARS = 6


def observation_size(dim: int) -> int:
    return 2 * dim + N_SCALARS


def observation_space(dim: int) -> spaces.Box:
    return spaces.Box(low=-1.0, high=1.0, shape=(observation_size(dim),), dtype=np.float32)


def _scalars(view: PlatformView, u: npt.NDArray[np.int64], out: npt.NDArray[np.float32]
             ) -> None:
    ctx, log = view.context, view.log
    clicks, reqs = log.clicks[u], log.requests[u]
    out[:, 0] = min(view.day / ctx.horizon_days, 1.0)
    out[:, 1] = log.session_requests[u] / ctx.max_session_len
    out[:, 2] = np.where(reqs > 0, clicks / np.maximum(reqs, 1), 0.0)
    out[:, 3] = np.minimum(np.log1p(clicks) / np.log1p(1000.0), 1.0)
    out[:, 4] = clicks > 0
    out[:, 5] = view.n_available / ctx.catalog.n_items


def _embeddings(view: PlatformView, u: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
    d = view.item_emb.shape[1]
    out = np.zeros((len(u), 2 * d), np.float32)
    out[:, :d] = view.log.profile(u)
    last = view.log.last_clicked[u]
    has = last >= 0
    out[has, d:] = view.item_emb[last[has]]
    # float32 rounding may exceed unit norm by an ulp; the space is [-1, 1]
    return np.clip(out, -1.0, 1.0, out=out)


def observe(view: PlatformView, users: npt.NDArray[np.int64] | None = None
            ) -> npt.NDArray[np.float32]:
    """Observation rows of ``users`` (default: the users served now), [len(users), 2 d + 6]."""
    u = view.users if users is None else users
    d = view.item_emb.shape[1]
    out = np.empty((len(u), observation_size(d)), np.float32)
    out[:, :2 * d] = _embeddings(view, u)
    _scalars(view, u, out[:, 2 * d:])
    return out


def refresh(obs: npt.NDArray[np.float32], view: PlatformView,
            changed: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
    """Update every user's row of ``obs`` [n, 2 d + 6] in place after a step that served
    ``changed``.

    Only served users' click profiles can have changed, so only their embedding blocks are
    recomputed; the counters are cheap and recomputed for everyone. Equal to
    ``observe(view, arange(n))``.
    """
    d = view.item_emb.shape[1]
    if len(changed):
        obs[changed, :2 * d] = _embeddings(view, changed)
    _scalars(view, np.arange(obs.shape[0]), obs[:, 2 * d:])
    return obs
