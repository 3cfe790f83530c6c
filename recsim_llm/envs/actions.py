"""Action modes: how an environment action becomes a slate of k distinct available items.

Chosen with ``gym.make(env_id, action_mode=...)``; the same objects turn a saved agent's
actions into slates when it is replayed as a policy (:mod:`recsim_llm.agents.sb3`).

============  ==========================================  ==================================
mode          action of one user                          slate
============  ==========================================  ==================================
``slate``     ``SlateSpace``: k item ids (the default)    used as given, strictly checked:
                                                          duplicates or ids not available
                                                          today raise ``ValueError`` naming
                                                          the user and the slot
``scores``    ``Box(-1, 1, (n_items,))``: a score per     the k best-scored items among those
              item of the whole catalog                   available today
``query``     ``Box(-1, 1, (q,))``: a point in q fixed    the k available items with the
              directions of the encoder's space (the      largest dot product between their
              first q rows of the orthonormal DCT-II      projected embedding and the query
              basis; ``basis="pca"``: the catalog's
              first q principal directions)
``strategy``  ``Discrete(len(strategies))``: which        that ranker's slate for the user
              named ranker serves this request
============  ==========================================  ==================================

``scores`` and ``query`` skip the user's recent clicks (on a consume-once catalog every item
they consumed: :meth:`PlatformLog.excluded <recsim_llm.platform.PlatformLog.excluded>`), as the
content baselines do, unless fewer than k other items are available; ties go to the lower item
id. Both are deterministic functions of the action and the platform view. ``strategy`` rankers
are baselines bound to the run's public context, each with its own named random stream.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.fft
from gymnasium import spaces

from recsim_llm.agents.base import BasePolicy, topk_excluding
from recsim_llm.envs.spaces import SlateSpace
from recsim_llm.platform import LoggedFeedback, PlatformView, PolicyContext
from recsim_llm.rng import RngStreams

IntArray = npt.NDArray[np.int64]

ACTION_MODES = ("slate", "scores", "query", "strategy")
DEFAULT_STRATEGIES = ("greedy", "dwell", "mmr:0.3", "popular", "random")
"""rankers of the ``strategy`` mode: exploit clicks, seek logged value (dwell), diversify,
follow the crowd, explore. A learning ranker may be added (``strategies=[..., "mf"]``): it is
trained on every served request, whichever ranker served it"""
DEFAULT_QUERY_DIM = 16
QUERY_BASES = ("encoder", "pca")
"""``encoder`` (default): fixed directions of the encoder's space, the same for every catalog,
so a query learned on one world means the same on another; ``pca``: the catalog's own
principal directions (the first design: they differ between catalogs, so a query agent did not
transfer to held-out worlds)"""


class ActionMode:
    """Turns one action per served user into one slate per served user."""

    name: str = ""

    def __init__(self, ctx: PolicyContext) -> None:
        self.ctx = ctx

    def space(self) -> spaces.Space[Any]:
        """The action space of one user."""
        raise NotImplementedError

    def to_slates(self, actions: np.ndarray, view: PlatformView) -> IntArray:
        """Slates [m, k] from actions [m, ...] of the users ``view.users`` (same order)."""
        raise NotImplementedError

    def bind(self, seed: int) -> None:
        """Seed what the mode draws (only ``strategy`` rankers draw)."""
        return None

    def observe(self, feedback: LoggedFeedback) -> None:
        """The logged feedback of a served request (only ``strategy`` rankers learn from it)."""
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


class SlateMode(ActionMode):
    name = "slate"

    def space(self) -> SlateSpace:
        return SlateSpace(self.ctx.catalog.n_items, self.ctx.slate_size)

    def to_slates(self, actions: np.ndarray, view: PlatformView) -> IntArray:
        # Validation (shape, dtype, range, duplicates) is the simulator's, naming user and slot.
        return np.asarray(actions)


class ScoresMode(ActionMode):
    name = "scores"

    def space(self) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (self.ctx.catalog.n_items,), np.float32)

    def to_slates(self, actions: np.ndarray, view: PlatformView) -> IntArray:
        scores = np.asarray(actions, np.float32)
        n = self.ctx.catalog.n_items
        if scores.ndim != 2 or scores.shape[1] != n:
            raise ValueError(f"scores actions must have shape [users, {n}], got {scores.shape}")
        return topk_excluding(scores[:, :view.n_available], self.ctx.slate_size,
                              view.log.excluded(view.users))


class QueryMode(ActionMode):
    """Queries in ``dim`` directions of the item-embedding space.

    ``basis="encoder"``: the first ``dim`` rows of the orthonormal DCT-II matrix of size d, a
    fixed rotation of the encoder's own coordinates (each direction mixes all of them) that
    depends on d alone; ``basis="pca"``: the top ``dim`` principal directions of this
    catalog's centred embeddings. The keys are the items' coordinates in the basis, scaled so
    that the largest is 1 (a positive scale leaves every ranking unchanged).
    """

    name = "query"

    def __init__(self, ctx: PolicyContext, dim: int = DEFAULT_QUERY_DIM,
                 basis: str = "encoder") -> None:
        super().__init__(ctx)
        emb = np.asarray(ctx.item_emb, np.float64)
        d = emb.shape[1]
        if not 1 <= dim:
            raise ValueError(f"query_dim must be >= 1, got {dim}")
        if basis not in QUERY_BASES:
            raise ValueError(f"query_basis must be one of {QUERY_BASES}, got {basis!r}")
        self.dim = min(int(dim), d)
        self.basis = basis
        self.directions = query_directions(emb, self.dim, basis)           # [q, d]
        keys = emb @ self.directions.T                                      # [n_items, q]
        self.keys = (keys / max(np.abs(keys).max(), 1e-12)).astype(np.float32)

    def space(self) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (self.dim,), np.float32)

    def to_slates(self, actions: np.ndarray, view: PlatformView) -> IntArray:
        q = np.asarray(actions, np.float32)
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise ValueError(f"query actions must have shape [users, {self.dim}], "
                             f"got {q.shape}")
        scores = q @ self.keys[:view.n_available].T                     # [m, a]
        return topk_excluding(scores, self.ctx.slate_size, view.log.excluded(view.users))


class StrategyMode(ActionMode):
    """A ``Discrete`` choice among named rankers for each request."""

    name = "strategy"

    def __init__(self, ctx: PolicyContext, strategies: Sequence[str] = DEFAULT_STRATEGIES
                 ) -> None:
        super().__init__(ctx)
        from recsim_llm.agents.registry import make_policy

        if not strategies:
            raise ValueError("the strategy mode needs at least one ranker")
        self.strategies = tuple(strategies)
        self.rankers: list[BasePolicy] = [make_policy(s) for s in self.strategies]
        for name, r in zip(self.strategies, self.rankers, strict=True):
            if r.privileged:
                raise ValueError(f"strategy {name!r} is privileged; an agent may only choose "
                                 f"among rankers that see the platform view")
        self.bind(0)

    def bind(self, seed: int) -> None:
        streams = RngStreams(seed).child("strategy")
        for name, r in zip(self.strategies, self.rankers, strict=True):
            r.bind(self.ctx, streams.fresh(name))

    def space(self) -> spaces.Discrete:
        return spaces.Discrete(len(self.strategies))

    def observe(self, feedback: LoggedFeedback) -> None:
        """Every ranker learns from every served request, whichever ranker served it (a
        learning ranker such as ``mf`` is then trained off-policy on the agent's log, as it
        would be on any platform log); the stateless ones ignore it."""
        for r in self.rankers:
            r.observe(feedback)

    def to_slates(self, actions: np.ndarray, view: PlatformView) -> IntArray:
        a = np.asarray(actions).reshape(-1)
        if a.shape[0] != len(view.users):
            raise ValueError(f"strategy actions must have one entry per served user "
                             f"({len(view.users)}), got {a.shape[0]}")
        if a.dtype.kind not in "iu" or (len(a) and (a.min() < 0 or a.max() >= len(self.rankers))):
            raise ValueError(f"strategy actions are integers in [0, {len(self.rankers)}), "
                             f"got {a[:5]}")
        out = np.empty((len(a), self.ctx.slate_size), np.int64)
        for s, ranker in enumerate(self.rankers):  # loop over strategies, not users
            rows = np.flatnonzero(a == s)
            if len(rows):
                out[rows] = ranker.act(dataclasses.replace(view, users=view.users[rows]))
        return out

    def state_dict(self) -> dict[str, Any]:
        return {n: r.state_dict() for n, r in zip(self.strategies, self.rankers, strict=True)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for n, r in zip(self.strategies, self.rankers, strict=True):
            r.load_state_dict(state[n])


def query_directions(emb: npt.NDArray[np.float64], dim: int, basis: str
                     ) -> npt.NDArray[np.float64]:
    """[dim, d] orthonormal query directions of ``basis`` for item embeddings ``emb`` [n, d]."""
    d = emb.shape[1]
    if basis == "encoder":
        # Row j of the DCT-II matrix is cos(pi (t + 1/2) j / d) over coordinates t, scaled to
        # unit norm: deterministic, catalog-free, and it spreads each query over every axis.
        return np.asarray(scipy.fft.dct(np.eye(d), norm="ortho", axis=0)[:dim], np.float64)
    _, _, vt = np.linalg.svd(emb - emb.mean(axis=0), full_matrices=False)
    return np.asarray(vt[:dim], np.float64)


def make_action_mode(mode: str, ctx: PolicyContext, *, strategies: Sequence[str] | None = None,
                     query_dim: int | None = None, query_basis: str | None = None
                     ) -> ActionMode:
    """The action mode ``mode`` (one of :data:`ACTION_MODES`) for a run's public context."""
    if mode not in ACTION_MODES:
        raise ValueError(f"action_mode must be one of {ACTION_MODES}, got {mode!r}")
    if strategies is not None and mode != "strategy":
        raise ValueError("strategies= goes with action_mode='strategy'")
    if query_dim is not None and mode != "query":
        raise ValueError("query_dim= goes with action_mode='query'")
    if query_basis is not None and mode != "query":
        raise ValueError("query_basis= goes with action_mode='query'")
    if mode == "scores":
        return ScoresMode(ctx)
    if mode == "query":
        return QueryMode(ctx, DEFAULT_QUERY_DIM if query_dim is None else query_dim,
                         "encoder" if query_basis is None else query_basis)
    if mode == "strategy":
        return StrategyMode(ctx, DEFAULT_STRATEGIES if strategies is None else strategies)
    return SlateMode(ctx)
