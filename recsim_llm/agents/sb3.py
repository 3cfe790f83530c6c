"""Stable-Baselines3 agents as policies: a saved agent replays in the runner like any other.

An agent trained on an environment id (single-user env, or the population through
:class:`~recsim_llm.envs.sb3.PopulationVecEnv`) is saved with :func:`save_agent`: SB3's
``model.zip`` plus ``agent.json`` beside it (algorithm, action mode and its options,
observation size, scenario). ``sb3:PATH/model.zip`` then builds an :class:`SB3Policy` that
turns each view into the environment's observation (the same pure function,
:func:`recsim_llm.envs.observation.observe`), asks the model for a deterministic action per
served user in one batch, and decodes it with the same action mode.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from recsim_llm.agents.base import BasePolicy, IntArray, PolicyError
from recsim_llm.agents.registry import register_policy
from recsim_llm.envs.actions import ActionMode, make_action_mode
from recsim_llm.envs.observation import observation_size, observe
from recsim_llm.platform import PlatformView, PolicyContext

ALGORITHMS = ("ppo", "a2c", "dqn", "sac", "td3")
AGENT_FILE = "agent.json"


def algorithm_class(name: str) -> Any:
    """The SB3 class of an algorithm name (``ppo``, ``a2c``, ``dqn``, ``sac``, ``td3``)."""
    import stable_baselines3 as sb3

    key = name.lower()
    if key not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; valid algorithms: {list(ALGORITHMS)}")
    return getattr(sb3, key.upper())


def _env_settings(env: Any) -> dict[str, Any]:
    inner = getattr(env, "unwrapped", env)
    if hasattr(inner, "env") and hasattr(inner.env, "mode"):  # PopulationVecEnv
        inner = inner.env
    if hasattr(inner, "envs"):  # an SB3 DummyVecEnv of single-user envs
        inner = getattr(inner.envs[0], "unwrapped", inner.envs[0])
    mode = inner.mode
    settings: dict[str, Any] = {"action_mode": mode.name, "scenario": inner.cfg.name,
                                "observation_size": observation_size(inner.world.dim),
                                "n_items": inner.world.n_items,
                                "slate_size": inner.cfg.slate_size}
    if mode.name == "strategy":
        settings["strategies"] = list(mode.strategies)
    if mode.name == "query":
        settings["query_dim"] = mode.dim
    return settings


def save_agent(model: Any, env: Any, out: str | Path) -> Path:
    """Save an SB3 model trained on one of our environments; returns ``out/model.zip``."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    algo = type(model).__name__.lower()
    if algo not in ALGORITHMS:
        raise ValueError(f"unsupported SB3 algorithm {type(model).__name__}")
    model.save(folder / "model.zip")
    info = {"algorithm": algo, **_env_settings(env)}
    (folder / AGENT_FILE).write_text(json.dumps(info, indent=2))
    return folder / "model.zip"


class SB3Policy(BasePolicy):
    """A saved SB3 agent acting through its action mode (deterministic actions)."""

    name = "sb3"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        meta = self.path.parent / AGENT_FILE
        if not self.path.is_file():
            raise PolicyError(f"no SB3 model at {self.path}")
        if not meta.is_file():
            raise PolicyError(f"{meta} is missing: save agents with "
                              f"recsim_llm.agents.sb3.save_agent (or `recsim-llm train`)")
        try:
            self.meta = json.loads(meta.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise PolicyError(f"{meta} is unreadable: {err}") from None
        cls = algorithm_class(self.meta.get("algorithm", "?"))
        self.model = cls.load(self.path, device="cpu")
        self.mode: ActionMode | None = None

    def check_params(self, ctx: PolicyContext) -> None:
        want = observation_size(ctx.item_emb.shape[1])
        have = self.meta.get("observation_size")
        if have != want:
            raise PolicyError(f"{self.path} was trained on observations of size {have}, this "
                              f"run's are {want} (another scenario or embedding size: "
                              f"{self.meta.get('scenario')!r})")
        if self.meta.get("n_items") != ctx.catalog.n_items and self.meta["action_mode"] == "scores":
            raise PolicyError(f"{self.path} scores {self.meta.get('n_items')} items, this run's "
                              f"catalog has {ctx.catalog.n_items}")

    def bind(self, ctx: PolicyContext, rng: np.random.Generator) -> None:
        super().bind(ctx, rng)
        self.mode = make_action_mode(self.meta["action_mode"], ctx,
                                     strategies=self.meta.get("strategies"),
                                     query_dim=self.meta.get("query_dim"))
        self.mode.bind(int(rng.integers(2**31 - 1)))

    def rank(self, view: PlatformView) -> IntArray:
        assert self.mode is not None
        obs = observe(view)
        actions, _ = self.model.predict(obs, deterministic=True)
        return self.mode.to_slates(np.asarray(actions), view)

    def params(self) -> dict[str, Any]:
        # The model lives in its zip; a checkpoint records which one (and the mode's rankers).
        return {"path": str(self.path),
                "mode": None if self.mode is None else self.mode.state_dict()}

    def load_params(self, params: dict[str, Any]) -> None:
        if params.get("path") not in (None, str(self.path)):
            raise PolicyError(f"state of the agent {params.get('path')} cannot be loaded into "
                              f"{self.path}")
        if self.mode is not None and params.get("mode"):
            self.mode.load_state_dict(params["mode"])


def _make(arg: str | None) -> SB3Policy:
    if not arg:
        raise ValueError("sb3 needs the saved model, e.g. 'sb3:runs/ppo/model.zip'")
    return SB3Policy(arg)


register_policy("sb3", _make,
                "sb3:PATH     a saved Stable-Baselines3 agent (model.zip + agent.json)")
