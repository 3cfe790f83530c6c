"""Scenarios: named recipes that turn a :class:`ScenarioConfig` and a seed into a :class:`World`.

``synthetic`` needs no files. Real-data scenarios (MovieLens, goodbooks) read a folder given in
``data_path`` and are registered here too, so that the CLI, the runner and the env ids share one
list of names.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recsim_llm.catalog.base import Catalog
from recsim_llm.catalog.synthetic import generate_catalog
from recsim_llm.config import SCENARIO_DEFAULTS, ScenarioConfig
from recsim_llm.personas.base import Personas
from recsim_llm.personas.synthetic import generate_personas
from recsim_llm.rng import RngStreams
from recsim_llm.simulator import World
from recsim_llm.text import PCAProjection, TextEncoder, make_encoder

if TYPE_CHECKING:
    from recsim_llm.catalog.movielens import MovieLensData, Variant

Builder = Callable[[ScenarioConfig, RngStreams, "str | Path | None"], tuple[Catalog, Personas]]
SCENARIOS: dict[str, Builder] = {}


def register_scenario(name: str) -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        SCENARIOS[name] = fn
        return fn
    return deco


def scenario_names() -> list[str]:
    return sorted(SCENARIOS)


@register_scenario("synthetic")
def _synthetic(cfg: ScenarioConfig, rngs: RngStreams, data_path: str | Path | None
               ) -> tuple[Catalog, Personas]:
    catalog = generate_catalog(cfg.catalog, rngs.fresh("items"), cfg.horizon_days)
    share = np.bincount(catalog.topics, minlength=catalog.n_topics) / catalog.n_items
    personas = generate_personas(cfg.population, share, rngs.fresh("users"), cfg.horizon_days)
    return catalog, personas


def _center(x: np.ndarray) -> np.ndarray:
    """Rows minus the mean row, renormalised; a row that would vanish keeps its direction."""
    if len(x) < 2:
        return x
    c = x - x.mean(axis=0)
    norm = np.linalg.norm(c, axis=1, keepdims=True)
    return np.where(norm > 1e-6, c / np.maximum(norm, 1e-12), x).astype(np.float32)


def embed_world(cfg: ScenarioConfig, catalog: Catalog, personas: Personas,
                encoder: TextEncoder) -> World:
    """Encode item texts and each persona's interests and dislikes; optionally PCA-project.

    Every interest text of every persona is encoded (one vector each); personas with fewer than
    K (the most of any persona) interests are padded with a copy of their first interest at
    pooling weight zero (``World.interest_logw = -inf``).
    """
    items = encoder.encode(catalog.texts)
    per_user = [personas.interest_texts(u) for u in range(personas.n_users)]
    n_int = np.array([len(t) for t in per_user])
    flat = encoder.encode([t for texts in per_user for t in texts])      # [sum K_u, d]
    has_dislike = np.array([bool(t.strip()) for t in personas.dislikes])
    dislike_texts = [t for t in personas.dislikes if t.strip()]
    dis = np.zeros((personas.n_users, flat.shape[1]), np.float32)
    if dislike_texts:
        dis[has_dislike] = encoder.encode(dislike_texts)
    identity = encoder.identity
    if cfg.center_embeddings:
        # Items, interests and dislikes are each centred on their own mean: every item text shares
        # a template direction and so does every persona; what is left is the distinctive content
        # (double centring, as in collaborative filtering; Mu & Viswanath 2018 for embeddings).
        items, flat = _center(items), _center(flat)
        if has_dislike.sum() >= 2:
            dis[has_dislike] = _center(dis[has_dislike])
        identity += "+centered"
    if cfg.embedding_dim:
        # PCA is fitted on the catalog only: users are described in the items' coordinates.
        proj = PCAProjection.fit(items, cfg.embedding_dim)
        items, flat = proj.transform(items), proj.transform(flat)
        projected = np.zeros((personas.n_users, cfg.embedding_dim), np.float32)
        if has_dislike.any():
            projected[has_dislike] = proj.transform(dis[has_dislike])
        dis = projected
        identity += f"+pca{cfg.embedding_dim}"
    k_max = int(n_int.max())
    start = np.concatenate([[0], np.cumsum(n_int)[:-1]])
    slot = np.arange(k_max)
    real = slot[None, :] < n_int[:, None]                                   # [n, K]
    rows = np.where(real, start[:, None] + slot[None, :], start[:, None])   # pad = interest 0
    interest0 = flat[rows]                                                  # [n, K, d]
    logw = np.where(real, -np.log(n_int)[:, None], -np.inf).astype(np.float32)
    hook = (np.ones(personas.n_users) if personas.hook is None
            else np.asarray(personas.hook, np.float64))
    return World(cfg=cfg, catalog=catalog, personas=personas,
                 item_emb=np.ascontiguousarray(items, dtype=np.float32),
                 interest0=np.ascontiguousarray(interest0, dtype=np.float32),
                 dislike=np.ascontiguousarray(dis, dtype=np.float32), encoder_identity=identity,
                 interest_logw=logw, hook=hook.astype(np.float32))


def build_world(cfg: ScenarioConfig, seed: int, *, encoder: TextEncoder | None = None,
                data_path: str | Path | None = None) -> World:
    """Build the world of ``cfg.name`` for ``seed``.

    Args:
        cfg: the scenario configuration (``cfg.name`` picks the builder).
        seed: run seed; catalog and personas come from its ``items``/``users`` streams.
        encoder: text encoder; default ``make_encoder(cfg.encoder)`` (cached on disk).
        data_path: folder of a real-data scenario.
    """
    if cfg.name not in SCENARIOS:
        raise ValueError(f"unknown scenario {cfg.name!r}; valid scenarios: {scenario_names()}")
    catalog, personas = SCENARIOS[cfg.name](cfg, RngStreams(seed), data_path)
    n_day0 = int((catalog.arrival_day <= 0).sum())
    if cfg.slate_size > n_day0:
        raise ValueError(f"slate_size {cfg.slate_size} exceeds the {n_day0} items "
                         f"available on day 0 in scenario {cfg.name!r}")
    return embed_world(cfg, catalog, personas, encoder or make_encoder(cfg.encoder))


DATA_ENV_VAR = "RECSIM_LLM_DATA_DIR"
"""folder holding ``ml-latest-small/``, ``ml-100k/`` or ``goodbooks-10k/`` when no path is given"""


def _data_folder(data_path: str | Path | None, name: str) -> Path | None:
    """``data_path``; else ``$RECSIM_LLM_DATA_DIR/name`` (for ML-100K only if it exists there);
    else the folder that
    ``recsim-llm data`` writes (:data:`recsim_llm.catalog.download.DEFAULT_DATA_DIR`) when it
    holds ``name``; else None (ML-100K then comes from an installed recbole package)."""
    from recsim_llm.catalog.download import DEFAULT_DATA_DIR

    if data_path is not None:
        return Path(data_path)
    root = os.environ.get(DATA_ENV_VAR)
    if root and ((Path(root) / name).is_dir() or name != "ml-100k"):
        # ML-100K falls through to the recbole copy when the data root does not hold it, so
        # that one root for the other datasets does not hide the bundled ML-100K.
        return Path(root) / name
    fetched = DEFAULT_DATA_DIR / name
    return fetched if fetched.is_dir() else None


def _cap_users(personas: Personas, cfg: ScenarioConfig, rngs: RngStreams) -> Personas:
    """At most ``population.n_users`` users, a seeded sample when there are more."""
    n = cfg.population.n_users
    if personas.n_users <= n:
        return personas
    keep = np.sort(rngs.fresh("users").choice(personas.n_users, size=n, replace=False))
    return personas.subset(keep)


def training_item_state(data: MovieLensData, held_out: pd.DataFrame) -> Catalog:
    """The catalog with appeal and value counted on the training period only.

    ``history_clicks`` = the training rating counts (the platform's own log before the
    simulation starts: ``popular`` ranks by it from day 0, as a deployed service would),
    ``appeal`` = training-period popularity (:func:`~recsim_llm.catalog.movielens.
    popularity_appeal` of the training rating counts), ``value`` = the Bayesian-shrunk mean
    training rating on [-1, 1] (:func:`~recsim_llm.catalog.movielens.rating_value`): nothing of
    the held-out period leaks into the simulated users (``docs/validation.md``).

    Args:
        data: the loaded MovieLens data.
        held_out: [h] the held-out ratings of :func:`personas_from_history` (``user_id``,
            ``item_index``, ``timestamp``).
    """
    from recsim_llm.catalog.movielens import popularity_appeal, rating_value

    r = data.ratings
    key = ["user_id", "item_index", "timestamp"]
    left = r[key].astype({"user_id": str})
    out = left.merge(held_out[key].astype({"user_id": str}).drop_duplicates(), how="left",
                     on=key, indicator=True)["_merge"].to_numpy() == "left_only"
    items = r["item_index"].to_numpy(np.int64)[out]
    ratings = r["rating"].to_numpy(np.float64)[out]
    n = data.catalog.n_items
    counts = np.bincount(items, minlength=n)
    return dataclasses.replace(
        data.catalog, appeal=popularity_appeal(counts),
        value=rating_value(items, ratings, n, data.rating_scale), history_clicks=counts)


ML_PERSONAS: dict[str, Any] = {"max_interests": 20, "interest_order": "recent",
                               "interest_text": "item"}
"""How the MovieLens scenarios (and ``recsim-llm calibrate``) write a persona's interests from
its training ratings (:func:`~recsim_llm.personas.ratings.personas_from_history`): one interest
per liked film, the user's most recent liked films first (the simulation starts where the
training period ends, and what a user picks next follows what they were watching last), each
written as that film's own catalog text (its cosine to another film is then a film-to-film
similarity). Chosen on the fit period of the calibration's inner split (``docs/validation.md``)."""


