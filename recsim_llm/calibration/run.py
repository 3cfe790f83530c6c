"""The whole calibration: every model fitted on the same events, scored on the same hold-out."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from recsim_llm.calibration.constants import (
    DISLIKE_THRESHOLD,
    ITEM_PRIORS,
    LIKE_THRESHOLD,
    MIN_RATINGS,
    NEG_PER_POS,
    PERIOD_NAMES,
    PERSONA_FRACTION,
    POSITION_BIAS_NOTE,
    RATIOS,
    SHIPPED_MODEL,
    TRAIN_FRACTION,
    BoolArray,
    FloatArray,
    IntArray,
)
from recsim_llm.calibration.evaluation import (
    HeldOut,
    _liked_vs_disliked,
    _score_matrix,
    build_heldout,
    evaluate,
)
from recsim_llm.calibration.fit import (
    ChoiceFit,
    Events,
    build_events,
    fit_choice_model,
)
from recsim_llm.calibration.periods import (
    item_prior,
    split_periods,
)
from recsim_llm.catalog.movielens import MovieLensData
from recsim_llm.config import ScenarioConfig
from recsim_llm.personas.ratings import personas_from_history
from recsim_llm.rng import RngStreams
from recsim_llm.scenarios import ML_PERSONAS, embed_world
from recsim_llm.simulator import World
from recsim_llm.text import TextEncoder, make_encoder

# --------------------------------------------------------------------------------------------
# the whole calibration


@dataclass
class _Setup:
    """Data shared by every model of one calibration run."""

    data: MovieLensData
    periods: pd.DataFrame
    user_ids: npt.NDArray[np.str_]
    fit_pos: tuple[IntArray, IntArray]
    fit_rated: tuple[IntArray, IntArray, FloatArray]
    """fit-period (user, item, 1 liked / 0 disliked) of the films rated >= 4 or <= 2.5"""
    seen_fit: BoolArray
    priors_fit: dict[str, FloatArray]
    priors_eval: dict[str, FloatArray]
    heldout: HeldOut
    personas_fit: Any
    personas_eval: Any


def _personas_for(data: MovieLensData, fraction: float, user_ids: npt.NDArray[np.str_]) -> Any:
    """Personas written from each user's first ``fraction`` of ratings, rows = ``user_ids``."""
    personas, _ = personas_from_history(data, train_fraction=fraction, min_train_ratings=1,
                                        **ML_PERSONAS)
    index = pd.Index(personas.user_ids.astype(str)).get_indexer(user_ids)
    if (index < 0).any():
        missing = user_ids[index < 0][:5].tolist()
        raise ValueError(f"no persona could be written for users {missing}")
    return personas.subset(index)


