"""The policy protocol and its lifecycle: bind, initialise, act, observe, end the day, save.

A policy sees a :class:`~recsim_llm.platform.PlatformView` — the platform's own logs and the
public catalog — and never the users' true interests, persona texts, fatigue, or the items'
appeal and value. Only a policy that declares ``privileged = True`` (the oracles, named so) is
handed the simulator, as ``view.hidden``.

The lifecycle separates what a run tells a policy from what the policy has learned, the way
torch modules do::

    policy.bind(ctx, rng)              # public, static facts of this run; keeps learned params
    policy.load_state_dict(state)      # what was learned elsewhere
    slates = policy.act(view)          # [m, k], one slate per served user
    policy.observe(feedback)           # LoggedFeedback of that request
    policy.on_day_end(view)            # after each day: where a ranker retrains on its logs

``bind`` calls :meth:`BasePolicy.init_params` only when the policy has no parameters yet, so
binding a trained policy to a new run never wipes what it learned.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from recsim_llm.platform import LoggedFeedback, PlatformView, PolicyContext

IntArray = npt.NDArray[np.int64]

SAVE_FORMAT = 1
"""version of the file written by :meth:`BasePolicy.save`"""


class PolicyError(ValueError):
    """A policy was used wrongly: unbound, a state of another policy, a bad file."""


@runtime_checkable
class Policy(Protocol):
    """What the runner and the environments call. ``act`` returns [len(view.users), k]."""

    name: str
    privileged: bool

    def bind(self, ctx: PolicyContext, rng: np.random.Generator) -> None: ...

    def act(self, view: PlatformView) -> IntArray: ...

    def observe(self, feedback: LoggedFeedback) -> None: ...

    def on_day_end(self, view: PlatformView) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class BasePolicy:
    """Shared plumbing: binding, lazy parameter initialisation, state dicts, save/load.

    Subclasses implement :meth:`rank` (or :meth:`act`), and when they learn,
    :meth:`init_params`, :meth:`observe`, and :meth:`params` / :meth:`load_params`.
    """

    name: str = "base"
    privileged: ClassVar[bool] = False
    spec: str = ""
    """the spec the policy was built from (``mmr:0.3``), written into saved files"""

    ctx: PolicyContext
    rng: np.random.Generator

    # ------------------------------------------------------------------ lifecycle
    def bind(self, ctx: PolicyContext, rng: np.random.Generator) -> None:
        """Attach the run's public context and the policy's random stream.

        Parameters are initialised here only if the policy has none yet; a policy whose
        parameters were learned or loaded keeps them (a ``PolicyError`` is raised if they do
        not fit the new context, e.g. another catalog size).
        """
        self.ctx = ctx
        self.rng = rng
        if not self.has_params():
            self.init_params()
        else:
            self.check_params(ctx)

    @property
    def bound(self) -> bool:
        return hasattr(self, "ctx")

    def init_params(self) -> None:
        """(Re)initialise learnable parameters from ``self.ctx`` and ``self.rng``."""
        return None

    def has_params(self) -> bool:
        """Whether learnable parameters exist (stateless policies: always True)."""
        return True

    def check_params(self, ctx: PolicyContext) -> None:
        """Raise :class:`PolicyError` if existing parameters do not fit ``ctx``."""
        return None

    def act(self, view: PlatformView) -> IntArray:
        """One slate per served user, shape [len(view.users), slate_size]."""
        if not self.bound:
            raise PolicyError(f"policy {self.name!r} is not bound to a run: call bind() first")
        if len(view.users) == 0:
            return np.empty((0, view.slate_size), np.int64)
        return self.rank(view)

    def rank(self, view: PlatformView) -> IntArray:
        """Slates of the users in ``view.users``, shape [m, slate_size]."""
        raise NotImplementedError

    def observe(self, feedback: LoggedFeedback) -> None:  # stateless by default
        return None

    def on_day_end(self, view: PlatformView) -> None:
        return None

    # ------------------------------------------------------------------ state
    def params(self) -> dict[str, Any]:
        """Learned parameters (arrays or tensors); empty for stateless policies."""
        return {}

    def load_params(self, params: dict[str, Any]) -> None:
        if params:
            raise PolicyError(f"policy {self.name!r} has no parameters, got {sorted(params)}")

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: learned params and the policy's RNG state."""
        return {"policy": self.name, "params": self.params(),
                "rng": self.rng.bit_generator.state if hasattr(self, "rng") else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or "params" not in state:
            raise PolicyError(f"not a policy state dict: {type(state).__name__}")
        if state.get("policy") != self.name:
            raise PolicyError(f"state dict of a {state.get('policy')!r} policy cannot be loaded "
                              f"into a {self.name!r} policy")
        self.load_params(state["params"])
        if state.get("rng") is not None and hasattr(self, "rng"):
            self.rng.bit_generator.state = state["rng"]

    def save(self, path: str | Path) -> None:
        """Write the spec and the learned parameters (not the RNG: a new run re-seeds it)."""
        data = {"format": SAVE_FORMAT, "policy": self.name, "spec": self.spec or self.name,
                "params": self.params()}
        with open(path, "wb") as fh:
            pickle.dump(data, fh)

    @classmethod
    def load(cls, path: str | Path) -> BasePolicy:
        """A policy rebuilt from its spec with the saved parameters (see :func:`load_policy`)."""
        from recsim_llm.agents.registry import load_policy

        policy = load_policy(path)
        if not isinstance(policy, cls):
            raise PolicyError(f"{path} holds a {policy.name!r} policy, not a {cls.__name__}")
        return policy


def mmr_select(rel: np.ndarray, cand: IntArray, emb: np.ndarray, k: int, alpha: float,
               excluded: npt.NDArray[np.bool_] | None = None) -> IntArray:
    """Maximal Marginal Relevance over per-user candidates (Carbonell & Goldstein, 1998).

    Args:
        rel: [m, C] relevance of the candidates (finite).
        cand: [m, C] candidate item ids.
        emb: [n_items, d] unit-norm item embeddings for the similarity term.
        excluded: [m, C] candidates placed only when nothing else is left.
    Returns:
        [m, k] item ids: slot by slot the argmax of ``alpha * rel - (1 - alpha) * max_sim``,
        ``max_sim`` a candidate's highest cosine to the items already placed.
    """
    m, c = cand.shape
    rows = np.arange(m)
    cemb = emb[cand]                                                   # [m, C, d]
    max_sim = np.zeros((m, c))
    taken = np.zeros((m, c), bool)
    excl = np.zeros((m, c), bool) if excluded is None else excluded
    out = np.empty((m, k), np.int64)
    for j in range(k):  # loop over slots (k), never over users or items
        score = alpha * rel - (1.0 - alpha) * (max_sim if j else 0.0)
        score = np.where(taken, -np.inf, score)
        others_left = (~taken & ~excl).any(axis=1, keepdims=True)
        score = np.where(others_left & excl, -np.inf, score)
        pick = score.argmax(axis=1)
        out[:, j] = cand[rows, pick]
        taken[rows, pick] = True
        sim = np.einsum("mcd,md->mc", cemb, cemb[rows, pick])
        # float64 running maximum: the diversity term in double precision
        max_sim = sim.astype(np.float64) if j == 0 else np.maximum(max_sim, sim)
    return out


def exclusion_mask(exclude: IntArray, a: int) -> npt.NDArray[np.bool_]:
    """[m, a] True where row i's ``exclude`` ids name item j (ids -1 or >= a are ignored; an id
    listed twice is one True)."""
    m = exclude.shape[0]
    mask = np.zeros((m, a), bool)
    ok = (exclude >= 0) & (exclude < a)
    mask[np.broadcast_to(np.arange(m)[:, None], exclude.shape)[ok], exclude[ok]] = True
    return mask


def topk_excluding(scores: npt.NDArray[np.floating], k: int, exclude: IntArray | None = None
                   ) -> IntArray:
    """Indices of the k best scores per row, best first, skipping excluded ids.

    Works on a copy in the scores' own float dtype (a float32 block stays float32).

    Args:
        scores: [m, a] scores of items 0..a-1 (not modified).
        exclude: [m, h] item ids to skip (-1 or ids >= a are ignored); None = nothing.
    Returns:
        [m, k] distinct item ids (excluded ones only if fewer than k others exist).
    """
    scores = np.asarray(scores)
    scores = np.array(scores, dtype=scores.dtype if scores.dtype.kind == "f" else np.float64)
    m, a = scores.shape
    if np.isnan(scores).any():
        r, c = np.argwhere(np.isnan(scores))[0]
        raise ValueError(f"NaN score for user row {r}, item {c}")
    if exclude is not None and exclude.size:
        rows = np.broadcast_to(np.arange(m)[:, None], exclude.shape)
        ok = (exclude >= 0) & (exclude < a)
        # Excluded items sink below every real score but stay distinct from each other.
        scores[rows[ok], exclude[ok]] = -np.inf
    if k < a:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(a), (m, a)).copy()
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1).astype(np.int64)
