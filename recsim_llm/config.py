"""Frozen, self-validating configuration of a simulation.

Every constant of the user model lives here, with its meaning and range; the equations that use
them are written out in ``docs/user_model.md``. A config is immutable: build a variant with
:func:`dataclasses.replace` or :func:`override`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np


class ConfigError(ValueError):
    """A configuration value has the wrong type or lies outside its range."""


FLOAT_LIMIT = 1e6
"""largest magnitude of any float constant: the utilities add and multiply a few of them
(``temperature * (a - b) + h_u * appeal - position_penalty``) in float32, whose largest
finite value is 3.4e38; at 1e6 every such sum of products stays finite (see
:func:`check_float32_limits`)."""

MAX_USERS = 50_000_000
"""largest population (initial users plus every arrival over the horizon)"""
MAX_ITEMS = 50_000_000
"""largest catalog (initial items plus every arrival over the horizon)"""
MAX_HORIZON_DAYS = 1_000_000
"""longest horizon"""
RECENT_CLICKS = 20
"""clicked items the platform remembers per user (:data:`recsim_llm.platform.RECENT`): the
observations' click history and the largest ``catalog.exclude_recent``"""


def _check(cond: bool, key: str, msg: str, value: Any) -> None:
    if not cond:
        raise ConfigError(f"{key} {msg}, got {value!r}")


