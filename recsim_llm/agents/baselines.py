"""Baseline policies: random, popular, content-greedy, MMR, and the (privileged) oracle.

All rank for the in-session users at once with array operations. Content baselines do not
re-recommend a user's recent clicks (:data:`recsim_llm.history.RECENT`), as deployed
content-based recommenders usually don't; users without clicks yet (cold start) get random
items, since no content signal exists for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from recsim_llm.agents.base import BasePolicy, IntArray, Observation, topk_excluding
from recsim_llm.users import dynamics as dyn


class RandomPolicy(BasePolicy):
    """k distinct items uniformly at random among those available."""

    name = "random"

    def rank(self, obs: Observation) -> IntArray:
        keys = self.rng.random((len(obs.users), obs.n_available))
        return np.argpartition(keys, self.ctx.slate_size - 1, axis=1)[:, : self.ctx.slate_size]


class PopularPolicy(BasePolicy):
    """Most-clicked items so far (from observed clicks only), skipping each user's recent clicks.

    Ties (e.g. before any click) are broken by a random order drawn once per request.
    """

    name = "popular"

    def rank(self, obs: Observation) -> IntArray:
        h, k, a = obs.history, self.ctx.slate_size, obs.n_available
        # A global ranking, then per-user exclusion among the top k + h candidates.
        score = h.item_clicks[:a] + 0.5 * self.rng.random(a)
        n_cand = min(a, k + h.recent.shape[1])
        cand = np.argsort(-score, kind="stable")[:n_cand]
        cand_scores = np.broadcast_to(score[cand], (len(obs.users), n_cand))
        recent = h.recent[obs.users]
        # Map excluded item ids to their candidate column (or -1 when not a candidate).
        col_of = np.full(a, -1, np.int64)
        col_of[cand] = np.arange(n_cand)
        excl = np.where((recent >= 0) & (recent < a), col_of[np.clip(recent, 0, a - 1)], -1)
        return cand[topk_excluding(cand_scores, k, excl)]


class GreedyPolicy(BasePolicy):
    """Content-based and myopic: cosine between the user's clicked-item profile and each item."""

    name = "greedy"

    def relevance(self, obs: Observation) -> np.ndarray:
        """[m, n_available] cosine relevance; random for users without clicks (cold start)."""
        h, a = obs.history, obs.n_available
        prof = h.profile(obs.users)
        rel = prof @ self.ctx.item_emb[:a].T
        cold = h.clicks[obs.users] == 0
        if cold.any():
            rel[cold] = self.rng.random((int(cold.sum()), a))
        return rel

    def rank(self, obs: Observation) -> IntArray:
        return topk_excluding(self.relevance(obs), self.ctx.slate_size,
                              obs.history.recent[obs.users])


class MMRPolicy(GreedyPolicy):
    """Greedy relevance re-ranked for diversity by Maximal Marginal Relevance.

    Slot by slot, pick the candidate maximising ``alpha * rel - (1 - alpha) * max_sim``, where
    max_sim is its highest cosine to the items already placed (Carbonell & Goldstein, 1998).
    alpha = 1 is greedy; smaller alpha trades relevance for diversity.
    """

    name = "mmr"

    def __init__(self, alpha: float = 0.5, candidates: int = 100) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"mmr alpha must be in [0, 1], got {alpha}")
        self.alpha, self.candidates = float(alpha), int(candidates)

    def rank(self, obs: Observation) -> IntArray:
        k = self.ctx.slate_size
        rel = self.relevance(obs)
        n_cand = min(obs.n_available, max(self.candidates, k))
        recent = obs.history.recent[obs.users]                                  # [m, R]
        cand = topk_excluding(rel, n_cand, recent)                              # [m, C]
        # When C reaches the non-excluded items, recent clicks are among the candidates (last,
        # but with their true relevance): place them only once nothing else is left.
        excluded = (cand[:, :, None] == recent[:, None, :]).any(axis=2)         # [m, C]
        crel = np.take_along_axis(rel, cand, axis=1)                            # [m, C]
        cemb = self.ctx.item_emb[cand]                                          # [m, C, d]
        m = len(obs.users)
        rows = np.arange(m)
        max_sim = np.full((m, n_cand), -np.inf)
        taken = np.zeros((m, n_cand), bool)
        out = np.empty((m, k), np.int64)
        for j in range(k):  # loop over slots (k), never over users or items
            div = np.where(np.isfinite(max_sim), max_sim, 0.0)
            score = self.alpha * crel - (1.0 - self.alpha) * div
            score[taken] = -np.inf
            others_left = (~taken & ~excluded).any(axis=1, keepdims=True)
            score[others_left & excluded] = -np.inf
            pick = score.argmax(axis=1)
            out[:, j] = cand[rows, pick]
            taken[rows, pick] = True
            sim = np.einsum("mcd,md->mc", cemb, cemb[rows, pick])
            max_sim = np.maximum(max_sim, sim)
        return out

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "alpha": self.alpha, "candidates": self.candidates}

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        self.alpha, self.candidates = state["alpha"], state["candidates"]


