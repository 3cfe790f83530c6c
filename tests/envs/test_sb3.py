"""Stable-Baselines3 trains on the environments: single-user envs and the population adapter.

``check_env`` passing is not enough (it passed while PPO crashed on duplicate slots): each
algorithm runs ``learn`` on a tiny budget, as SB3's own tests do.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import A2C, DQN, PPO, SAC
from stable_baselines3.common.env_checker import check_env

import recsim_llm  # noqa: F401
from recsim_llm.envs.sb3 import PopulationVecEnv

ID = "recsim_llm/SyntheticUsersFast-v0"
SMALL = {"catalog": {"n_items": 60}, "dynamics": {"churn_after_days": 2}}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _single(mode: str) -> gym.Env:
    return gym.make(ID, horizon_days=3, config=SMALL, action_mode=mode)


def _population(mode: str, n: int = 16) -> PopulationVecEnv:
    env = gym.make_vec(ID, num_envs=n, vectorization_mode="vector_entry_point", horizon_days=3,
                       config=SMALL, action_mode=mode)
    return PopulationVecEnv(env)


ALGOS = [("scores", PPO, {"n_steps": 32, "batch_size": 32}),
         ("query", A2C, {"n_steps": 8}),
         ("query", SAC, {"learning_starts": 16, "batch_size": 16, "buffer_size": 500}),
         ("strategy", DQN, {"learning_starts": 16, "batch_size": 16, "buffer_size": 500}),
         ("strategy", PPO, {"n_steps": 32, "batch_size": 32})]


@pytest.mark.parametrize(("mode", "algo", "kw"), ALGOS)
def test_sb3_learns_on_the_single_user_env(mode: str, algo, kw: dict) -> None:
    env = _single(mode)
    check_env(env.unwrapped)
    model = algo("MlpPolicy", env, seed=0, device="cpu", **kw)
    model.learn(64)
    assert model.num_timesteps >= 64


@pytest.mark.parametrize(("mode", "algo", "kw"), ALGOS)
def test_sb3_learns_through_the_population_adapter(mode: str, algo, kw: dict) -> None:
    venv = _population(mode)
    model = algo("MlpPolicy", venv, seed=0, device="cpu",
                 **{k: (max(2, v // 16) if k == "n_steps" else v) for k, v in kw.items()})
    model.learn(16 * 12)
    assert model.num_timesteps >= 16 * 12  # 16 transitions per SB3 step


def test_adapter_autoresets_churned_users_and_the_horizon() -> None:
    venv = _population("strategy", n=24)
    venv.seed(3)
    obs = venv.reset()
    assert obs.shape == (24, venv.observation_space.shape[0])
    churned_episodes = horizon_resets = 0
    for _ in range(400):
        obs, rew, dones, infos = venv.step(np.zeros(24, np.int64))
        assert rew.dtype == np.float32 and obs.shape[0] == 24
        ended = np.flatnonzero(dones)
        for i in ended:
            assert "terminal_observation" in infos[i]
        if dones.all():
            horizon_resets += 1
            assert all("TimeLimit.truncated" in i for i in infos)
        else:
            churned_episodes += len(ended)
            # a respawned user starts over: a fresh account in a session
            assert not venv.env.platform.sim.state.churned[ended].any()
            assert (venv.env.platform.log.clicks[ended] == 0).all()
        if horizon_resets == 2:
            break
    assert horizon_resets == 2 and churned_episodes > 0


def test_adapter_refuses_the_slate_mode() -> None:
    env = gym.make_vec(ID, num_envs=4, vectorization_mode="vector_entry_point", horizon_days=2,
                       config=SMALL)
    with pytest.raises(ValueError, match="slate"):
        PopulationVecEnv(env)
