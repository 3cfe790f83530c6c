"""What both environment faces share: building the world from keyword arguments, rewards.

Both faces step a :class:`~recsim_llm.platform.Platform` — the core the runner drives too — and
build observations from its view only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from recsim_llm.config import ScenarioConfig, merge_config
from recsim_llm.platform import LoggedFeedback
from recsim_llm.scenarios import build_world
from recsim_llm.simulator import Feedback, World
from recsim_llm.text import TextEncoder

REWARDS = ("click", "satisfaction", "dwell")
"""``click``: 1 per click; ``dwell``: the logged dwell signal of a click (0 without one: what
a platform can measure); ``satisfaction``: the simulator's hidden realised satisfaction (a
training signal only a simulator can give; the policy never observes it)"""


def env_world(*, world: World | None, config: ScenarioConfig | dict | None,
              scenario: str | None, encoder: TextEncoder | str | None,
              data_path: str | Path | None, world_seed: int, n_users: int | None = None,
              **overrides: Any) -> World:
    """The world of an environment: given, or built from a config plus top-level overrides."""
    if world is not None:
        if config is not None or scenario is not None or n_users is not None or any(
                v is not None for v in overrides.values()):
            raise ValueError("pass either world= or configuration arguments, not both")
        return world
    if config is not None and not isinstance(config, (ScenarioConfig, dict)):
        raise TypeError(f"config must be a ScenarioConfig, a dict or None, got {type(config)}")
    if isinstance(config, ScenarioConfig):
        base = config
    else:  # the scenario's own defaults (e.g. calibrated constants), then the overrides
        name = scenario or str((config or {}).get("name", "synthetic"))
        base = ScenarioConfig.defaults_for(name)
    tops = {k: v for k, v in overrides.items() if v is not None}
    if scenario is not None:
        tops["name"] = scenario
    if isinstance(encoder, str):
        tops["encoder"] = encoder
    if n_users is not None:
        tops["population.n_users"] = int(n_users)
    cfg = merge_config(base, config if isinstance(config, dict) else None, tops)
    return build_world(cfg, world_seed, data_path=data_path,
                       encoder=None if isinstance(encoder, str) else encoder)


def rewards_of(kind: str, fb: Feedback, logged: LoggedFeedback) -> np.ndarray:
    """Reward of each served user, shape [m]."""
    if kind == "click":
        return logged.clicked.astype(np.float64)
    if kind == "dwell":
        return np.where(logged.clicked, np.nan_to_num(logged.dwell, nan=0.0), 0.0)
    return np.asarray(fb.satisfaction, np.float64)


def check_reward(kind: str) -> None:
    if kind not in REWARDS:
        raise ValueError(f"reward must be one of {REWARDS}, got {kind!r}")
