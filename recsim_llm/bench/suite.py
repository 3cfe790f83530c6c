"""Benchmark suites: policies x scenarios x seeds x horizon, read from a TOML file.

A suite file (``benchmarks/suites/small.toml``)::

    name = "small"
    description = "CI-sized"
    policies = ["random", "greedy", "mmr:0.5"]     # specs of recsim_llm.agents.registry
    seeds = 3                                      # 0, 1, 2; or a list [0, 1, 2]
    horizon_days = 30
    encoder = "hashing:64"                         # default of every scenario

    [[scenarios]]
    id = "synthetic"                               # label (unique); default: the scenario
    scenario = "synthetic"                         # a builder of recsim_llm.scenarios
    [scenarios.config]                             # ScenarioConfig overrides (nested tables)
    population = { n_users = 1000 }

Per scenario, ``policies``, ``seeds``, ``horizon_days`` and ``encoder`` override the suite's;
``data`` names the dataset folder (default: the builder's own lookup, ``$RECSIM_LLM_DATA_DIR``
or the bundled ML-100K); ``group_key`` picks the user grouping of the retention gap (default: the
first in ``groups.csv``). ``gpus_per_run`` (suite level, default 0) asks each run for GPUs.

Every key is checked when the file is read: an unknown key is an error naming it and the valid
keys, so a typo never silently runs the default.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsim_llm.config import ConfigError, ScenarioConfig, merge_config

SUITE_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "suites"
"""the suites shipped with the repository (``--suite small`` = ``SUITE_DIR/small.toml``)"""

SUITE_KEYS = ("name", "description", "policies", "seeds", "horizon_days", "encoder",
              "gpus_per_run", "scenarios")
SCENARIO_KEYS = ("id", "scenario", "data", "policies", "seeds", "horizon_days", "encoder",
                 "group_key", "config")


class SuiteError(ValueError):
    """A suite file is missing, unreadable, or has an unknown or invalid key."""


@dataclass(frozen=True)
class Unit:
    """One run of a suite: a policy on a scenario for one seed (a Ray task, a pool job)."""

    scenario_id: str
    policy: str
    seed: int
    config: dict[str, Any]
    """``ScenarioConfig.to_dict()`` of the scenario (horizon and encoder applied)"""
    data: str | None = None
    gpus: float = 0.0

    @property
    def key(self) -> str:
        """File-safe unique name, e.g. ``synthetic__mmr-0.5__seed2``."""
        from recsim_llm.runner import unit_name

        return f"{_safe(self.scenario_id)}__{unit_name(self.policy, self.seed)}"


@dataclass(frozen=True)
class ScenarioSpec:
    id: str
    scenario: str
    config: ScenarioConfig
    policies: tuple[str, ...]
    seeds: tuple[int, ...]
    data: str | None = None
    group_key: str | None = None


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    scenarios: tuple[ScenarioSpec, ...]
    gpus_per_run: float = 0.0
    source: str = ""
    """the file the suite was read from"""

    def units(self) -> list[Unit]:
        """Every (scenario, policy, seed), grouped by (scenario, seed) so that a worker that
        builds a world reuses it for the next policy."""
        out = []
        for sc in self.scenarios:
            cfg = sc.config.to_dict()
            for seed in sc.seeds:
                for pol in sc.policies:
                    out.append(Unit(sc.id, pol, seed, cfg, sc.data, self.gpus_per_run))
        return out

    def scenario(self, scenario_id: str) -> ScenarioSpec:
        for sc in self.scenarios:
            if sc.id == scenario_id:
                return sc
        raise KeyError(scenario_id)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able normal form (compared when a results folder is resumed)."""
        return {"name": self.name, "description": self.description,
                "gpus_per_run": self.gpus_per_run,
                "scenarios": [{"id": s.id, "scenario": s.scenario, "config": s.config.to_dict(),
                               "policies": list(s.policies), "seeds": list(s.seeds),
                               "data": s.data, "group_key": s.group_key}
                              for s in self.scenarios]}

    @property
    def n_units(self) -> int:
        return sum(len(s.policies) * len(s.seeds) for s in self.scenarios)


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITE_DIR.glob("*.toml")) if SUITE_DIR.is_dir() else []


