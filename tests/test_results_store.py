"""The results folder: one run at a time, verified parts, I/O errors, disk full then rerun,
SIGKILL during a checkpoint write, and append-only checkpoints."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsim_llm.checkpoint import (
    CheckpointError,
    load_checkpoint,
    log_path,
    read_checkpoint,
    save_checkpoint,
)
from recsim_llm.config import ScenarioConfig
from recsim_llm.integrity import TEMP_MARK, RunIOError
from recsim_llm.results_store import (
    DamagedPartWarning,
    FolderLockedError,
    IncompatibleRunError,
    ResultsStore,
    differing_keys,
)
from recsim_llm.runner import simulate, unit_name

REPO = Path(__file__).resolve().parents[1]


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "RECSIM_LLM_CACHE": str(cache),
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _temps(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if TEMP_MARK in p.name]


# ---------------------------------------------------------------- parts


def test_damaged_part_is_recomputed(small_cfg: ScenarioConfig, tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = simulate(small_cfg, ["random", "greedy"], [0], out=out)
    before = (out / "daily.csv").read_bytes()
    part = out / "parts" / f"{unit_name('greedy', 0)}.part"
    raw = bytearray(part.read_bytes())
    raw[len(raw) // 2] ^= 0x04  # still unpickles, perhaps; the checksum says no
    part.write_bytes(bytes(raw))
    with pytest.warns(DamagedPartWarning, match=r"greedy__seed0\.part.*recomputing"):
        again = simulate(small_cfg, ["random", "greedy"], [0], out=out)
    pd.testing.assert_frame_equal(again.daily, first.daily, check_exact=True)
    assert (out / "daily.csv").read_bytes() == before


def test_altered_but_valid_pickle_part_is_not_used(small_cfg: ScenarioConfig,
                                                   tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = simulate(small_cfg, ["random"], [0], out=out)
    part = out / "parts" / f"{unit_name('random', 0)}.part"
    d, g, u = first.daily.copy(), pd.DataFrame(), first.users
    d["ctr"] = 0.99  # a forged part: valid pickle, right magic, no valid checksum
    raw = part.read_bytes()
    part.write_bytes(raw[:40] + pickle.dumps((d, g, u)))
    with pytest.warns(DamagedPartWarning):
        again = simulate(small_cfg, ["random"], [0], out=out)
    pd.testing.assert_frame_equal(again.daily, first.daily, check_exact=True)


def test_truncated_part_names_the_file_and_is_recomputed(small_cfg: ScenarioConfig,
                                                         tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = simulate(small_cfg, ["random"], [0], out=out)
    part = out / "parts" / f"{unit_name('random', 0)}.part"
    part.write_bytes(part.read_bytes()[:30])
    with pytest.warns(DamagedPartWarning, match="random__seed0.part is truncated"):
        again = simulate(small_cfg, ["random"], [0], out=out)
    pd.testing.assert_frame_equal(again.daily, first.daily, check_exact=True)


def test_part_of_another_encoder_is_not_reused(small_cfg: ScenarioConfig,
                                               tmp_path: Path) -> None:
    out = tmp_path / "run"
    simulate(small_cfg, ["random"], [0], out=out)
    from recsim_llm.text import make_encoder

    class Renamed:
        """The same vectors under another identity (e.g. a retrained model folder)."""

        def __init__(self) -> None:
            self.inner = make_encoder("hashing:32", cache=False)
            self.dim = self.inner.dim
            self.identity = self.inner.identity + "-v2"

        def encode(self, texts):  # type: ignore[no-untyped-def]
            return self.inner.encode(texts)

    with pytest.warns(DamagedPartWarning):
        simulate(small_cfg, ["random"], [0], out=out, encoder=Renamed())  # type: ignore[arg-type]


def test_damaged_trajectory_recomputes_its_unit(small_cfg: ScenarioConfig,
                                                tmp_path: Path) -> None:
    out = tmp_path / "run"
    simulate(small_cfg, ["random"], [0], out=out, log_level="user-day")
    npz = out / "trajectories" / f"{unit_name('random', 0)}.npz"
    good = npz.read_bytes()
    raw = bytearray(good)
    raw[len(raw) // 2] ^= 0x01
    npz.write_bytes(bytes(raw))
    from recsim_llm.analysis.trajectory import load_trajectory

    with pytest.raises(ValueError, match=r"random__seed0\.npz is damaged"):
        load_trajectory(npz)
    with pytest.warns(DamagedPartWarning, match="npz is damaged"):
        simulate(small_cfg, ["random"], [0], out=out, log_level="user-day")
    assert npz.read_bytes() == good  # rebuilt, byte for byte (deterministic zip)


# ---------------------------------------------------------------- manifest


def test_differing_keys_are_named() -> None:
    old = {"a": 1, "b": {"c": 2, "d": 3}}
    new = {"a": 1, "b": {"c": 5, "d": 3}, "e": 0}
    assert differing_keys(old, new) == ["b.c (2 there, 5 now)", "e (absent there, 0 now)"]


def test_config_mismatch_names_only_the_differing_keys(small_cfg: ScenarioConfig,
                                                       make_small_config,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "run"
    simulate(small_cfg, ["random"], [0], out=out)
    other = make_small_config(**{"choice.temperature": 3.0, "population.n_users": 40})
    with pytest.raises(IncompatibleRunError) as err:
        simulate(other, ["random"], [0], out=out)
    msg = str(err.value)
    assert "config.population.n_users (50 there, 40 now)" in msg
    assert "config.choice.temperature (10.0 there, 3.0 now)" in msg
    assert "\n" not in msg and len(msg) < 400  # not two whole configs


# ---------------------------------------------------------------- lock


def test_second_run_on_the_same_out_is_refused(small_cfg: ScenarioConfig,
                                               tmp_path: Path) -> None:
    out = tmp_path / "run"
    info = {"config": small_cfg.to_dict(), "policies": ["random"], "seeds": [0],
            "log_level": "daily", "data_path": None, "train_days": 0, "freeze": False,
            "result_format": 2}
    with ResultsStore(out, info):
        with pytest.raises(FolderLockedError, match=rf"in use by another simulate run \(pid "
                                                   rf"{os.getpid()}"):
            simulate(small_cfg, ["random"], [0], out=out)
    simulate(small_cfg, ["random"], [0], out=out)  # released: now it runs
    assert json.loads((out / "manifest.json").read_text())["complete"] is True


CONCURRENT = ["simulate", "--users", "60", "--days", "8", "--policy", "random", "--policy",
              "greedy", "--seeds", "2", "--encoder", "hashing:32", "--quiet",
              "--checkpoint-every", "1"]


def test_concurrent_runs_on_one_out(tmp_path: Path) -> None:
    """Three identical runs at once: one runs, the others stop with one line; no temp names
    collide, no temporary file is left, and the results equal a lone run's."""
    env = _env(tmp_path / "cache")
    out, alone = tmp_path / "shared", tmp_path / "alone"
    cmd = [sys.executable, "-m", "recsim_llm.cli", *CONCURRENT]
    procs = [subprocess.Popen([*cmd, "--out", str(out)], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(3)]
    results = [(p.wait(timeout=300), p.communicate()) for p in procs]
    codes = [rc for rc, _ in results]
    assert codes.count(0) >= 1, [e.decode()[-800:] for _, (_, e) in results]
    for rc, (_, err) in results:
        if rc != 0:
            lines = err.decode().strip().splitlines()
            assert len(lines) == 1 and "in use by another simulate run" in lines[0], lines
            assert "Traceback" not in err.decode()
    assert not _temps(out)
    lone = subprocess.run([*cmd, "--out", str(alone)], env=env, cwd=tmp_path,
                          capture_output=True, timeout=300, check=False)
    assert lone.returncode == 0, lone.stderr.decode()[-2000:]
    assert (out / "daily.csv").read_bytes() == (alone / "daily.csv").read_bytes()


# ---------------------------------------------------------------- I/O errors


def test_uncreatable_out_is_one_clear_line(small_cfg: ScenarioConfig, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RunIOError, match=r"^cannot create results folder .*file/run: "):
        simulate(small_cfg, ["random"], [0], out=blocker / "run")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_out_is_one_clear_line(small_cfg: ScenarioConfig, tmp_path: Path) -> None:
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        with pytest.raises(RunIOError, match="permission denied"):
            simulate(small_cfg, ["random"], [0], out=out)
    finally:
        out.chmod(0o700)
    assert not _temps(out)


DISK = ["simulate", "--users", "120", "--days", "30", "--policy", "random", "--policy", "mf",
        "--seeds", "1", "--encoder", "hashing:32", "--quiet", "--checkpoint-every", "3",
        "--log-level", "request"]


def test_disk_full_then_rerun_gives_identical_results(tmp_path: Path) -> None:
    """A file-size limit (``ulimit -f``) stands in for a full disk: the write fails with EFBIG
    mid-run. The run must stop with one line and no temporary file; rerunning without the limit
    must end with the bytes of an uninterrupted run."""
    env = _env(tmp_path / "cache")
    full, out = tmp_path / "full", tmp_path / "out"
    cli = f"{sys.executable} -m recsim_llm.cli {' '.join(DISK)}"
    ref = subprocess.run(f"{cli} --out {full}", shell=True, env=env, cwd=tmp_path,
                         capture_output=True, timeout=300, check=False)
    assert ref.returncode == 0, ref.stderr.decode()[-2000:]
    # The limit lets the first unit finish and stops a later write (a checkpoint log or part).
    sizes = sorted(p.stat().st_size for p in full.rglob("*") if p.is_file())
    limit_kb = max(8, sizes[-1] // 1024 // 2)
    cut = subprocess.run(f"ulimit -f {limit_kb}; {cli} --out {out}", shell=True, env=env,
                         cwd=tmp_path, capture_output=True, timeout=300, check=False)
    err = cut.stderr.decode().strip()
    assert cut.returncode == 2, err[-2000:]
    assert len(err.splitlines()) == 1 and err.startswith("error: cannot write "), err
    assert "file too large" in err
    assert not _temps(out)
    assert not (out / "daily.csv").exists()
    rerun = subprocess.run(f"{cli} --out {out}", shell=True, env=env, cwd=tmp_path,
                           capture_output=True, timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
    for name in ("daily.csv", "groups.csv", "users.csv"):
        assert (out / name).read_bytes() == (full / name).read_bytes(), name
    for npz in (full / "trajectories").glob("*.npz"):
        assert (out / "trajectories" / npz.name).read_bytes() == npz.read_bytes()


def test_stale_temporary_files_are_removed(small_cfg: ScenarioConfig, tmp_path: Path) -> None:
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    stale = out / "checkpoints" / f".x.ckpt{TEMP_MARK}999-abc"
    stale.write_bytes(b"half")
    simulate(small_cfg, ["random"], [0], out=out)
    assert not stale.exists()


# ---------------------------------------------------------------- append-only checkpoints


def _state(day: int) -> dict:
    rows = [{"day": d, "x": float(d)} for d in range(day)]
    return {"day": day, "sim": {"arr": np.arange(100, dtype=np.int64) + day},
            "recorder": {"rows": rows, "group_rows": list(rows), "_clicks": day},
            "trajectory": {"req_users": [np.full(50, d, np.int32) for d in range(day)],
                           "churn_day": np.zeros(10)}}


def test_checkpoint_appends_only_what_is_new(tmp_path: Path) -> None:
    path = tmp_path / "u.ckpt"
    sizes = [save_checkpoint(path, _state(d), "fp") for d in range(1, 200)]
    # Bytes per checkpoint do not grow with the day reached (one day's rows per save).
    assert max(sizes[100:]) <= sizes[1] * 1.2
    assert log_path(path).stat().st_size > 50 * sizes[1]  # the log holds the whole history
    back = load_checkpoint(path, "fp")
    want = _state(199)
    assert back["recorder"]["rows"] == want["recorder"]["rows"]
    assert back["recorder"]["_clicks"] == 199
    assert len(back["trajectory"]["req_users"]) == 199
    np.testing.assert_array_equal(back["trajectory"]["req_users"][150], np.full(50, 150))
    np.testing.assert_array_equal(back["sim"]["arr"], want["sim"]["arr"])


def test_checkpoint_resumes_appending_in_a_new_process(tmp_path: Path) -> None:
    path = tmp_path / "u.ckpt"
    save_checkpoint(path, _state(5), "fp")
    from recsim_llm import checkpoint as C

    C._WRITTEN.clear()  # as in a fresh process
    save_checkpoint(path, _state(9), "fp")
    assert load_checkpoint(path, "fp")["recorder"]["rows"] == _state(9)["recorder"]["rows"]


def test_shrinking_list_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "u.ckpt"
    save_checkpoint(path, _state(5), "fp")
    with pytest.raises(CheckpointError, match="shrank"):
        save_checkpoint(path, _state(3), "fp")


def test_damaged_log_record_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "u.ckpt"
    for d in (2, 4, 6):
        save_checkpoint(path, _state(d), "fp")
    lp = log_path(path)
    raw = bytearray(lp.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    lp.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=r"u\.ckpt\.log is corrupted"):
        read_checkpoint(path)


def test_torn_log_tail_is_ignored_and_truncated(tmp_path: Path) -> None:
    """A kill during the log append leaves a partial record after the last fixed file: the
    checkpoint still loads (as of the previous save) and the next save overwrites the tail."""
    path = tmp_path / "u.ckpt"
    save_checkpoint(path, _state(4), "fp")
    with open(log_path(path), "ab") as fh:
        fh.write(b"RSLCKLG2\x99\x00\x00")
    from recsim_llm import checkpoint as C

    C._WRITTEN.clear()
    assert read_checkpoint(path)["day"] == 4
    save_checkpoint(path, _state(8), "fp")
    assert read_checkpoint(path)["recorder"]["rows"] == _state(8)["recorder"]["rows"]


_WRITER = """
import sys
import numpy as np
sys.path.insert(0, {repo!r})
from recsim_llm.checkpoint import save_checkpoint
path = sys.argv[1]
for day in range(1, 100000):
    rows = [{{"day": d}} for d in range(day)]
    big = np.random.default_rng(day).random(200_000)  # ~1.6 MB fixed part: a long write
    save_checkpoint(__import__("pathlib").Path(path), {{"day": day, "big": big,
                    "recorder": {{"rows": rows, "group_rows": []}}}}, "fp")
    print(day, flush=True)
"""


@pytest.mark.parametrize("delay", [0.15, 0.4, 0.9])
def test_sigkill_during_checkpoint_writes(tmp_path: Path, delay: float) -> None:
    """SIGKILL at an arbitrary instant of a stream of checkpoint writes: what is left loads,
    verifies and is one of the states written (never a mix, never a damaged file)."""
    path = tmp_path / "k.ckpt"
    script = tmp_path / "w.py"
    script.write_text(_WRITER.format(repo=str(REPO)))
    proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE,
                            env=_env(tmp_path / "cache"))
    assert proc.stdout is not None
    proc.stdout.readline()  # at least one checkpoint exists
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    snap = read_checkpoint(path, "fp")
    day = snap["day"]
    assert snap["recorder"]["rows"] == [{"day": d} for d in range(day)]
    np.testing.assert_array_equal(snap["big"], np.random.default_rng(day).random(200_000))
    # The next writer cleans up after the killed one: no stale temporary file survives a run.
    from recsim_llm import checkpoint as C

    C._WRITTEN.clear()
    save_checkpoint(path, {"day": day + 1, "big": snap["big"],
                           "recorder": {"rows": [*snap["recorder"]["rows"], {"day": day}],
                                        "group_rows": []}}, "fp")
    assert read_checkpoint(path, "fp")["day"] == day + 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from recsim_llm.integrity import remove_stale_temps

        remove_stale_temps(tmp_path)
    assert not _temps(tmp_path)
