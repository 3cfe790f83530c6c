"""Checkpoints and resumable results folders: kill and resume, damaged files, other runs.

A run killed at any instant and rerun must end with the same bytes as an uninterrupted run; a
damaged checkpoint or one of another run must be refused, never silently used.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from recsim_llm.agents.collaborative import OnlineMFPolicy
from recsim_llm.checkpoint import (
    MAGIC,
    CheckpointError,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
    world_fingerprint,
)
from recsim_llm.cli import app
from recsim_llm.config import ScenarioConfig
from recsim_llm.platform import PolicyContext
from recsim_llm.runner import (
    RESULT_FORMAT,
    IncompatibleRunError,
    run_policy,
    simulate,
    unit_name,
)
from recsim_llm.scenarios import build_world
from recsim_llm.simulator import World

HORIZON = 12
EVERY = 3


class Interrupt(Exception):
    """Raised from a progress callback to stop a run in the middle of a day boundary."""


def stop_at(day: int):
    """A progress callback that interrupts the run at the end of (0-based) ``day``."""
    def cb(policy: str, seed: int, d: int) -> None:
        if d == day:
            raise Interrupt(f"{policy} seed {seed} day {d}")
    return cb


@pytest.fixture(scope="module")
def cfg12(make_small_config) -> ScenarioConfig:
    return make_small_config(horizon_days=HORIZON)


@pytest.fixture(scope="module")
def world12(cfg12: ScenarioConfig) -> World:
    return build_world(cfg12, 0)


# ---------------------------------------------------------------- kill -9 and resume (CLI)

CLI_ARGS = ["simulate", "--users", "300", "--days", "40", "--seeds", "2", "--policy", "random",
            "--policy", "greedy", "--encoder", "hashing:32", "--checkpoint-every", "2",
            "--quiet", "--log-level", "request"]


def _cli(out: Path) -> list[str]:
    return [sys.executable, "-m", "recsim_llm.cli", *CLI_ARGS, "--out", str(out)]


def _env(cache: Path) -> dict[str, str]:
    # PYTHONPATH: the child imports this checkout, whatever is installed (cwd is a tmp dir).
    repo = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": repo, "RECSIM_LLM_CACHE": str(cache),
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def _checkpoints(folder: Path) -> list[Path]:
    return [p for p in folder.glob("*.ckpt")] if folder.is_dir() else []


def test_sigkill_and_resume_gives_identical_results(tmp_path: Path) -> None:
    env = _env(tmp_path / "cache")
    a, b = tmp_path / "A", tmp_path / "B"

    proc = subprocess.Popen(_cli(b), env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        # Kill in the second unit (greedy, seed 0): one unit finished, one mid-way.
        target = b / "checkpoints" / f"{unit_name('greedy', 0)}.ckpt"
        deadline = time.monotonic() + 60
        while not target.exists():
            if proc.poll() is not None:
                _, err = proc.communicate()
                pytest.fail(f"run ended (rc {proc.returncode}) before {target.name} was seen: "
                            f"{err.decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"{target.name} did not appear within 60 s")
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:  # a failed wait above: do not leave our child running
            proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
    assert proc.returncode == -signal.SIGKILL
    # The kill landed mid-run: nothing final was written, a checkpoint was left behind.
    assert not (b / "daily.csv").exists()
    assert json.loads((b / "manifest.json").read_text())["complete"] is False
    left = _checkpoints(b / "checkpoints")
    assert left, "the killed run left no checkpoint to resume from"
    assert (b / "parts" / f"{unit_name('random', 0)}.part").exists()
    assert not (b / "parts" / f"{unit_name('greedy', 1)}.part").exists()
    for ck in left:
        assert read_checkpoint(ck)["day"] % 2 == 0  # intact and on a checkpoint boundary

    resumed = subprocess.run(_cli(b), env=env, cwd=tmp_path, capture_output=True, timeout=120,
                             check=False)
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    full = subprocess.run(_cli(a), env=env, cwd=tmp_path, capture_output=True, timeout=120,
                          check=False)
    assert full.returncode == 0, full.stderr.decode()[-2000:]

    for name in ("daily.csv", "groups.csv", "users.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert json.loads((b / "manifest.json").read_text())["complete"] is True
    assert not _checkpoints(b / "checkpoints"), "finished units must delete their checkpoint"
    trajs = sorted(p.name for p in (a / "trajectories").glob("*.npz"))
    assert trajs == sorted(f"{unit_name(p, s)}.npz" for p in ("random", "greedy")
                           for s in (0, 1))
    assert trajs == sorted(p.name for p in (b / "trajectories").glob("*.npz"))
    for name in trajs:
        with np.load(a / "trajectories" / name) as za, np.load(b / "trajectories" / name) as zb:
            assert sorted(za.files) == sorted(zb.files)
            assert "req_slates" in za.files  # request level: the heaviest arrays are compared
            for key in za.files:
                np.testing.assert_array_equal(za[key], zb[key], err_msg=f"{name}:{key}")
        assert ((a / "trajectories" / name).with_suffix(".json").read_text()
                == (b / "trajectories" / name).with_suffix(".json").read_text())


# ---------------------------------------------------------------- in-process resume


@pytest.mark.parametrize(("train_days", "freeze", "stop_day"), [
    (0, False, 7),   # continual learning, killed after the day-6 checkpoint
    (4, True, 8),    # frozen after day 4; the day-6 checkpoint holds the frozen history
    (3, True, 7),    # a checkpoint falls exactly on the freeze day
])
def test_mf_resume_restores_learned_state(world12: World, tmp_path: Path, train_days: int,
                                          freeze: bool, stop_day: int) -> None:
    seed = 1
    full_policy = OnlineMFPolicy()
    full = run_policy(world12, full_policy, seed, train_days=train_days, freeze=freeze)

    ck = tmp_path / "mf.ckpt"
    first = OnlineMFPolicy()
    with pytest.raises(Interrupt):
        run_policy(world12, first, seed, stop_at(stop_day), checkpoint=ck,
                   checkpoint_every=EVERY, train_days=train_days, freeze=freeze)
    snap = read_checkpoint(ck)
    last = stop_day // EVERY * EVERY  # the interrupt fires before day stop_day + 1
    assert snap["day"] == last
    assert snap["run"]["policy"] == "mf" and snap["run"]["seed"] == seed
    assert len(snap["recorder"]["rows"]) == last
    assert (snap["platform"]["frozen_log"] is not None) == (freeze and last > train_days)
    # The checkpoint holds learned factors, not the initial ones.
    assert snap["policy"]["params"]["U"].shape == full_policy.U.shape
    b = snap["policy"]["params"]["b"]
    assert not np.array_equal(b, np.zeros_like(b))

    resumed_policy = OnlineMFPolicy()
    seen: list[int] = []
    res = run_policy(world12, resumed_policy, seed, lambda p, s, d: seen.append(d),
                     checkpoint=ck, checkpoint_every=EVERY, train_days=train_days,
                     freeze=freeze)
    assert seen == list(range(HORIZON))  # replayed progress for restored days, then the rest
    pd.testing.assert_frame_equal(pd.DataFrame(res.daily), pd.DataFrame(full.daily),
                                  check_exact=True)
    pd.testing.assert_frame_equal(pd.DataFrame(res.groups), pd.DataFrame(full.groups),
                                  check_exact=True)
    pd.testing.assert_frame_equal(res.users, full.users, check_exact=True)
    for attr in ("U", "V", "b"):
        np.testing.assert_array_equal(getattr(resumed_policy, attr), getattr(full_policy, attr))
    assert (resumed_policy.rng.bit_generator.state == full_policy.rng.bit_generator.state)
    if freeze:
        assert set(pd.DataFrame(res.daily).phase) == {"train", "eval"}


def test_resume_without_restoring_mf_would_differ(world12: World, tmp_path: Path) -> None:
    """Control: the comparison above can fail. Resuming the simulator but re-initialising the
    MF factors (what a checkpoint without policy state would do) changes the rows."""
    full = run_policy(world12, "mf", 1)
    ck = tmp_path / "mf.ckpt"
    with pytest.raises(Interrupt):
        run_policy(world12, "mf", 1, stop_at(7), checkpoint=ck, checkpoint_every=EVERY)
    snap = read_checkpoint(ck)
    pol = OnlineMFPolicy()
    pol.bind(PolicyContext.of(world12), np.random.default_rng(123))
    snap["policy"] = {**snap["policy"], "params": pol.params()}
    save_checkpoint(ck, {k: v for k, v in snap.items() if k != "fingerprint"},
                    world_fingerprint(world12))
    res = run_policy(world12, "mf", 1, checkpoint=ck, checkpoint_every=EVERY)
    assert not pd.DataFrame(res.daily).equals(pd.DataFrame(full.daily))


def test_checkpoint_of_another_policy_is_refused(world12: World, tmp_path: Path) -> None:
    ck = tmp_path / "u.ckpt"
    run_policy(world12, "random", 0, checkpoint=ck, checkpoint_every=EVERY)
    assert ck.exists()
    with pytest.raises(CheckpointError, match="its policy is 'random'"):
        run_policy(world12, "greedy", 0, checkpoint=ck, checkpoint_every=EVERY)


def test_checkpoint_of_another_seed_is_refused(world12: World, tmp_path: Path) -> None:
    ck = tmp_path / "s.ckpt"
    run_policy(world12, "random", 0, checkpoint=ck, checkpoint_every=EVERY)
    with pytest.raises(CheckpointError):
        run_policy(world12, "random", 1, checkpoint=ck, checkpoint_every=EVERY)


# ---------------------------------------------------------------- damaged checkpoints


@pytest.fixture
def good_checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "x.ckpt"
    save_checkpoint(path, {"day": 4, "arr": np.arange(1000, dtype=np.int64)}, "fp")
    return path


def test_round_trip_and_layout(good_checkpoint: Path) -> None:
    import hashlib

    from recsim_llm.integrity import code_version

    raw = good_checkpoint.read_bytes()
    assert raw[:8] == MAGIC
    # The checksum is bound to the code version: another version's checkpoint never verifies.
    bound = f"recsim_llm checkpoint|{code_version()}".encode() + b"\0"
    assert hashlib.sha256(bound + raw[40:]).digest() == raw[8:40]
    assert hashlib.sha256(raw[40:]).digest() != raw[8:40]
    data = load_checkpoint(good_checkpoint, "fp")
    assert data["day"] == 4
    np.testing.assert_array_equal(data["arr"], np.arange(1000))
    assert not [p for p in good_checkpoint.parent.iterdir() if ".tmp" in p.name]


@pytest.mark.parametrize("where", [40, 41, -1, -100])
def test_flipped_byte_is_corrupted(good_checkpoint: Path, where: int) -> None:
    raw = bytearray(good_checkpoint.read_bytes())
    raw[where] ^= 0x01
    good_checkpoint.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="corrupted") as err:
        read_checkpoint(good_checkpoint)
    assert str(good_checkpoint) in str(err.value)
    with pytest.raises(CheckpointError, match="corrupted"):
        load_checkpoint(good_checkpoint, "fp")


def test_flipped_checksum_byte_is_corrupted(good_checkpoint: Path) -> None:
    raw = bytearray(good_checkpoint.read_bytes())
    raw[10] ^= 0xFF
    good_checkpoint.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="corrupted"):
        read_checkpoint(good_checkpoint)


@pytest.mark.parametrize("keep", [0, 5, 8, 39, 40, 200])
def test_truncated_file_is_refused(good_checkpoint: Path, keep: int) -> None:
    raw = good_checkpoint.read_bytes()
    assert keep < len(raw)
    good_checkpoint.write_bytes(raw[:keep])
    with pytest.raises(CheckpointError, match=r"truncated|corrupted"):
        read_checkpoint(good_checkpoint)


def test_wrong_magic_is_refused(good_checkpoint: Path) -> None:
    raw = good_checkpoint.read_bytes()
    good_checkpoint.write_bytes(b"NOTACKPT" + raw[8:])
    with pytest.raises(CheckpointError, match="not a recsim_llm checkpoint"):
        read_checkpoint(good_checkpoint)


def test_missing_file_is_a_checkpoint_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="cannot be read"):
        read_checkpoint(tmp_path / "nope.ckpt")


def test_checkpoint_of_another_world_is_refused(world12: World, make_small_config,
                                                tmp_path: Path) -> None:
    ck = tmp_path / "w.ckpt"
    run_policy(world12, "random", 0, checkpoint=ck, checkpoint_every=EVERY)
    other = build_world(make_small_config(horizon_days=HORIZON, **{"choice.temperature": 9.0}), 0)
    assert world_fingerprint(other) != world_fingerprint(world12)
    with pytest.raises(CheckpointError, match="different world"):
        run_policy(other, "random", 0, checkpoint=ck, checkpoint_every=EVERY)
    with pytest.raises(CheckpointError, match="different world"):
        load_checkpoint(ck, world_fingerprint(other))


def test_run_policy_refuses_a_corrupted_checkpoint(world12: World, tmp_path: Path) -> None:
    ck = tmp_path / "c.ckpt"
    with pytest.raises(Interrupt):
        run_policy(world12, "greedy", 0, stop_at(7), checkpoint=ck, checkpoint_every=EVERY)
    raw = bytearray(ck.read_bytes())
    raw[len(raw) // 2] ^= 0x10
    ck.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="corrupted"):
        run_policy(world12, "greedy", 0, checkpoint=ck, checkpoint_every=EVERY)


# ---------------------------------------------------------------- through simulate / the CLI

SMALL_CLI = ["simulate", "--users", "40", "--days", "6", "--encoder", "hashing:32",
             "--policy", "random", "--policy", "greedy", "--seeds", "1",
             "--checkpoint-every", "2", "--quiet"]


def _corrupt_unit(out: Path, unit: str) -> Path:
    """Make a finished unit look interrupted, with a damaged checkpoint."""
    (out / "parts" / f"{unit}.part").unlink()
    ck = out / "checkpoints" / f"{unit}.ckpt"
    save_checkpoint(ck, {"day": 2}, "whatever")
    raw = bytearray(ck.read_bytes())
    raw[-3] ^= 0x01
    ck.write_bytes(bytes(raw))
    return ck


def test_simulate_reports_a_corrupted_checkpoint(small_cfg: ScenarioConfig,
                                                 tmp_path: Path) -> None:
    out = tmp_path / "run"
    simulate(small_cfg, ["random", "greedy"], [0], out=out, checkpoint_every=2)
    before = (out / "daily.csv").read_bytes()
    ck = _corrupt_unit(out, unit_name("greedy", 0))
    with pytest.raises(CheckpointError, match="corrupted"):
        simulate(small_cfg, ["random", "greedy"], [0], out=out, checkpoint_every=2)
    assert ck.exists()  # left for the user to inspect or delete, not overwritten
    assert (out / "daily.csv").read_bytes() == before


def test_simulate_stops_midway_and_resumes(small_cfg: ScenarioConfig, tmp_path: Path) -> None:
    full = simulate(small_cfg, ["random", "mf"], [0, 1])

    out = tmp_path / "run"
    stop = {"n": 0}

    def interrupt(policy: str, seed: int, day: int) -> None:
        if policy == "mf" and seed == 1 and day == 3:
            raise Interrupt
    with pytest.raises(Interrupt):
        simulate(small_cfg, ["random", "mf"], [0, 1], out=out, checkpoint_every=2,
                 progress=interrupt)
    assert (out / "checkpoints" / "mf__seed1.ckpt").exists()
    assert not (out / "daily.csv").exists()

    def count(policy: str, seed: int, day: int) -> None:
        stop["n"] += 1
    res = simulate(small_cfg, ["random", "mf"], [0, 1], out=out, checkpoint_every=2,
                   progress=count)
    assert stop["n"] == 2 * 2 * small_cfg.horizon_days
    pd.testing.assert_frame_equal(res.daily, full.daily, check_exact=True)
    pd.testing.assert_frame_equal(pd.read_csv(out / "daily.csv"),
                                  full.daily.reset_index(drop=True), check_exact=False,
                                  rtol=1e-12, check_dtype=False)


def test_cli_reports_a_corrupted_checkpoint(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "run"
    res = runner.invoke(app, [*SMALL_CLI, "--out", str(out)])
    assert res.exit_code == 0, res.output
    _corrupt_unit(out, unit_name("random", 0))
    res = runner.invoke(app, [*SMALL_CLI, "--out", str(out)])
    assert res.exit_code != 0
    assert "corrupted" in res.output and "random__seed0.ckpt" in res.output


# ---------------------------------------------------------------- results folders of other runs


@pytest.fixture
def finished_run(small_cfg: ScenarioConfig, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    simulate(small_cfg, ["random"], [0], out=out)
    return out


def test_results_folder_of_another_format_is_refused(finished_run: Path,
                                                     small_cfg: ScenarioConfig) -> None:
    man_path = finished_run / "manifest.json"
    man = json.loads(man_path.read_text())
    assert man["result_format"] == RESULT_FORMAT
    man["result_format"] = RESULT_FORMAT + 41
    man_path.write_text(json.dumps(man))
    with pytest.raises(IncompatibleRunError, match=f"format {RESULT_FORMAT + 41}") as err:
        simulate(small_cfg, ["random"], [0], out=finished_run)
    assert "--out" in str(err.value)
    del man["result_format"]
    man_path.write_text(json.dumps(man))
    with pytest.raises(IncompatibleRunError, match="format None"):
        simulate(small_cfg, ["random"], [0], out=finished_run)


def test_unreadable_manifest_is_refused(finished_run: Path, small_cfg: ScenarioConfig) -> None:
    (finished_run / "manifest.json").write_text("{not json")
    with pytest.raises(IncompatibleRunError, match="unreadable"):
        simulate(small_cfg, ["random"], [0], out=finished_run)


@pytest.mark.parametrize(("kwargs", "key"), [
    ({"policies": ["random", "greedy"]}, "policies"),
    ({"policies": ["greedy"]}, "policies"),
    ({"seeds": [0, 1]}, "seeds"),
    ({"seeds": [1]}, "seeds"),
    ({"log_level": "request"}, "log_level"),
    ({"train_days": 2}, "train_days"),
    ({"train_days": 2, "freeze": True}, "train_days"),
])
def test_results_folder_of_another_run_is_refused(finished_run: Path, small_cfg: ScenarioConfig,
                                                  kwargs: dict, key: str) -> None:
    args = {"policies": ["random"], "seeds": [0], **kwargs}
    before = (finished_run / "manifest.json").read_text()
    with pytest.raises(IncompatibleRunError, match=rf"differ: {key} \("):
        simulate(small_cfg, args.pop("policies"), args.pop("seeds"), out=finished_run, **args)
    assert (finished_run / "manifest.json").read_text() == before


def test_results_folder_of_another_config_is_refused(finished_run: Path,
                                                     make_small_config) -> None:
    # The message names the differing key, not two whole configs.
    with pytest.raises(IncompatibleRunError,
                       match=r"1 key\(s\) differ: config\.horizon_days \(5 there, 4 now\)\."):
        simulate(make_small_config(horizon_days=4), ["random"], [0], out=finished_run)


def test_rerunning_a_finished_folder_is_a_no_op(finished_run: Path,
                                                small_cfg: ScenarioConfig) -> None:
    before = {p.name: p.read_bytes() for p in finished_run.glob("*.csv")}
    res = simulate(small_cfg, ["random"], [0], out=finished_run)
    assert {p.name: p.read_bytes() for p in finished_run.glob("*.csv")} == before
    assert len(res.daily) == small_cfg.horizon_days


# ---------------------------------------------------------------- atomic writes


def test_no_temporary_files_left(small_cfg: ScenarioConfig, tmp_path: Path) -> None:
    out = tmp_path / "run"
    simulate(small_cfg, ["random", "greedy"], [0, 1], out=out, checkpoint_every=1,
             log_level="request")
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files
    assert not [p for p in files if ".tmp" in p.name]
    assert not list((out / "checkpoints").iterdir())
    assert {p.name for p in (out / "parts").iterdir()} == {
        f"{unit_name(p, s)}.part" for p in ("random", "greedy") for s in (0, 1)}
    assert json.loads((out / "manifest.json").read_text())["complete"] is True