class OraclePolicy(BasePolicy):
    """Privileged, myopic reference: ranks every available item by a hidden objective of now.

    ``target="click"`` (``oracle:click``, and plain ``oracle``) maximises this request's click
    probability: it ranks by the click utility ``T * (a - b) + h_u * appeal_i``. Under the MNL,
    the top k by utility is the slate with the highest click probability.
    ``target="value"`` (``oracle:value``) maximises the expected satisfaction of what is consumed:
    it ranks by ``a - b + w_value * value_i``. Both read the true interests, fatigue, hook
    susceptibility, appeal and value, ignore what the slate does to tomorrow, and exist only for
    comparison; the gap between them is the engagement-vs-value tension of the user model.
    """

    name = "oracle:click"
    privileged = True
    TARGETS = ("click", "value")

    def __init__(self, target: str = "click") -> None:
        if target not in self.TARGETS:
            raise ValueError(f"oracle target must be one of {list(self.TARGETS)}, got {target!r}")
        self.target = target
        self.name = f"oracle:{target}"

    def rank(self, obs: Observation) -> IntArray:
        sim = obs.simulator
        if sim is None:
            raise RuntimeError("the oracle needs the simulator (privileged observation)")
        ch, st, a = sim.cfg.choice, sim.state, obs.n_available
        u = obs.users
        aff, bor = dyn.all_item_terms(st.interest[u], st.interest_logw[u], st.dislike[u],
                                      st.fatigue[u], sim.world.item_emb[:a], ch.lam_dislike,
                                      ch.beta_fatigue, ch.pool_temperature)
        cat = sim.world.catalog
        if self.target == "click":
            v = dyn.click_utility(aff, bor, cat.appeal[:a], st.hook[u][:, None], ch.temperature)
        else:
            v = dyn.expected_satisfaction(aff, bor, cat.value[:a], sim.cfg.dynamics.w_value)
        return topk_excluding(v, self.ctx.slate_size, obs.history.recent[u])

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "target": self.target}

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        self.target = state.get("target", "click")
        self.name = f"oracle:{self.target}"


def _mf(**kw: Any) -> BasePolicy:
    from recsim_llm.agents.collaborative import OnlineMFPolicy

    return OnlineMFPolicy(**kw)


POLICIES: dict[str, Callable[..., BasePolicy]] = {
    "random": RandomPolicy, "popular": PopularPolicy, "greedy": GreedyPolicy,
    "mmr": MMRPolicy, "oracle": OraclePolicy, "mf": _mf,
}


def policy_names() -> list[str]:
    return sorted(POLICIES)


def make_policy(spec: str) -> BasePolicy:
    """Build a policy from a CLI name: ``random``, ``popular``, ``greedy``, ``mf`` (online
    matrix factorisation), ``mmr`` or ``mmr:ALPHA`` (e.g. ``mmr:0.3``), and the privileged
    ``oracle:click`` / ``oracle:value`` (``oracle`` alone is ``oracle:click``)."""
    name, _, arg = spec.partition(":")
    if name not in POLICIES:
        raise ValueError(f"unknown policy {spec!r}; valid policies: {policy_names()} "
                         f"(mmr takes an alpha, e.g. 'mmr:0.3'; oracle a target, "
                         f"'oracle:click' or 'oracle:value')")
    if name == "oracle":
        try:
            return OraclePolicy(arg or "click")
        except ValueError as err:
            raise ValueError(f"bad policy {spec!r}: {err}") from None
    if arg:
        if name != "mmr":
            raise ValueError(f"policy {name!r} takes no argument, got {spec!r}")
        try:
            return MMRPolicy(alpha=float(arg))
        except ValueError as err:
            raise ValueError(f"bad policy {spec!r}: {err}") from None
    return POLICIES[name]()
