"""Training the ranker on another policy's saved run: loader, replay, fit, checkpoint, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from recsim_llm.agents.llm import LLMRankerPolicy
from recsim_llm.agents.llm.checkpoint import CheckpointMismatchError
from recsim_llm.agents.llm.runlog import RunLog, RunLogError, load_run_log, replay_into
from recsim_llm.agents.registry import make_policy
from recsim_llm.analysis.trajectory import Trajectory
from recsim_llm.platform import PolicyContext
from recsim_llm.rng import RngStreams
from recsim_llm.runner import run_policy, simulate

LOGGER = "llm:100,tiny={},device=cpu"
"""an llm that never retrains within the horizon: its online log keeps every row"""
FIT = "llm:3,tiny={},device=cpu,max_train_samples=256,epochs=1"


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory: pytest.TempPathFactory, small_cfg) -> Path:
    out = tmp_path_factory.mktemp("run") / "res"
    simulate(small_cfg, [LOGGER, "mf"], [0], out, log_level="request")
    return out


def test_replayed_rows_equal_the_rows_logged_online(saved_run: Path, small_world) -> None:
    """Rows rebuilt from the saved trajectory (slate, click, dwell, history *before* the
    request) are exactly those the ranker logged when it served the run itself."""
    online = make_policy(LOGGER)
    run_policy(small_world, online, 0)
    log = load_run_log(saved_run, LOGGER, 0)
    pol = make_policy(FIT)
    pol.bind(PolicyContext.of(small_world), RngStreams(0).fresh("t"))
    replay_into(pol, log)
    want, got = online.log.arrays(), pol.log.arrays()
    assert len(got["day"]) == log.n_rows > 0
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    assert np.isfinite(got["dwell"]).any()  # the dwell of clicks travelled through the log
    # Only the platform view is read: without the hidden satisfaction the rows are the same.
    hidden = {k: v for k, v in log.trajectory.arrays.items() if k != "req_satisfaction"}
    blind = RunLog(log.cfg, 0, LOGGER, None, Trajectory(hidden, log.trajectory.meta))
    pol2 = make_policy(FIT)
    pol2.bind(PolicyContext.of(small_world), RngStreams(0).fresh("t"))
    replay_into(pol2, blind)
    np.testing.assert_array_equal(pol2.log.arrays()["hist_items"], got["hist_items"])


def test_fit_from_another_policys_run_and_serve_the_checkpoint(saved_run: Path, small_world,
                                                               tmp_path: Path) -> None:
    pol = LLMRankerPolicy.fit_from_run(saved_run, "mf", 0, FIT)
    assert pol.retrains == 1 and pol.fit_history[0]["samples"] > 0
    assert pol.fit_source["policy"] == "mf" and pol.fit_source["rows"] > 0
    ck = pol.save_checkpoint(tmp_path / "ck")
    back = LLMRankerPolicy.from_checkpoint(ck)
    assert back.fit_source == pol.fit_source
    # The spec init=PATH starts a new run from those weights, with fresh histories.
    new = make_policy(f"{FIT},init={ck}")
    new.bind(PolicyContext.of(small_world), RngStreams(1).fresh("t"))
    for k, v in pol.model.state_dict().items():
        torch.testing.assert_close(new.model.state_dict()[k], v, rtol=0, atol=0, msg=k)
    assert new.pretrained_retrains >= 1 and (new.hist_items == -1).all() and len(new.log) == 0
    res = run_policy(small_world, new, 0)
    assert len(res.daily) == small_world.cfg.horizon_days
    # Another architecture refuses the checkpoint.
    with pytest.raises(CheckpointMismatchError, match=r"cannot|made by model"):
        make_policy(f"{FIT},score=mlp,init={ck}").bind(PolicyContext.of(small_world),
                                                        RngStreams(1).fresh("t"))


def test_min_day_trains_on_the_late_rows_only(saved_run: Path) -> None:
    pol = LLMRankerPolicy.fit_from_run(saved_run, "mf", 0, FIT, min_day=3)
    assert len(pol.log) and int(pol.log.arrays()["day"].min()) == 3


def test_bad_runs_are_refused_in_one_line(saved_run: Path, small_cfg, tmp_path: Path) -> None:
    with pytest.raises(RunLogError, match="does not exist"):
        load_run_log(tmp_path / "nope", "mf", 0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunLogError, match=r"no manifest\.json"):
        load_run_log(tmp_path / "empty", "mf", 0)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{not json")
    with pytest.raises(RunLogError, match="damaged"):
        load_run_log(tmp_path / "bad", "mf", 0)
    with pytest.raises(RunLogError, match=r"no policy 'bpr'; it ran"):
        load_run_log(saved_run, "bpr", 0)
    with pytest.raises(RunLogError, match="no seed 5"):
        load_run_log(saved_run, "mf", 5)
    daily = tmp_path / "daily"
    simulate(small_cfg, ["random"], [0], daily, log_level="daily")
    with pytest.raises(RunLogError, match="--log-level request"):
        load_run_log(daily, "random", 0)
    with pytest.raises(ValueError, match="frozen"):
        LLMRankerPolicy.fit_from_run(saved_run, "mf", 0, "llm:0,tiny={},device=cpu")


def test_a_damaged_trajectory_is_refused(saved_run: Path, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(saved_run, run)
    npz = run / "trajectories" / "mf__seed0.npz"
    raw = bytearray(npz.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    npz.write_bytes(bytes(raw))
    with pytest.raises(RunLogError, match="damaged"):
        load_run_log(run, "mf", 0)
    npz.unlink()
    with pytest.raises(RunLogError, match=r"no trajectory mf__seed0\.npz"):
        load_run_log(run, "mf", 0)


def test_cli_fit_llm(saved_run: Path, small_cfg, tmp_path: Path) -> None:
    from recsim_llm.cli import app

    runner = CliRunner()
    ck = tmp_path / "ck"
    res = runner.invoke(app, ["fit-llm", str(saved_run), "--policy", "mf", "--out", str(ck),
                              "--spec", FIT])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and (ck / "model.pt").is_file()
    res = runner.invoke(app, ["fit-llm", str(tmp_path / "nope"), "--policy", "mf", "--out",
                              str(ck)])
    assert res.exit_code == 2 and "does not exist" in res.output
