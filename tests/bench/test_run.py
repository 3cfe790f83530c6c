"""run_suite on the local backend: results, files, resume, the standard path's numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsim_llm.bench import BackendError, SuiteResult, parse_suite, run_suite
from recsim_llm.bench.backends import check_ray_address, local_gpu_count
from recsim_llm.bench.leaderboard import METRICS
from recsim_llm.config import ScenarioConfig
from recsim_llm.runner import simulate

RUN_COLUMNS = [*METRICS, "days"]


def _suite(make_suite):  # type: ignore[no-untyped-def]
    return parse_suite(make_suite(), "tiny.toml")


@pytest.fixture(scope="module")
def inline_run(tmp_path_factory: pytest.TempPathFactory, make_suite
               ) -> tuple[Path, SuiteResult]:
    """The tiny suite run once in this process (shared by the tests of this module)."""
    out = tmp_path_factory.mktemp("inline")
    return out, run_suite(_suite(make_suite), out, progress=False, plots=True)


def test_local_suite_writes_everything_and_matches_simulate(make_suite, inline_run,
                                                            tmp_path: Path) -> None:
    suite = _suite(make_suite)
    out, res = inline_run
    for f in ("leaderboard.md", "leaderboard.csv", "results.csv", "manifest.json",
              "runs/syn/daily.csv", "runs/syn/groups.csv", "runs/syn/users.csv",
              "runs/syn/manifest.json", "runs/syn/figures/dashboard.png"):
        assert (out / f).is_file(), f
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 4
    assert not results.duplicated(["scenario_id", "policy", "seed"]).any()
    board = pd.read_csv(out / "leaderboard.csv")
    assert list(board["policy"]) == ["random", "greedy"]
    assert (board["n_seeds"] == 2).all()
    md = (out / "leaderboard.md").read_text()
    assert "## syn" in md and "| random | 2 |" in md
    # The suite's runs are the standard path's runs: simulate() on the same config and seeds.
    sc = suite.scenarios[0]
    ref = simulate(ScenarioConfig.from_dict(sc.config.to_dict()), list(sc.policies),
                   list(sc.seeds), out=tmp_path / "ref")
    assert (tmp_path / "ref/daily.csv").read_text() == (out / "runs/syn/daily.csv").read_text()
    assert (tmp_path / "ref/groups.csv").read_text() == (out / "runs/syn/groups.csv").read_text()
    got = ref.daily
    # cumulative clicks per initial user: the recorder's column on the last day
    d = got[(got.policy == "greedy") & (got.seed == 1)]
    row = results[(results.policy == "greedy") & (results.seed == 1)].iloc[0]
    assert row["cum_clicks_per_initial_user"] == pytest.approx(
        d.loc[d.day == d.day.max(), "cumulative_clicks_per_initial_user"].iloc[0])
    assert res.manifest["complete"] and res.manifest["runs_this_invocation"] == 4

    # Resume: nothing left to run, same results.
    again = run_suite(suite, out, progress=False, plots=False)
    assert again.manifest["runs_this_invocation"] == 0
    assert again.manifest["runs_resumed"] == 4
    pd.testing.assert_frame_equal(again.results[RUN_COLUMNS], res.results[RUN_COLUMNS])

    # Another suite in the same folder is refused.
    other = make_suite(horizon_days=3)
    with pytest.raises(BackendError, match="another suite"):
        run_suite(parse_suite(other), out, progress=False)


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_damaged_suite_manifest_is_refused_and_kept(make_suite, tmp_path: Path,
                                                   body: bytes) -> None:
    """A suite folder whose manifest.json is not a JSON object: one line naming it, nothing
    run, the file left as it was."""
    out = tmp_path / "s"
    out.mkdir()
    (out / "manifest.json").write_bytes(body)
    with pytest.raises(BackendError, match=r"manifest\.json is unreadable.*use another --out"
                       ) as err:
        run_suite(_suite(make_suite), out, progress=False, plots=False)
    assert "\n" not in str(err.value)
    assert (out / "manifest.json").read_bytes() == body
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"]


def test_process_pool_gives_identical_results(make_suite, inline_run, tmp_path: Path) -> None:
    suite = _suite(make_suite)
    a_dir, inline = inline_run
    pool = run_suite(suite, tmp_path / "b", workers=2, progress=False, plots=False)
    key = ["scenario_id", "policy", "seed"]
    a = inline.results.sort_values(key).reset_index(drop=True)
    b = pool.results.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a[key + RUN_COLUMNS], b[key + RUN_COLUMNS])
    assert (a_dir / "runs/syn/daily.csv").read_text() == \
        (tmp_path / "b/runs/syn/daily.csv").read_text()


def test_unknown_backend_and_stray_address(make_suite, tmp_path: Path) -> None:
    suite = _suite(make_suite)
    with pytest.raises(BackendError, match="unknown backend 'dask'"):
        run_suite(suite, tmp_path, backend="dask", progress=False)
    with pytest.raises(BackendError, match="--address is for --backend ray"):
        run_suite(suite, tmp_path, address="127.0.0.1:1", progress=False)


def test_gpu_asked_where_there_is_none(make_suite, tmp_path: Path) -> None:
    if local_gpu_count() > 0:
        pytest.skip("this machine has a CUDA GPU")
    suite = parse_suite(make_suite(gpus_per_run=1))
    with pytest.raises(BackendError, match="no CUDA GPU"):
        run_suite(suite, tmp_path, progress=False)
    assert not list((tmp_path / "units").glob("*.pkl"))  # nothing ran


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ray_address_that_does_not_answer(make_suite, tmp_path: Path) -> None:
    port = _free_port()
    with pytest.raises(BackendError, match=f"127.0.0.1:{port}' does not answer"):
        check_ray_address(f"127.0.0.1:{port}", timeout=1.0)
    with pytest.raises(BackendError, match="does not answer"):
        run_suite(_suite(make_suite), tmp_path, backend="ray", address=f"ray://127.0.0.1:{port}",
                  progress=False)
    with pytest.raises(BackendError, match="not HOST:PORT"):
        check_ray_address("nonsense")


def test_headline_numbers_are_finite_where_defined(inline_run) -> None:
    r = inline_run[1].results
    assert r["retention_d120"].isna().all() and r["retention_d180"].isna().all()  # 5 days
    for m in ("retention_final", "cum_clicks_per_initial_user", "topic_entropy_final",
              "provider_disparity_final", "group_retention_gap"):
        assert np.isfinite(r[m]).all(), m
    assert ((r["retention_final"] > 0) & (r["retention_final"] <= 1)).all()


def test_missing_dataset_fails_before_any_run(make_suite, tmp_path: Path) -> None:
    data = make_suite()
    data["scenarios"].append({"id": "ml", "scenario": "ml-latest-small",
                              "data": str(tmp_path / "no-such-folder")})
    with pytest.raises(BackendError, match="scenario 'ml' of suite 'tiny' cannot load"):
        run_suite(parse_suite(data), tmp_path / "out", progress=False)
    assert not list((tmp_path / "out").glob("units/*.pkl"))  # the synthetic runs did not start


def test_ml100k_comes_from_recbole_when_the_data_root_lacks_it(
        make_suite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("recbole")
    from recsim_llm.bench.run import preflight

    monkeypatch.setenv("RECSIM_LLM_DATA_DIR", str(tmp_path))  # holds no ml-100k/
    data = make_suite()
    data["scenarios"] = [{"id": "ml", "scenario": "ml-100k"}]
    suite = parse_suite(data)
    preflight(suite, suite.units())  # loads ML-100K from the installed recbole wheel
