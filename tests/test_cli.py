"""The ``recsim-llm`` command line through typer's CliRunner: a short run and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from recsim_llm.agents.registry import policy_names
from recsim_llm.analysis.recorder import DAILY_COLUMNS
from recsim_llm.cli import app
from recsim_llm.envs import ENV_SPECS
from recsim_llm.scenarios import scenario_names

SHORT = ["simulate", "--users", "40", "--days", "3", "--encoder", "hashing:32", "--quiet"]


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


def test_short_run_writes_results(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = cli.invoke(app, [*SHORT, "--policy", "random", "--policy", "greedy", "--seeds", "2",
                           "--out", str(out)])
    assert res.exit_code == 0, res.output
    daily = pd.read_csv(out / "daily.csv")
    assert set(DAILY_COLUMNS) <= set(daily.columns)
    assert len(daily) == 2 * 2 * 3
    assert set(daily.policy) == {"random", "greedy"} and set(daily.seed) == {0, 1}
    man = json.loads((out / "manifest.json").read_text())
    assert man["seeds"] == [0, 1] and man["config"]["population"]["n_users"] == 40
    assert man["config"]["horizon_days"] == 3 and man["config"]["encoder"] == "hashing:32"
    assert (out / "groups.csv").is_file()


def test_summary_is_printed_without_quiet(cli: CliRunner, tmp_path: Path) -> None:
    args = [a for a in SHORT if a != "--quiet"]
    res = cli.invoke(app, [*args, "--policy", "popular", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert "popular" in res.output and "daily.csv" in res.output


def test_config_file(cli: CliRunner, tmp_path: Path) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text('[scenario]\nhorizon_days = 2\nencoder = "hashing:16"\n'
                   '[scenario.population]\nn_users = 30\n'
                   '[run]\npolicies = ["random"]\nseeds = 2\n')
    out = tmp_path / "r"
    res = cli.invoke(app, ["simulate", "--config", str(cfg), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    daily = pd.read_csv(out / "daily.csv")
    assert len(daily) == 2 * 2 and set(daily.policy) == {"random"}
    man = json.loads((out / "manifest.json").read_text())
    assert man["config"]["population"]["n_users"] == 30


def test_unknown_policy(cli: CliRunner, tmp_path: Path) -> None:
    res = cli.invoke(app, [*SHORT, "--policy", "bestest", "--out", str(tmp_path / "r")])
    assert res.exit_code != 0
    assert "unknown policy 'bestest'" in res.output
    for name in policy_names():
        assert name in res.output
    assert not (tmp_path / "r").exists()


def test_unknown_scenario(cli: CliRunner, tmp_path: Path) -> None:
    res = cli.invoke(app, [*SHORT, "--scenario", "mars", "--out", str(tmp_path / "r")])
    assert res.exit_code != 0
    assert "unknown scenario 'mars'" in res.output
    for name in scenario_names():
        assert name in res.output


def test_zero_seeds(cli: CliRunner, tmp_path: Path) -> None:
    res = cli.invoke(app, [*SHORT, "--seeds", "0", "--out", str(tmp_path / "r")])
    assert res.exit_code != 0
    assert "--seeds must be >= 1" in res.output


@pytest.mark.parametrize(("toml", "key"), [
    ('[scenario]\nhorizon_days = "ten"\n', "ScenarioConfig.horizon_days"),
    ("[scenario.choice]\ntemperature = \"hot\"\n", "ChoiceConfig.temperature"),
    ("[scenario.dynamics]\npatience = 1.5\n", "DynamicsConfig.patience"),
    ("[scenario.dynamics]\ndrift_rate = 2.0\n", "DynamicsConfig.drift_rate"),
    ("[scenario.dynamics]\ndrift = 0.1\n", "dynamics.drift"),
    ("[scenario]\nhorizon = 3\n", "horizon"),
    ("[runs]\nseeds = 2\n", "runs"),
    ("[run]\nseed = 2\n", "seed"),
], ids=["horizon-string", "temperature-string", "patience-float", "drift-out-of-range",
        "unknown-dynamics-key", "unknown-scenario-key", "unknown-table", "unknown-run-key"])
def test_bad_config_file_names_the_key(cli: CliRunner, tmp_path: Path, toml: str,
                                       key: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(toml)
    res = cli.invoke(app, ["simulate", "--config", str(cfg), "--out", str(tmp_path / "r"),
                           "--quiet"])
    assert res.exit_code != 0
    assert key in res.output, res.output
    assert "Traceback" not in res.output


def test_bad_config_files(cli: CliRunner, tmp_path: Path) -> None:
    res = cli.invoke(app, ["simulate", "--config", str(tmp_path / "missing.toml")])
    assert res.exit_code != 0 and "not found" in res.output
    broken = tmp_path / "broken.toml"
    broken.write_text("[scenario\n")
    res = cli.invoke(app, ["simulate", "--config", str(broken)])
    assert res.exit_code != 0 and "invalid TOML" in res.output
    other = tmp_path / "c.json"
    other.write_text("{}")
    res = cli.invoke(app, ["simulate", "--config", str(other)])
    assert res.exit_code != 0 and ".toml" in res.output


def test_bad_option_values(cli: CliRunner, tmp_path: Path) -> None:
    res = cli.invoke(app, [*SHORT, "--days", "0", "--out", str(tmp_path / "r")])
    assert res.exit_code != 0 and "horizon_days" in res.output
    res = cli.invoke(app, [*SHORT, "--encoder", "word2vec", "--out", str(tmp_path / "r2")])
    assert res.exit_code != 0 and "word2vec" in res.output
    assert "Traceback" not in res.output


def test_envs_lists_ids_and_scenarios(cli: CliRunner) -> None:
    res = cli.invoke(app, ["envs"])
    assert res.exit_code == 0
    for env_id in ENV_SPECS:
        assert env_id in res.output
    for name in scenario_names():
        assert name in res.output


@pytest.mark.parametrize(("toml", "extra"), [
    ('[run]\nseeds = "two"\n', []),
    ("[run]\npolicies = 3\n", []),
    ("[scenario]\npopulation = 5\n", ["--users", "5"]),
], ids=["seeds-string", "policies-int", "population-int-with-users"])
def test_bad_run_table_types_give_clean_errors(cli: CliRunner, tmp_path: Path, toml: str,
                                               extra: list[str]) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(toml)
    res = cli.invoke(app, ["simulate", "--config", str(cfg), "--out", str(tmp_path / "r"),
                           "--days", "1", "--encoder", "hashing:8", "--quiet", *extra])
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    assert res.exit_code == 2 and "error:" in res.output


def test_run_table_out_is_used(cli: CliRunner, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the default --out (results/run) lands here, not in the repo
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'[run]\nout = "{(tmp_path / "from_config").as_posix()}"\n'
                   '[scenario]\nhorizon_days = 1\nencoder = "hashing:8"\n'
                   '[scenario.population]\nn_users = 5\n')
    res = cli.invoke(app, ["simulate", "--config", str(cfg), "--policy", "random", "--quiet"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "from_config" / "daily.csv").is_file()


def test_explicit_seeds_override_config(cli: CliRunner, tmp_path: Path) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text('[run]\nseeds = 3\nseed_start = 5\n'
                   '[scenario]\nhorizon_days = 1\nencoder = "hashing:8"\n'
                   '[scenario.population]\nn_users = 5\n')
    out = tmp_path / "r"
    res = cli.invoke(app, ["simulate", "--config", str(cfg), "--policy", "random", "--seeds", "1",
                           "--seed-start", "0", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "manifest.json").read_text())["seeds"] == [0]


def test_simulate_takes_a_saved_policy_file(cli: CliRunner, tmp_path: Path) -> None:
    """A policy trained in one run and saved replays by path, next to a baseline."""
    from recsim_llm.agents.collaborative import OnlineMFPolicy
    from recsim_llm.config import ScenarioConfig, merge_config
    from recsim_llm.runner import run_policy
    from recsim_llm.scenarios import build_world

    cfg = merge_config(ScenarioConfig(encoder="hashing:32", horizon_days=3),
                       {"population": {"n_users": 30}})
    trained = OnlineMFPolicy()
    run_policy(build_world(cfg, 0), trained, 0)
    trained.save(tmp_path / "mf.pkl")
    out = tmp_path / "r"
    res = cli.invoke(app, ["simulate", "--users", "30", "--days", "3", "--encoder", "hashing:32",
                           "--policy", str(tmp_path / "mf.pkl"), "--policy", "greedy",
                           "--freeze", "--quiet", "--out", str(out)])
    assert res.exit_code == 0, res.output
    daily = pd.read_csv(out / "daily.csv")
    assert set(daily.policy) == {str(tmp_path / "mf.pkl"), "greedy"}
    res = cli.invoke(app, [*SHORT, "--policy", str(tmp_path / "nope.pkl"),
                           "--out", str(tmp_path / "s")])
    assert res.exit_code != 0 and "no saved policy" in res.output


# ---------------------------------------------------------------- issue 12: one-line errors


def _one_line_error(res, *needles: str) -> str:  # type: ignore[no-untyped-def]
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert res.exit_code == 2, res.output
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(("name", "content", "needle"), [
    ("latin1.toml", "[scenario]\nname = \"caf\xe9\"\n".encode("latin-1"), "not UTF-8"),
    ("list.yaml", b"- a\n- b\n", "top level must be a table"),
    ("scen.yaml", b"scenario: [1, 2]\n", "[scenario] must be a table"),
    ("run.yaml", b"run: 5\n", "[run] must be a table"),
    ("out.toml", b"[run]\nout = 5\n", "[run] out must be a folder path"),
    ("data.toml", b"[run]\ndata = [1]\n", "[run] data must be a folder path"),
])
def test_bad_config_inputs_are_one_line(cli: CliRunner, tmp_path: Path, name: str,
                                        content: bytes, needle: str) -> None:
    cfg = tmp_path / name
    cfg.write_bytes(content)
    res = cli.invoke(app, ["simulate", "--config", str(cfg), "--out", str(tmp_path / "r"),
                           "--days", "1", "--encoder", "hashing:8", "--quiet"])
    _one_line_error(res, needle, name)


@pytest.mark.parametrize(("args", "needle"), [
    (["--users", "1000000000000"], "PopulationConfig.n_users"),
    (["--train-days", "-1"], "train_days must be >= 0"),
    (["--train-days", "9"], "must not exceed the horizon"),
    (["--checkpoint-every", "0"], "--checkpoint-every must be >= 1"),
])
def test_bad_option_values_are_one_line(cli: CliRunner, tmp_path: Path, args: list[str],
                                        needle: str) -> None:
    res = cli.invoke(app, [*SHORT, *args, "--out", str(tmp_path / "r")])
    _one_line_error(res, needle)
    assert not (tmp_path / "r").exists()  # rejected before anything is written


def test_float32_overflowing_constants_are_rejected(cli: CliRunner, tmp_path: Path) -> None:
    for toml, key in (("[scenario.choice]\nno_click_utility = 1e39\n", "no_click_utility"),
                      ("[scenario.choice]\ntemperature = 1e300\n", "temperature")):
        cfg = tmp_path / "c.toml"
        cfg.write_text(toml)
        res = cli.invoke(app, ["simulate", "--config", str(cfg), "--out", str(tmp_path / "r"),
                               "--days", "1", "--encoder", "hashing:8", "--quiet"])
        _one_line_error(res, key, "float32")


def test_io_error_is_one_line(cli: CliRunner, tmp_path: Path) -> None:
    blocker = tmp_path / "f"
    blocker.write_text("x")
    res = cli.invoke(app, [*SHORT, "--policy", "random", "--out", str(blocker / "run")])
    _one_line_error(res, "cannot create results folder", "not a directory")


def test_help_keeps_bracketed_text_and_defaults(cli: CliRunner) -> None:
    res = cli.invoke(app, ["simulate", "--help"], terminal_width=200)
    assert res.exit_code == 0
    text = " ".join(res.output.split())
    for needle in ("[default: 1]", "[default: 0]", "[default: results/run]", "a [scenario] table",
                   "a [run] table", "[default: daily]", "[default: 10]", "hashing[:DIM]"):
        assert needle in text, needle
    res = cli.invoke(app, ["report", "--help"], terminal_width=200)
    assert "'first N days'" in " ".join(res.output.split())


def test_report_window_accepts_what_its_help_says(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "r"
    res = cli.invoke(app, [*SHORT[:4], "8", *SHORT[5:], "--policy", "random", "--policy",
                           "greedy", "--seeds", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    # Every form the help names parses (rendering a report per form would take minutes) ...
    from recsim_llm.analysis.stats import parse_window

    for window, want in (("last 3 days", (6, 8)), ("first 2 days", (1, 2)), ("all", (1, 8)),
                         ("last", (8, 8)), ("4", (4, 4)), ("2-5", (2, 5)),
                         ("last 1 day", (8, 8))):
        assert parse_window(window, range(1, 9)) == want, window
    # ... and the CLI hands them through: two forms end to end.
    for window in ("first 2 days", "2-5"):
        res = cli.invoke(app, ["report", str(out), "--window", window,
                               "--out", str(tmp_path / "rep.html")])
        assert res.exit_code == 0, (window, res.output)
    _one_line_error(cli.invoke(app, ["report", str(out), "--window", "yesterday"]),
                    "'yesterday'")


def test_progress_lines_in_a_log_and_eta_per_policy(tmp_path: Path) -> None:
    """Not on a terminal: plain progress lines every 5 %, each with an ETA per policy."""
    import os
    import subprocess
    import sys

    repo = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": repo, "RECSIM_LLM_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "recsim_llm.cli", "simulate", "--users", "30", "--days", "20",
         "--encoder", "hashing:8", "--policy", "random", "--policy", "greedy",
         "--out", str(tmp_path / "r")], env=env, capture_output=True, text=True, timeout=300,
        check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("progress")]
    assert 15 <= len(lines) <= 21, proc.stderr  # one per 5 % of 40 policy-days
    assert lines[-1].startswith("progress 100% (40/40 policy-days)")
    assert "ETA" in lines[0] and "random " in lines[0] and "greedy " in lines[0]


def test_policy_eta_uses_each_policy_speed() -> None:
    from recsim_llm.cli import PolicyEta

    now = [0.0]
    eta = PolicyEta({"fast": 10, "slow": 10}, clock=lambda: now[0])
    for _ in range(5):
        now[0] += 1.0
        eta.tick("fast")
    for _ in range(5):
        now[0] += 3.0
        eta.tick("slow")
    assert eta.per_policy() == {"fast": 5.0, "slow": 15.0}
    assert eta.seconds() == 20.0  # not 10 days x the mean 2 s


def test_report_and_plot_io_errors_are_one_line(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "r"
    res = cli.invoke(app, [*SHORT, "--policy", "random", "--out", str(out)])
    assert res.exit_code == 0, res.output
    blocker = tmp_path / "f"
    blocker.write_text("x")
    _one_line_error(cli.invoke(app, ["report", str(out), "--out", str(blocker / "r.html")]),
                    "cannot create", str(blocker))
    _one_line_error(cli.invoke(app, ["plot", str(out), "--out", str(blocker / "figs")]),
                    "cannot create", str(blocker))
    assert not [p for p in tmp_path.rglob("*") if ".tmp-" in p.name]
