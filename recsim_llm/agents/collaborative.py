"""Collaborative policies that learn online from the platform's feedback.

:class:`OnlineMFPolicy` is matrix factorisation on item *ids* (no text), trained with pointwise
logistic SGD on impressions: for every served user one positive (the clicked item) and one
negative (a shown item that was not clicked), as in implicit-feedback MF with sampled
negatives. It is the collaborative baseline of the feedback-loop studies (Chaney et al. 2018).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recsim_llm.agents.base import BasePolicy, IntArray, PolicyError, topk_excluding
from recsim_llm.agents.registry import register_policy
from recsim_llm.platform import LoggedFeedback, PlatformView, PolicyContext


class OnlineMFPolicy(BasePolicy):
    """Online matrix factorisation ``score_ui = U_u . V_i + b_i``, epsilon-greedy exploration.

    Args:
        rank: latent factors r.
        lr: SGD step size.
        reg: L2 regularisation.
        epsilon: share of slate slots filled with random items (exploration).
    """

    name = "mf"

    def __init__(self, rank: int = 16, lr: float = 0.05, reg: float = 0.01,
                 epsilon: float = 0.1) -> None:
        if rank < 1 or lr <= 0 or reg < 0 or not 0 <= epsilon <= 1:
            raise ValueError("mf needs rank >= 1, lr > 0, reg >= 0, epsilon in [0, 1]")
        self.n_factors, self.lr, self.reg, self.epsilon = rank, lr, reg, epsilon

    def init_params(self) -> None:
        ctx, rng = self.ctx, self.rng
        m = ctx.catalog.n_items
        self.U = (0.1 * rng.standard_normal((ctx.n_users, self.n_factors))).astype(np.float32)
        self.V = (0.1 * rng.standard_normal((m, self.n_factors))).astype(np.float32)
        self.b = np.zeros(m, np.float32)

    def has_params(self) -> bool:
        return hasattr(self, "U")

    def check_params(self, ctx: PolicyContext) -> None:
        want = {"U": (ctx.n_users, self.n_factors), "V": (ctx.catalog.n_items, self.n_factors)}
        for key, shape in want.items():
            if getattr(self, key).shape != shape:
                raise PolicyError(f"mf parameters do not fit this run: {key} has shape "
                                  f"{getattr(self, key).shape}, the run needs {shape} "
                                  f"({ctx.n_users} users, {ctx.catalog.n_items} items)")

    def params(self) -> dict[str, Any]:
        return {"U": self.U.copy(), "V": self.V.copy(), "b": self.b.copy()}

    def load_params(self, params: dict[str, Any]) -> None:
        missing = {"U", "V", "b"} - set(params)
        if missing:
            raise PolicyError(f"mf parameters lack {sorted(missing)}")
        self.U, self.V, self.b = (np.array(params[k], np.float32) for k in ("U", "V", "b"))
        if self.U.shape[1] != self.n_factors:
            raise PolicyError(f"mf parameters have rank {self.U.shape[1]}, this policy "
                              f"{self.n_factors}")

    def rank_items(self, view: PlatformView) -> np.ndarray:
        a = view.n_available
        return self.U[view.users] @ self.V[:a].T + self.b[:a]

    def rank(self, view: PlatformView) -> IntArray:
        k, a = self.ctx.slate_size, view.n_available
        scores = self.rank_items(view)
        explore = self.rng.random((len(view.users), a)) < self.epsilon * k / a
        scores = np.where(explore, np.inf, scores)  # random items jump to the top
        return topk_excluding(scores, k, view.log.excluded(view.users))

    def negative_slots(self, positions: IntArray, k: int) -> IntArray:
        """One negative per request: a uniformly drawn shown slot other than the clicked one
        (any of the k after a request without a click, any of the other k - 1 after a click)."""
        clicked = positions >= 0
        slot = self.rng.integers(np.where(clicked, max(k - 1, 1), k))
        if k > 1:
            slot = np.where(clicked & (slot >= positions), slot + 1, slot)
        return slot

    def observe(self, fb: LoggedFeedback) -> None:
        m = len(fb.users)
        if m == 0:
            return
        k = fb.slates.shape[1]
        rows = np.arange(m)
        neg_slot = self.negative_slots(np.asarray(fb.positions), k)
        items = [fb.slates[rows, neg_slot]]
        labels = [np.zeros(m, np.float32)]
        users = [fb.users]
        if fb.clicked.any():
            items.append(fb.items[fb.clicked])
            labels.append(np.ones(int(fb.clicked.sum()), np.float32))
            users.append(fb.users[fb.clicked])
        u, i, y = np.concatenate(users), np.concatenate(items), np.concatenate(labels)
        pu, qi = self.U[u], self.V[i]
        pred = 1.0 / (1.0 + np.exp(-(np.einsum("nr,nr->n", pu, qi) + self.b[i])))
        g = (y - pred).astype(np.float32)                                  # d loglik / d score
        np.add.at(self.U, u, self.lr * (g[:, None] * qi - self.reg * pu))
        np.add.at(self.V, i, self.lr * (g[:, None] * pu - self.reg * qi))
        np.add.at(self.b, i, self.lr * g)


def _make_mf(arg: str | None) -> OnlineMFPolicy:
    if arg is not None:
        raise ValueError(f"mf takes no argument, got {arg!r}")
    return OnlineMFPolicy()


register_policy("mf", _make_mf, "mf           online matrix factorisation on item ids (clicks)")
