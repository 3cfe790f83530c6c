"""ScenarioConfig: defaults validate, bad types and ranges raise ConfigError naming the key,
unknown keys are named, and override/from_dict/to_dict round-trip."""

from __future__ import annotations

import dataclasses

import pytest

from recsim_llm.config import (
    CatalogConfig,
    ChoiceConfig,
    ConfigError,
    DynamicsConfig,
    PopulationConfig,
    ScenarioConfig,
    override,
)


def test_defaults_are_valid_and_round_trip() -> None:
    cfg = ScenarioConfig()
    assert ScenarioConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.to_dict()["dynamics"]["churn_after_days"] == cfg.dynamics.churn_after_days


def test_config_error_is_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


def test_frozen() -> None:
    cfg = ScenarioConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.horizon_days = 3  # type: ignore[misc]


def test_override_dotted_keys() -> None:
    cfg = override(ScenarioConfig(), **{"choice.temperature": 5, "horizon_days": 7,
                                        "population.n_users": 9})
    assert cfg.choice.temperature == 5.0 and isinstance(cfg.choice.temperature, float)
    assert cfg.horizon_days == 7 and cfg.population.n_users == 9
    # everything else keeps its default
    assert cfg.dynamics == DynamicsConfig() and cfg.catalog == CatalogConfig()


