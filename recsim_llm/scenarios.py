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

import numpy as np

from recsim_llm.catalog.base import Catalog
from recsim_llm.catalog.synthetic import generate_catalog
from recsim_llm.config import ScenarioConfig
from recsim_llm.rng import RngStreams
from recsim_llm.simulator import World
from recsim_llm.text import PCAProjection, TextEncoder, make_encoder
from recsim_llm.users.personas import Personas
from recsim_llm.users.synthetic import generate_personas

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
    """Encode item texts and persona likes/dislikes; optionally PCA-project to fewer dims."""
    items = encoder.encode(catalog.texts)
    likes = encoder.encode(personas.likes)
    has_dislike = np.array([bool(t.strip()) for t in personas.dislikes])
    dislike_texts = [t for t in personas.dislikes if t.strip()]
    dis = np.zeros_like(likes)
    if dislike_texts:
        dis[has_dislike] = encoder.encode(dislike_texts)
    identity = encoder.identity
    if cfg.center_embeddings:
        # Items, likes and dislikes are each centred on their own mean: every item text shares a
        # template direction and so does every persona; what is left is the distinctive content
        # (double centring, as in collaborative filtering; Mu & Viswanath 2018 for embeddings).
        items, likes = _center(items), _center(likes)
        if has_dislike.sum() >= 2:
            dis[has_dislike] = _center(dis[has_dislike])
        identity += "+centered"
    if cfg.embedding_dim:
        # PCA is fitted on the catalog only: users are described in the items' coordinates.
        proj = PCAProjection.fit(items, cfg.embedding_dim)
        items, likes = proj.transform(items), proj.transform(likes)
        projected = np.zeros((len(likes), cfg.embedding_dim), np.float32)
        if has_dislike.any():
            projected[has_dislike] = proj.transform(dis[has_dislike])
        dis = projected
        identity += f"+pca{cfg.embedding_dim}"
    return World(cfg=cfg, catalog=catalog, personas=personas,
                 item_emb=np.ascontiguousarray(items, dtype=np.float32),
                 interest0=np.ascontiguousarray(likes, dtype=np.float32),
                 dislike=np.ascontiguousarray(dis, dtype=np.float32), encoder_identity=identity)


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
    if data_path is not None:
        return Path(data_path)
    root = os.environ.get(DATA_ENV_VAR)
    return Path(root) / name if root else None


def _cap_users(personas: Personas, cfg: ScenarioConfig, rngs: RngStreams) -> Personas:
    """At most ``population.n_users`` users, a seeded sample when there are more."""
    n = cfg.population.n_users
    if personas.n_users <= n:
        return personas
    keep = np.sort(rngs.fresh("users").choice(personas.n_users, size=n, replace=False))
    return personas.subset(keep)


def _movielens(variant: str, folder_name: str) -> Builder:
    def build(cfg: ScenarioConfig, rngs: RngStreams, data_path: str | Path | None
              ) -> tuple[Catalog, Personas]:
        from recsim_llm.catalog.movielens import load_movielens
        from recsim_llm.users.history import personas_from_history

        folder = _data_folder(data_path, folder_name)
        if folder is None and variant == "latest-small":
            raise FileNotFoundError(
                f"scenario {cfg.name!r} needs the ml-latest-small folder: pass data_path "
                f"(--data PATH) or set {DATA_ENV_VAR}")
        data = load_movielens(folder, variant=variant)
        personas, _held_out = personas_from_history(data)
        return data.catalog, _cap_users(personas, cfg, rngs)
    return build


# Calibrated constants (docs/validation.md, docs/case_studies.md). ML-100K's fitted choice
# constants for ``Catalog.quality`` as the prior are temperature 3.77, no_click_utility 5.89,
# lam_dislike 0, w_quality 9.38. They are deliberately NOT the default of the ml scenarios:
# ``w_quality`` also scales realised satisfaction ``y = a - b + w_quality * c + noise``, so with
# 9.38 every click is worth y ~ 6 while the dynamics (refund, return, drift) are scaled for y in
# about [-1, 1]: measured on ML-100K, sessions all run to max_session_len, CTR is 0.8-1.0 under
# every policy, and nobody churns. They ship as an opt-in run configuration instead,
# ``docs/configs/ml-100k-calibrated.toml`` (``recsim-llm simulate --config FILE``), so that the
# config actually used is always the one written to the run's manifest.
SCENARIOS["ml-100k"] = _movielens("100k", "ml-100k")
SCENARIOS["ml-latest-small"] = _movielens("latest-small", "ml-latest-small")

GOODBOOKS_POPULARITY_WEIGHT = 0.5
"""weight of ratings-count popularity in the goodbooks item prior (the rest is the rating)"""


def goodbooks_prior(catalog: Catalog, popularity_weight: float = GOODBOOKS_POPULARITY_WEIGHT
                    ) -> Catalog:
    """The goodbooks catalog with ``quality`` = a blend of popularity and average rating.

    ``load_goodbooks`` sets ``quality`` to the (shrunk) average rating only. On MovieLens 100K
    popularity is what predicts which items users pick next (held-out AUC 0.84 vs 0.64 for the
    mean rating, ``docs/validation.md``) while the mean rating is what tells liked from disliked
    among watched items, and the simulator's single prior ``c_i`` enters both the choice utility
    and the realised satisfaction; so the books scenario blends the two:
    ``c_i = w * pop_i + (1 - w) * rating_i`` with
    ``pop_i = (log n_i - log min n) / (log max n - log min n)`` from ``ratings_count`` (all ten
    thousand books are popular, 2.7k to 4.8M ratings, hence the min-max of the logarithm) and
    ``rating_i`` the loader's quality. On goodbooks-10k the two are nearly uncorrelated
    (r = 0.08 with log counts). The loader's value stays in ``extra["rating_quality"]`` and the
    popularity in ``extra["popularity"]``.

    Args:
        catalog: from :func:`~recsim_llm.catalog.goodbooks.load_goodbooks`.
        popularity_weight: w in [0, 1].
    """
    if not 0.0 <= popularity_weight <= 1.0:
        raise ValueError(f"popularity_weight must be in [0, 1], got {popularity_weight}")
    log_n = np.log1p(np.asarray(catalog.extra["ratings_count"], np.float64))
    span = float(log_n.max() - log_n.min())
    pop = (log_n - log_n.min()) / span if span > 0 else np.full_like(log_n, 0.5)
    quality = popularity_weight * pop + (1.0 - popularity_weight) * catalog.quality
    return dataclasses.replace(
        catalog, quality=np.clip(quality, 0.0, 1.0),
        extra={**catalog.extra, "rating_quality": catalog.quality, "popularity": pop})


@register_scenario("goodbooks")
def _goodbooks(cfg: ScenarioConfig, rngs: RngStreams, data_path: str | Path | None
               ) -> tuple[Catalog, Personas]:
    """goodbooks-10k books with synthetic text readers (:mod:`recsim_llm.users.books`)."""
    from recsim_llm.catalog.goodbooks import load_goodbooks
    from recsim_llm.users.books import book_personas

    folder = _data_folder(data_path, "goodbooks-10k")
    hint = (f"scenario {cfg.name!r} needs the goodbooks-10k folder (holding books.csv): pass "
            f"data_path (--data PATH) or set {DATA_ENV_VAR} to the folder containing "
            "goodbooks-10k/")
    if folder is None:
        raise FileNotFoundError(hint)
    try:
        catalog = goodbooks_prior(load_goodbooks(folder))
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{err}; {hint}") from None
    personas = book_personas(catalog, cfg.population, rngs.fresh("users"), cfg.horizon_days)
    return catalog, personas
