"""The population as a Stable-Baselines3 ``VecEnv``: many users per SB3 step.

SB3 trains on a ``VecEnv`` of ``num_envs`` independent slots stepped together and reset
automatically when an episode ends. :class:`PopulationVecEnv` makes each user of a
:class:`~recsim_llm.envs.population.PopulationEnv` one slot, so a single population step gives
SB3 one transition per user:

* a user who churns ends their episode (``done``, ``infos[i]["terminal_observation"]``) and is
  *respawned* at once — a new account with the same persona and a fresh state (initial
  interest, no fatigue, initial satisfaction), whose session starts now — which is SB3's
  autoreset contract;
* at the horizon every slot ends (``TimeLimit.truncated`` for those who did not churn on that
  step) and the whole population starts a new run (a new simulation seed drawn from the env's
  generator);
* ``infos[i]["day"]`` is the day on which slot i's episode ended (churn or horizon);
* users outside a session at a step are stepped too, as SB3 needs: their action is ignored,
  their reward is 0 and their observation shows the elapsed day and the session counter, so
  the value of waiting for the next visit is learnable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)

from recsim_llm.envs.population import PopulationEnv


class PopulationVecEnv(VecEnv):
    """An SB3 ``VecEnv`` whose slots are the users of one population.

    Args:
        env: the population (``gym.make_vec(id, num_envs=n,
            vectorization_mode="vector_entry_point", action_mode=...)`` unwrapped, or a
            ``PopulationEnv``); its action mode must not be ``slate`` (SB3 samples each slot of
            a ``MultiDiscrete`` on its own, so duplicate items would follow).
    """

    def __init__(self, env: PopulationEnv | Any) -> None:
        inner = getattr(env, "unwrapped", env)
        if not isinstance(inner, PopulationEnv):
            raise TypeError(f"PopulationVecEnv wraps a PopulationEnv, got {type(env).__name__}")
        if inner.action_mode == "slate":
            raise ValueError("SB3 cannot act in the 'slate' mode (it samples slots "
                             "independently and repeats items); use action_mode='scores', "
                             "'query' or 'strategy'")
        self.env = inner
        super().__init__(inner.num_envs, inner.single_observation_space,
                         inner.single_action_space)
        self._actions: np.ndarray | None = None
        self._obs: Any = None

    def reset(self) -> VecEnvObs:
        seed = self._seeds[0]
        obs, _ = self.env.reset(seed=None if seed is None else int(seed))
        self._reset_seeds()
        self._obs = obs
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_async() must come before step_wait()")
        if self.env.platform is None:
            raise RuntimeError("call reset() before stepping")
        actions = self._actions
        if isinstance(self.action_space, gym.spaces.Discrete):
            actions = actions.reshape(self.num_envs).astype(np.int64)
        obs, rewards, terminated, truncated, _info = self.env.step(actions)
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if self.env.platform.done:
            day = self.env.platform.sim.day
            for i in range(self.num_envs):  # once per horizon, not per step
                infos[i]["terminal_observation"] = obs[i]
                infos[i]["TimeLimit.truncated"] = bool(truncated[i])
                infos[i]["day"] = day
            dones[:] = True
            obs = np.asarray(self.reset())
        elif terminated.any():
            ended = np.flatnonzero(terminated)
            day = self.env.platform.sim.day
            for j in ended.tolist():  # users who churned in this step
                infos[j]["terminal_observation"] = obs[j].copy()
                infos[j]["day"] = day
            self.env.respawn(ended)
            obs = self.env._obs.copy()
        self._obs = obs
        self._actions = None
        return obs, rewards.astype(np.float32), dones, infos

    def close(self) -> None:
        self.env.close()

    def _indices(self, indices: VecEnvIndices) -> Sequence[int]:
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, int):
            return [indices]
        return list(indices)

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        value = getattr(self.env, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self.env, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        out = getattr(self.env, method_name)(*method_args, **method_kwargs)
        return [out for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
                       ) -> list[bool]:
        return [False for _ in self._indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None for _ in range(self.num_envs)]
