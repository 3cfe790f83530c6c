from __future__ import annotations

from pathlib import Path

import pytest

from recsim_llm.bench.suite import SuiteError, find_suite, load_suite, parse_suite, suite_names


def test_tiny_suite_units(make_suite) -> None:
    s = parse_suite(make_suite())
    units = s.units()
    assert s.n_units == len(units) == 4
    assert len({u.key for u in units}) == 4
    # grouped by seed, so a worker reuses the world of one seed for the next policy
    assert [(u.seed, u.policy) for u in units] == [(0, "random"), (0, "greedy"),
                                                   (1, "random"), (1, "greedy")]
    cfg = units[0].config
    assert cfg["horizon_days"] == 5 and cfg["encoder"] == "hashing:16"
    assert cfg["population"]["n_users"] == 60 and cfg["name"] == "synthetic"


def test_scenario_overrides_suite_defaults(make_suite) -> None:
    data = make_suite()
    data["scenarios"][0].update(policies=["popular"], seeds=[3, 7], horizon_days=2)
    s = parse_suite(data)
    assert [(u.policy, u.seed) for u in s.units()] == [("popular", 3), ("popular", 7)]
    assert s.scenarios[0].config.horizon_days == 2


@pytest.mark.parametrize("change, words", [
    ({"horizon_dayz": 5}, ["horizon_dayz", "valid keys"]),
    ({"seeds": 0}, ["seeds"]),
    ({"seeds": [1, 1]}, ["duplicate seeds"]),
    ({"policies": ["nosuchpolicy"]}, ["nosuchpolicy"]),
    ({"policies": ["mmr:2"]}, ["mmr:2"]),
    ({"horizon_days": 0}, ["horizon_days"]),
    ({"gpus_per_run": -1}, ["gpus_per_run"]),
    ({"scenarios": []}, ["scenarios"]),
])
def test_bad_suite_keys_are_named(make_suite, change: dict, words: list[str]) -> None:
    with pytest.raises(SuiteError) as err:
        parse_suite(make_suite(**change), "bad.toml")
    for w in words:
        assert w in str(err.value)
    assert "bad.toml" in str(err.value)


@pytest.mark.parametrize("change, words", [
    ({"scenrio": "synthetic"}, ["scenrio", "valid keys"]),
    ({"scenario": "nosuch"}, ["nosuch", "valid scenarios"]),
    ({"config": {"population": {"n_userz": 5}}}, ["population.n_userz"]),
    ({"config": {"nosection": 1}}, ["nosection"]),
])
def test_bad_scenario_keys_are_named(make_suite, change: dict, words: list[str]) -> None:
    data = make_suite()
    data["scenarios"][0].update(change)
    with pytest.raises(SuiteError) as err:
        parse_suite(data, "bad.toml")
    for w in words:
        assert w in str(err.value)


def test_duplicate_scenario_ids(make_suite) -> None:
    data = make_suite()
    data["scenarios"] = data["scenarios"] * 2
    with pytest.raises(SuiteError, match="duplicate scenario ids"):
        parse_suite(data)


def test_shipped_suites_load() -> None:
    assert {"small", "large"} <= set(suite_names())
    small, large = load_suite("small"), load_suite("large")
    assert {s.scenario for s in small.scenarios} == {"synthetic", "ml-latest-small", "ml-100k"}
    assert {s.scenario for s in large.scenarios} == {"synthetic", "ml-latest-small", "ml-100k"}
    assert large.n_units > small.n_units


def test_missing_and_unreadable_suite(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="small"):  # lists the shipped suites
        find_suite("nosuchsuite")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [unclosed")
    with pytest.raises(SuiteError, match=r"bad\.toml"):
        load_suite(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text('name = "t"\npolicy = ["random"]\n[[scenarios]]\nscenario = "synthetic"\n')
    with pytest.raises(SuiteError, match="'policy'"):
        load_suite(typo)
