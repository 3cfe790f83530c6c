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
from recsim_llm.agents.sb3 import SB3Policy, TrainConfig, save_agent, train
from recsim_llm.config import ConfigError, ScenarioConfig, merge_config
from recsim_llm.envs.observation import observe
from recsim_llm.platform import PolicyContext
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


def test_replayed_strategy_agent_keeps_its_learning_rankers_learning(tmp_path: Path) -> None:
    """The network is frozen in replay; an ``mf`` strategy keeps learning from every request."""
    from recsim_llm.platform import Platform
    from recsim_llm.scenarios import build_world

    env = gym.make(ID, horizon_days=2, config=SMALL, action_mode="strategy",
                   strategies=["random", "mf"])
    model = PPO("MlpPolicy", env, seed=0, n_steps=16, batch_size=16, device="cpu").learn(16)
    path = save_agent(model, env, tmp_path / "ppo")
    cfg = merge_config(ScenarioConfig(encoder="hashing:64", horizon_days=2), SMALL)
    plat = Platform(build_world(cfg, 0), 0)
    pol = make_policy(f"sb3:{path}")
    pol.bind(plat.context, np.random.default_rng(0))
    plat.reset()
    mf = pol.mode.rankers[1]
    v0 = mf.V.copy()
    for _ in range(3):
        view = plat.view()
        _, logged = plat.serve(pol.act(view))
        pol.observe(logged)
    assert not np.array_equal(v0, mf.V)


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


# --------------------------------------------------------------------------- training

TINY = {"catalog": {"n_items": 60}, "population": {"n_users": 30}}


def _weights(model) -> list[np.ndarray]:
    return [p.detach().numpy().copy() for p in model.policy.parameters()]


@pytest.mark.parametrize("population", [None, 12])
def test_same_seed_same_weights(population: int | None) -> None:
    """As SB3's own tests: same seed, same trained weights on CPU (and a different seed
    differs); on the single-user env and through the population adapter."""
    def run(seed: int):
        cfg = TrainConfig(algo="ppo", encoder="hashing:32", timesteps=96, seed=seed,
                          population=population, horizon_days=3, config=TINY,
                          reward={"return_bonus": 1.0, "churn_penalty": 1.0},
                          hparams={"n_steps": 32 if population is None else 4,
                                   "batch_size": 16})
        return _weights(train(cfg, tensorboard=False).model)

    a, b, c = run(0), run(0), run(1)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, z) for x, z in zip(a, c, strict=True))


