"""Collaborative policies that learn online from the platform's feedback.

:class:`OnlineMFPolicy` is matrix factorisation on item *ids* (no text), trained with pointwise
logistic SGD on impressions: for every served user one positive (the clicked item) and one
negative (a shown item that was not clicked), as in implicit-feedback MF with sampled
negatives. It is the collaborative baseline of the feedback-loop studies (Chaney et al. 2018).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from recsim_llm.agents.base import BasePolicy, IntArray, Observation, PolicyContext, topk_excluding

if TYPE_CHECKING:
    from recsim_llm.simulator import Feedback


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

    def reset(self, ctx: PolicyContext, rng: np.random.Generator) -> None:
        super().reset(ctx, rng)
        m = ctx.catalog.n_items
        self.U = (0.1 * rng.standard_normal((ctx.n_users, self.n_factors))).astype(np.float32)
        self.V = (0.1 * rng.standard_normal((m, self.n_factors))).astype(np.float32)
        self.b = np.zeros(m, np.float32)

    def rank_items(self, obs: Observation) -> np.ndarray:
        a = obs.n_available
        return self.U[obs.users] @ self.V[:a].T + self.b[:a]

    def rank(self, obs: Observation) -> IntArray:
        k, a = self.ctx.slate_size, obs.n_available
        scores = self.rank_items(obs)
        explore = self.rng.random((len(obs.users), a)) < self.epsilon * k / a
        scores = np.where(explore, np.inf, scores)  # random items jump to the top
        return topk_excluding(scores, k, obs.history.recent[obs.users])

    def observe(self, fb: Feedback) -> None:
        m = len(fb.users)
        if m == 0:
            return
        k = fb.slates.shape[1]
        rows = np.arange(m)
        # One negative per user: a random shown item other than the clicked one.
        neg_slot = self.rng.integers(k - 1 if k > 1 else 1, size=m)
        if k > 1:
            neg_slot = np.where((fb.positions >= 0) & (neg_slot >= fb.positions), neg_slot + 1,
                                neg_slot)
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

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "U": self.U.copy(), "V": self.V.copy(), "b": self.b.copy()}

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        self.U, self.V, self.b = state["U"].copy(), state["V"].copy(), state["b"].copy()