def find_suite(name_or_path: str | Path) -> Path:
    """A suite file: an existing path, or the name of a suite in :data:`SUITE_DIR`."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    shipped = SUITE_DIR / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    raise SuiteError(f"no suite {str(name_or_path)!r}: not a file, and not one of the shipped "
                     f"suites {suite_names()} in {SUITE_DIR}")


def _unknown(where: str, table: Mapping[str, Any], valid: tuple[str, ...]) -> None:
    bad = sorted(set(table) - set(valid))
    if bad:
        raise SuiteError(f"{where}: unknown key(s) {bad}; valid keys: {sorted(valid)}")


def _policies(where: str, value: Any) -> tuple[str, ...]:
    from recsim_llm.agents.base import PolicyError
    from recsim_llm.agents.registry import make_policy

    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(p, str) for p in value):
        raise SuiteError(f"{where}: policies must be a non-empty list of policy specs, "
                         f"got {value!r}")
    if len(set(value)) != len(value):
        raise SuiteError(f"{where}: duplicate policies in {value}")
    for spec in value:
        try:
            make_policy(spec)  # an unknown name or bad argument fails now, not mid-suite
        except (ValueError, PolicyError) as err:
            raise SuiteError(f"{where}: policy {spec!r}: {err}") from None
    return tuple(value)


def _seeds(where: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise SuiteError(f"{where}: seeds must be >= 1 (a count) or a list, got {value}")
        return tuple(range(value))
    if (isinstance(value, list) and value
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)):
        if len(set(value)) != len(value):
            raise SuiteError(f"{where}: duplicate seeds in {value}")
        return tuple(value)
    raise SuiteError(f"{where}: seeds must be a count >= 1 or a list of distinct integers "
                     f">= 0, got {value!r}")


def _horizon(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SuiteError(f"{where}: horizon_days must be an integer >= 1, got {value!r}")
    return value


def parse_suite(data: Mapping[str, Any], source: str = "<suite>") -> Suite:
    """Validate a suite table (see the module docstring) into a :class:`Suite`."""
    from recsim_llm.scenarios import scenario_names

    _unknown(source, data, SUITE_KEYS)
    name = data.get("name", Path(source).stem)
    if not isinstance(name, str) or not name:
        raise SuiteError(f"{source}: name must be a non-empty string, got {name!r}")
    description = data.get("description", "")
    gpus = data.get("gpus_per_run", 0)
    if isinstance(gpus, bool) or not isinstance(gpus, int | float) or gpus < 0:
        raise SuiteError(f"{source}: gpus_per_run must be a number >= 0, got {gpus!r}")
    scen_tables = data.get("scenarios")
    if not isinstance(scen_tables, list) or not scen_tables:
        raise SuiteError(f"{source}: give at least one [[scenarios]] table")
    default_pol = data.get("policies")
    default_seeds = data.get("seeds", 1)
    default_h = data.get("horizon_days")
    default_enc = data.get("encoder")
    specs: list[ScenarioSpec] = []
    for i, t in enumerate(scen_tables):
        if not isinstance(t, Mapping):
            raise SuiteError(f"{source}: scenarios[{i}] must be a table, got {t!r}")
        where = f"{source}: scenarios[{i}]"
        _unknown(where, t, SCENARIO_KEYS)
        scen = t.get("scenario")
        if scen not in scenario_names():
            raise SuiteError(f"{where}: unknown scenario {scen!r}; valid scenarios: "
                             f"{scenario_names()}")
        sid = t.get("id", scen)
        if not isinstance(sid, str) or not sid:
            raise SuiteError(f"{where}: id must be a non-empty string, got {sid!r}")
        where = f"{source}: scenario {sid!r}"
        pol = t.get("policies", default_pol)
        if pol is None:
            raise SuiteError(f"{where}: no policies (set policies in the suite or the scenario)")
        nested = t.get("config", {})
        if not isinstance(nested, Mapping):
            raise SuiteError(f"{where}: config must be a table of ScenarioConfig keys, "
                             f"got {nested!r}")
        dotted: dict[str, Any] = {"name": scen}
        h = t.get("horizon_days", default_h)
        if h is not None:
            dotted["horizon_days"] = _horizon(where, h)
        enc = t.get("encoder", default_enc)
        if enc is not None:
            dotted["encoder"] = enc
        try:
            cfg = merge_config(ScenarioConfig(), nested, dotted)
        except (ConfigError, TypeError, ValueError) as err:
            raise SuiteError(f"{where}: invalid config: {err}") from None
        data_path = t.get("data")
        if data_path is not None and not isinstance(data_path, str):
            raise SuiteError(f"{where}: data must be a folder path, got {data_path!r}")
        gk = t.get("group_key")
        if gk is not None and not isinstance(gk, str):
            raise SuiteError(f"{where}: group_key must be a string, got {gk!r}")
        specs.append(ScenarioSpec(id=sid, scenario=scen, config=cfg,
                                  policies=_policies(where, pol),
                                  seeds=_seeds(where, t.get("seeds", default_seeds)),
                                  data=data_path, group_key=gk))
    ids = [s.id for s in specs]
    if len(set(ids)) != len(ids):
        raise SuiteError(f"{source}: duplicate scenario ids {ids}; give each an id")
    return Suite(name=name, description=str(description), scenarios=tuple(specs),
                 gpus_per_run=float(gpus), source=source)


def load_suite(name_or_path: str | Path) -> Suite:
    """Read and validate a suite file (a path, or the name of a shipped suite)."""
    import tomllib  # Python >= 3.11

    path = find_suite(name_or_path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise SuiteError(f"{path}: cannot read the suite: {err}") from None
    return parse_suite(data, str(path))


def suite_digest(suite: Suite) -> str:
    """Canonical JSON of the suite (what a resumed results folder must match)."""
    return json.dumps(suite.to_dict(), sort_keys=True)
