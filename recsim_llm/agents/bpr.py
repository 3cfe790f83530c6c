"""Bayesian Personalised Ranking (``bpr``): the pairwise variant of the online MF baseline.

Same model as :class:`~recsim_llm.agents.collaborative.OnlineMFPolicy` (``U_u . V_i + b_i`` on
item *ids*, no text, epsilon-greedy exploration), trained online with BPR's pairwise objective
(Rendle et al., 2009): for every request with a click, the clicked item ``i`` should outscore a
shown-but-skipped item ``j`` of the same slate, ``max ln sigmoid(x_ui - x_uj)`` by one SGD step.
Negatives come from the slate (impression-aware BPR) rather than from the whole catalog: an
item the user saw and passed over is firmer evidence than one never shown. A request without a
click yields no pair and changes nothing. Like MF it cannot score an item it has no logged
pairs for: a cold item keeps its random initial factors.
"""

from __future__ import annotations

import numpy as np

from recsim_llm.agents.collaborative import OnlineMFPolicy
from recsim_llm.agents.registry import register_policy
from recsim_llm.platform import LoggedFeedback


class BPRPolicy(OnlineMFPolicy):
    """Online MF trained with the BPR pairwise loss on (clicked, skipped) pairs of a slate.

    Args: as :class:`OnlineMFPolicy` (rank, lr, reg, epsilon).
    """

    name = "bpr"

    def observe(self, fb: LoggedFeedback) -> None:
        clicked = np.asarray(fb.positions) >= 0
        k = fb.slates.shape[1]
        if not clicked.any() or k < 2:
            return
        rows = np.flatnonzero(clicked)
        pos = np.asarray(fb.positions)[rows]
        # One skipped item per clicked request: a random other slot of the same slate.
        neg_slot = self.rng.integers(k - 1, size=len(rows))
        neg_slot = np.where(neg_slot >= pos, neg_slot + 1, neg_slot)
        u = np.asarray(fb.users)[rows]
        i = np.asarray(fb.slates)[rows, pos]
        j = np.asarray(fb.slates)[rows, neg_slot]
        pu, qi, qj = self.U[u], self.V[i], self.V[j]
        x = np.einsum("nr,nr->n", pu, qi - qj) + self.b[i] - self.b[j]     # x_uij
        g = (1.0 / (1.0 + np.exp(x))).astype(np.float32)                  # d ln sigmoid(x) / dx
        lr, reg = self.lr, self.reg
        np.add.at(self.U, u, lr * (g[:, None] * (qi - qj) - reg * pu))
        np.add.at(self.V, i, lr * (g[:, None] * pu - reg * qi))
        np.add.at(self.V, j, lr * (-g[:, None] * pu - reg * qj))
        np.add.at(self.b, i, lr * g)
        np.add.at(self.b, j, -lr * g)


def _make_bpr(arg: str | None) -> BPRPolicy:
    if arg is not None:
        raise ValueError(f"bpr takes no argument, got {arg!r}")
    return BPRPolicy()


register_policy("bpr", _make_bpr,
                "bpr          online MF on item ids trained with the BPR pairwise loss")
