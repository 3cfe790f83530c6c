"""The objective an agent is trained for: the per-request reward, long-term terms, discount.

A myopic ranker maximises the next click; the long-term terms make the environments' reward say
what a platform wants over months. Per served user at a request::

    r = base(kind) + return_bonus * [the user comes back on a later day]
                   - churn_penalty * [the user churns]

* ``base``: ``click`` (default) 1 for a click, 0 otherwise; ``dwell`` the logged dwell signal
  of a click (0 otherwise: what a platform can measure of value); ``satisfaction`` the
  simulator's hidden realised satisfaction (a training signal only a simulator can give; the
  policy never observes it).
* ``return_bonus`` is paid at the step after which the user starts a session on a later day
  than their previous visit: in the single-user env the step that ended the previous session
  (the absent days pass inside it), in the population the step at whose end the new day's
  sessions start. A respawned or newly arrived user's first visit is not a return.
* ``churn_penalty`` is paid at the step in which the user churns (``terminated``).

``gamma`` is the discount the algorithm is trained with (SB3's ``gamma``); one step is one
request of the user (population: one request tick, absent users included), so a day is up to
``max_session_len`` steps. The horizon is the scenario's ``horizon_days`` (``train``'s
``horizon_days`` overrides it). ``RewardConfig()`` is clicks per request, as the envs' default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from recsim_llm.config import ConfigError, _check, _check_types
from recsim_llm.platform import LoggedFeedback, Platform
from recsim_llm.simulator import Feedback

REWARD_KINDS = ("click", "satisfaction", "dwell")


@dataclass(frozen=True)
class RewardConfig:
    """What the environments pay per served user and request, and the discount."""

    kind: str = "click"
    """base reward: ``click``, ``dwell`` or ``satisfaction``"""
    return_bonus: float = 0.0
    """paid when the user comes back on a later day; >= 0"""
    churn_penalty: float = 0.0
    """subtracted at the step in which the user churns; >= 0"""
    gamma: float = 0.99
    """discount per step (one request), in (0, 1]"""

    def __post_init__(self) -> None:
        _check_types(self)
        _check(self.kind in REWARD_KINDS, "reward kind (RewardConfig.kind)",
               f"must be one of {REWARD_KINDS}", self.kind)
        for name in ("return_bonus", "churn_penalty"):
            _check(getattr(self, name) >= 0, f"RewardConfig.{name}", "must be >= 0",
                   getattr(self, name))
        _check(0 < self.gamma <= 1, "RewardConfig.gamma", "must be in (0, 1]", self.gamma)

    @property
    def long_term(self) -> bool:
        return self.return_bonus > 0 or self.churn_penalty > 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reward_config(reward: RewardConfig | str | dict[str, Any] | None) -> RewardConfig:
    """A :class:`RewardConfig` from itself, a base kind name, a dict of its fields or None."""
    if reward is None:
        return RewardConfig()
    if isinstance(reward, RewardConfig):
        return reward
    if isinstance(reward, str):
        return RewardConfig(kind=reward)
    if isinstance(reward, dict):
        unknown = set(reward) - set(RewardConfig.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown RewardConfig key(s) {sorted(unknown)}; valid: "
                              f"{sorted(RewardConfig.__dataclass_fields__)}")
        return RewardConfig(**reward)
    raise ConfigError(f"reward must be a RewardConfig, a kind name or a dict, got {reward!r}")


def base_rewards(kind: str, fb: Feedback, logged: LoggedFeedback) -> npt.NDArray[np.float64]:
    """Base reward of each served user, shape [m]."""
    if kind == "click":
        return logged.clicked.astype(np.float64)
    if kind == "dwell":
        return np.where(logged.clicked, np.nan_to_num(logged.dwell, nan=0.0), 0.0)
    return np.asarray(fb.satisfaction, np.float64)


def returned_users(platform: Platform) -> npt.NDArray[np.bool_]:
    """[n] users whose session now is on a later day than their previous visit (the platform's
    log; a first visit, ``last_visit_day == -1``, is not a return). Call after a step, before
    the next one is logged."""
    log, st = platform.log, platform.sim.state
    return st.in_session & (log.last_visit_day >= 0) & (log.last_visit_day < platform.sim.day)


def step_rewards(cfg: RewardConfig, fb: Feedback, logged: LoggedFeedback, platform: Platform,
                 churned_now: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """Reward of every user [n] for one step: the base reward of the served users plus the
    long-term terms (``churned_now`` [n]: users who churned in this step)."""
    out = np.zeros(platform.world.n_users, np.float64)
    out[fb.users] = base_rewards(cfg.kind, fb, logged)
    if cfg.return_bonus:
        out += cfg.return_bonus * returned_users(platform)
    if cfg.churn_penalty:
        out -= cfg.churn_penalty * churned_now
    return out
