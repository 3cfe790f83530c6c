"""A whole population of simulated users as one ``gymnasium.vector.VectorEnv``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from recsim_llm.config import ScenarioConfig
from recsim_llm.envs.actions import make_action_mode
from recsim_llm.envs.core import env_world
from recsim_llm.envs.observation import (
    DAYS_SCALE,
    counter_rows,
    observation_space,
    observe,
    refresh,
)
from recsim_llm.envs.rewards import RewardConfig, reward_config, step_rewards
from recsim_llm.envs.spaces import SlateSpace
from recsim_llm.platform import EMA_RATE, LoggedFeedback, Platform, PolicyContext
from recsim_llm.simulator import World
from recsim_llm.text import TextEncoder


class PopulationEnv(VectorEnv):
    """## Description
    ``num_envs`` = the scenario's users, stepped together as array operations: one step serves
    one request to every user who is in a session. Users who are not in a session (they did not
    come back today, their session ended, or they churned) are *masked*, not removed: shapes stay
    static, their action rows are ignored and their rewards are 0. Days, sessions, return visits
    and churn advance inside ``step``. The same user model and the same stepping core
    (:class:`~recsim_llm.platform.Platform`) as ``SingleUserEnv`` and the runner.

    ## Observation Space
    ``Box(-1, 1, (num_envs, 2 d + 10), float32)``, one row per user as in ``SingleUserEnv``: a
    pure function of the platform view (:mod:`recsim_llm.envs.observation`) — pooled
    text-encoder embeddings of the user's recent clicked and recent skipped items, and ten
    counters (served now, session request index, day, days since the last visit, visit gap,
    recent and lifetime CTR, clicks, recent dwell, catalog share). After a step only the
    served users' pooled blocks are recomputed, and within a day only the counters of the users
    served then or now (a new day recomputes everyone's).

    ## Action Space
    One row per user of the mode's single-user space (:mod:`recsim_llm.envs.actions`):
    ``action_mode="slate"`` (default): ``SlateSpace(n_items, k, n_slates=num_envs)``, strict;
    ``"scores"``: ``Box(-1, 1, (num_envs, n_items))``; ``"query"``:
    ``Box(-1, 1, (num_envs, q))``; ``"strategy"``: ``MultiDiscrete([n_strategies] * num_envs)``.
    Only rows of in-session users are used; a bad slate row raises ``ValueError`` naming the
    user and the slot. ``action_space.sample()`` yields valid actions only.

    ## Rewards
    ``reward``: a :class:`~recsim_llm.envs.rewards.RewardConfig`, its kind name or a dict.
    Per served user the base reward: a click (default ``"click"``), the logged dwell signal of
    a click (``"dwell"``) or the hidden realised satisfaction (``"satisfaction"``); 0 for
    masked users. Long-term terms: ``return_bonus`` for each user whose session at the next
    step is on a later day than their previous visit (paid at the step at whose end the day
    turned), ``-churn_penalty`` at the step in which a user churns.

    ## Episode End
    ``terminated[u]`` is True exactly once, at the step in which user u churns; the user then
    stays masked (rewards 0, actions ignored). ``truncated`` is True at the horizon for every
    user who has not churned. Each user is one episode (``RecordEpisodeStatistics`` counts
    ``num_envs`` episodes). There is no autoreset (``AutoresetMode.DISABLED``): stepping past
    the horizon raises; call ``reset()`` to start a new population run. For SB3, which
    needs autoreset, use :class:`recsim_llm.envs.sb3.PopulationVecEnv`.

    ## Info
    Arrays over users, each with its ``_key`` mask (Gymnasium's vector convention):
    ``in_session`` (users to serve at the *next* step), ``served`` (users served by this step),
    ``churned``, ``day``, ``n_available``, and ``clicked_item`` (-1 = none; masked to served
    users).

    ## Arguments
    ``num_envs`` (users), ``scenario``, ``config`` (``ScenarioConfig`` or nested dict),
    ``encoder``, ``data_path``, ``world_seed``, ``reward``, ``action_mode``, ``strategies``
    (strategy mode), ``query_dim`` (query mode), ``horizon_days``, ``slate_size``,
    ``embedding_dim``, ``world`` (a prebuilt world), ``copy`` (default True: ``reset`` and
    ``step`` return a copy of the [num_envs, 2 d + 10] observations, as Gymnasium's vector envs
    do; False returns the env's own buffer, updated in place by the next step, which saves a
    copy of every row per step). Unknown keyword arguments raise ``TypeError``.

    ## Version History
    * v0: initial release.
    """

    metadata: ClassVar[dict[str, Any]] = {  # type: ignore[misc]  # gymnasium's convention
        "autoreset_mode": AutoresetMode.DISABLED, "render_modes": []}

    def __init__(self, num_envs: int | None = None, scenario: str | None = None,
                 config: ScenarioConfig | dict | None = None,
                 encoder: TextEncoder | str | None = None, data_path: str | Path | None = None,
                 world_seed: int = 0,
                 reward: RewardConfig | str | dict[str, Any] = "click", action_mode: str = "slate",
                 strategies: list[str] | tuple[str, ...] | None = None,
                 query_dim: int | None = None, horizon_days: int | None = None,
                 slate_size: int | None = None, embedding_dim: int | None = None,
                 world: World | None = None, render_mode: str | None = None,
                 copy: bool = True) -> None:
        self.copy = bool(copy)
        """whether ``reset``/``step`` return a copy of the observations (Gymnasium's vector
        convention); False returns the env's own buffer, which the next step overwrites"""
        self.reward = reward_config(reward)
        if render_mode is not None:
            raise ValueError(f"PopulationEnv has no render modes, got {render_mode!r}")
        self.world = env_world(world=world, config=config, scenario=scenario, encoder=encoder,
                               data_path=data_path, world_seed=world_seed, n_users=num_envs,
                               horizon_days=horizon_days, slate_size=slate_size,
                               embedding_dim=embedding_dim)
        self.cfg, self.reward_kind = self.world.cfg, self.reward.kind
        self.num_envs = self.world.n_users
        self.platform: Platform | None = None
        self.mode = make_action_mode(action_mode, PolicyContext.of(self.world),
                                     strategies=strategies, query_dim=query_dim)
        self.action_mode = action_mode
        self.single_observation_space = observation_space(self.world.dim)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.single_action_space = self.mode.space()
        if isinstance(self.single_action_space, SlateSpace):
            self.action_space = SlateSpace(self.world.n_items, self.cfg.slate_size,
                                           n_slates=self.num_envs)
        else:
            self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._churned = np.zeros(self.num_envs, bool)
        self.last_logged: LoggedFeedback | None = None
        """what the platform logged at the last step (read by the training callbacks)"""

    @property
    def sim(self) -> Any:
        return None if self.platform is None else self.platform.sim

    def reset(self, *, seed: int | None = None, options: dict | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self.action_space.seed(seed)
        sim_seed = int(self.np_random.integers(2**31 - 1))
        self.platform = Platform(self.world, sim_seed)
        self.platform.reset()
        self.mode.bind(sim_seed)
        self._churned = self.platform.sim.state.churned.copy()
        self._sync_spaces()
        view = self.platform.view()
        self._obs = observe(view, np.arange(self.num_envs))
        self._counters_at = (view.day, view.n_available)
        return self._out(self._obs), self._info(None)

    def _out(self, obs: np.ndarray) -> np.ndarray:
        return obs.copy() if self.copy else obs

    def _sync_spaces(self) -> None:
        assert self.platform is not None
        for space in (self.action_space, self.single_action_space):
            if isinstance(space, SlateSpace):
                space.n_available = self.platform.sim.n_available

    def _info(self, served_users: np.ndarray | None, clicked: np.ndarray | None = None
              ) -> dict[str, Any]:
        assert self.platform is not None
        sim, n = self.platform.sim, self.num_envs
        served = np.zeros(n, bool)
        clicked_item = np.full(n, -1, np.int64)
        if served_users is not None and clicked is not None:
            served[served_users] = True
            clicked_item[served_users] = clicked
        every = np.ones(n, bool)
        return {"in_session": sim.state.in_session.copy(), "_in_session": every,
                "served": served, "_served": every,
                "churned": sim.state.churned.copy(), "_churned": every,
                "day": np.full(n, sim.day), "_day": every,
                "n_available": np.full(n, sim.n_available), "_n_available": every,
                "clicked_item": clicked_item, "_clicked_item": served}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                 dict[str, Any]]:
        if self.platform is None:
            raise RuntimeError("call reset() before step()")
        if self.platform.done:
            raise RuntimeError("the population reached its horizon; call reset()")
        acts = np.asarray(actions)
        if acts.ndim == 0 or acts.shape[0] != self.num_envs:
            raise ValueError(f"actions must have one row per user ({self.num_envs}), got shape "
                             f"{acts.shape}")
        view = self.platform.view()
        slates = self.mode.to_slates(acts[view.users], view)
        fb, logged = self.platform.serve(slates)
        self.mode.observe(logged)
        churned = self.platform.sim.state.churned
        terminated = churned & ~self._churned          # True once, at the churning step
        rewards = step_rewards(self.reward, fb, logged, self.platform, terminated)
        self.last_logged = logged
        self._churned = churned.copy()
        truncated = np.full(self.num_envs, self.platform.done) & ~churned
        self._sync_spaces()
        self._refresh(fb.users)
        return (self._out(self._obs), rewards, terminated, truncated,
                self._info(fb.users, logged.items))

    def _refresh(self, changed: np.ndarray) -> None:
        """Observation rows after a step that served ``changed``: ``observation.refresh``, or
        under ``simulator.kernel = "numba"`` the pooled blocks of the served rows and the
        counters of the rows that can have moved, each in one numba pass (the same content to
        float32 rounding)."""
        assert self.platform is not None
        view = self.platform.view()
        counters = counter_rows(view, changed, self._counters_at)
        self._counters_at = (view.day, view.n_available)
        if self.platform.sim.kernel != "numba":
            refresh(self._obs, view, changed, counters)
            return
        from recsim_llm.kernels.observation import refresh_counters, refresh_pooled

        if len(changed):
            refresh_pooled(self._obs, view.log.recent, view.log.skipped, view.item_emb,
                           np.ascontiguousarray(changed, np.int64))
        refresh_counters(self._obs, view, np.arange(self.num_envs) if counters is None
                         else counters, DAYS_SCALE, EMA_RATE)

    def respawn(self, users: np.ndarray) -> None:
        """Replace churned ``users`` by new accounts with the same personas, starting a session
        now; their logs are forgotten (used by the SB3 adapter's autoreset)."""
        assert self.platform is not None
        self.platform.respawn(users)
        self._churned[users] = False
        refresh(self._obs, self.platform.view(), np.asarray(users, np.int64))
