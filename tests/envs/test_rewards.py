"""Rewards: clicks per request by default; the return bonus and churn penalty are paid exactly
at the documented steps, on both environment faces; bad configurations are clear errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import recsim_llm  # noqa: F401
from recsim_llm.config import ConfigError
from recsim_llm.envs.rewards import RewardConfig, reward_config

ID = "recsim_llm/SyntheticUsersFast-v0"
SMALL = {"catalog": {"n_items": 60}, "population": {"n_users": 20},
         "dynamics": {"churn_after_days": 2}}
LONG = {"kind": "click", "return_bonus": 0.5, "churn_penalty": 3.0}


@pytest.mark.parametrize(("bad", "pattern"), [
    ({"kind": "likes"}, r"reward kind .* must be one of"),
    ({"return_bonus": -1.0}, r"RewardConfig.return_bonus must be >= 0"),
    ({"churn_penalty": "a lot"}, r"RewardConfig.churn_penalty must be a number"),
    ({"gamma": 0.0}, r"RewardConfig.gamma must be in \(0, 1\]"),
    ({"gamma": 1.5}, r"RewardConfig.gamma must be in \(0, 1\]"),
    ({"bonus": 1.0}, r"unknown RewardConfig key\(s\) \['bonus'\]"),
])
def test_bad_reward_configs_are_clear_errors(bad: dict, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        reward_config(bad)


def test_default_is_clicks_per_request() -> None:
    assert reward_config(None) == RewardConfig() == reward_config("click")
    assert not RewardConfig().long_term and RewardConfig(return_bonus=1.0).long_term


def test_single_user_long_term_terms_are_paid_at_return_and_churn() -> None:
    env = gym.make(ID, horizon_days=30, config=SMALL, action_mode="strategy", reward=LONG)
    seen_return = seen_churn = 0
    for seed in range(6):
        _, info = env.reset(seed=seed)
        done = False
        while not done:
            day = info["day"]
            _, r, term, trunc, info = env.step(env.action_space.sample())
            back = not (term or trunc) and info["day"] > day  # absent days passed in the step
            expected = float(info["clicked_item"] >= 0) + 0.5 * back - 3.0 * term
            assert r == pytest.approx(expected)
            seen_return += back
            seen_churn += term
            done = term or trunc
    assert seen_return > 0 and seen_churn > 0


def test_population_long_term_terms_per_user() -> None:
    env = gym.make_vec(ID, num_envs=20, vectorization_mode="vector_entry_point", horizon_days=12,
                       config=SMALL, action_mode="strategy", reward=LONG)
    _, info = env.reset(seed=0)
    last_served = np.full(20, -1)
    seen_return = seen_churn = 0
    while True:
        day = info["day"][0]
        _, r, term, trunc, info = env.step(env.action_space.sample())
        last_served[info["served"]] = day
        back = info["in_session"] & (last_served >= 0) & (last_served < info["day"])
        clicked = info["served"] & (info["clicked_item"] >= 0)
        np.testing.assert_allclose(r, clicked + 0.5 * back - 3.0 * term)
        seen_return += back.sum()
        seen_churn += term.sum()
        if trunc.any() or (term | info["churned"]).all():
            break
    assert seen_return > 0 and seen_churn > 0
