"""Personas: each user's likes and dislikes, written in natural language."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Personas:
    """Text preferences of a population, as parallel lists.

    The simulator encodes ``likes`` into the initial interest p0 and ``dislikes`` into the static
    dislike vector q. ``groups`` holds public group labels (taste group, gender, age band) used by
    the fairness metrics; the policy may see them, never the texts.
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

    def __post_init__(self) -> None:
        n = len(self.user_ids)
        if n == 0:
            raise ValueError("a population needs at least one persona")
        if len(self.likes) != n or len(self.dislikes) != n:
            raise ValueError(f"Personas.likes/dislikes must have one entry per user ({n})")
        for k, v in self.groups.items():
            if len(v) != n:
                raise ValueError(f"Personas.groups[{k!r}] has length {len(v)}, expected {n}")
        if self.arrival_day is not None and len(self.arrival_day) != n:
            raise ValueError(f"Personas.arrival_day must have length {n}")

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

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
            arrival_day=None if self.arrival_day is None else self.arrival_day[idx])
