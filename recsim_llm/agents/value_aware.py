"""A value-aware content ranker built from public signals only: relevance plus logged dwell.

Greedy ranks by what a user clicked (the cosine to their click profile), so it follows whatever
got clicked, hooks included. The platform's only value signal is the logged dwell of each click
(:class:`~recsim_llm.platform.PlatformLog`: ``item_dwell_sum`` / ``item_dwell_count``; the
hidden value never reaches a policy). :class:`DwellPolicy` adds to greedy's relevance an
estimate of each item's dwell, centred on the mean dwell of all clicks::

    score_ui = cos(profile_u, e_i) + weight * (v_i - mu)

    v_i = (dwell_sum_i + n0 * p_i) / (dwell_count_i + n0)      (shrunk item mean)
    p_i = mu + e_i . beta                                      (content prior)
    beta = argmin sum_j c_j (ybar_j - mu - e_j . beta)^2 + lam |beta|^2

``p_i`` is a ridge regression of the items' mean dwell on their text embeddings (weighted by
their clicks), so what the logs say about clicked items carries over to items with the same
kind of text that nobody clicked yet (new arrivals, the long tail): a hook's register is in its
text. Items with many clicks are ranked by their own mean dwell, the others by the prior. Before
any dwell is logged every ``v_i - mu`` is 0 and the policy is greedy. Stateless: everything is
read from the platform's log at each request, so it also serves as a ranker of the agents'
``strategy`` action mode.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from recsim_llm.agents.base import IntArray, topk_excluding
from recsim_llm.agents.baselines import GreedyPolicy
from recsim_llm.platform import PlatformLog, PlatformLogView, PlatformView
from recsim_llm.simulator import BLOCK

FloatArray = npt.NDArray[np.float64]

DEFAULT_WEIGHT = 1.0
"""weight of the centred dwell estimate next to the cosine relevance (both of order 1)"""
PRIOR_CLICKS = 5.0
"""n0: clicks at which an item's own mean dwell counts as much as the content prior"""
RIDGE = 10.0
"""lam: ridge penalty of the content prior, in units of logged clicks"""


def dwell_estimate(log: PlatformLog | PlatformLogView, item_emb: npt.NDArray[np.floating],
                   n_items: int, prior_clicks: float = PRIOR_CLICKS, ridge: float = RIDGE
                   ) -> FloatArray:
    """Centred dwell estimate ``v_i - mu`` of items ``0..n_items-1``, shape [n_items].

    Args:
        log: the platform's log (per-item dwell sums and counts of clicks).
        item_emb: [>= n_items, d] public item embeddings.
        n_items: items to estimate (the available prefix).
    Returns:
        zeros when no dwell has been logged yet.
    """
    c = np.asarray(log.item_dwell_count[:n_items], np.float64)
    s = np.asarray(log.item_dwell_sum[:n_items], np.float64)
    total = c.sum()
    if total <= 0:
        return np.zeros(n_items, np.float64)
    mu = s.sum() / total
    x = np.asarray(item_emb[:n_items], np.float64)                        # [a, d]
    seen = c > 0
    resid = np.zeros(n_items, np.float64)
    resid[seen] = s[seen] / c[seen] - mu
    xw = x[seen] * c[seen, None]                                         # [a_seen, d]
    gram = xw.T @ x[seen] + ridge * np.eye(x.shape[1])                   # [d, d]
    beta = np.linalg.solve(gram, xw.T @ resid[seen])                     # [d]
    prior = x @ beta                                                     # [a], centred
    return (s - c * mu + prior_clicks * prior) / (c + prior_clicks)


class DwellPolicy(GreedyPolicy):
    """Greedy relevance plus ``weight`` x the items' centred dwell estimate (public signals)."""

    name = "dwell"

    def __init__(self, weight: float = DEFAULT_WEIGHT) -> None:
        if not np.isfinite(weight) or weight < 0:
            raise ValueError(f"dwell weight must be a finite number >= 0, got {weight}")
        self.weight = float(weight)

    def rank(self, view: PlatformView) -> IntArray:
        value = self.weight * dwell_estimate(view.log, self.ctx.item_emb, view.n_available)
        return np.concatenate([self._block(view, view.users[lo:lo + BLOCK], value)
                               for lo in range(0, len(view.users), BLOCK)])

    def _block(self, view: PlatformView, users: IntArray, value: FloatArray) -> IntArray:
        score = self.relevance(view, users) + value.astype(np.float32)[None, :]
        return topk_excluding(score, self.ctx.slate_size, view.log.excluded(users))


def make_dwell(arg: str | None) -> DwellPolicy:
    """``dwell`` (weight 1) or ``dwell:W``."""
    if arg is None:
        return DwellPolicy()
    try:
        weight = float(arg)
    except ValueError:
        raise ValueError(f"dwell takes a number weight >= 0, got {arg!r}") from None
    return DwellPolicy(weight)
