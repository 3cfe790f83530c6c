"""The experiment runner: policies x seeds, paired worlds, the files it writes, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsim_llm import __version__
from recsim_llm.agents.registry import policy_names
from recsim_llm.analysis.recorder import DAILY_COLUMNS
from recsim_llm.config import ScenarioConfig
from recsim_llm.runner import run_policy, simulate
from recsim_llm.scenarios import build_world
from recsim_llm.simulator import World

POLICIES = ["random", "greedy"]
SEEDS = [0, 3]


@pytest.fixture(scope="module")
def experiment(small_cfg: ScenarioConfig, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("run")
    calls: list[tuple[str, int, int]] = []
    res = simulate(small_cfg, POLICIES, SEEDS, out=out,
                   progress=lambda p, s, d: calls.append((p, s, d)))
    return res, out, calls


def test_daily_csv_has_every_column_and_one_row_per_day(experiment,
                                                        small_cfg: ScenarioConfig) -> None:
    res, out, _ = experiment
    daily = pd.read_csv(out / "daily.csv")
    missing = [c for c in DAILY_COLUMNS if c not in daily.columns]
    assert not missing, missing
    days = small_cfg.horizon_days
    assert len(daily) == len(POLICIES) * len(SEEDS) * days
    keys = daily[["policy", "seed", "day"]]
    assert not keys.duplicated().any()
    assert set(map(tuple, keys.to_numpy().tolist())) == {
        (p, s, d) for p in POLICIES for s in SEEDS for d in range(1, days + 1)}
    assert (daily.scenario == "synthetic").all()
    assert daily.retention.between(0, 1).all() and daily.ctr.dropna().between(0, 1).all()
    pd.testing.assert_frame_equal(daily, res.daily.reset_index(drop=True), check_dtype=False,
                                  rtol=1e-12)
    for name in ("groups.csv", "users.csv"):
        assert (out / name).is_file() and len(pd.read_csv(out / name)) > 0


def test_manifest(experiment, small_cfg: ScenarioConfig) -> None:
    res, out, _ = experiment
    man = json.loads((out / "manifest.json").read_text())
    assert man["recsim_llm_version"] == __version__
    assert man["seeds"] == SEEDS and man["policies"] == POLICIES
    assert ScenarioConfig.from_dict(man["config"]) == small_cfg
    assert man["encoder_identity"].startswith("hashing:d32")
    assert man.get("complete", True) is True
    assert res.manifest["seeds"] == SEEDS


def test_progress_reports_every_day(experiment, small_cfg: ScenarioConfig) -> None:
    _, _, calls = experiment
    assert sorted(calls) == sorted((p, s, d) for s in SEEDS for p in POLICIES
                                   for d in range(small_cfg.horizon_days))


def test_rows_match_a_direct_run(experiment, small_cfg: ScenarioConfig) -> None:
    res, _, _ = experiment
    world = build_world(small_cfg, 3)
    direct = pd.DataFrame(run_policy(world, "greedy", 3).daily)
    got = res.daily[(res.daily.policy == "greedy") & (res.daily.seed == 3)]
    pd.testing.assert_frame_equal(got.reset_index(drop=True)[direct.columns], direct,
                                  check_exact=True)


def test_policies_are_paired_within_a_seed(experiment) -> None:
    res, _, _ = experiment
    day1 = res.daily[res.daily.day == 1]
    for seed in SEEDS:
        rows = day1[day1.seed == seed]
        # same users on the same first day, whatever the policy
        assert rows.active_users.nunique() == 1 and rows.joined_users.nunique() == 1
        assert rows.retention.nunique() == 1


def test_rerun_into_the_same_folder_gives_the_same_results(experiment,
                                                           small_cfg: ScenarioConfig) -> None:
    res, out, _ = experiment
    again = simulate(small_cfg, POLICIES, SEEDS, out=out)
    pd.testing.assert_frame_equal(again.daily, res.daily, check_exact=True)


def test_another_run_into_the_same_folder_is_refused(experiment,
                                                     small_cfg: ScenarioConfig) -> None:
    _, out, _ = experiment
    with pytest.raises(ValueError, match="seeds"):
        simulate(small_cfg, POLICIES, [0], out=out)


def test_run_policy_is_deterministic(small_world: World) -> None:
    a, b = run_policy(small_world, "popular", 1), run_policy(small_world, "popular", 1)
    pd.testing.assert_frame_equal(pd.DataFrame(a.daily), pd.DataFrame(b.daily), check_exact=True)
    pd.testing.assert_frame_equal(pd.DataFrame(a.groups), pd.DataFrame(b.groups),
                                  check_exact=True)
    assert a.final_log is not None
    np.testing.assert_array_equal(a.final_log.item_clicks, b.final_log.item_clicks)
    assert a.final_log.clicks.sum() == pd.DataFrame(a.daily).clicks.sum()


def test_unknown_policy_fails_fast_with_valid_names(small_cfg: ScenarioConfig,
                                                    tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown policy 'nope'") as err:
        simulate(small_cfg, ["random", "nope"], [0], out=tmp_path / "x")
    for name in policy_names():
        assert name in str(err.value)
    assert not (tmp_path / "x").exists()  # nothing written


@pytest.mark.parametrize(("policies", "seeds", "match"), [
    ([], [0], "at least one policy"),
    (["random", "random"], [0], "duplicate"),
    (["random"], [0, 0], "seeds"),
    (["random"], [], "seeds"),
])
def test_bad_runner_arguments(small_cfg: ScenarioConfig, policies, seeds, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        simulate(small_cfg, policies, seeds)


def test_unknown_scenario(small_cfg: ScenarioConfig) -> None:
    cfg = ScenarioConfig.from_dict({**small_cfg.to_dict(), "name": "mars"})
    with pytest.raises(ValueError, match=r"unknown scenario 'mars'.*synthetic"):
        simulate(cfg, ["random"], [0])


def test_blas_runs_on_one_thread_inside_a_run(small_world: World) -> None:
    """Multi-threaded BLAS rounds differently; runs pin it so results do not depend on it."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from recsim_llm.agents.baselines import GreedyPolicy

    seen: list[int] = []

    class Spy(GreedyPolicy):
        def rank(self, obs):  # type: ignore[no-untyped-def]
            seen.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
            return super().rank(obs)

    with threadpool_limits(limits=2, user_api="blas"):
        run_policy(small_world, Spy(), 0)
        after = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    assert seen and set(seen) == {1}
    assert set(after) == {2}  # restored afterwards


def test_attached_observers_see_the_simulator_and_change_nothing(small_world: World) -> None:
    """``run_policy(attach=...)``: each observer is called once with the simulator and can
    hook it (a benchmark's probe); a read-only probe leaves the run as it was."""
    seen: list[int] = []

    def observer(sim) -> None:
        sim.on_request.append(lambda fb: seen.append(len(fb.users)))

    base = pd.DataFrame(run_policy(small_world, "mf", 0).daily)
    probed = pd.DataFrame(run_policy(small_world, "mf", 0, attach=[observer]).daily)
    pd.testing.assert_frame_equal(base, probed)
    assert sum(seen) == int(base["requests"].sum()) > 0
