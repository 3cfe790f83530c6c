"""Flat observations built only from what a platform can know (its logs and item texts).

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

Never included: the true interest, persona text, fatigue, satisfaction or item quality.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from recsim_llm.history import PlatformHistory
from recsim_llm.simulator import Simulator

N_SCALARS = 6


def observation_space(dim: int) -> spaces.Box:
    return spaces.Box(low=-1.0, high=1.0, shape=(2 * dim + N_SCALARS,), dtype=np.float32)


def _scalars(sim: Simulator, history: PlatformHistory, u: npt.NDArray[np.int64],
             out: npt.NDArray[np.float32]) -> None:
    cfg = sim.cfg
    clicks, reqs = history.clicks[u], history.requests[u]
    out[:, 0] = min(sim.day / cfg.horizon_days, 1.0)
    # From the platform's own log, not the simulator's hidden session state.
    out[:, 1] = history.session_requests[u] / cfg.dynamics.max_session_len
    out[:, 2] = np.where(reqs > 0, clicks / np.maximum(reqs, 1), 0.0)
    out[:, 3] = np.minimum(np.log1p(clicks) / np.log1p(1000.0), 1.0)
    out[:, 4] = clicks > 0
    out[:, 5] = sim.n_available / sim.world.n_items


def _embeddings(sim: Simulator, history: PlatformHistory, u: npt.NDArray[np.int64]
                ) -> npt.NDArray[np.float32]:
    d = sim.world.dim
    out = np.zeros((len(u), 2 * d), np.float32)
    out[:, :d] = history.profile(u)
    last = history.last_clicked[u]
    has = last >= 0
    out[has, d:] = sim.world.item_emb[last[has]]
    # float32 rounding may exceed unit norm by an ulp; the space is [-1, 1]
    return np.clip(out, -1.0, 1.0, out=out)


def observe(sim: Simulator, history: PlatformHistory,
            users: npt.NDArray[np.int64] | None = None) -> npt.NDArray[np.float32]:
    """Observation rows of ``users`` (all users when None), shape [len(users), 2 d + 6]."""
    u = np.arange(sim.world.n_users) if users is None else users
    d = sim.world.dim
    out = np.empty((len(u), 2 * d + N_SCALARS), np.float32)
    out[:, :2 * d] = _embeddings(sim, history, u)
    _scalars(sim, history, u, out[:, 2 * d:])
    return out


def refresh(obs: npt.NDArray[np.float32], sim: Simulator, history: PlatformHistory,
            changed: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
    """Update all users' observation rows in place after a step that served ``changed``.

    Only served users' click profiles can have changed, so only their embedding blocks are
    recomputed; the counters are cheap and recomputed for everyone. Equal to ``observe``.
    """
    d = sim.world.dim
    if len(changed):
        obs[changed, :2 * d] = _embeddings(sim, history, changed)
    _scalars(sim, history, np.arange(sim.world.n_users), obs[:, 2 * d:])
    return obs
