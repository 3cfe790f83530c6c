"""Baseline policies: random, popular, content-greedy, MMR, and the (privileged) oracle.

All rank for the in-session users at once with array operations. Content baselines do not
re-recommend a user's recent clicks (:data:`recsim_llm.platform.RECENT`), as deployed
content-based recommenders usually don't, and on a consume-once catalog no item the user has
consumed (:meth:`PlatformLog.excluded <recsim_llm.platform.PlatformLog.excluded>`); users
without clicks yet (cold start) get random items, since no content signal exists for them.
"""

from __future__ import annotations

import numpy as np

from recsim_llm.agents.base import BasePolicy, IntArray, exclusion_mask, mmr_select, topk_excluding
from recsim_llm.platform import PlatformView
from recsim_llm.simulator import BLOCK, Simulator
from recsim_llm.users import dynamics as dyn


class RandomPolicy(BasePolicy):
    """k distinct items uniformly at random among those available (on a consume-once catalog,
    among those the user has not consumed)."""

    name = "random"

    def rank(self, view: PlatformView) -> IntArray:
        keys = self.rng.random((len(view.users), view.n_available))
        if view.log.consume_once:
            return topk_excluding(keys, self.ctx.slate_size, view.log.excluded(view.users))
        return np.argpartition(keys, self.ctx.slate_size - 1, axis=1)[:, : self.ctx.slate_size]


class PopularPolicy(BasePolicy):
    """Most-clicked items so far (from observed clicks only), skipping each user's recent clicks.

    Ties (e.g. before any click) are broken by a random order drawn once per request.
    """

    name = "popular"

    def rank(self, view: PlatformView) -> IntArray:
        h, k, a = view.log, self.ctx.slate_size, view.n_available
        # A global ranking, then per-user exclusion among the top k + h candidates.
        score = h.item_clicks[:a] + 0.5 * self.rng.random(a)
        recent = h.excluded(view.users)
        n_cand = min(a, k + recent.shape[1])
        cand = np.argsort(-score, kind="stable")[:n_cand]
        cand_scores = np.broadcast_to(score[cand], (len(view.users), n_cand))
        # Map excluded item ids to their candidate column (or -1 when not a candidate).
        col_of = np.full(a, -1, np.int64)
        col_of[cand] = np.arange(n_cand)
        excl = np.where((recent >= 0) & (recent < a), col_of[np.clip(recent, 0, a - 1)], -1)
        return cand[topk_excluding(cand_scores, k, excl)]


class GreedyPolicy(BasePolicy):
    """Content-based and myopic: cosine between the user's clicked-item profile and each item."""

    name = "greedy"

    def relevance(self, view: PlatformView, users: IntArray) -> np.ndarray:
        """[len(users), n_available] cosine relevance; random for users without clicks."""
        h, a = view.log, view.n_available
        rel = h.profile(users) @ self.ctx.item_emb[:a].T
        cold = h.clicks[users] == 0
        if cold.any():
            rel[cold] = self.rng.random((int(cold.sum()), a))
        return rel

    def rank(self, view: PlatformView) -> IntArray:
        # Blocks of served users bound the [block, n_available] score matrix.
        return np.concatenate([self.rank_block(view, view.users[lo:lo + BLOCK])
                               for lo in range(0, len(view.users), BLOCK)])

    def rank_block(self, view: PlatformView, users: IntArray) -> IntArray:
        return topk_excluding(self.relevance(view, users), self.ctx.slate_size,
                              view.log.excluded(users))


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

    def rank_block(self, view: PlatformView, users: IntArray) -> IntArray:
        k = self.ctx.slate_size
        rel = self.relevance(view, users)
        return mmr_rerank(rel, self.ctx.item_emb, view.log.excluded(users), k, self.alpha,
                          self.candidates)


def mmr_rerank(rel: np.ndarray, item_emb: np.ndarray, recent: IntArray, k: int, alpha: float,
               candidates: int) -> IntArray:
    """Maximal Marginal Relevance over the top ``candidates`` items of ``rel``.

    Args:
        rel: [m, a] relevance of items 0..a-1.
        item_emb: [>= a, d] unit item embeddings.
        recent: [m, R] ids to place only once nothing else is left (-1 = none).
    Returns:
        [m, k] distinct ids.
    """
    a = rel.shape[1]
    n_cand = min(a, max(candidates, k))
    cand = topk_excluding(rel, n_cand, recent)                              # [m, C]
    # When C reaches the non-excluded items, recent clicks are among the candidates (last,
    # but with their true relevance): place them only once nothing else is left.
    excluded = np.take_along_axis(exclusion_mask(recent, a), cand, axis=1)  # [m, C]
    crel = np.take_along_axis(rel, cand, axis=1)                            # [m, C]
    return mmr_select(crel, cand, item_emb, k, alpha, excluded)