def _check_types(obj: Any) -> None:
    """Reject values whose type does not match the annotation (ints accepted for floats)."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        ann = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        key = f"{type(obj).__name__}.{f.name}"
        if ann == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{key} must be a number, got {value!r}")
            if not math.isfinite(float(value)):
                raise ConfigError(f"{key} must be finite, got {value!r}")
            if abs(float(value)) > FLOAT_LIMIT:
                raise ConfigError(f"{key} must be within +-{FLOAT_LIMIT:g} (float32 utilities "
                                  f"must stay finite), got {value!r}")
            object.__setattr__(obj, f.name, float(value))
        elif ann == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{key} must be an integer, got {value!r}")
        elif ann == "bool":
            if not isinstance(value, bool):
                raise ConfigError(f"{key} must be true or false, got {value!r}")
        elif ann == "str":
            if not isinstance(value, str):
                raise ConfigError(f"{key} must be a string, got {value!r}")


@dataclass(frozen=True)
class ChoiceConfig:
    """How a user picks from a slate (multinomial logit with a no-click option, RecSim's MNL)."""

    model: Literal["mnl", "cascade"] = "mnl"
    """``mnl``: one softmax over slate + no-click; ``cascade``: scan slots top-down, click each
    with its own logistic probability (position-discounted), stop at the first click."""
    temperature: float = 10.0
    """scale of taste in the utility: ``v = temperature * (a - b) + ...``; >= 0"""
    no_click_utility: float = 5.0
    """utility of choosing nothing; higher means fewer clicks"""
    lam_dislike: float = 0.8
    """weight of the dislike term ``max(0, cos(q, e))`` in the affinity; >= 0"""
    beta_fatigue: float = 1.6
    """weight of boredom ``max(0, cos(f, e)) * |f|``; >= 0"""
    w_appeal: float = 6.0
    """mean hook susceptibility: user u's weight of item appeal in the click utility is
    ``h_u = w_appeal * g_u`` (``g_u`` the persona's relative susceptibility, mean 1, see
    ``PopulationConfig.hook_cv``); appeal never enters satisfaction; >= 0"""
    pool_temperature: float = 0.1
    """tau of the soft maximum pooling a persona's interests,
    ``a = tau * log(mean_k exp(cos(p_k, e) / tau))``: tau -> 0 is the best-matching interest,
    large tau their mean; > 0"""
    position_bias: float = 0.15
    """utility lost per slot below the first: ``position_bias * log2(1 + slot)``; >= 0"""

    def __post_init__(self) -> None:
        _check_types(self)
        _check(self.model in ("mnl", "cascade"), "ChoiceConfig.model", "must be 'mnl' or 'cascade'",
               self.model)
        for name in ("temperature", "lam_dislike", "beta_fatigue", "w_appeal", "position_bias"):
            _check(getattr(self, name) >= 0, f"ChoiceConfig.{name}", "must be >= 0",
                   getattr(self, name))
        _check(self.pool_temperature > 0, "ChoiceConfig.pool_temperature", "must be > 0",
               self.pool_temperature)


@dataclass(frozen=True)
class DynamicsConfig:
    """How users change: drift, fatigue, satisfaction, sessions, return and churn."""

    drift_rate: float = 0.08
    """eta: step of interest toward a consumed item (times positive satisfaction when
    ``drift_by = "satisfaction"``); [0, 1]"""
    drift_by: Literal["consumed", "satisfaction"] = "consumed"
    """what moves an interest: ``"consumed"`` = every click, by ``eta * r_k`` (taste follows
    what is consumed, however it satisfied: the filter-bubble drift of DESIGN.md);
    ``"satisfaction"`` = a click with positive satisfaction, by ``eta * r_k * max(y, 0)`` (taste
    also learns value)"""
    anchor_rate: float = 0.02
    """kappa: nightly pull of interest back to the persona interest p0; [0, 1]"""
    drift_noise: float = 0.01
    """sigma: nightly exogenous interest noise (per dimension, before renormalising); >= 0"""
    fatigue_decay: float = 0.95
    """gamma_f: per-request memory of the fatigue vector; [0, 1)"""
    fatigue_overnight: float = 0.9
    """multiplier on the fatigue vector between days (recovery overnight); [0, 1]"""
    shown_fatigue_weight: float = 0.25
    """weight of the mean shown item (vs. the consumed one) in the fatigue update; [0, 1]"""
    w_value: float = 1.0
    """weight of the hidden item value in realised satisfaction
    ``y = a - b + w_value * value + noise``; value never enters the click utility; >= 0"""
    satisfaction_noise: float = 0.1
    """std of the noise on realised satisfaction; >= 0"""
    dwell_noise: float = 0.5
    """std of the Gaussian noise on the logged dwell signal ``dwell = y + dwell_noise * eps``
    of a click (the only value-related signal a platform sees); >= 0"""
    satisfaction_ema: float = 0.15
    """weight of today's mean satisfaction in the satisfaction EMA s_u; (0, 1]"""
    no_click_satisfaction: float = -0.05
    """satisfaction recorded for a request that got no click; [-1, 1]"""
    session_budget: float = 6.0
    """time budget of a session, in request units; > 0"""
    request_cost: float = 1.0
    """budget spent by each request; > 0"""
    refund: float = 1.0
    """budget refunded per unit of positive satisfaction of a click; >= 0"""
    patience: int = 3
    """consecutive requests without a click after which the session ends; >= 1"""
    max_session_len: int = 10
    """hard cap on requests per session; >= 1"""
    sessions_per_day: int = 1
    """sessions a returning user runs per day (later ones with ``extra_session_prob``); >= 1"""
    extra_session_prob: float = 0.3
    """probability of each session after the first on a day; [0, 1]"""
    return_bias: float = -1.0
    """theta0 in ``P(return) = sigmoid(theta0 + theta1 * s_u)``"""
    return_slope: float = 6.0
    """theta1 in ``P(return) = sigmoid(theta0 + theta1 * s_u)``; >= 0"""
    initial_satisfaction: float = 0.2
    """s_u on day 0, before any consumption"""
    churn_after_days: int = 7
    """a user absent this many days in a row has churned for good; >= 1"""
    habit_gain: float = 0.0
    """habit formation (prototype, OFF at 0): the hook susceptibility grows with a stock of
    recently consumed appeal, ``h_u(t) = h_u * (1 + habit_gain * H_u)``; >= 0"""
    habit_decay: float = 0.9
    """per-request memory of the habit stock ``H_u <- d H_u + (1 - d) appeal_consumed``; [0, 1)"""
    habit_overnight: float = 0.95
    """multiplier on the habit stock between days; [0, 1]"""
    habit_return: float = 0.0
    """craving (prototype, with ``habit_gain > 0``): the habit stock also raises the return
    logit, ``P(return) = sigmoid(theta0 + theta1 s_u + habit_return * H_u)``; >= 0"""

    def __post_init__(self) -> None:
        _check_types(self)
        _check(self.drift_by in ("consumed", "satisfaction"), "DynamicsConfig.drift_by",
               "must be 'consumed' or 'satisfaction'", self.drift_by)
        for name in ("drift_rate", "anchor_rate", "shown_fatigue_weight", "fatigue_overnight",
                     "extra_session_prob", "habit_overnight"):
            v = getattr(self, name)
            _check(0.0 <= v <= 1.0, f"DynamicsConfig.{name}", "must be in [0, 1]", v)
        _check(0.0 <= self.fatigue_decay < 1.0, "DynamicsConfig.fatigue_decay",
               "must be in [0, 1)", self.fatigue_decay)
        _check(0.0 <= self.habit_decay < 1.0, "DynamicsConfig.habit_decay",
               "must be in [0, 1)", self.habit_decay)
        _check(0.0 < self.satisfaction_ema <= 1.0, "DynamicsConfig.satisfaction_ema",
               "must be in (0, 1]", self.satisfaction_ema)
        _check(-1.0 <= self.no_click_satisfaction <= 1.0, "DynamicsConfig.no_click_satisfaction",
               "must be in [-1, 1]", self.no_click_satisfaction)
        for name in ("drift_noise", "satisfaction_noise", "refund", "return_slope", "w_value",
                     "dwell_noise", "habit_gain", "habit_return"):
            v = getattr(self, name)
            _check(v >= 0, f"DynamicsConfig.{name}", "must be >= 0", v)
        for name in ("session_budget", "request_cost"):
            v = getattr(self, name)
            _check(v > 0, f"DynamicsConfig.{name}", "must be > 0", v)
        for name in ("patience", "max_session_len", "sessions_per_day", "churn_after_days"):
            v = getattr(self, name)
            _check(v >= 1, f"DynamicsConfig.{name}", "must be >= 1", v)


@dataclass(frozen=True)
class SimulatorConfig:
    """How the population step is computed (not what it computes)."""

    kernel: str = "numpy"
    """``numpy`` (the reference: published results are reproduced bit for bit), ``numba`` (a
    fused multi-threaded kernel, several times faster; equal to the reference to float32
    rounding, so trajectories agree in distribution, not bit for bit) or ``auto`` (numba when it
    imports, else numpy); see ``recsim_llm.kernels`` and ``docs/benchmarks.md``"""

    def __post_init__(self) -> None:
        _check_types(self)
        from recsim_llm.kernels import KERNELS

        _check(self.kernel in KERNELS, "SimulatorConfig.kernel", f"must be one of {list(KERNELS)}",
               self.kernel)


@dataclass(frozen=True)
class SupplyConfig:
    """The supply side: providers who put hooks on their items when hooks earn them clicks.

    Each provider p has a *hook effort* ``eta_p`` in [0, 1], how much it packages its items to
    be clicked (a sensational thumbnail and title) rather than to satisfy. Effort raises an
    item's appeal by ``effort_appeal * eta_p`` and lowers its value by ``effort_value * eta_p``
    (the disappointment of an item that oversold itself); with the defaults, full effort moves
    a regular item's expected appeal and value to a clickbait item's. Every night a share
    ``revision_rate`` of providers reconsiders: each compares its clicks per item (an average
    with memory ``payoff_memory``) with a random peer's and copies the peer's effort with a
    probability proportional to how much better the peer did (proportional imitation, whose
    mean dynamics are the replicator equation), plus a small experiment ``mutation``. Nothing
    here names a policy: effort spreads where the platform's exposure makes hooks pay.
    See ``docs/user_model.md``. ``revision_rate = 0`` switches the supply side off."""

    revision_rate: float = 0.0
    """share of providers that reconsider their hook effort each night; [0, 1]; 0 = off"""
    initial_effort_max: float = 0.0
    """day-0 efforts are ``eta_p ~ Uniform(0, initial_effort_max)``; [0, 1]. The default 0
    starts from the catalog as written (day 0 is the world without a supply side); effort then
    appears by experiment and spreads by imitation"""
    effort_appeal: float = 0.4
    """appeal added at full effort (regular Beta(2, 3) mean 0.4 -> clickbait Beta(8, 2) mean
    0.8); appeal is capped at 1; >= 0"""
    effort_value: float = 0.93
    """value removed at full effort (regular 2 Beta(6, 2) - 1 mean 0.50 -> clickbait
    2 Beta(2, 5) - 1 mean -0.43); value is floored at -1; >= 0"""
    payoff_memory: float = 0.7
    """weight of yesterday's average in a provider's clicks-per-item payoff; [0, 1)"""
    mutation: float = 0.05
    """standard deviation of the effort change when a provider copies or experiments; >= 0"""

    def __post_init__(self) -> None:
        _check_types(self)
        for name in ("revision_rate", "initial_effort_max"):
            v = getattr(self, name)
            _check(0 <= v <= 1, f"SupplyConfig.{name}", "must be in [0, 1]", v)
        for name in ("effort_appeal", "effort_value", "mutation"):
            v = getattr(self, name)
            _check(v >= 0, f"SupplyConfig.{name}", "must be >= 0", v)
        _check(0 <= self.payoff_memory < 1, "SupplyConfig.payoff_memory", "must be in [0, 1)",
               self.payoff_memory)

    @property
    def enabled(self) -> bool:
        return self.revision_rate > 0


@dataclass(frozen=True)
class CatalogConfig:
    """The built-in synthetic text catalog, and how every scenario's items are consumed."""

    n_items: int = 600
    """items present on day 0; >= 10"""
    n_topics: int = 12
    """topics used, from the built-in list of topic vocabularies; 2..16"""
    n_providers: int = 40
    """content providers; items per provider follow a Zipf law; >= 2"""
    minority_provider_share: float = 0.3
    """share of providers in the 'independent' (minority) provider group; (0, 1)"""
    appeal_alpha: float = 2.0
    """a regular item's hidden appeal (its hook) ~ Beta(appeal_alpha, appeal_beta); > 0"""
    appeal_beta: float = 3.0
    """second Beta parameter of a regular item's appeal; > 0"""
    value_alpha: float = 6.0
    """a regular item's hidden value ~ 2 Beta(value_alpha, value_beta) - 1, in [-1, 1]; > 0"""
    value_beta: float = 2.0
    """second Beta parameter of a regular item's value; > 0"""
    clickbait_share: float = 0.2
    """share of items written in a sensational, clickbait register (the text shows it); [0, 1)"""
    clickbait_appeal_alpha: float = 8.0
    """a clickbait item's appeal ~ Beta(clickbait_appeal_alpha, clickbait_appeal_beta); > 0"""
    clickbait_appeal_beta: float = 2.0
    """second Beta parameter of a clickbait item's appeal; > 0"""
    clickbait_value_alpha: float = 2.0
    """a clickbait item's value ~ 2 Beta(clickbait_value_alpha, clickbait_value_beta) - 1; > 0"""
    clickbait_value_beta: float = 5.0
    """second Beta parameter of a clickbait item's value; > 0"""
    popularity_exponent: float = 1.1
    """Zipf exponent of topic sizes and provider sizes (the long tail); >= 0"""
    new_items_per_day: int = 0
    """items arriving each day (text only, cold start); >= 0"""
    consume_once: bool = False
    """each item is consumed once per user (films, books: a MovieLens user rates a film once).
    The platform then remembers every item a user consumed, their history before the run
    (``Personas.history``) and each click, and no policy re-recommends it
    (:meth:`PlatformLog.excluded <recsim_llm.platform.PlatformLog.excluded>`); False = a
    policy skips only the user's last ``exclude_recent`` clicks. Default True in the MovieLens
    scenarios"""
    exclude_recent: int = 20
    """on a catalog that is not consume-once, how many of a user's most recent clicks no
    policy re-recommends (:meth:`PlatformLog.excluded <recsim_llm.platform.PlatformLog.
    excluded>`), in [0, :data:`~recsim_llm.platform.RECENT`]; 0 = every item may be shown
    again at once (the users' boredom still punishes repetition). What it does to the
    engagement trap is measured in docs/results_synthetic.md"""

    def __post_init__(self) -> None:
        _check_types(self)
        _check(self.n_items >= 10, "CatalogConfig.n_items", "must be >= 10", self.n_items)
        _check(2 <= self.n_topics <= 16, "CatalogConfig.n_topics", "must be in [2, 16]",
               self.n_topics)
        _check(self.n_providers >= 2, "CatalogConfig.n_providers", "must be >= 2",
               self.n_providers)
        _check(0 < self.minority_provider_share < 1, "CatalogConfig.minority_provider_share",
               "must be in (0, 1)", self.minority_provider_share)
        for name in ("appeal_alpha", "appeal_beta", "value_alpha", "value_beta",
                     "clickbait_appeal_alpha", "clickbait_appeal_beta", "clickbait_value_alpha",
                     "clickbait_value_beta"):
            _check(getattr(self, name) > 0, f"CatalogConfig.{name}", "must be > 0",
                   getattr(self, name))
        _check(0 <= self.clickbait_share < 1, "CatalogConfig.clickbait_share",
               "must be in [0, 1)", self.clickbait_share)
        _check(self.popularity_exponent >= 0, "CatalogConfig.popularity_exponent",
               "must be >= 0", self.popularity_exponent)
        _check(self.new_items_per_day >= 0, "CatalogConfig.new_items_per_day", "must be >= 0",
               self.new_items_per_day)
        _check(0 <= self.exclude_recent <= RECENT_CLICKS, "CatalogConfig.exclude_recent",
               f"must be in [0, {RECENT_CLICKS}] (the clicks the platform remembers)",
               self.exclude_recent)


@dataclass(frozen=True)
class PopulationConfig:
    """The simulated users."""

    n_users: int = 1000
    """users present on day 0; >= 1"""
    minority_share: float = 0.15
    """share of users in the minority taste group (niche tastes); [0, 1)"""
    n_taste_groups: int = 4
    """taste groups of the synthetic personas, the last one being the minority; >= 2"""
    new_users_per_day: int = 0
    """users arriving each day (fresh personas, counted from their arrival); >= 0"""
    hook_cv: float = 0.5
    """spread of hook susceptibility across synthetic personas: the relative susceptibility
    ``g_u ~ Gamma(shape 1 / hook_cv^2, scale hook_cv^2)`` (mean 1, coefficient of variation
    ``hook_cv``; 0 = everyone alike); >= 0"""

    def __post_init__(self) -> None:
        _check_types(self)
        _check(self.hook_cv >= 0, "PopulationConfig.hook_cv", "must be >= 0", self.hook_cv)
        _check(self.n_users >= 1, "PopulationConfig.n_users", "must be >= 1", self.n_users)
        _check(0 <= self.minority_share < 1, "PopulationConfig.minority_share",
               "must be in [0, 1)", self.minority_share)
        _check(self.n_taste_groups >= 2, "PopulationConfig.n_taste_groups", "must be >= 2",
               self.n_taste_groups)
        _check(self.new_users_per_day >= 0, "PopulationConfig.new_users_per_day",
               "must be >= 0", self.new_users_per_day)


@dataclass(frozen=True)
class ScenarioConfig:
    """A whole simulation: catalog, users, choice model, dynamics, slate and horizon."""

    name: str = "synthetic"
    """scenario name (``synthetic`` is the built-in text catalog)"""
    slate_size: int = 10
    """items per slate, k; >= 1 and <= n_items"""
    horizon_days: int = 120
    """simulated days; >= 1"""
    encoder: str = "minilm"
    """``minilm`` (bundled all-MiniLM-L6-v2), ``hashing[:dim]``, or a local HF model path"""
    embedding_dim: int = 0
    """project embeddings to this many dims with PCA fitted on the catalog; 0 keeps them"""
    center_embeddings: bool = True
    """subtract the catalog's mean embedding (then renormalise) from items and personas: removes
    the direction all texts share, so cosines measure taste, not template (as PCA does)"""
    catalog: CatalogConfig = field(default_factory=CatalogConfig)
    population: PopulationConfig = field(default_factory=PopulationConfig)
    choice: ChoiceConfig = field(default_factory=ChoiceConfig)
    dynamics: DynamicsConfig = field(default_factory=DynamicsConfig)
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)
    supply: SupplyConfig = field(default_factory=SupplyConfig)

    def __post_init__(self) -> None:
        for f in ("name", "encoder"):
            _check(isinstance(getattr(self, f), str) and getattr(self, f) != "",
                   f"ScenarioConfig.{f}", "must be a non-empty string", getattr(self, f))
        if not isinstance(self.center_embeddings, bool):
            raise ConfigError(f"ScenarioConfig.center_embeddings must be true or false, "
                              f"got {self.center_embeddings!r}")
        for f in ("slate_size", "horizon_days", "embedding_dim"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConfigError(f"ScenarioConfig.{f} must be an integer, got {v!r}")
        _check(self.slate_size >= 1, "ScenarioConfig.slate_size", "must be >= 1", self.slate_size)
        _check(self.horizon_days >= 1, "ScenarioConfig.horizon_days", "must be >= 1",
               self.horizon_days)
        _check(self.embedding_dim >= 0, "ScenarioConfig.embedding_dim", "must be >= 0",
               self.embedding_dim)
        for f, cls in (("catalog", CatalogConfig), ("population", PopulationConfig),
                       ("choice", ChoiceConfig), ("dynamics", DynamicsConfig),
                       ("simulator", SimulatorConfig), ("supply", SupplyConfig)):
            if not isinstance(getattr(self, f), cls):
                raise ConfigError(f"ScenarioConfig.{f} must be a {cls.__name__}")
        _check(self.slate_size <= self.catalog.n_items, "ScenarioConfig.slate_size",
               f"must be <= catalog.n_items ({self.catalog.n_items})", self.slate_size)
        check_size_limits(self)
        check_float32_limits(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON/TOML-serialisable)."""
        return dataclasses.asdict(self)

    @classmethod
    def defaults_for(cls, name: str) -> ScenarioConfig:
        """The default config of scenario ``name``: the class defaults (those of the synthetic
        scenario) with the scenario's own defaults (:data:`SCENARIO_DEFAULTS`, e.g. the
        constants calibrated on MovieLens) on top. Anything a user sets goes over this."""
        import recsim_llm.scenarios  # noqa: F401  (registers the scenarios' defaults)

        return merge_config(cls(), SCENARIO_DEFAULTS.get(name, {}), {"name": name})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScenarioConfig:
        """Build from a nested dict, rejecting unknown keys by name."""
        return _from_dict(cls, data, prefix="")


SCENARIO_DEFAULTS: dict[str, dict[str, Any]] = {}
"""scenario name -> nested dict of its default values where they differ from the class defaults
(filled by :mod:`recsim_llm.scenarios`; read by :meth:`ScenarioConfig.defaults_for`)"""


def check_size_limits(cfg: ScenarioConfig) -> None:
    """Populations, catalogs and horizons that fit the counters and memory of a run."""
    _check(cfg.horizon_days <= MAX_HORIZON_DAYS, "ScenarioConfig.horizon_days",
           f"must be <= {MAX_HORIZON_DAYS:,}", cfg.horizon_days)
    users = cfg.population.n_users + cfg.population.new_users_per_day * cfg.horizon_days
    _check(users <= MAX_USERS, "PopulationConfig.n_users",
           f"plus new_users_per_day x horizon_days must be <= {MAX_USERS:,} (is {users:,})",
           cfg.population.n_users)
    items = cfg.catalog.n_items + cfg.catalog.new_items_per_day * cfg.horizon_days
    _check(items <= MAX_ITEMS, "CatalogConfig.n_items",
           f"plus new_items_per_day x horizon_days must be <= {MAX_ITEMS:,} (is {items:,})",
           cfg.catalog.n_items)


def check_float32_limits(cfg: ScenarioConfig) -> None:
    """Raise if the largest utility the choice model can form overflows float32.

    A slot's utility is a sum of the choice constants, each times a factor of magnitude at most
    a few (cosines in [-1, 1], item scores in [0, 1], ``log2(1 + k)`` for the position), minus
    the no-click utility: the sum of all their magnitudes times ``log2(2 + k)`` bounds it.
    """
    c = cfg.choice
    floats = {f.name: float(getattr(c, f.name)) for f in fields(c)
              if isinstance(getattr(c, f.name), float)}
    with np.errstate(over="ignore"):
        worst = (np.abs(np.array(list(floats.values()), np.float64)).astype(np.float32).sum()
                 * np.float32(4.0 * math.log2(2 + cfg.slate_size)))
    if not np.isfinite(worst):
        raise ConfigError(f"choice constants {floats} overflow float32 utilities; keep each "
                          f"within +-{FLOAT_LIMIT:g}")

_SECTIONS = {"catalog": CatalogConfig, "population": PopulationConfig,
             "choice": ChoiceConfig, "dynamics": DynamicsConfig, "simulator": SimulatorConfig,
             "supply": SupplyConfig}


_REMOVED = {
    "choice.w_quality": "item quality was split into appeal (clicks) and value (satisfaction): "
                        "use choice.w_appeal and dynamics.w_value",
    "catalog.quality_alpha": "use catalog.appeal_alpha / catalog.value_alpha",
    "catalog.quality_beta": "use catalog.appeal_beta / catalog.value_beta",
}
"""keys of earlier versions, with what replaced them (named in the error)"""


def _from_dict(cls: type, data: dict[str, Any], prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or cls.__name__} must be a table/dict")
    known = {f.name for f in fields(cls)}
    for key in data:
        if prefix + key in _REMOVED:
            raise ConfigError(f"config key {prefix + key!r} no longer exists: "
                              f"{_REMOVED[prefix + key]}")
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown config key(s) {[prefix + k for k in unknown]}; "
                          f"valid keys of {cls.__name__}: {sorted(known)}")
    kwargs = {}
    for key, value in data.items():
        if cls is ScenarioConfig and key in _SECTIONS:
            kwargs[key] = _from_dict(_SECTIONS[key], value, prefix=f"{key}.")
        else:
            kwargs[key] = value
    return cls(**kwargs)


def merge_config(base: ScenarioConfig, nested: Mapping[str, Any] | None = None,
                 dotted: Mapping[str, Any] | None = None) -> ScenarioConfig:
    """The one place where configuration overrides are merged.

    Args:
        base: the configuration overridden.
        nested: a table such as a run file's ``[scenario]`` or an env's ``config=`` dict;
            sections (``choice``, ``dynamics``, ...) are merged key by key, not replaced.
        dotted: keys such as ``"population.n_users"`` or ``"horizon_days"``, applied last.
    Raises:
        ConfigError: an unknown key or section, a section that is not a table, a bad value —
            naming the key.
    """
    data = base.to_dict()
    for key, value in (nested or {}).items():
        if key in _SECTIONS:
            if not isinstance(value, Mapping):
                raise ConfigError(f"config key {key!r} must be a table of "
                                  f"{sorted(data[key])}, got {value!r}")
            unknown = sorted(set(value) - set(data[key]))
            if unknown:
                raise ConfigError(f"unknown config key(s) {[f'{key}.{u}' for u in unknown]}; "
                                  f"valid keys of [{key}]: {sorted(data[key])}")
            data[key] = {**data[key], **value}
        elif key not in data:
            raise ConfigError(f"unknown config key {key!r}; valid keys: {sorted(data)}")
        else:
            data[key] = value
    for key, value in (dotted or {}).items():
        parts = key.split(".")
        node = data
        for p in parts[:-1]:
            if p not in node or not isinstance(node[p], dict):
                raise ConfigError(f"unknown config section {p!r} in {key!r}")
            node = node[p]
        if parts[-1] not in node:
            hint = f": {_REMOVED[key]}" if key in _REMOVED else ""
            raise ConfigError(f"unknown config key {key!r}{hint}")
        node[parts[-1]] = value
    return ScenarioConfig.from_dict(data)


def override(cfg: ScenarioConfig, **dotted: Any) -> ScenarioConfig:
    """Return ``cfg`` with dotted keys replaced (see :func:`merge_config`).

    Example: ``override(cfg, **{"choice.temperature": 5, "horizon_days": 30})``.
    """
    return merge_config(cfg, dotted=dotted)
