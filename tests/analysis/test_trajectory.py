"""The trajectory store: arrays per log level, their consistency, users.csv survival data, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsim_llm.analysis.trajectory import (
    LOG_LEVELS,
    Trajectory,
    TrajectoryLogger,
    check_log_level,
    load_trajectory,
    save_trajectory,
)
from recsim_llm.runner import RunResult, run_policy, simulate
from recsim_llm.scenarios import build_world
from recsim_llm.simulator import World

USER_DAY_KEYS = {"visits", "requests", "clicks", "satisfaction", "churned"}
REQUEST_KEYS = {"req_day", "req_tick", "req_offsets", "req_users", "req_slates",
                "req_positions", "req_satisfaction", "req_dwell"}
HORIZON = 14


@pytest.fixture(scope="module")
def churny_world(make_small_config) -> World:
    """Arrivals every day and quick churn, so both events and censoring occur."""
    cfg = make_small_config(horizon_days=HORIZON, **{"population.new_users_per_day": 3,
                                                     "dynamics.churn_after_days": 2,
                                                     "dynamics.return_bias": -2.0})
    return build_world(cfg, 0)


@pytest.fixture(scope="module")
def runs(churny_world: World) -> dict[str, RunResult]:
    return {level: run_policy(churny_world, "random", 0, log_level=level)
            for level in LOG_LEVELS}


def test_levels_are_nested_and_runs_identical(runs: dict[str, RunResult]) -> None:
    keys = {lvl: set(r.trajectory.arrays()) for lvl, r in runs.items()}  # type: ignore[union-attr]
    assert keys["daily"] == {"churn_day"}
    assert keys["user-day"] == {"churn_day"} | USER_DAY_KEYS
    assert keys["request"] == {"churn_day"} | USER_DAY_KEYS | REQUEST_KEYS
    # Logging more detail does not change the simulation.
    base = pd.DataFrame(runs["daily"].daily)
    for lvl in ("user-day", "request"):
        pd.testing.assert_frame_equal(pd.DataFrame(runs[lvl].daily), base, check_exact=True)
        pd.testing.assert_frame_equal(runs[lvl].users, runs["daily"].users, check_exact=True)


def test_user_day_shapes_and_consistency(runs: dict[str, RunResult],
                                         churny_world: World) -> None:
    a = runs["user-day"].trajectory.arrays()  # type: ignore[union-attr]
    n = churny_world.n_users
    for key in USER_DAY_KEYS:
        assert a[key].shape == (HORIZON, n), key
    daily = pd.DataFrame(runs["user-day"].daily)
    np.testing.assert_array_equal(a["visits"].sum(axis=1), daily.active_users)
    np.testing.assert_array_equal(a["requests"].sum(axis=1), daily.requests)
    np.testing.assert_array_equal(a["clicks"].sum(axis=1), daily.clicks)
    assert (a["clicks"] <= a["requests"]).all()
    assert (a["requests"][~a["visits"]] == 0).all()
    assert (a["requests"][a["visits"]] > 0).all()
    # satisfaction is NaN exactly where the user did not visit
    np.testing.assert_array_equal(np.isnan(a["satisfaction"]), ~a["visits"])
    # churn is permanent and churned users never visit
    assert (np.diff(a["churned"].astype(int), axis=0) >= 0).all()
    assert not (a["churned"] & a["visits"]).any()
    # users visit only from their arrival day on
    arrival = churny_world.user_arrival()
    days = np.arange(HORIZON)[:, None]
    assert not (a["visits"] & (days < arrival[None, :])).any()


def test_request_arrays_consistent_with_offsets(runs: dict[str, RunResult],
                                                churny_world: World) -> None:
    a = runs["request"].trajectory.arrays()  # type: ignore[union-attr]
    k = churny_world.cfg.slate_size
    off = a["req_offsets"]
    n_req = len(a["req_day"])
    assert n_req > HORIZON
    assert len(a["req_tick"]) == n_req and len(off) == n_req + 1
    assert off[0] == 0 and (np.diff(off) > 0).all()
    total = int(off[-1])
    assert a["req_users"].shape == (total,)
    assert a["req_slates"].shape == (total, k)
    assert a["req_positions"].shape == (total,) and a["req_satisfaction"].shape == (total,)
    # the served-user-requests of a day are that day's requests in the user-day arrays
    per_req_day = np.repeat(a["req_day"], np.diff(off))
    np.testing.assert_array_equal(np.bincount(per_req_day, minlength=HORIZON),
                                  a["requests"].sum(axis=1))
    clicked = a["req_positions"] >= 0
    np.testing.assert_array_equal(np.bincount(per_req_day[clicked], minlength=HORIZON),
                                  a["clicks"].sum(axis=1))
    # per user and day too
    per_ud = np.zeros_like(a["requests"], dtype=np.int64)
    np.add.at(per_ud, (per_req_day, a["req_users"]), 1)
    np.testing.assert_array_equal(per_ud, a["requests"])
    # ticks restart at 0 each day and count up; users are distinct within a request
    for d in range(HORIZON):
        ticks = a["req_tick"][a["req_day"] == d]
        np.testing.assert_array_equal(ticks, np.arange(len(ticks)))
    for i in range(n_req):
        u = a["req_users"][off[i]:off[i + 1]]
        assert len(np.unique(u)) == len(u)
    assert (a["req_positions"] >= -1).all() and (a["req_positions"] < k).all()
    s = a["req_slates"]
    assert (np.sort(s, axis=1)[:, 1:] != np.sort(s, axis=1)[:, :-1]).all()
    nc = churny_world.cfg.dynamics.no_click_satisfaction
    np.testing.assert_allclose(a["req_satisfaction"][~clicked], nc, rtol=1e-6)
    # the logged dwell: finite exactly where a click happened
    assert a["req_dwell"].shape == (total,)
    np.testing.assert_array_equal(np.isfinite(a["req_dwell"]), clicked)


def test_trajectory_requests_view(runs: dict[str, RunResult], tmp_path: Path) -> None:
    path = tmp_path / "t.npz"
    save_trajectory(path, runs["request"].trajectory, {"policy": "random", "seed": 0})
    traj = load_trajectory(path)
    assert traj.level == "request" and traj.meta["policy"] == "random"
    reqs = traj.requests()
    a = traj.arrays
    assert len(reqs) == len(a["req_day"])
    day, tick, users, slates, pos = reqs[3]
    off = a["req_offsets"]
    assert (day, tick) == (int(a["req_day"][3]), int(a["req_tick"][3]))
    np.testing.assert_array_equal(users, a["req_users"][off[3]:off[4]])
    np.testing.assert_array_equal(slates, a["req_slates"][off[3]:off[4]])
    np.testing.assert_array_equal(pos, a["req_positions"][off[3]:off[4]])
    assert users.dtype == np.int64 and slates.dtype == np.int64


def test_save_load_round_trip_every_level(runs: dict[str, RunResult], tmp_path: Path) -> None:
    for level, res in runs.items():
        path = tmp_path / f"{level}.npz"
        save_trajectory(path, res.trajectory, {"policy": "random", "seed": 0})
        assert path.is_file() and path.with_suffix(".json").is_file()
        assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
        traj = load_trajectory(path)
        assert traj.level == level
        expected = res.trajectory.arrays()  # type: ignore[union-attr]
        assert set(traj.arrays) == set(expected)
        for key, val in expected.items():
            np.testing.assert_array_equal(traj.arrays[key], val, err_msg=key)


def test_daily_level_has_no_request_view(runs: dict[str, RunResult], tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    save_trajectory(path, runs["daily"].trajectory, {})
    with pytest.raises(ValueError, match="'daily'"):
        load_trajectory(path).requests()


def test_users_table_durations_and_events(runs: dict[str, RunResult],
                                          churny_world: World) -> None:
    users = runs["user-day"].users
    a = runs["user-day"].trajectory.arrays()  # type: ignore[union-attr]
    assert users is not None and len(users) == churny_world.n_users
    arrival = churny_world.user_arrival()
    assert (arrival > 0).any(), "the fixture should have late arrivals"
    np.testing.assert_array_equal(users.arrival_day, arrival)
    event = users.churned.to_numpy()
    assert event.any() and (~event).any(), "need both churned and censored users"
    churn_day = a["churn_day"]
    # the recorded churn day is the first day-end at which the user is flagged churned
    first = np.where(a["churned"].any(axis=0), a["churned"].argmax(axis=0), -1)
    np.testing.assert_array_equal(churn_day, first)
    np.testing.assert_array_equal(event, churn_day >= 0)
    dur = users.duration.to_numpy()
    np.testing.assert_array_equal(dur[event], churn_day[event] - arrival[event])
    np.testing.assert_array_equal(dur[~event], HORIZON - arrival[~event])
    assert (dur[event] >= churny_world.cfg.dynamics.churn_after_days).all()
    joined = arrival < HORIZON
    assert (dur[joined] >= 1).all() and (dur <= HORIZON).all()
    # totals agree with the user-day arrays
    np.testing.assert_array_equal(users.visit_days, a["visits"].sum(axis=0))
    np.testing.assert_array_equal(users.requests, a["requests"].sum(axis=0))
    np.testing.assert_array_equal(users.clicks, a["clicks"].sum(axis=0))
    assert set(users.policy) == {"random"} and set(users.seed) == {0}
    assert "group:taste" in users.columns


def test_every_user_in_users_table_arrives_within_the_horizon(
        runs: dict[str, RunResult], churny_world: World) -> None:
    users = runs["daily"].users
    assert users is not None
    assert (users.arrival_day < HORIZON).all()
    assert (users.duration >= 1).all()


def test_users_csv_written_by_simulate(make_small_config, tmp_path: Path) -> None:
    cfg = make_small_config(horizon_days=6, **{"population.new_users_per_day": 2})
    res = simulate(cfg, ["random"], [0], out=tmp_path / "r", log_level="user-day")
    users = pd.read_csv(tmp_path / "r" / "users.csv")
    assert len(users) == len(res.users)  # type: ignore[arg-type]
    censored = ~users.churned
    np.testing.assert_array_equal(users.duration[censored], 6 - users.arrival_day[censored])
    traj = load_trajectory(tmp_path / "r" / "trajectories" / "random__seed0.npz")
    assert traj.level == "user-day" and traj.arrays["visits"].shape == (6, len(users))
    np.testing.assert_array_equal(users.clicks, traj.arrays["clicks"].sum(axis=0))


def test_load_trajectory_missing_files_name_the_path(runs: dict[str, RunResult],
                                                     tmp_path: Path) -> None:
    missing = tmp_path / "nothing.npz"
    with pytest.raises(FileNotFoundError, match=r"nothing\.npz") as err:
        load_trajectory(missing)
    assert str(missing) in str(err.value)
    path = tmp_path / "t.npz"
    save_trajectory(path, runs["daily"].trajectory, {})
    path.with_suffix(".json").unlink()
    with pytest.raises(FileNotFoundError) as err:
        load_trajectory(path)
    assert str(path.with_suffix(".json")) in str(err.value)


def test_unknown_log_level_lists_the_valid_ones(small_world: World, small_cfg) -> None:
    for call in (lambda: check_log_level("verbose"),
                 lambda: TrajectoryLogger(small_world, "verbose"),
                 lambda: run_policy(small_world, "random", 0, log_level="verbose"),
                 lambda: simulate(small_cfg, ["random"], [0], log_level="verbose")):
        with pytest.raises(ValueError, match="verbose") as err:
            call()
        for level in LOG_LEVELS:
            assert repr(level) in str(err.value)
    assert check_log_level("user-day") == "user-day"


def test_counters_are_wide_enough(churny_world: World) -> None:
    """Per-user daily request counts beyond 32,767 must not wrap (int16 gave -32536 where
    users.csv said 33000)."""
    from types import SimpleNamespace

    from recsim_llm.analysis.trajectory import TrajectoryLogger

    n = churny_world.n_users
    log = TrajectoryLogger(churny_world, "user-day")
    req = np.zeros(n, np.int64)
    req[0] = 33_000
    state = SimpleNamespace(visited_today=req > 0, day_requests=req, day_clicks=req // 2,
                            day_sat_sum=np.zeros(n), churned=np.zeros(n, bool))
    log.on_day_end(SimpleNamespace(state=state), 0)  # type: ignore[arg-type]
    arr = log.arrays()
    assert arr["requests"].dtype == np.int32 and arr["requests"][0, 0] == 33_000
    assert arr["clicks"][0, 0] == 16_500


def test_saved_trajectory_is_deterministic_and_verified(runs: dict[str, RunResult],
                                                        tmp_path: Path) -> None:
    import json

    from recsim_llm.analysis.trajectory import verify_trajectory

    res = runs["request"]
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    save_trajectory(a, res.trajectory, {"policy": "x", "seed": 0})
    save_trajectory(b, res.trajectory, {"policy": "x", "seed": 0})
    assert a.read_bytes() == b.read_bytes()  # fixed zip timestamps
    meta = verify_trajectory(a)
    assert len(meta["sha256"]) == 64 and "code_version" in meta
    raw = bytearray(a.read_bytes())
    raw[-200] ^= 0xFF
    a.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"a\.npz is damaged"):
        load_trajectory(a)
    json.loads(a.with_suffix(".json").read_text())  # the manifest itself is intact
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_request_dwell_of_a_trajectory_saved_before_it_existed(runs: dict[str, RunResult]
                                                             ) -> None:
    """Files written before ``req_dwell`` was logged still load: their dwell is all NaN."""
    a = dict(runs["request"].trajectory.arrays())  # type: ignore[union-attr]
    new = Trajectory(a, {"log_level": "request"})
    np.testing.assert_array_equal(new.request_dwell(), a["req_dwell"])
    old = Trajectory({k: v for k, v in a.items() if k != "req_dwell"}, {"log_level": "request"})
    assert old.request_dwell().shape == a["req_users"].shape
    assert np.isnan(old.request_dwell()).all()
    with pytest.raises(ValueError, match="needs 'request'"):
        Trajectory({"churn_day": a["churn_day"]}, {"log_level": "daily"}).request_dwell()
