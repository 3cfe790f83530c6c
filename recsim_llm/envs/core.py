"""What both environment faces share: building the world from keyword arguments.

Both faces step a :class:`~recsim_llm.platform.Platform` — the core the runner drives too — and
build observations from its view only; rewards are in :mod:`recsim_llm.envs.rewards`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recsim_llm.config import ScenarioConfig, merge_config
from recsim_llm.scenarios import build_world
from recsim_llm.simulator import World
from recsim_llm.text import TextEncoder


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
