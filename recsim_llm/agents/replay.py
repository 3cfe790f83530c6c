"""Replay a logged run's slates, request by request, without the original policy."""

from __future__ import annotations

from typing import Any

import numpy as np

from recsim_llm.agents.base import BasePolicy, IntArray, Observation
from recsim_llm.analysis.trajectory import Trajectory


class ReplayPolicy(BasePolicy):
    """Serves exactly the slates of a trajectory logged at level ``request``.

    On the same world and seed the simulator then reproduces the logged run bit for bit
    (common random numbers). If the users in session differ from the log — another seed, world
    or config — it raises instead of guessing.
    """

    name = "replay"

    def __init__(self, trajectory: Trajectory) -> None:
        self.log = trajectory.requests()
        self.i = 0

    def act(self, obs: Observation) -> IntArray:
        if self.i >= len(self.log):
            raise RuntimeError(f"replay ran past the {len(self.log)} logged requests")
        day, tick, users, slates, _pos = self.log[self.i]
        if (day, tick) != (obs.day, obs.tick) or not np.array_equal(users, obs.users):
            raise RuntimeError(f"replay diverged at request {self.i}: log has day {day} tick "
                               f"{tick} with {len(users)} users, simulator day {obs.day} tick "
                               f"{obs.tick} with {len(obs.users)} users (other seed or config?)")
        self.i += 1
        out = np.tile(np.arange(self.ctx.slate_size, dtype=np.int64), (self.ctx.n_users, 1))
        out[users] = slates
        return out

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "i": self.i}

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        self.i = int(state["i"])
