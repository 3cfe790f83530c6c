"""What a platform can know: its own logs of slates and clicks, and public item data.

:class:`PlatformHistory` is updated from :class:`~recsim_llm.simulator.Feedback` only; it never
reads the users' hidden state. Policies and environment observations are built from it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from recsim_llm.simulator import Feedback

RECENT = 20
"""clicked items remembered per user (baselines do not re-recommend them)"""


class PlatformHistory:
    """Per-user and per-item counters from the platform's logs, as arrays.

    Shapes: n = users, m = items, d = item-embedding dims.
    """

    def __init__(self, n_users: int, item_emb: npt.NDArray[np.float32], recent: int = RECENT):
        n, (m, d) = n_users, item_emb.shape
        self.item_emb = item_emb
        self.clicks = np.zeros(n, np.int64)
        """[n] clicks so far"""
        self.requests = np.zeros(n, np.int64)
        """[n] slates served so far"""
        self.clicked_sum = np.zeros((n, d), np.float32)
        """[n, d] sum of clicked items' embeddings"""
        self.last_clicked = np.full(n, -1, np.int64)
        """[n] last clicked item (-1 = none)"""
        self.recent = np.full((n, recent), -1, np.int64)
        """[n, recent] last clicked items, newest in column ``recent_ptr - 1`` (ring buffer)"""
        self._ptr = np.zeros(n, np.int64)
        self.session_requests = np.zeros(n, np.int64)
        """[n] requests in the current session"""
        self.last_visit_day = np.full(n, -1, np.int64)
        """[n] last day the user was served"""
        self.item_impressions = np.zeros(m, np.int64)
        """[m] times each item was shown"""
        self.item_clicks = np.zeros(m, np.int64)
        """[m] times each item was clicked"""

    def update(self, fb: Feedback) -> None:
        """Fold one request's feedback into the counters (vectorised over served users)."""
        u, clicked = fb.users, fb.clicked
        m = len(self.item_impressions)
        self.item_impressions += np.bincount(fb.slates.ravel(), minlength=m)
        self.requests[u] += 1
        new_session = self.last_visit_day[u] != fb.day
        self.session_requests[u] = np.where(new_session, 1, self.session_requests[u] + 1)
        self.session_requests[u[fb.session_ended]] = 0
        self.last_visit_day[u] = fb.day
        if clicked.any():
            cu, ci = u[clicked], fb.items[clicked]
            self.item_clicks += np.bincount(ci, minlength=m)
            self.clicks[cu] += 1
            self.clicked_sum[cu] += self.item_emb[ci]
            self.last_clicked[cu] = ci
            self.recent[cu, self._ptr[cu] % self.recent.shape[1]] = ci
            self._ptr[cu] += 1

    def profile(self, users: npt.NDArray[np.int64] | None = None) -> npt.NDArray[np.float32]:
        """Unit-norm mean of clicked items per user, [len(users), d] (zeros without clicks)."""
        s = self.clicked_sum if users is None else self.clicked_sum[users]
        norm = np.linalg.norm(s, axis=1, keepdims=True)
        return s / np.where(norm > 0, norm, 1.0)

    def state(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in vars(self).items()
                if isinstance(v, np.ndarray) and k != "item_emb"}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        for k, v in state.items():
            setattr(self, k, v.copy())
