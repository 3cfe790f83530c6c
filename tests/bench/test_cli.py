"""`recsim-llm bench` and `recsim-llm compare` as a user types them."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from recsim_llm.cli import app

SUITE = """
name = "cli-tiny"
policies = ["random", "popular"]
seeds = 2
horizon_days = 3
encoder = "hashing:16"

[[scenarios]]
scenario = "synthetic"
[scenarios.config]
population = { n_users = 40 }
catalog = { n_items = 60 }
"""


def test_bench_then_compare(tmp_path: Path) -> None:
    suite = tmp_path / "tiny.toml"
    suite.write_text(SUITE)
    runner = CliRunner()
    out = tmp_path / "res"
    r = runner.invoke(app, ["bench", "--suite", str(suite), "--out", str(out), "--quiet",
                            "--no-plots"])
    assert r.exit_code == 0, r.output
    assert "4 runs (4 now, 0 resumed)" in r.output
    assert (out / "leaderboard.md").read_text().startswith("# Leaderboard: suite `cli-tiny`")
    assert json.loads((out / "manifest.json").read_text())["complete"] is True
    r = runner.invoke(app, ["compare", str(out), str(out), "--out", str(tmp_path / "c.csv")])
    assert r.exit_code == 0, r.output
    assert "## synthetic" in r.output and (tmp_path / "c.csv").is_file()


def test_bench_bad_input_is_one_clear_line(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["bench", "--suite", "nosuchsuite", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "no suite 'nosuchsuite'" in r.output
    bad = tmp_path / "bad.toml"
    bad.write_text(SUITE.replace("horizon_days", "horizon_dayz"))
    r = runner.invoke(app, ["bench", "--suite", str(bad), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "horizon_dayz" in r.output
    good = tmp_path / "good.toml"
    good.write_text(SUITE)
    r = runner.invoke(app, ["bench", "--suite", str(good), "--out", str(tmp_path / "o2"),
                            "--backend", "ray", "--address", "127.0.0.1:1", "--quiet"])
    assert r.exit_code == 2 and "does not answer" in r.output
    r = runner.invoke(app, ["compare", str(tmp_path / "x"), str(tmp_path / "y")])
    assert r.exit_code == 2 and "results.csv not found" in r.output