def _movielens(variant: Variant, folder_name: str) -> Builder:
    def build(cfg: ScenarioConfig, rngs: RngStreams, data_path: str | Path | None
              ) -> tuple[Catalog, Personas]:
        from recsim_llm.catalog.movielens import load_movielens
        from recsim_llm.personas.ratings import personas_from_history

        folder = _data_folder(data_path, folder_name)
        if folder is None and variant == "latest-small":
            raise FileNotFoundError(
                f"scenario {cfg.name!r} needs the ml-latest-small folder: pass data_path "
                f"(--data PATH) or set {DATA_ENV_VAR}")
        data = load_movielens(folder, variant=variant)
        personas, held_out = personas_from_history(data, **ML_PERSONAS)
        return training_item_state(data, held_out), _cap_users(personas, cfg, rngs)
    return build


SCENARIOS["ml-100k"] = _movielens("100k", "ml-100k")
SCENARIOS["ml-latest-small"] = _movielens("latest-small", "ml-latest-small")

ML100K_FIT = {"temperature": 9.494, "no_click_utility": 4.415, "lam_dislike": 0.0,
              "w_appeal": 6.603}
"""the shipped model's constants fitted by ``recsim-llm calibrate --scenario ml-100k --encoder
minilm`` (``text+popularity``: text taste from the :data:`ML_PERSONAS` interests + training-period
popularity as appeal; seed 0;
``docs/validation.md``), ``no_click_utility`` being the fit's balanced-odds intercept for a
single film"""


