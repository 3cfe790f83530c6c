"""Train/eval phases: row labels, frozen policies stop learning, bad phase settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from recsim_llm.agents.baselines import GreedyPolicy
from recsim_llm.cli import app
from recsim_llm.config import ScenarioConfig
from recsim_llm.platform import LoggedFeedback, PlatformView
from recsim_llm.runner import run_policy, simulate
from recsim_llm.scenarios import build_world
from recsim_llm.simulator import World

TRAIN = 3
HORIZON = 7


class SpyGreedy(GreedyPolicy):
    """Greedy, recording the days of ``observe`` calls and what history ``act`` saw."""

    name = "spy"

    def __init__(self) -> None:
        self.observed_days: list[int] = []
        self.acted: list[tuple[int, int, int]] = []  # (day, history requests, history clicks)

    def observe(self, feedback: LoggedFeedback) -> None:
        self.observed_days.append(feedback.day)

    def act(self, view: PlatformView) -> np.ndarray:
        self.acted.append((view.day, int(view.log.requests.sum()),
                           int(view.log.clicks.sum())))
        return super().act(view)


@pytest.fixture(scope="module")
def world(make_small_config) -> World:
    return build_world(make_small_config(horizon_days=HORIZON), 0)


def test_simulate_labels_phases(small_cfg: ScenarioConfig) -> None:
    res = simulate(small_cfg, ["random", "mf"], [0, 1], train_days=TRAIN, freeze=True)
    d = res.daily
    assert "phase" in d.columns
    assert (d.phase[d.day <= TRAIN] == "train").all()
    assert (d.phase[d.day > TRAIN] == "eval").all()
    per_unit = d.groupby(["policy", "seed"]).phase.apply(lambda s: s.tolist())
    for phases in per_unit:
        assert phases == ["train"] * TRAIN + ["eval"] * (small_cfg.horizon_days - TRAIN)
    assert res.manifest["train_days"] == TRAIN and res.manifest["freeze"] is True


def test_no_phases_means_all_eval(small_cfg: ScenarioConfig) -> None:
    d = simulate(small_cfg, ["random"], [0]).daily
    assert (d.phase == "eval").all()


def test_continual_learning_labels_phases_but_keeps_learning(world: World) -> None:
    spy = SpyGreedy()
    res = run_policy(world, spy, 0, train_days=TRAIN, freeze=False)
    assert [r["phase"] for r in res.daily] == ["train"] * TRAIN + ["eval"] * (HORIZON - TRAIN)
    assert set(spy.observed_days) == set(range(HORIZON))


def test_freeze_stops_observe_after_training(world: World) -> None:
    spy = SpyGreedy()
    res = run_policy(world, spy, 0, train_days=TRAIN, freeze=True)
    assert [r["phase"] for r in res.daily] == ["train"] * TRAIN + ["eval"] * (HORIZON - TRAIN)
    assert spy.observed_days, "observe was never called in the training phase"
    assert max(spy.observed_days) == TRAIN - 1
    assert set(spy.observed_days) == set(range(TRAIN))
    # every training request was observed, none after
    n_train_requests = sum(1 for day, _, _ in spy.acted if day < TRAIN)
    assert len(spy.observed_days) == n_train_requests
    assert any(day >= TRAIN for day, _, _ in spy.acted)


def test_frozen_policy_sees_the_history_at_the_end_of_training(world: World) -> None:
    spy = SpyGreedy()
    res = run_policy(world, spy, 0, train_days=TRAIN, freeze=True)
    train = [(r, c) for day, r, c in spy.acted if day < TRAIN]
    evaluation = {(r, c) for day, r, c in spy.acted if day >= TRAIN}
    assert len(evaluation) == 1, "the frozen history changed during evaluation"
    frozen_requests, frozen_clicks = next(iter(evaluation))
    daily = pd.DataFrame(res.daily)
    assert frozen_requests == daily.requests[daily.day <= TRAIN].sum()
    assert frozen_clicks == daily.clicks[daily.day <= TRAIN].sum()
    assert frozen_requests > max(r for r, _ in train)  # includes the last training request
    # while the platform's own (returned) history kept counting
    assert res.final_log is not None
    assert res.final_log.requests.sum() == daily.requests.sum() > frozen_requests


def test_freeze_changes_a_learning_policy_only_after_training(world: World) -> None:
    cont = pd.DataFrame(run_policy(world, "mf", 0, train_days=TRAIN).daily)
    frozen = pd.DataFrame(run_policy(world, "mf", 0, train_days=TRAIN, freeze=True).daily)
    pd.testing.assert_frame_equal(cont[cont.day <= TRAIN], frozen[frozen.day <= TRAIN],
                                  check_exact=True)
    assert not cont[cont.day > TRAIN].equals(frozen[frozen.day > TRAIN])


def test_freeze_from_day_zero_never_learns(world: World) -> None:
    """``freeze`` without a training phase replays the policy as it is: no observe, no
    end-of-day hook, an empty frozen log."""
    spy = SpyGreedy()
    run_policy(world, spy, 0, train_days=0, freeze=True)
    assert spy.observed_days == []
    assert {(req, clicks) for _day, req, clicks in spy.acted} == {(0, 0)}


def test_negative_train_days_refused(world: World, small_cfg: ScenarioConfig,
                                     tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="train_days must be >= 0"):
        run_policy(world, "random", 0, train_days=-1)
    out = tmp_path / "r"
    with pytest.raises(ValueError, match="train_days must be >= 0"):
        simulate(small_cfg, ["random"], [0], out=out, train_days=-1)
    assert not out.exists()  # refused before anything was written
    res = CliRunner().invoke(app, ["simulate", "--users", "30", "--days", "3", "--encoder",
                                   "hashing:32", "--policy", "random", "--train-days", "-1",
                                   "--quiet", "--out", str(out)])
    assert res.exit_code == 2
    assert "train_days must be >= 0" in res.output


def test_cli_train_days_and_freeze(tmp_path: Path) -> None:
    out = tmp_path / "r"
    res = CliRunner().invoke(app, ["simulate", "--users", "30", "--days", "5", "--encoder",
                                   "hashing:32", "--policy", "mf", "--train-days", "2",
                                   "--freeze", "--quiet", "--out", str(out)])
    assert res.exit_code == 0, res.output
    daily = pd.read_csv(out / "daily.csv")
    assert daily.phase.tolist() == ["train", "train", "eval", "eval", "eval"]
