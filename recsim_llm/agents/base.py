"""The policy protocol: observe what a platform may know, act with a slate per user.

A policy never sees the users' true interest, persona text, fatigue or item quality. Only a
policy that declares ``privileged = True`` (the ``oracle`` upper bound) is handed the simulator.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from recsim_llm.catalog.base import Catalog
from recsim_llm.history import PlatformHistory

if TYPE_CHECKING:
    from recsim_llm.simulator import Feedback, Simulator

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PolicyContext:
    """Static, public facts a policy gets once, at :meth:`Policy.reset`."""

    n_users: int
    slate_size: int
    horizon_days: int
    catalog: Catalog
    """public item data (a policy must not read ``catalog.quality``, the hidden quality)"""
    item_emb: npt.NDArray[np.float32]
    """[n_items, d] embeddings of the public item texts"""
    user_groups: dict[str, np.ndarray]
    """public group labels per user"""


@dataclass(frozen=True)
class Observation:
    """What the platform knows at one request."""

    day: int
    tick: int
    users: IntArray
    """[m] users in a session now: their rows of the returned slates are used"""
    n_available: int
    """items [0, n_available) may be recommended"""
    history: PlatformHistory
    simulator: Simulator | None = None
    """only for ``privileged`` policies (the oracle); None otherwise"""


@runtime_checkable
class Policy(Protocol):
    """``act`` returns slates [n_users, slate_size]; rows not in ``obs.users`` are ignored."""

    name: str
    privileged: bool

    def reset(self, ctx: PolicyContext, rng: np.random.Generator) -> None: ...

    def act(self, obs: Observation) -> IntArray: ...

    def observe(self, feedback: Feedback) -> None: ...

    def save(self, path: str | Path) -> None: ...

    def load(self, path: str | Path) -> None: ...


class BasePolicy:
    """Shared plumbing: context, RNG, placeholder rows, pickled save/load of ``_state``."""

    name = "base"
    privileged = False

    def reset(self, ctx: PolicyContext, rng: np.random.Generator) -> None:
        self.ctx = ctx
        self.rng = rng

    def observe(self, feedback: Feedback) -> None:  # stateless by default
        return None

    def act(self, obs: Observation) -> IntArray:
        slates = np.tile(np.arange(self.ctx.slate_size, dtype=np.int64), (self.ctx.n_users, 1))
        if len(obs.users):
            slates[obs.users] = self.rank(obs)
        return slates

    def rank(self, obs: Observation) -> IntArray:
        """Slates of the users in ``obs.users``, shape [m, slate_size]."""
        raise NotImplementedError

    def _state(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]

    def save(self, path: str | Path) -> None:
        with open(path, "wb") as fh:
            pickle.dump({"policy": self.name, "state": self._state()}, fh)

    def load(self, path: str | Path) -> None:
        with open(path, "rb") as fh:
            data = pickle.load(fh)
        if data.get("policy") != self.name:
            raise ValueError(f"{path} holds a {data.get('policy')!r} policy, not {self.name!r}")
        self._set_state(data["state"])


def topk_excluding(scores: npt.NDArray[np.floating], k: int, exclude: IntArray | None = None
                   ) -> IntArray:
    """Indices of the k best scores per row, best first, skipping excluded ids.

    Args:
        scores: [m, a] scores of items 0..a-1.
        exclude: [m, h] item ids to skip (-1 or ids >= a are ignored); None = nothing.
    Returns:
        [m, k] distinct item ids (excluded ones only if fewer than k others exist).
    """
    scores = np.array(scores, dtype=np.float64, copy=True)
    if np.isnan(scores).any():
        r, c = np.argwhere(np.isnan(scores))[0]
        raise ValueError(f"NaN score for user row {r}, item {c}")
    m, a = scores.shape
    if exclude is not None and exclude.size:
        rows = np.broadcast_to(np.arange(m)[:, None], exclude.shape)
        ok = (exclude >= 0) & (exclude < a)
        scores[rows[ok], exclude[ok]] = -np.inf
    if k < a:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(a), (m, a)).copy()
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1).astype(np.int64)