def slate_no_click(single_item_intercept: float, slate_size: int) -> float:
    """The MNL's no-click utility for slates of ``slate_size`` from a single-film intercept.

    The calibrated intercept ``c`` is the level at which one film shown alone is a coin flip,
    ``P = sigmoid(v - c)``. Against a slate of k such films in the multinomial logit it would
    leave ``P(no click) = 1 / (k + 1)`` (every slate clicked: the saturation measured with the
    raw intercept, CTR 0.8-1.0 under every policy). ``c + log k`` keeps the calibration's
    meaning at the slate level: a slate of k coin-flip films is clicked half the time. MovieLens
    has no impressions, so the absolute click rate is not identified; this is the choice made.
    """
    return float(single_item_intercept + np.log(slate_size))


def shipped_choice(fit: dict[str, float]) -> dict[str, dict[str, float]]:
    """A calibration's fitted constants as a scenario's default ``choice`` table, its single-film
    intercept turned into the slate no-click utility (:func:`slate_no_click`)."""
    return {"choice": {**fit, "no_click_utility": slate_no_click(
        fit["no_click_utility"], ScenarioConfig().slate_size)}}


ML_LATEST_SMALL_FIT = {"temperature": 11.728, "no_click_utility": 3.043, "lam_dislike": 0.0,
                       "w_appeal": 6.466}
"""the same fit for ml-latest-small (``recsim-llm calibrate --scenario ml-latest-small --encoder
minilm``, seed 0; held-out AUC 0.906 with random unseen negatives, 0.773 with
popularity-matched ones; ``docs/validation.md``)"""

SCENARIO_DEFAULTS["ml-100k"] = {**shipped_choice(ML100K_FIT), "catalog": {"consume_once": True}}
SCENARIO_DEFAULTS["ml-latest-small"] = {**shipped_choice(ML_LATEST_SMALL_FIT),
                                        "catalog": {"consume_once": True}}


@register_scenario("goodbooks")
def _goodbooks(cfg: ScenarioConfig, rngs: RngStreams, data_path: str | Path | None
               ) -> tuple[Catalog, Personas]:
    """goodbooks-10k books with synthetic text readers (:mod:`recsim_llm.personas.books`)."""
    from recsim_llm.catalog.goodbooks import load_goodbooks
    from recsim_llm.personas.books import book_personas

    folder = _data_folder(data_path, "goodbooks-10k")
    hint = (f"scenario {cfg.name!r} needs the goodbooks-10k folder (holding books.csv): pass "
            f"data_path (--data PATH) or set {DATA_ENV_VAR} to the folder containing "
            "goodbooks-10k/")
    if folder is None:
        raise FileNotFoundError(hint)
    try:
        catalog = load_goodbooks(folder)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{err}; {hint}") from None
    personas = book_personas(catalog, cfg.population, rngs.fresh("users"), cfg.horizon_days)
    return catalog, personas