ORACLE_BLOCK_FLOATS = 2**25
"""served users per oracle block: this many floats of [users, K, n_available] cosines (128 MB)"""


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

    def rank(self, view: PlatformView) -> IntArray:
        sim = view.hidden
        if sim is None:
            raise RuntimeError("the oracle needs the simulator (privileged observation)")
        a, u = view.n_available, view.users
        # Blocks of served users bound the [block, K, n_available] cosine tensor (~128 MB).
        block = max(1, ORACLE_BLOCK_FLOATS // (sim.state.interest.shape[1] * max(a, 1)))
        return np.concatenate([self.rank_block(sim, view, u[lo:lo + block])
                               for lo in range(0, len(u), block)])

    def _score(self, sim: Simulator, users: IntArray, aff: np.ndarray, bor: np.ndarray,
               items: IntArray | slice, rows: IntArray | slice) -> np.ndarray:
        """The hidden objective from taste ``aff`` and boredom ``bor`` (same shape), for the
        items ``items`` of the users ``users[rows]`` (one function for bounds and exact values,
        so both use the same float operations)."""
        ch = sim.cfg.choice
        if self.target == "click":
            hook = sim.state.hook[users][rows]
            if aff.ndim == 2:
                hook = hook[:, None]                                          # [m, 1]
            return dyn.click_utility(aff, bor, sim.appeal[items], hook, ch.temperature)
        return dyn.expected_satisfaction(aff, bor, sim.value[items], sim.cfg.dynamics.w_value)

    def _emb_t(self, emb: np.ndarray) -> np.ndarray:
        """C-ordered [d, a] copy of the item table's transpose, kept while the table is."""
        key = (emb.__array_interface__["data"][0], emb.shape)
        if getattr(self, "_et_key", None) != key:
            self._et, self._et_key = np.ascontiguousarray(emb.T), key
        return self._et

    def rank_full(self, sim: Simulator, view: PlatformView, users: IntArray) -> IntArray:
        """The reference: the objective of every available item for every user (the oracle's
        definition; :meth:`rank_block` returns the same slates at a fraction of the cost)."""
        ch, st, a = sim.cfg.choice, sim.state, view.n_available
        aff, bor = dyn.all_item_terms(st.interest[users], st.interest_logw[users],
                                      st.dislike[users], st.fatigue[users],
                                      sim.world.item_emb[:a], ch.lam_dislike, ch.beta_fatigue,
                                      ch.pool_temperature)
        v = self._score(sim, users, aff, bor, slice(0, a), slice(None))
        return topk_excluding(v, self.ctx.slate_size, view.log.excluded(users))

    def rank_block(self, sim: Simulator, view: PlatformView, users: IntArray) -> IntArray:
        """The top k of the objective, computed exactly only where it can reach the top k.

        The costly part of the objective is the soft-max pooling of the K interest cosines
        (an ``exp`` per user, item and interest). It lies between the best interest's cosine
        ``c_max`` and ``c_max - tau * log K_u``, so the objective of each item has a lower and
        an upper bound from ``c_max`` alone; items whose upper bound is below the k-th best
        lower bound (recent clicks left out) cannot enter the slate. The exact objective is
        then computed, with the very operations of :meth:`rank_full`, for the remaining
        candidates only (typically a few per cent of the catalog), so the slates are those of
        the full computation.
        """
        ch, st, a, k = sim.cfg.choice, sim.state, view.n_available, self.ctx.slate_size
        m = len(users)
        excl = exclusion_mask(view.log.excluded(users), a)                   # [m, a]
        n_excl = excl.sum(axis=1)     # distinct excluded ids (a row may list an item twice)
        if ch.temperature < 0 or (a - n_excl < k).any() or a <= 4 * k:
            return self.rank_full(sim, view, users)   # bounds need T >= 0; tiny catalogs
        emb = sim.world.item_emb[:a]
        logw = st.interest_logw[users]                                        # [m, K]
        # The products of dyn.all_item_terms, bit-identical (a C-ordered copy of emb.T gives
        # BLAS the same kernel with a cheaper packing of the item matrix).
        cos_k = np.matmul(st.interest[users], self._emb_t(emb))              # [m, K, a]
        cos_q = st.dislike[users] @ emb.T                                     # [m, a]
        bor = dyn.boredom(st.fatigue[users] @ emb.T, ch.beta_fatigue)        # [m, a]
        valid = np.isfinite(logw)                                             # [m, K]
        if valid.all():
            c_max = cos_k.max(axis=1)
        else:
            c_max = np.where(valid[:, :, None], cos_k, -np.inf).max(axis=1)   # [m, a]
        # Upper bound ``hi`` (pooled taste <= c_max), in float32; the lower bound is
        # ``hi - coef * tau * log K_u``, a shift per row.
        hi = np.maximum(cos_q, 0.0)
        hi *= np.float32(-ch.lam_dislike)
        hi += c_max
        hi -= bor
        if self.target == "click":
            coef = float(ch.temperature)
            hi *= np.float32(coef)
            hi += st.hook[users][:, None] * sim.appeal[:a].astype(np.float32)
        else:
            coef = 1.0
            w_value = np.float32(sim.cfg.dynamics.w_value)
            hi += w_value * sim.value[:a].astype(np.float32)
        spread = coef * ch.pool_temperature * np.log(valid.sum(axis=1))       # [m]
        hx = hi.copy()
        hx[excl] = -np.inf
        # the k-th best lower bound among items that may be shown, [m, 1]
        theta = np.partition(hx, a - k, axis=1)[:, a - k:a - k + 1] - spread[:, None]
        # float32 rounding of the pooled value and of the bounds is far below this margin
        cand = hi >= theta - (1e-4 + 1e-5 * np.abs(theta))
        cand &= ~excl
        r, c = np.nonzero(cand)                                               # row-major
        pooled = dyn.pool_interests(cos_k[r, :, c], logw[r], ch.pool_temperature)   # [P]
        v = self._score(sim, users, dyn.affinity(pooled, cos_q[r, c], ch.lam_dislike),
                        bor[r, c], c, r)
        counts = cand.sum(axis=1)
        width = int(counts.max())
        col = np.arange(len(r)) - np.repeat(np.cumsum(counts) - counts, counts)
        dense = np.full((m, width), -np.inf, dtype=v.dtype)
        ids = np.zeros((m, width), np.int64)
        dense[r, col], ids[r, col] = v, c
        return np.take_along_axis(ids, topk_excluding(dense, k), axis=1)


def make_oracle(arg: str | None) -> OraclePolicy:
    """``oracle:click`` / ``oracle:value``: the privileged myopic references (``oracle`` alone
    is ``oracle:click``)."""
    return OraclePolicy(arg or "click")