def _setup(data: MovieLensData, *, max_users: int | None, seed: int, persona_fraction: float,
           train_fraction: float, ratios: Sequence[int], min_ratings: int) -> _Setup:
    rngs = RngStreams(seed).child("calibration")
    periods = split_periods(data, persona_fraction=persona_fraction,
                            train_fraction=train_fraction, min_ratings=min_ratings)
    n_items = data.catalog.n_items
    # priors come from every kept user's ratings, before any subsampling of users
    priors_fit = {k: item_prior(periods.loc[periods["period"] == 0, "item"].to_numpy(),
                                periods.loc[periods["period"] == 0, "rating"].to_numpy(),
                                n_items, k, data.rating_scale) for k in ITEM_PRIORS}
    train = periods[periods["period"] <= 1]
    priors_eval = {k: item_prior(train["item"].to_numpy(), train["rating"].to_numpy(), n_items,
                                 k, data.rating_scale) for k in ITEM_PRIORS}
    user_ids = periods.attrs["user_ids"]
    dropped = periods.attrs["n_dropped_users"]
    if max_users is not None:
        if max_users < 1:
            raise ValueError(f"max_users must be >= 1, got {max_users}")
        if len(user_ids) > max_users:
            keep = np.sort(rngs.fresh("users").choice(len(user_ids), size=max_users,
                                                      replace=False))
            remap = np.full(len(user_ids), -1, np.int64)
            remap[keep] = np.arange(len(keep))
            new = remap[periods["user"].to_numpy()]
            periods = periods[new >= 0].assign(user=new[new >= 0]).reset_index(drop=True)
            user_ids = user_ids[keep]
    periods.attrs.update(user_ids=user_ids, n_dropped_users=dropped)
    n_users = len(user_ids)
    fit_rows = periods[(periods["period"] == 1) & (periods["rating"] >= LIKE_THRESHOLD)]
    if fit_rows.empty:
        raise ValueError(f"the fit period holds no liked film (rating >= {LIKE_THRESHOLD}): "
                         f"nothing to fit")
    fit_period = periods[periods["period"] == 1]
    rated = fit_period[(fit_period["rating"] >= LIKE_THRESHOLD)
                       | (fit_period["rating"] <= DISLIKE_THRESHOLD)]
    seen_fit = np.zeros((n_users, n_items), bool)
    train = periods[periods["period"] <= 1]
    seen_fit[train["user"].to_numpy(), train["item"].to_numpy()] = True
    heldout = build_heldout(periods, n_users, n_items, ratios=ratios,
                            rng=rngs.fresh("heldout-negatives"))
    return _Setup(
        data=data, periods=periods, user_ids=user_ids,
        fit_pos=(fit_rows["user"].to_numpy(np.int64), fit_rows["item"].to_numpy(np.int64)),
        fit_rated=(rated["user"].to_numpy(np.int64), rated["item"].to_numpy(np.int64),
                   (rated["rating"] >= LIKE_THRESHOLD).to_numpy(np.float64)),
        seen_fit=seen_fit, priors_fit=priors_fit, priors_eval=priors_eval, heldout=heldout,
        personas_fit=_personas_for(data, persona_fraction, user_ids),
        personas_eval=_personas_for(data, train_fraction, user_ids))


def _encoder_of(spec: str | TextEncoder) -> tuple[str, TextEncoder]:
    if isinstance(spec, str):
        return spec, make_encoder(spec)
    return getattr(spec, "identity", type(spec).__name__), spec


