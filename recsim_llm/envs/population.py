"""A whole population of simulated users as one ``gymnasium.vector.VectorEnv``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from recsim_llm.config import ScenarioConfig
from recsim_llm.envs.observation import observation_space, observe, refresh
from recsim_llm.envs.single_user import REWARDS, make_config
from recsim_llm.envs.spaces import SlateSpace
from recsim_llm.history import PlatformHistory
from recsim_llm.scenarios import build_world
from recsim_llm.simulator import Feedback, Simulator, World
from recsim_llm.text import TextEncoder


class PopulationEnv(VectorEnv):
    """## Description
    ``num_envs`` = the scenario's users, stepped together as array operations: one step serves
    one request to every user who is in a session. Users who are not in a session (they did not
    come back today, their session ended, or they churned) are *masked*, not removed: shapes stay
    static, their slate rows are ignored and their rewards are 0. Days, sessions, return visits
    and churn advance inside ``step``. The same user model as ``SingleUserEnv``.

    ## Observation Space
    ``Box(-1, 1, (num_envs, 2 d + 6), float32)``, one row per user as in ``SingleUserEnv``.

    ## Action Space
    ``SlateSpace(n_items, slate_size, n_slates=num_envs)``: a slate of distinct ids per user.
    Only rows of in-session users are checked and used; a bad row raises ``ValueError`` naming
    the user and the slot.

    ## Rewards
    Per user: a click (1/0) or the realised satisfaction (``reward="satisfaction"``); 0 for
    masked users.

    ## Episode End
    ``terminated[u]`` is True once user u has churned (and stays True: churned users never come
    back). ``truncated`` is True for every user at the horizon. There is no autoreset
    (``AutoresetMode.DISABLED``): call ``reset()`` to start a new population run.

    ## Info
    ``in_session`` (mask of users to serve at the *next* step), ``served`` (mask of users served
    by this step), ``churned``, ``day``, ``n_available``, ``clicked_item`` (-1 = none).

    ## Version History
    * v0: initial release.
    """

    metadata: ClassVar[dict[str, Any]] = {"autoreset_mode": AutoresetMode.DISABLED,
                                          "render_modes": []}

    def __init__(self, num_envs: int | None = None, scenario: str | None = None,
                 config: ScenarioConfig | dict | None = None,
                 encoder: TextEncoder | str | None = None, data_path: str | Path | None = None,
                 world_seed: int = 0, reward: str = "click", horizon_days: int | None = None,
                 slate_size: int | None = None, embedding_dim: int | None = None,
                 world: World | None = None, **_: Any) -> None:
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
        if world is None:
            cfg = make_config(config, scenario, horizon_days=horizon_days, slate_size=slate_size,
                              embedding_dim=embedding_dim,
                              encoder=encoder if isinstance(encoder, str) else None)
            if num_envs is not None:
                pop = {**cfg.to_dict()["population"], "n_users": int(num_envs)}
                cfg = ScenarioConfig.from_dict({**cfg.to_dict(), "population": pop})
            world = build_world(cfg, world_seed, data_path=data_path,
                                encoder=None if isinstance(encoder, str) else encoder)
        self.world, self.cfg, self.reward_kind = world, world.cfg, reward
        self.num_envs = world.n_users
        self.single_observation_space = observation_space(world.dim)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.single_action_space = SlateSpace(world.n_items, self.cfg.slate_size)
        self.action_space = SlateSpace(world.n_items, self.cfg.slate_size, n_slates=self.num_envs)
        self.sim: Simulator | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self.action_space.seed(seed)
        self.sim = Simulator(self.world, int(self.np_random.integers(2**31 - 1)))
        self.history = PlatformHistory(self.num_envs, self.world.item_emb)
        self.sim.on_request.append(self.history.update)
        self.sim.reset()
        self._obs = observe(self.sim, self.history)
        return self._obs.copy(), self._info(None)

    def _info(self, fb: Feedback | None) -> dict[str, Any]:
        sim = self.sim
        assert sim is not None
        n = self.num_envs
        served = np.zeros(n, bool)
        clicked_item = np.full(n, -1, np.int64)
        if fb is not None:
            served[fb.users] = True
            clicked_item[fb.users] = fb.items
        return {"in_session": sim.state.in_session.copy(), "served": served,
                "churned": sim.state.churned.copy(), "day": np.full(n, sim.day),
                "n_available": np.full(n, sim.n_available), "clicked_item": clicked_item}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                 dict[str, Any]]:
        if self.sim is None:
            raise RuntimeError("call reset() before step()")
        if self.sim.done:
            raise RuntimeError("the population reached its horizon; call reset()")
        fb = self.sim.step(actions)
        rewards = np.zeros(self.num_envs, np.float64)
        if self.reward_kind == "click":
            rewards[fb.users] = fb.clicked
        else:
            rewards[fb.users] = fb.satisfaction
        terminated = self.sim.state.churned.copy()
        truncated = np.full(self.num_envs, self.sim.done) & ~terminated
        refresh(self._obs, self.sim, self.history, fb.users)
        return self._obs.copy(), rewards, terminated, truncated, self._info(fb)
