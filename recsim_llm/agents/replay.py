"""Replay a logged run's slates, request by request, without the original policy."""

from __future__ import annotations

from typing import Any

import numpy as np

from recsim_llm.agents.base import BasePolicy, IntArray
from recsim_llm.analysis.trajectory import Trajectory
from recsim_llm.platform import PlatformView


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

    def rank(self, view: PlatformView) -> IntArray:
        if self.i >= len(self.log):
            raise RuntimeError(f"replay ran past the {len(self.log)} logged requests")
        day, tick, users, slates, _pos = self.log[self.i]
        if (day, tick) != (view.day, view.request) or not np.array_equal(users, view.users):
            raise RuntimeError(f"replay diverged at request {self.i}: log has day {day} tick "
                               f"{tick} with {len(users)} users, simulator day {view.day} tick "
                               f"{view.request} with {len(view.users)} users (other seed or "
                               f"config?)")
        self.i += 1
        return np.asarray(slates, np.int64)

    def params(self) -> dict[str, Any]:
        # The position in the log is what a resumed replay must continue from.
        return {"i": self.i}

    def load_params(self, params: dict[str, Any]) -> None:
        self.i = int(params.get("i", 0))
