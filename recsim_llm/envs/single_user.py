"""One simulated user's lifetime as a Gymnasium environment."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from recsim_llm.config import ScenarioConfig
from recsim_llm.envs.observation import observation_space, observe
from recsim_llm.envs.spaces import SlateSpace
from recsim_llm.history import PlatformHistory
from recsim_llm.scenarios import build_world
from recsim_llm.simulator import Simulator, SlateError, World
from recsim_llm.text import TextEncoder

REWARDS = ("click", "satisfaction")


def make_config(config: ScenarioConfig | dict | None, scenario: str | None,
                **overrides: Any) -> ScenarioConfig:
    """A ScenarioConfig from a config object or nested dict, with top-level overrides."""
    if config is None:
        base = ScenarioConfig.defaults_for(scenario or "synthetic").to_dict()
    elif isinstance(config, ScenarioConfig):
        base = config.to_dict()
    elif isinstance(config, dict):
        base = ScenarioConfig.defaults_for(str(config.get("name", scenario or "synthetic"))
                                           ).to_dict()
        for k, v in config.items():
            if isinstance(v, dict) and isinstance(base.get(k), dict):
                base[k] = {**base[k], **v}
            else:
                base[k] = v
    else:
        raise TypeError(f"config must be a ScenarioConfig, a dict or None, got {type(config)}")
    if scenario is not None:
        base["name"] = scenario
    base.update({k: v for k, v in overrides.items() if v is not None})
    return ScenarioConfig.from_dict(base)


def user_world(world: World, user: int) -> World:
    """The world restricted to one user (catalog and embeddings shared)."""
    idx = np.array([user])
    personas = world.personas.subset(idx)
    if personas.arrival_day is not None:
        personas = dataclasses.replace(personas, arrival_day=np.zeros(1, np.int64))
    assert world.interest_logw is not None and world.hook is not None
    return World(cfg=world.cfg, catalog=world.catalog, personas=personas,
                 item_emb=world.item_emb, interest0=world.interest0[idx],
                 dislike=world.dislike[idx], encoder_identity=world.encoder_identity,
                 interest_logw=world.interest_logw[idx], hook=world.hook[idx])


class SingleUserEnv(gym.Env):
    """## Description
    One user with natural-language likes and dislikes, over their whole lifetime on a
    platform: days of sessions of requests, interest drift toward what they consume, fatigue,
    satisfaction, absent days and permanent churn (``docs/user_model.md``). Each step the agent
    recommends a slate; the user clicks one item or nothing through a multinomial-logit choice
    driven by text affinity from a transformer encoder. Days on which the user does not come
    back pass inside a step.

    ## Observation Space
    ``Box(-1, 1, (2 d + 6,), float32)``: the user's click profile and last clicked item (item
    embeddings) and six scaled counters; see :mod:`recsim_llm.envs.observation`. The true
    interest, fatigue and item quality are never observed.

    ## Action Space
    :class:`~recsim_llm.envs.spaces.SlateSpace`: ``slate_size`` distinct item ids among the
    ``n_items`` of the catalog (a ``MultiDiscrete``). Items not yet arrived, repeated ids, wrong
    shapes or dtypes raise ``ValueError`` naming the user and slot.

    ## Rewards
    ``reward="click"``: 1 for a click, 0 otherwise. ``reward="satisfaction"``: the realised
    satisfaction of the consumed item (``no_click_satisfaction`` when nothing is clicked).

    ## Episode End
    Terminated when the user churns (absent ``churn_after_days`` days in a row); truncated at
    the scenario's horizon.

    ## Arguments
    ``scenario`` (``synthetic``, ``ml-100k``, ``ml-latest-small``), ``config`` (ScenarioConfig or
    nested dict), ``encoder`` (TextEncoder; default from the config, cached), ``data_path``,
    ``user`` (fixed user index, else drawn at each reset), ``world_seed`` (catalog and
    personas), ``reward``, plus top-level overrides ``horizon_days``, ``slate_size``,
    ``embedding_dim``.

    ## Version History
    * v0: initial release.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"]}

    def __init__(self, scenario: str | None = None, config: ScenarioConfig | dict | None = None,
                 encoder: TextEncoder | str | None = None, data_path: str | Path | None = None,
                 user: int | None = None, world_seed: int = 0, reward: str = "click",
                 horizon_days: int | None = None, slate_size: int | None = None,
                 embedding_dim: int | None = None, world: World | None = None,
                 render_mode: str | None = None) -> None:
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        if world is None:
            enc = encoder if not isinstance(encoder, str) else None
            cfg = make_config(config, scenario, horizon_days=horizon_days, slate_size=slate_size,
                              embedding_dim=embedding_dim,
                              encoder=encoder if isinstance(encoder, str) else None)
            world = build_world(cfg, world_seed, encoder=enc, data_path=data_path)
        self.world, self.cfg, self.reward_kind = world, world.cfg, reward
        self.render_mode = render_mode
        if user is not None and not 0 <= user < world.n_users:
            raise ValueError(f"user must be in [0, {world.n_users}), got {user}")
        self.fixed_user = user
        self.observation_space = observation_space(world.dim)
        self.action_space = SlateSpace(world.n_items, self.cfg.slate_size)
        self.sim: Simulator | None = None
        self.user = -1

    def reset(self, *, seed: int | None = None, options: dict | None = None
              ) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        user = (options or {}).get("user", self.fixed_user)
        self.user = int(self.np_random.integers(self.world.n_users)) if user is None else int(user)
        if not 0 <= self.user < self.world.n_users:  # -1 would silently pick the last user
            raise ValueError(f"user must be in [0, {self.world.n_users}), got {user}")
        self.sim = Simulator(user_world(self.world, self.user),
                             int(self.np_random.integers(2**31 - 1)))
        self.history = PlatformHistory(1, self.world.item_emb)
        self.sim.on_request.append(self.history.update)
        self.sim.reset()
        return observe(self.sim, self.history)[0], self._info()

    def _info(self, fb: Any = None) -> dict[str, Any]:
        sim = self.sim
        assert sim is not None
        info: dict[str, Any] = {"user": self.user,
                                "user_id": str(self.world.personas.user_ids[self.user]),
                                "day": sim.day, "n_available": sim.n_available,
                                "days_absent": int(sim.state.days_absent[0])}
        if fb is not None:
            item = int(fb.items[0])
            info.update(clicked_item=item, position=int(fb.positions[0]),
                        satisfaction=float(fb.satisfaction[0]),
                        clicked_title=self.world.catalog.titles[item] if item >= 0 else "",
                        session_ended=bool(fb.session_ended[0]))
        return info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self.sim is None:
            raise RuntimeError("call reset() before step()")
        if self.sim.done or self.sim.state.churned[0]:
            raise RuntimeError("the episode has ended; call reset()")
        slate = np.asarray(action)
        if slate.shape != (self.cfg.slate_size,):
            raise SlateError(f"slate of user {self.user} must have shape "
                             f"({self.cfg.slate_size},), got {slate.shape}")
        try:
            fb = self.sim.step(slate[None, :])
        except SlateError as err:
            raise SlateError(str(err).replace("user 0", f"user {self.user}")) from None
        clicked = bool(fb.clicked[0])
        if self.reward_kind == "click":
            reward = float(clicked)
        else:
            reward = float(fb.satisfaction[0])
        terminated = bool(self.sim.state.churned[0])
        truncated = bool(self.sim.done and not terminated)
        obs = observe(self.sim, self.history)[0]
        return obs, reward, terminated, truncated, self._info(fb)

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self.sim is None:
            return None
        st = self.sim.state
        return (f"user {self.user} day {self.sim.day} request {int(st.requests[0])} "
                f"clicks {int(self.history.clicks[0])} satisfaction {st.satisfaction[0]:.3f}")