@pytest.mark.parametrize(("kw", "pattern"), [
    ({"algo": "reinforce"}, r"unknown algorithm 'reinforce'; valid algorithms"),
    ({"algo": "dqn", "action_mode": "query"}, r"DQN cannot act in the 'query' mode \(a Box"),
    ({"algo": "dqn", "action_mode": "scores"}, r"DQN cannot act in the 'scores' mode"),
    ({"algo": "sac", "action_mode": "strategy"}, r"SAC cannot act in the 'strategy' mode \(a "
                                                 r"Discrete"),
    ({"algo": "td3", "action_mode": "strategy"}, r"TD3 cannot act in the 'strategy' mode"),
    ({"algo": "ppo", "action_mode": "slate"}, r"PPO cannot act in the 'slate' mode"),
    ({"algo": "ppo", "action_mode": "lists"}, r"unknown action mode 'lists'"),
    ({"scenario": "netflix"}, r"TrainConfig.scenario must be one of"),
    ({"timesteps": 0}, r"TrainConfig.timesteps must be an integer >= 1"),
    ({"population": 1}, r"TrainConfig.population must be None or an integer >= 2"),
    ({"hparams": {"gamma": 0.5}}, r"reward.gamma"),
])
def test_bad_training_configurations(kw: dict, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        TrainConfig(**kw)


def test_unknown_hyperparameter_is_a_config_error(tmp_path: Path) -> None:
    cfg = TrainConfig(encoder="hashing:32", timesteps=8, config=TINY, horizon_days=2,
                      hparams={"n_stepz": 4})
    with pytest.raises(ConfigError, match="n_stepz"):
        train(cfg, tmp_path, tensorboard=False)


def test_missing_tensorboard_is_a_clear_message(tmp_path: Path, monkeypatch) -> None:
    import recsim_llm.agents.sb3 as mod

    monkeypatch.setattr(mod, "tensorboard_available", lambda: False)
    cfg = TrainConfig(encoder="hashing:32", timesteps=8, config=TINY, horizon_days=2)
    with pytest.raises(RuntimeError, match=r"needs the 'tensorboard' package.*--no-tensorboard"):
        train(cfg, tmp_path)


def test_agent_of_another_scenario_or_encoder_is_refused(agent: Path, tmp_path: Path) -> None:
    import dataclasses
    import json

    from recsim_llm.scenarios import build_world

    cfg = merge_config(ScenarioConfig(encoder="hashing:64", horizon_days=2), SMALL)
    ctx = PolicyContext.of(build_world(cfg, 0))
    pol = SB3Policy(agent)
    pol.check_params(ctx)  # the scenario it was trained on
    other = dataclasses.replace(ctx, catalog=dataclasses.replace(ctx.catalog,
                                                                 source="/data/ml-100k"))
    with pytest.raises(PolicyError, match=r"trained on scenario 'synthetic' \(catalog "
                                          r"'synthetic'\), this run's catalog is '/data/ml-100k'"):
        pol.check_params(other)
    with pytest.raises(PolicyError, match="trained with the encoder"):
        pol.check_params(dataclasses.replace(ctx, encoder_identity="minilm+pca64"))
    bigger = PolicyContext.of(build_world(merge_config(cfg, {"catalog": {"n_items": 80}}), 0))
    pol.check_params(bigger)  # an encoder-basis query means the same on any catalog
    assert pol.meta["query_basis"] == "encoder"
    # an agent saved before the basis was recorded queried its catalog's PCA: refused elsewhere
    old = tmp_path / "old"
    old.mkdir()
    (old / "model.zip").write_bytes(agent.read_bytes())
    meta = json.loads((agent.parent / "agent.json").read_text())
    del meta["query_basis"]
    (old / "agent.json").write_text(json.dumps(meta))
    pca = SB3Policy(old / "model.zip")
    pca.check_params(ctx)
    with pytest.raises(PolicyError, match=r"catalog of 60 items \(query mode\).* has 80"):
        pca.check_params(bigger)
    pca.bind(ctx, np.random.default_rng(0))
    assert pca.mode is not None and pca.mode.basis == "pca"


def test_cli_train_then_simulate_next_to_greedy(tmp_path: Path) -> None:
    """`recsim-llm train` writes the model, its configuration and TensorBoard scalars
    (retention, topic entropy); `simulate --policy sb3:DIR/model.zip --policy greedy` replays
    it on the same seeds."""
    import json

    import pandas as pd
    from typer.testing import CliRunner

    from recsim_llm.cli import app

    toml = tmp_path / "small.toml"
    toml.write_text("[scenario.catalog]\nn_items = 60\n[scenario.population]\nn_users = 30\n")
    out = tmp_path / "agent"
    cli = CliRunner()
    res = cli.invoke(app, ["train", "--algo", "a2c", "--action-mode", "strategy", "--scenario",
                           "synthetic", "--timesteps", "160", "--population", "16", "--days",
                           "3", "--encoder", "hashing:32", "--config", str(toml), "--out",
                           str(out), "--seed", "1", "--return-bonus", "1", "--quiet"])
    assert res.exit_code == 0, res.output
    assert {"model.zip", "agent.json", "train.json", "tb"} <= {p.name for p in out.iterdir()}
    info = json.loads((out / "train.json").read_text())
    assert info["train"]["algo"] == "a2c" and info["train"]["reward"]["return_bonus"] == 1.0
    assert info["scenario_config"]["catalog"]["n_items"] == 60
    assert info["timesteps_done"] >= 160

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ev = EventAccumulator(str(next((out / "tb").iterdir())))
    ev.Reload()
    assert {"recsim/retention", "recsim/topic_entropy", "recsim/ctr"} <= set(ev.Tags()["scalars"])

    run = tmp_path / "run"
    res = cli.invoke(app, ["simulate", "--policy", f"sb3:{out / 'model.zip'}", "--policy",
                           "greedy", "--days", "3", "--seeds", "2", "--encoder", "hashing:32",
                           "--config", str(toml), "--out", str(run), "--quiet"])
    assert res.exit_code == 0, res.output
    daily = pd.read_csv(run / "daily.csv")
    assert set(daily.policy) == {f"sb3:{out / 'model.zip'}", "greedy"} and len(daily) == 12
    first = daily[daily.day == 1].groupby("policy").active_users.apply(list)
    assert first.iloc[0] == first.iloc[1]  # paired seeds: the same users on day 1


def test_cli_train_bad_input(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from recsim_llm.cli import app

    cli = CliRunner()
    for args, msg in ((["--algo", "dqn", "--action-mode", "query"], "DQN cannot act"),
                      (["--algo", "sac", "--action-mode", "strategy"], "SAC cannot act"),
                      (["--algo", "ddpg"], "unknown algorithm 'ddpg'"),
                      (["--hparams", "{bad"], "--hparams is not valid JSON"),
                      (["--gamma", "2"], "RewardConfig.gamma must be in")):
        res = cli.invoke(app, ["train", *args, "--timesteps", "8", "--out", str(tmp_path)])
        assert res.exit_code == 2 and msg in res.output, res.output
