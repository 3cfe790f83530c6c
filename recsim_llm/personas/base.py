"""Personas: each user's likes and dislikes, written in natural language."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Personas:
    """Text preferences of a population, as parallel lists.

    The simulator encodes each of a persona's ``interests`` (one text per stated interest or
    liked title; default: the whole ``likes`` text as one) into an interest vector p0_k, pooled by
    a soft maximum (``docs/user_model.md``), and ``dislikes`` into the static dislike vector q.
    ``groups`` holds public group labels (taste group, gender, age band) used by the fairness
    metrics; the policy may see them, never the texts, nor ``hook``.
    """

    user_ids: npt.NDArray[np.str_]
    """[n] external user ids (as strings)"""
    likes: list[str]
    """[n] what the user likes, in natural language"""
    dislikes: list[str]
    """[n] what the user dislikes, in natural language ('' if nothing)"""
    groups: dict[str, npt.NDArray[np.str_]] = field(default_factory=dict)
    """label name -> [n] label per user, e.g. {'taste': ..., 'gender': ..., 'age': ...}"""
    arrival_day: npt.NDArray[np.int64] | None = None
    """[n] day each user joins (None = all on day 0)"""
    interests: list[list[str]] | None = None
    """[n] per user, the texts of their separate interests (each non-empty); None = one interest
    per user, the ``likes`` text"""
    hook: npt.NDArray[np.float64] | None = None
    """[n] relative hook susceptibility g_u >= 0 (mean about 1); the click utility weighs item
    appeal by ``h_u = ChoiceConfig.w_appeal * g_u``. None = 1 for everyone"""
    history: list[npt.NDArray[np.int64]] | None = None
    """[n] per user, the catalog indices of the items the platform logged them consuming before
    the run (MovieLens: the training-period ratings). Platform knowledge, not hidden state: with
    ``catalog.consume_once`` the platform never re-recommends them. None = no history"""

    def __post_init__(self) -> None:
        n = len(self.user_ids)
        if n == 0:
            raise ValueError("a population needs at least one persona")
        if len(self.likes) != n or len(self.dislikes) != n:
            raise ValueError(f"Personas.likes/dislikes must have one entry per user ({n})")
        if self.interests is not None and len(self.interests) != n:
            raise ValueError(f"Personas.interests must have one list per user ({n})")
        for u in range(n):  # validation once per population, not in a hot path
            texts = self.interests[u] if self.interests is not None else [self.likes[u]]
            if not texts or any(not str(t).strip() for t in texts):
                raise ValueError(
                    f"persona {str(self.user_ids[u])!r} (row {u}) likes nothing: every persona "
                    f"needs a non-empty likes text (and non-empty interests) to encode")
        if self.hook is not None:
            h = np.asarray(self.hook, np.float64)
            if h.shape != (n,) or not (np.isfinite(h).all() and (h >= 0).all()):
                raise ValueError(f"Personas.hook must be {n} finite values >= 0")
        for k, v in self.groups.items():
            if len(v) != n:
                raise ValueError(f"Personas.groups[{k!r}] has length {len(v)}, expected {n}")
        if self.history is not None and len(self.history) != n:
            raise ValueError(f"Personas.history must have one item array per user ({n})")
        if self.arrival_day is not None and len(self.arrival_day) != n:
            raise ValueError(f"Personas.arrival_day must have length {n}")

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    def interest_texts(self, u: int) -> list[str]:
        """The texts of user ``u``'s interests (one per interest)."""
        return list(self.interests[u]) if self.interests is not None else [self.likes[u]]

    def text(self, u: int) -> str:
        """The persona of user ``u`` as one paragraph."""
        s = f"Likes: {self.likes[u]}"
        return s + (f" Dislikes: {self.dislikes[u]}" if self.dislikes[u] else "")

    def subset(self, index: npt.NDArray[np.int64]) -> Personas:
        idx = np.asarray(index)
        return Personas(
            user_ids=self.user_ids[idx], likes=[self.likes[i] for i in idx],
            dislikes=[self.dislikes[i] for i in idx],
            groups={k: np.asarray(v)[idx] for k, v in self.groups.items()},
            arrival_day=None if self.arrival_day is None else self.arrival_day[idx],
            interests=None if self.interests is None else [self.interests[i] for i in idx],
            hook=None if self.hook is None else np.asarray(self.hook)[idx],
            history=None if self.history is None else [self.history[i] for i in idx])