def calibrate(data: MovieLensData, *, scenario: str = "ml-100k",
              encoder: str | TextEncoder = "minilm", max_users: int | None = None, seed: int = 0,
              persona_fraction: float = PERSONA_FRACTION, train_fraction: float = TRAIN_FRACTION,
              neg_per_pos: int = NEG_PER_POS, ratios: Sequence[int] = RATIOS,
              compare_hashing: bool = True, min_ratings: int = MIN_RATINGS) -> dict[str, Any]:
    """Fit the choice model on the training period and evaluate every model on the held-out one.

    Models (each fitted by :func:`fit_choice_model` on the same fit events, evaluated by
    :func:`evaluate` on the same held-out set): for the main encoder ``text+popularity``,
    ``text+mean_rating``, ``text-only``, ``text+catalog_quality`` (leaky, see the module doc) and
    the leakage checks ``text+<best prior>/in-sample`` and ``text-only/in-sample``; the
    prior-only models ``popularity-only`` and ``mean_rating-only``; when the scenario centres
    embeddings, the diagnostics ``text+<best prior> (not centred)`` and ``text-only (not
    centred)``; and with ``compare_hashing`` (and a main encoder other than hashing)
    ``text+<best prior> (hashing)`` and ``text-only (hashing)`` with the ``HashingEncoder``
    (256 dims). The best prior is the one whose ``text+<prior>`` fit has the lower
    fit-period negative log-likelihood.

    Args:
        data: the MovieLens dataset.
        scenario: scenario name (recorded; its default ScenarioConfig sets the embedding
            options, e.g. centring).
        encoder: encoder spec (``"minilm"``, ``"hashing[:dim]"``, a model folder) or encoder.
        max_users: evaluate and fit on a seeded sample of this many users (priors still count
            every user).
        seed: seed of the user sample and of every negative draw.
        persona_fraction: share of ratings the fitted personas are written from.
        train_fraction: end of the training period (the ML scenarios' personas).
        neg_per_pos: sampled unseen films per liked film in the fit events.
        ratios: unseen films per liked film in the yes/no evaluation.
        compare_hashing: also fit and evaluate the text models with the HashingEncoder.
        min_ratings: users with fewer ratings are dropped (reported).

    Returns:
        A JSON-serialisable dict; see :func:`calibrate_command`.
    """
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    t = time.perf_counter()
    setup = _setup(data, max_users=max_users, seed=seed, persona_fraction=persona_fraction,
                   train_fraction=train_fraction, ratios=ratios, min_ratings=min_ratings)
    timings["split_and_personas_s"] = time.perf_counter() - t
    rngs = RngStreams(seed).child("calibration")
    enc_name, enc = _encoder_of(encoder)
    # the scenario's shipped defaults (e.g. its pool temperature): calibrate the shipped model
    cfg = dataclasses.replace(ScenarioConfig.defaults_for(scenario), encoder=enc_name or "custom")
    catalog = data.catalog

    def worlds(e: TextEncoder, label: str, c: ScenarioConfig = cfg) -> tuple[World, World]:
        t0 = time.perf_counter()
        w_fit = embed_world(c, catalog, setup.personas_fit, e)
        w_eval = embed_world(c, catalog, setup.personas_eval, e)
        timings[f"encode_{label}_s"] = time.perf_counter() - t0
        return w_fit, w_eval

    world_fit, world_eval = worlds(enc, enc_name)
    # one set of fit events (same pairs for every model); features are recomputed per world
    base = build_events(world_fit, *setup.fit_pos, setup.seen_fit, None,
                        neg_per_pos=neg_per_pos, rng=rngs.fresh("fit-negatives"))
    fits: dict[str, ChoiceFit] = {}
    evals: dict[str, dict[str, Any]] = {}
    meta: dict[str, dict[str, str]] = {}

    def run(name: str, w_fit: World, w_eval: World, prior: str | None, *, text: bool,
            enc_label: str, note: str = "") -> None:
        ev = base.with_features(w_fit, None if prior is None else setup.priors_fit[prior])
        fit = fit_choice_model(ev, text=text, prior=prior is not None)
        t0 = time.perf_counter()
        res = evaluate(fit, w_eval, None if prior is None else setup.priors_eval[prior],
                       setup.heldout, setup.priors_eval["popularity"])
        res["seconds"] = time.perf_counter() - t0
        fits[name], evals[name] = fit, res
        meta[name] = {"encoder": enc_label if text else "-", "prior": prior or "-", "note": note}

    for kind in ITEM_PRIORS:
        run(f"text+{kind}", world_fit, world_eval, kind, text=True, enc_label=enc_name)
    best = min(ITEM_PRIORS, key=lambda k: fits[f"text+{k}"].nll)
    run("text-only", world_fit, world_eval, None, text=True, enc_label=enc_name)
    for kind in ITEM_PRIORS:
        run(f"{kind}-only", world_fit, world_eval, kind, text=False, enc_label=enc_name)
    run(f"text+{best}/in-sample", world_eval, world_eval, best, text=True, enc_label=enc_name,
        note="leakage check: fitted with the 80% personas, written from the fit period too")
    run("text-only/in-sample", world_eval, world_eval, None, text=True, enc_label=enc_name,
        note="leakage check: fitted with the 80% personas, written from the fit period too")
    if cfg.center_embeddings:  # diagnostic: the same encoder without centring
        u_fit, u_eval = worlds(enc, f"{enc_name}_not_centred",
                               dataclasses.replace(cfg, center_embeddings=False))
        note = "diagnostic: embeddings not centred (ScenarioConfig.center_embeddings=False)"
        run(f"text+{best} (not centred)", u_fit, u_eval, best, text=True, enc_label=enc_name,
            note=note)
        run("text-only (not centred)", u_fit, u_eval, None, text=True, enc_label=enc_name,
            note=note)
    if compare_hashing and not enc_name.lower().startswith("hashing"):
        h_fit, h_eval = worlds(make_encoder("hashing"), "hashing")
        run(f"text+{best} (hashing)", h_fit, h_eval, best, text=True, enc_label="hashing")
        run("text-only (hashing)", h_fit, h_eval, None, text=True, enc_label="hashing")
    # watched films only: what a user enjoys (the satisfaction side), liked vs disliked
    rating_fits: dict[str, ChoiceFit] = {}
    rating_evals: dict[str, dict[str, Any]] = {}
    ru, ri, rl = setup.fit_rated
    rated_events = Events(ru, ri, rl, np.zeros(0), np.zeros(0), np.zeros(0))
    if 0 < rl.sum() < len(rl):
        for name, prior_kind, text in (("text+mean_rating", "mean_rating", True),
                                       ("text+popularity", "popularity", True),
                                       ("text-only", None, True),
                                       ("mean_rating-only", "mean_rating", False)):
            ev = rated_events.with_features(
                world_fit, None if prior_kind is None else setup.priors_fit[prior_kind])
            fit = fit_choice_model(ev, text=text, prior=prior_kind is not None, balance=False)
            v = _score_matrix(fit, world_eval, None if prior_kind is None
                              else setup.priors_eval[prior_kind])
            auc_ld, n_ld = _liked_vs_disliked(v, setup.heldout)
            rating_fits[name] = fit
            rating_evals[name] = {"auc_liked_vs_disliked": auc_ld,
                                  "n_users_liked_vs_disliked": n_ld}
    timings["total_s"] = time.perf_counter() - t_start

    periods = setup.periods
    rec = fits[f"text+{best}"]
    counts = {
        "users": len(setup.user_ids), "users_dropped_too_few_ratings":
            int(periods.attrs["n_dropped_users"]), "items": catalog.n_items,
        "ratings_per_period": {PERIOD_NAMES[p]: int((periods["period"] == p).sum())
                               for p in range(3)},
        "fit_events": len(base), "fit_liked": base.n_pos,
        "fit_rated_liked_or_disliked": len(rl), "fit_rated_liked": int(rl.sum()),
        "heldout_users_with_liked": len(setup.heldout.users),
        "heldout_liked": int(setup.heldout.liked.sum()),
        "heldout_capped_users": {f"1:{m}": c for m, c in setup.heldout.n_capped_users.items()}}
    return {
        "scenario": scenario, "encoder": enc_name, "encoder_identity": world_eval.encoder_identity,
        "seed": seed, "max_users": max_users,
        "settings": {"persona_fraction": persona_fraction, "train_fraction": train_fraction,
                     "neg_per_pos": neg_per_pos, "ratios": list(ratios),
                     "like_threshold": LIKE_THRESHOLD, "min_ratings": min_ratings,
                     "center_embeddings": cfg.center_embeddings,
                     "embedding_dim": cfg.embedding_dim},
        "counts": counts,
        "best_prior": best,
        "recommended": {
            "model": f"text+{best}", "item_prior": best,
            "choice_config": rec.choice_config(),
            "note": (f"w_appeal multiplies the item prior {best!r} in [0, 1] (see "
                     f"calibration.item_prior) counted on the training period; to use it, set "
                     f"the catalog's appeal to that prior")},
        "shipped": {
            "model": SHIPPED_MODEL, "choice_config": fits[SHIPPED_MODEL].choice_config(),
            "note": "the MovieLens scenarios' default: appeal = training-period popularity"},
        "position_bias": POSITION_BIAS_NOTE,
        "fits": {k: f.to_dict() for k, f in fits.items()},
        "evaluation": evals,
        "models": meta,
        "rating_fits": {k: f.to_dict() for k, f in rating_fits.items()},
        "rating_evaluation": rating_evals,
        "timings": timings,
    }
