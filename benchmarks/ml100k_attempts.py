"""The attempts behind the ML-100K persona defaults (``docs/validation.md``, "How it was chosen").

Fits ``text+popularity`` and ``text-only`` on the calibration's inner split (personas from the
first 60 %, fit events 60-80 %) and scores them on the held-out 20 % for several ways of writing a
persona's interests, and scores recency-weighted popularity alone::

    PYTHONPATH=. python benchmarks/ml100k_attempts.py minilm earlier top:5:0.1 recent:20:0.1
    PYTHONPATH=. python benchmarks/ml100k_attempts.py popularity

A spec ``order:k:tau`` uses the ``k`` highest-rated (``top``) or most recent (``recent``) liked
films, each as the film's own catalog text, pooled with temperature ``tau``; ``earlier`` is the
earlier default (5 top-rated, "Films like <title>." plus the user's genres and tags).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from recsim_llm.calibration import (
    build_events,
    evaluate,
    fit_choice_model,
    item_prior,
    matched_auc,
    per_user_auc,
    popularity_deciles,
)
from recsim_llm.calibration import run as R
from recsim_llm.catalog.movielens import load_movielens
from recsim_llm.config import ScenarioConfig, override
from recsim_llm.personas.ratings import personas_from_history
from recsim_llm.rng import RngStreams
from recsim_llm.scenarios import embed_world
from recsim_llm.text import make_encoder


def popularity_attempts() -> None:
    data = load_movielens(None, variant="100k")
    S = R._setup(data, max_users=None, seed=0, persona_fraction=0.6, train_fraction=0.8,
                 ratios=(1,), min_ratings=10)
    P, H, n_items = S.periods, S.heldout, data.catalog.n_items
    tr = P[P.period <= 1]
    users = H.users
    pop = item_prior(tr.item.to_numpy(), tr.rating.to_numpy(), n_items, "popularity",
                     data.rating_scale)
    bins = popularity_deciles(pop)

    def show(score: np.ndarray, name: str) -> None:
        v = np.broadcast_to(score, (len(S.user_ids), n_items))
        auc, _ = per_user_auc(v[users], H.liked[users], H.unseen[users])
        m, _ = matched_auc(v[users], H.liked[users], H.unseen[users], bins)
        print(f"{name:28s} auc {np.nanmean(auc):.4f} matched {m:.4f}")

    show(pop, "log count")
    t = tr.timestamp.to_numpy()
    for hl in (7, 14, 30, 60, 90, 180):
        w = np.exp(-np.log(2) * (t.max() - t) / (hl * 86400))
        show(np.log1p(np.bincount(tr.item, weights=w, minlength=n_items)),
             f"recency half-life {hl} d")


def interest_attempts(enc_name: str, specs: list[str]) -> None:
    data = load_movielens(None, variant="100k")
    S = R._setup(data, max_users=None, seed=0, persona_fraction=0.6, train_fraction=0.8,
                 ratios=(1,), min_ratings=10)
    enc = make_encoder(enc_name)
    rng = RngStreams(0).child("calibration")
    base = None
    for spec in specs:
        t0 = time.time()
        if spec == "earlier":
            opts: dict[str, object] = {}
            tau = 0.1
        else:
            order, k, tau_s = spec.split(":")
            opts = {"max_interests": int(k), "interest_order": "rating" if order == "top"
                    else "recent", "interest_text": "item"}
            tau = float(tau_s)
        cfg = override(ScenarioConfig(name="ml-100k", encoder=enc_name),
                       **{"choice.pool_temperature": tau})
        worlds = []
        for frac in (0.6, 0.8):
            personas, _ = personas_from_history(data, train_fraction=frac, min_train_ratings=1,
                                                **opts)  # type: ignore[arg-type]
            index = np.searchsorted(personas.user_ids.astype(int), S.user_ids.astype(int))
            worlds.append(embed_world(cfg, data.catalog, personas.subset(index), enc))
        wf, we = worlds
        if base is None:
            base = build_events(wf, *S.fit_pos, S.seen_fit, None, neg_per_pos=4,
                                rng=rng.fresh("fit-negatives"))
        out = []
        for text_prior in (True, False):
            ev = base.with_features(wf, S.priors_fit["popularity"] if text_prior else None)
            fit = fit_choice_model(ev, text=True, prior=text_prior)
            r = evaluate(fit, we, S.priors_eval["popularity"] if text_prior else None,
                         S.heldout, S.priors_eval["popularity"])
            out.append(f"auc {r['auc']:.4f} matched {r['auc_popularity_matched']:.4f} acc1:1 "
                       f"{r['ratios']['1:1']['accuracy']:.4f} NLL {fit.nll:.4f} "
                       f"T {fit.temperature:.2f}")
        print(f"{spec:14s} text+pop: {out[0]} | text: {out[1]} ({time.time() - t0:.0f} s)",
              flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "popularity":
        popularity_attempts()
    else:
        interest_attempts(sys.argv[1], sys.argv[2:])
