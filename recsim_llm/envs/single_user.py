"""One simulated user's lifetime as a Gymnasium environment."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from recsim_llm.config import ScenarioConfig
from recsim_llm.envs.actions import make_action_mode
from recsim_llm.envs.core import env_world
from recsim_llm.envs.observation import observation_space, observe
from recsim_llm.envs.rewards import RewardConfig, reward_config, step_rewards
from recsim_llm.envs.spaces import SlateSpace
from recsim_llm.platform import Platform, PolicyContext
from recsim_llm.simulator import Simulator, SlateError, World
from recsim_llm.text import TextEncoder


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
    ``Box(-1, 1, (2 d + 10,), float32)``, a pure function of the platform's view: the user's
    history encoded by the text encoder — the pooled embeddings (encoder vectors of the item
    texts) of the last 20 clicked items and of the last 50 items shown and not clicked — and
    ten scaled counters: served now, request index in the session, day, days since the last
    visit, gap before the latest visit, recent and lifetime CTR, clicks, recent logged dwell,
    catalog share available. Layout in :mod:`recsim_llm.envs.observation`. The true interest,
    fatigue, satisfaction, appeal and value are never observed.

    ## Action Space
    Chosen with ``action_mode`` (:mod:`recsim_llm.envs.actions`):

    * ``"slate"`` (default): :class:`~recsim_llm.envs.spaces.SlateSpace`, ``slate_size``
      distinct item ids (a ``MultiDiscrete``), used as given. Items not yet arrived, repeated
      ids, wrong shapes or dtypes raise ``ValueError`` naming the user and slot.
    * ``"scores"``: ``Box(-1, 1, (n_items,))``, a score per item; the slate is the k best among
      the items available today (recent clicks skipped).
    * ``"query"``: ``Box(-1, 1, (q,))``, a point in ``query_dim`` (16) fixed directions of the
      encoder's space (the same for every catalog); the slate is the k available items with
      the largest dot product (recent clicks skipped).
    * ``"strategy"``: ``Discrete(len(strategies))``, which named ranker (default greedy,
      dwell, mmr:0.3, popular, random) serves this request.

    ``action_space.sample()`` yields valid actions only (slates among the available items).

    ## Rewards
    ``reward`` is a :class:`~recsim_llm.envs.rewards.RewardConfig` (or its ``kind`` name, or a
    dict of its fields). Default: clicks per request (1 for a click, 0 otherwise). Other base
    kinds: ``"dwell"``, the logged dwell signal of a click (0 otherwise); ``"satisfaction"``,
    the hidden realised satisfaction of the consumed item (``no_click_satisfaction`` when
    nothing is clicked). Long-term terms: ``return_bonus`` is added at the step that ends a
    session when the user comes back on a later day (the absent days pass inside that step),
    ``churn_penalty`` subtracted at the step in which the user churns. ``gamma`` (the discount
    SB3 trains with) is part of the same configuration.

    ## Episode End
    Terminated when the user churns (absent ``churn_after_days`` days in a row); truncated at
    the scenario's horizon.

    ## Arguments
    ``scenario`` (``synthetic``, ``ml-100k``, ``ml-latest-small``, ``goodbooks``), ``config``
    (ScenarioConfig or nested dict), ``encoder`` (TextEncoder; default from the config, cached),
    ``data_path``, ``user`` (fixed user index, else drawn at each reset), ``world_seed``
    (catalog and personas), ``reward``, ``action_mode``, ``strategies``, ``query_dim``, plus
    top-level overrides ``horizon_days``, ``slate_size``, ``embedding_dim``. Unknown keyword
    arguments raise ``TypeError``.

    ## Version History
    * v0: initial release.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"]}  # type: ignore[misc]

    def __init__(self, scenario: str | None = None, config: ScenarioConfig | dict | None = None,
                 encoder: TextEncoder | str | None = None, data_path: str | Path | None = None,
                 user: int | None = None, world_seed: int = 0,
                 reward: RewardConfig | str | dict[str, Any] = "click",
                 action_mode: str = "slate", strategies: list[str] | tuple[str, ...] | None = None,
                 query_dim: int | None = None, horizon_days: int | None = None,
                 slate_size: int | None = None, embedding_dim: int | None = None,
                 world: World | None = None, render_mode: str | None = None) -> None:
        self.reward = reward_config(reward)
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.world = env_world(world=world, config=config, scenario=scenario, encoder=encoder,
                               data_path=data_path, world_seed=world_seed,
                               horizon_days=horizon_days, slate_size=slate_size,
                               embedding_dim=embedding_dim)
        self.cfg, self.reward_kind = self.world.cfg, self.reward.kind
        self.render_mode = render_mode
        if user is not None and not 0 <= user < self.world.n_users:
            raise ValueError(f"user must be in [0, {self.world.n_users}), got {user}")
        self.fixed_user = user
        self.action_mode = action_mode
        self.mode = make_action_mode(action_mode, PolicyContext.of(user_world(self.world, 0)),
                                     strategies=strategies, query_dim=query_dim)
        self.observation_space = observation_space(self.world.dim)
        self.action_space = self.mode.space()
        self.platform: Platform | None = None
        self.user = -1

    @property
    def sim(self) -> Simulator | None:
        return None if self.platform is None else self.platform.sim

    def reset(self, *, seed: int | None = None, options: dict | None = None
              ) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if seed is not None:
            self.action_space.seed(seed)
        user = (options or {}).get("user", self.fixed_user)
        self.user = int(self.np_random.integers(self.world.n_users)) if user is None else int(user)
        if not 0 <= self.user < self.world.n_users:  # -1 would silently pick the last user
            raise ValueError(f"user must be in [0, {self.world.n_users}), got {user}")
        sim_seed = int(self.np_random.integers(2**31 - 1))
        self.platform = Platform(user_world(self.world, self.user), sim_seed)
        self.platform.reset()
        self.mode.bind(sim_seed)
        self._sync_space()
        return self._observe(), self._info()

    def _sync_space(self) -> None:
        assert self.platform is not None
        if isinstance(self.action_space, SlateSpace):
            self.action_space.n_available = self.platform.sim.n_available

    def _observe(self) -> np.ndarray:
        assert self.platform is not None
        return observe(self.platform.view(), np.zeros(1, np.int64))[0]

    def _info(self, fb: Any = None, logged: Any = None) -> dict[str, Any]:
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
                        # 0.0 without a click (NaN would make same-seed infos compare unequal)
                        dwell=float(np.nan_to_num(logged.dwell[0], nan=0.0)),
                        slate=np.asarray(fb.slates[0]).copy(),
                        clicked_title=self.world.catalog.titles[item] if item >= 0 else "",
                        session_ended=bool(fb.session_ended[0]))
        return info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self.platform is None:
            raise RuntimeError("call reset() before step()")
        if self.platform.done or self.platform.sim.state.churned[0]:
            raise RuntimeError("the episode has ended; call reset()")
        view = self.platform.view()
        act = np.asarray(action)
        if self.action_mode == "slate" and act.shape != (self.cfg.slate_size,):
            raise SlateError(f"slate of user {self.user} must have shape "
                             f"({self.cfg.slate_size},), got {act.shape}")
        try:
            slates = self.mode.to_slates(act[None, ...], view)
            fb, logged = self.platform.serve(slates)
            self.mode.observe(logged)
        except SlateError as err:
            raise SlateError(str(err).replace("user 0", f"user {self.user}")) from None
        terminated = bool(self.platform.sim.state.churned[0])
        reward = float(step_rewards(self.reward, fb, logged, self.platform,
                                    np.array([terminated]))[0])
        truncated = bool(self.platform.done and not terminated)
        self._sync_space()
        return self._observe(), reward, terminated, truncated, self._info(fb, logged)

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self.platform is None:
            return None
        st = self.platform.sim.state
        return (f"user {self.user} day {self.platform.sim.day} request {int(st.requests[0])} "
                f"clicks {int(self.platform.log.clicks[0])} "
                f"satisfaction {st.satisfaction[0]:.3f}")