@pytest.mark.parametrize(("key", "value", "name"), [
    ("horizon_days", "10", "ScenarioConfig.horizon_days"),
    ("horizon_days", 2.5, "ScenarioConfig.horizon_days"),
    ("slate_size", True, "ScenarioConfig.slate_size"),
    ("encoder", 3, "ScenarioConfig.encoder"),
    ("center_embeddings", "yes", "ScenarioConfig.center_embeddings"),
    ("choice.temperature", "hot", "ChoiceConfig.temperature"),
    ("choice.temperature", float("nan"), "ChoiceConfig.temperature"),
    ("choice.model", 1, "ChoiceConfig.model"),
    ("dynamics.patience", 2.0, "DynamicsConfig.patience"),
    ("dynamics.drift_rate", None, "DynamicsConfig.drift_rate"),
    ("population.n_users", "100", "PopulationConfig.n_users"),
    ("catalog.n_items", 1e3, "CatalogConfig.n_items"),
    ("catalog.consume_once", "yes", "CatalogConfig.consume_once"),
])
def test_wrong_type_names_the_key(key: str, value: object, name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        override(ScenarioConfig(), **{key: value})


@pytest.mark.parametrize(("key", "value", "name"), [
    ("horizon_days", 0, "ScenarioConfig.horizon_days"),
    ("slate_size", 0, "ScenarioConfig.slate_size"),
    ("slate_size", 700, "ScenarioConfig.slate_size"),  # > catalog.n_items (600)
    ("embedding_dim", -1, "ScenarioConfig.embedding_dim"),
    ("encoder", "", "ScenarioConfig.encoder"),
    ("choice.model", "probit", "ChoiceConfig.model"),
    ("choice.temperature", -1.0, "ChoiceConfig.temperature"),
    ("choice.lam_dislike", -0.1, "ChoiceConfig.lam_dislike"),
    ("dynamics.drift_rate", 1.5, "DynamicsConfig.drift_rate"),
    ("dynamics.drift_by", "reward", "DynamicsConfig.drift_by"),
    ("catalog.exclude_recent", 21, "CatalogConfig.exclude_recent"),
    ("catalog.exclude_recent", -1, "CatalogConfig.exclude_recent"),
    ("dynamics.fatigue_decay", 1.0, "DynamicsConfig.fatigue_decay"),
    ("dynamics.satisfaction_ema", 0.0, "DynamicsConfig.satisfaction_ema"),
    ("dynamics.session_budget", 0.0, "DynamicsConfig.session_budget"),
    ("dynamics.patience", 0, "DynamicsConfig.patience"),
    ("dynamics.churn_after_days", 0, "DynamicsConfig.churn_after_days"),
    ("dynamics.no_click_satisfaction", -2.0, "DynamicsConfig.no_click_satisfaction"),
    ("catalog.n_items", 5, "CatalogConfig.n_items"),
    ("catalog.n_topics", 17, "CatalogConfig.n_topics"),
    ("catalog.minority_provider_share", 1.0, "CatalogConfig.minority_provider_share"),
    ("catalog.appeal_alpha", 0.0, "CatalogConfig.appeal_alpha"),
    ("catalog.clickbait_share", 1.0, "CatalogConfig.clickbait_share"),
    ("choice.pool_temperature", 0.0, "ChoiceConfig.pool_temperature"),
    ("dynamics.dwell_noise", -1.0, "DynamicsConfig.dwell_noise"),
    ("population.n_users", 0, "PopulationConfig.n_users"),
    ("population.minority_share", 1.0, "PopulationConfig.minority_share"),
    ("population.n_taste_groups", 1, "PopulationConfig.n_taste_groups"),
    ("supply.revision_rate", 1.5, "SupplyConfig.revision_rate"),
    ("supply.initial_effort_max", -0.1, "SupplyConfig.initial_effort_max"),
    ("supply.effort_value", -1.0, "SupplyConfig.effort_value"),
    ("supply.payoff_memory", 1.0, "SupplyConfig.payoff_memory"),
    ("supply.mutation", -0.5, "SupplyConfig.mutation"),
])
def test_out_of_range_names_the_key(key: str, value: object, name: str) -> None:
    with pytest.raises(ConfigError, match=name) as err:
        override(ScenarioConfig(), **{key: value})
    assert repr(value) in str(err.value)  # the offending value is quoted


def test_section_constructors_validate_directly() -> None:
    with pytest.raises(ConfigError, match=r"DynamicsConfig\.refund"):
        DynamicsConfig(refund=-1.0)
    with pytest.raises(ConfigError, match=r"ChoiceConfig\.position_bias"):
        ChoiceConfig(position_bias=-0.5)
    with pytest.raises(ConfigError, match=r"PopulationConfig\.new_users_per_day"):
        PopulationConfig(new_users_per_day=-1)
    with pytest.raises(ConfigError, match=r"ScenarioConfig\.dynamics"):
        ScenarioConfig(dynamics={"drift_rate": 0.1})  # type: ignore[arg-type]


def test_from_dict_unknown_keys_are_named() -> None:
    data = ScenarioConfig().to_dict()
    data["horizon"] = 3
    with pytest.raises(ConfigError, match="horizon") as err:
        ScenarioConfig.from_dict(data)
    assert "horizon_days" in str(err.value)  # lists the valid keys

    data = ScenarioConfig().to_dict()
    data["dynamics"]["drift"] = 0.1
    with pytest.raises(ConfigError, match=r"dynamics\.drift"):
        ScenarioConfig.from_dict(data)


def test_from_dict_partial_and_bad_section() -> None:
    cfg = ScenarioConfig.from_dict({"horizon_days": 4, "choice": {"model": "cascade"}})
    assert cfg.horizon_days == 4 and cfg.choice.model == "cascade"
    assert cfg.choice.temperature == ChoiceConfig().temperature
    with pytest.raises(ConfigError, match="choice"):
        ScenarioConfig.from_dict({"choice": 3})


def test_override_unknown_keys() -> None:
    with pytest.raises(ConfigError, match=r"choice\.temp"):
        override(ScenarioConfig(), **{"choice.temp": 3.0})
    with pytest.raises(ConfigError, match="nosuch"):
        override(ScenarioConfig(), **{"nosuch.x": 1})


# ---------------------------------------------------------------- issue 12: limits


def test_float_constants_are_bounded_so_float32_stays_finite() -> None:
    import numpy as np

    from recsim_llm.config import FLOAT_LIMIT, ConfigError, check_float32_limits, override

    for key, value in (("choice.no_click_utility", 1e39), ("choice.temperature", 1e300),
                       ("dynamics.refund", -1e7)):
        with pytest.raises(ConfigError, match=key.split(".")[1]):
            override(ScenarioConfig(), **{key: value})
    # At the limit every utility term stays finite in float32.
    cfg = override(ScenarioConfig(), **{"choice.temperature": FLOAT_LIMIT,
                                        "choice.no_click_utility": FLOAT_LIMIT,
                                        "choice.beta_fatigue": FLOAT_LIMIT})
    check_float32_limits(cfg)
    u = np.float32(cfg.choice.temperature) * np.float32(2.0) + np.float32(FLOAT_LIMIT) * 3
    assert np.isfinite(u)


def test_population_catalog_and_horizon_limits() -> None:
    from recsim_llm.config import MAX_HORIZON_DAYS, MAX_USERS, ConfigError, override

    with pytest.raises(ConfigError, match="n_users"):
        override(ScenarioConfig(), **{"population.n_users": 10**12})
    with pytest.raises(ConfigError, match="new_users_per_day x horizon_days"):
        override(ScenarioConfig(), **{"population.new_users_per_day": MAX_USERS // 100,
                                      "horizon_days": 200})
    with pytest.raises(ConfigError, match="horizon_days"):
        override(ScenarioConfig(), horizon_days=MAX_HORIZON_DAYS + 1)
    with pytest.raises(ConfigError, match="new_items_per_day x horizon_days"):
        override(ScenarioConfig(), **{"catalog.new_items_per_day": 10**6, "horizon_days": 100})
