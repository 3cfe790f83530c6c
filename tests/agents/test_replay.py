"""ReplayPolicy: a request-level trajectory replayed on the same world and seed is the same run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsim_llm.agents.replay import ReplayPolicy
from recsim_llm.analysis.trajectory import Trajectory, load_trajectory, save_trajectory
from recsim_llm.runner import RunResult, run_policy
from recsim_llm.scenarios import build_world
from recsim_llm.simulator import World

HORIZON = 10


class Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def world(make_small_config) -> World:
    return build_world(make_small_config(horizon_days=HORIZON), 0)


@pytest.fixture(scope="module", params=["greedy", "mf"])
def logged(request, world: World, tmp_path_factory) -> tuple[str, RunResult, Trajectory]:
    spec = request.param
    res = run_policy(world, spec, 2, log_level="request")
    path = tmp_path_factory.mktemp("traj") / f"{spec}.npz"
    save_trajectory(path, res.trajectory, {"policy": spec, "seed": 2})
    return spec, res, load_trajectory(path)


def _without_policy(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows).drop(columns="policy")


def test_replay_reproduces_the_daily_rows(logged, world: World) -> None:
    spec, res, traj = logged
    replay = ReplayPolicy(traj)
    rep = run_policy(world, replay, 2, log_level="request")
    assert set(pd.DataFrame(rep.daily).policy) == {"replay"}
    assert set(pd.DataFrame(res.daily).policy) == {spec}
    pd.testing.assert_frame_equal(_without_policy(rep.daily), _without_policy(res.daily),
                                  check_exact=True)
    pd.testing.assert_frame_equal(_without_policy(rep.groups), _without_policy(res.groups),
                                  check_exact=True)
    pd.testing.assert_frame_equal(rep.users.drop(columns="policy"),  # type: ignore[union-attr]
                                  res.users.drop(columns="policy"),  # type: ignore[union-attr]
                                  check_exact=True)
    assert replay.i == len(traj.requests())  # every logged request was served
    a, b = rep.trajectory.arrays(), res.trajectory.arrays()  # type: ignore[union-attr]
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_replay_on_another_seed_diverges(logged, world: World) -> None:
    _, _, traj = logged
    with pytest.raises(RuntimeError, match="diverged"):
        run_policy(world, ReplayPolicy(traj), 3)


def test_replay_on_another_world_diverges(logged, make_small_config) -> None:
    _, _, traj = logged
    other = build_world(make_small_config(horizon_days=HORIZON, **{"population.n_users": 40}),
                        0)
    with pytest.raises(RuntimeError, match="diverged"):
        run_policy(other, ReplayPolicy(traj), 2)


def test_replay_past_the_log_raises(logged, make_small_config) -> None:
    _, _, traj = logged
    # a longer horizon: the same users and draws for the logged days, then no log left
    longer = build_world(make_small_config(horizon_days=HORIZON + 3), 0)
    with pytest.raises(RuntimeError, match="ran past the"):
        run_policy(longer, ReplayPolicy(traj), 2)


def test_daily_level_trajectory_cannot_be_replayed(world: World, tmp_path: Path) -> None:
    for level in ("daily", "user-day"):
        res = run_policy(world, "random", 0, log_level=level)
        path = tmp_path / f"{level}.npz"
        save_trajectory(path, res.trajectory, {"policy": "random"})
        with pytest.raises(ValueError, match=f"'{level}'") as err:
            ReplayPolicy(load_trajectory(path))
        assert "'request'" in str(err.value)


def test_replay_resumes_from_a_checkpoint(logged, world: World, tmp_path: Path) -> None:
    _, res, traj = logged
    ck = tmp_path / "replay.ckpt"

    def stop(policy: str, seed: int, day: int) -> None:
        if day == 7:
            raise Interrupt
    with pytest.raises(Interrupt):
        run_policy(world, ReplayPolicy(traj), 2, stop, checkpoint=ck, checkpoint_every=3)
    assert ck.exists()
    rep = run_policy(world, ReplayPolicy(traj), 2, checkpoint=ck, checkpoint_every=3)
    pd.testing.assert_frame_equal(_without_policy(rep.daily), _without_policy(res.daily),
                                  check_exact=True)
