"""A trained SB3 agent replays as a policy: ``sb3:PATH`` next to the baselines, same seeds."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

import recsim_llm  # noqa: F401
from recsim_llm.agents.base import PolicyError
from recsim_llm.agents.registry import make_policy
from recsim_llm.agents.sb3 import SB3Policy, save_agent
from recsim_llm.config import ScenarioConfig, merge_config
from recsim_llm.envs.observation import observe
from recsim_llm.runner import simulate

ID = "recsim_llm/SyntheticUsersFast-v0"
SMALL = {"catalog": {"n_items": 60}, "population": {"n_users": 30}}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def agent(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    env = gym.make(ID, horizon_days=3, config=SMALL, action_mode="query")
    model = PPO("MlpPolicy", env, seed=0, n_steps=32, batch_size=32, device="cpu").learn(64)
    return save_agent(model, env, tmp_path_factory.mktemp("ppo"))


def test_saved_agent_replays_next_to_baselines(agent: Path) -> None:
    cfg = merge_config(ScenarioConfig(encoder="hashing:64", horizon_days=4), SMALL)
    res = simulate(cfg, [f"sb3:{agent}", "greedy"], seeds=[0, 1])
    d = res.daily
    assert set(d.policy) == {f"sb3:{agent}", "greedy"}
    assert len(d) == 2 * 2 * 4
    # paired: both policies meet the same users on day 0
    first = d[d.day == 1].groupby("policy").active_users.apply(list)
    assert first.iloc[0] == first.iloc[1]


def test_agent_acts_as_the_model_predicts(agent: Path) -> None:
    from recsim_llm.platform import Platform
    from recsim_llm.scenarios import build_world

    cfg = merge_config(ScenarioConfig(encoder="hashing:64", horizon_days=2), SMALL)
    plat = Platform(build_world(cfg, 0), 0)
    pol = make_policy(f"sb3:{agent}")
    assert isinstance(pol, SB3Policy)
    pol.bind(plat.context, np.random.default_rng(0))
    plat.reset()
    view = plat.view()
    action, _ = pol.model.predict(observe(view), deterministic=True)
    np.testing.assert_array_equal(pol.act(view), pol.mode.to_slates(action, view))


def test_agent_of_another_observation_size_is_refused(agent: Path) -> None:
    cfg = merge_config(ScenarioConfig(encoder="hashing:32", horizon_days=2), SMALL)
    with pytest.raises(PolicyError, match="observations of size"):
        simulate(cfg, [f"sb3:{agent}"], seeds=[0])


def test_missing_files_are_clear_errors(tmp_path: Path, agent: Path) -> None:
    with pytest.raises(ValueError, match="no SB3 model"):
        make_policy(f"sb3:{tmp_path / 'none.zip'}")
    lonely = tmp_path / "model.zip"
    lonely.write_bytes(agent.read_bytes())
    with pytest.raises(ValueError, match=r"agent\.json"):
        make_policy(f"sb3:{lonely}")
    with pytest.raises(ValueError, match="needs the saved model"):
        make_policy("sb3")
