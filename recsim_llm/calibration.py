"""Calibrate the choice model's constants on MovieLens and validate the user model on held-out data.

``recsim-llm calibrate --scenario ml-100k`` (see :func:`calibrate_command`) fits the free
constants of the simulator's choice model by maximum likelihood on each user's training period
and reports how well the fitted text-preference user model tells the films a user liked later
from films the user never rated. The equations, the choices below and measured results are in
``docs/validation.md``.

**Model.** The simulator draws a click from a multinomial logit over the slate plus a no-click
option (``users/choice.py``). An item shown alone is then clicked with probability
``sigmoid(v_ui - no_click_utility)``, the binary form fitted here, with

    v_ui = temperature * a_ui + w_prior * prior_i
    a_ui = cos(p_u, e_i) - lam_dislike * max(0, cos(q_u, e_i))

where ``p_u``/``q_u`` are the centred persona like/dislike embeddings and ``e_i`` the centred item
embeddings exactly as :func:`recsim_llm.scenarios.embed_world` builds them (``World.interest0``,
``World.dislike``, ``World.item_emb``), and ``prior_i`` in [0, 1] is an item prior: the
simulator's ``w_quality * c_i`` term. Boredom is zero (a fresh user), so ``beta_fatigue`` is not
fitted. **Position bias is not identifiable** from MovieLens: the data hold no logged slates or
positions, only what was rated, so the default is kept and the output says so.

**Periods (leakage).** Each user's ratings, sorted by (timestamp, item), are split by the same
rule as :func:`recsim_llm.users.history.personas_from_history`: the first
``floor(0.6 n)`` are the *persona* period, the next up to ``floor(0.8 n)`` the *fit* period and
the rest the *held-out* period. A persona names the user's top-rated training films, so the
cosine to those very films is inflated; fitting on the same ratings the persona was written from
would overstate the weight of taste. The constants are therefore fitted on fit-period events
with personas written from the persona period only (and item priors counted on the persona period
only), and evaluated on the held-out period with the personas the ML scenarios use (written from
the first 80%) and priors counted on the first 80%. An ``in-sample`` fit (80% personas on the
same fit-period events) is reported beside it to measure the effect.

**Events.** Positives are fit-period ratings >= 4 ("liked"); for each positive,
``neg_per_pos`` (4) negatives are drawn uniformly, with replacement, from films the user has not
rated in the persona or fit period (a seeded generator). Ratings below 4 are neither positive nor
negative: the protocol is liked vs unseen, as in Agent4Rec. With ``k`` negatives per positive
the fitted intercept holds the ``log k`` of the sampling design (case-control sampling leaves the
slopes consistent and shifts only the intercept); it is corrected to balanced odds,
``no_click_utility = c_hat - log(n_neg / n_pos)``, so that ``P > 0.5`` means "more likely a liked
film than an unseen one". The absolute click rate of the simulator is not identified by
MovieLens either (there are no impressions), so this is a reference level, not a measured CTR.

**Fit.** ``scipy.optimize.minimize`` (L-BFGS-B) on the mean negative log-likelihood with its
analytic gradient, vectorised over events; bounds ``temperature, lam_dislike, w_prior >= 0``.
Standard errors come from the Gauss-Newton (Fisher) information ``J^T W J``; a parameter at a
bound gets NaN.

**Item priors** (each in [0, 1], counted on the period before the events they explain):
``popularity`` = ``log1p(count_i) / log1p(max_j count_j)`` of ratings; ``mean_rating`` = the
Bayesian-shrunk mean rating ``(sum r + m * global_mean) / (count + m)``, ``m = 10``, mapped from
the rating scale to [0, 1] (the formula of ``Catalog.quality`` on MovieLens); ``catalog_quality``
= ``Catalog.quality`` itself, the simulator's input, which is computed from *every* rating and so
sees the held-out period: it is fitted only so that ``w_quality`` can be used directly with the
current catalog, and its held-out numbers are marked as leaky. The recommended prior is the one
with the lower fit-period negative log-likelihood.

**Held-out protocol** (Agent4Rec, Zhang et al., SIGIR 2024): users with at least one held-out
liked film (rating >= 4); unseen films = never rated by the user at all. AUC is computed per user
(Mann-Whitney: the probability that a held-out liked film scores above an unseen one, ties
count half, against *all* the user's unseen films) and averaged over users; ``auc_pairs`` weighs
users by their number of pairs. For the yes/no decision, ``m`` unseen films per held-out liked
film are sampled per user without replacement (ratios 1:1, 1:3, 1:9; the samples are nested and
the same for every model: common random numbers), the model says yes when ``P > 0.5``, and
accuracy, precision, recall and F1 are micro-averaged over all pairs. The user model is not told
the ratio, like an agent that is not.

**Watched films** (the satisfaction side). Liked vs unseen measures what people *choose*; it
cannot credit the dislike term (a film the persona dislikes was still watched, so it resembles
what the user picks more than a random unseen film does). Each model is therefore also scored on
held-out liked (>= 4) vs disliked (<= 2.5, the personas' threshold) films of the same user
(``auc_liked_vs_disliked``), and four "rating" models are fitted on fit-period liked vs disliked
films (no sampling, intercept not corrected): they show which prior and which dislike weight
describe *enjoyment*, the simulator's realised satisfaction ``y = a - b + w_quality * c``.

**Diagnostics.** The same text models without embedding centring
(``ScenarioConfig.center_embeddings=False``), and with the 256-dim ``HashingEncoder`` instead of
MiniLM, are fitted and scored on the same events so the value of centring and of text semantics
is visible.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit
from scipy.stats import mannwhitneyu, rankdata

from recsim_llm.catalog.movielens import PRIOR_STRENGTH, MovieLensData, load_movielens
from recsim_llm.config import ChoiceConfig, ScenarioConfig
from recsim_llm.rng import RngStreams
from recsim_llm.scenarios import DATA_ENV_VAR, embed_world
from recsim_llm.simulator import World
from recsim_llm.text import TextEncoder, make_encoder
from recsim_llm.users.history import personas_from_history

__all__ = [
    "CALIBRATION_SCENARIOS",
    "ITEM_PRIORS",
    "ChoiceFit",
    "Events",
    "HeldOut",
    "auc_score",
    "binary_metrics",
    "build_events",
    "build_heldout",
    "calibrate",
    "calibrate_command",
    "evaluate",
    "fit_choice_model",
    "format_report",
    "item_prior",
    "pair_features",
    "per_user_auc",
    "split_periods",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

CALIBRATION_SCENARIOS = {"ml-100k": ("100k", "ml-100k"),
                         "ml-latest-small": ("latest-small", "ml-latest-small")}
"""scenario name -> (MovieLens variant, folder name under ``$RECSIM_LLM_DATA_DIR``)"""
ITEM_PRIORS = ("popularity", "mean_rating")
"""item priors counted from the ratings of a period (``catalog_quality`` is the catalog's own)"""
LIKE_THRESHOLD = 4.0
"""a rating >= this is a liked film (the positives)"""
DISLIKE_THRESHOLD = 2.5
"""a rating <= this is a disliked film (as in the personas' dislikes)"""
PERSONA_FRACTION = 0.6
"""share of each user's ratings the fitted personas are written from"""
TRAIN_FRACTION = 0.8
"""share of each user's ratings in the training period (as the ML scenarios' personas)"""
NEG_PER_POS = 4
"""sampled unseen films per liked film in the fit events"""
RATIOS = (1, 3, 9)
"""unseen films per held-out liked film in the yes/no evaluation"""
MIN_RATINGS = 10
"""users with fewer ratings cannot be split into persona / fit / held-out periods"""
POSITION_BIAS_NOTE = ("not identifiable from MovieLens (no logged slates or positions, only "
                      "ratings); the default ChoiceConfig.position_bias "
                      f"= {ChoiceConfig().position_bias} is kept")
PERIOD_NAMES = ("persona", "fit", "held-out")


# --------------------------------------------------------------------------------------------
# periods and priors


def split_periods(data: MovieLensData, *, persona_fraction: float = PERSONA_FRACTION,
                  train_fraction: float = TRAIN_FRACTION,
                  min_ratings: int = MIN_RATINGS) -> pd.DataFrame:
    """Split each user's ratings chronologically into persona, fit and held-out periods.

    The rule is that of :func:`~recsim_llm.users.history.personas_from_history`: a user's ratings
    sorted by (timestamp, item index); rank ``r`` (from 0) of ``n`` is in the persona period if
    ``r < floor(persona_fraction * n)``, in the fit period if also ``r < floor(train_fraction *
    n)``, else held out.

    Args:
        data: a loaded MovieLens dataset.
        persona_fraction: share of each user's ratings in the persona period, in (0, 1).
        train_fraction: share in the persona + fit (training) period, in (persona_fraction, 1).
        min_ratings: users with fewer ratings, or with an empty period, are dropped.

    Returns:
        [n_kept_ratings] frame with columns ``user`` (int64 row of the kept users, in numeric
        user-id order), ``user_id`` (str), ``item`` (int64), ``rating`` (float64), ``timestamp``
        (int64) and ``period`` (int64: 0 persona, 1 fit, 2 held-out); ``frame.attrs`` holds
        ``user_ids`` (the kept ids, in row order) and ``n_dropped_users``.

    Raises:
        ValueError: fractions out of range (``train_fraction = 1`` leaves the held-out period
            empty), or no user has enough ratings to be split.
    """
    if not 0.0 < persona_fraction < 1.0:
        raise ValueError(f"persona_fraction must be in (0, 1), got {persona_fraction}")
    if train_fraction >= 1.0:
        raise ValueError(f"the held-out period is empty: train_fraction={train_fraction} leaves "
                         f"no rating after the training period (use a value below 1)")
    if not persona_fraction < train_fraction:
        raise ValueError(f"train_fraction ({train_fraction}) must exceed persona_fraction "
                         f"({persona_fraction}): the fit period lies between them")
    r = pd.DataFrame({
        "user_id": data.ratings["user_id"].astype(str).to_numpy(),
        "item": data.ratings["item_index"].to_numpy(np.int64),
        "rating": data.ratings["rating"].to_numpy(np.float64),
        "timestamp": data.ratings["timestamp"].to_numpy(np.int64)})
    if r.empty:
        raise ValueError("too few ratings to split: the dataset has no ratings")
    r = r.sort_values(["user_id", "timestamp", "item"], kind="stable").reset_index(drop=True)
    grp = r.groupby("user_id", sort=False)
    rank = grp.cumcount().to_numpy()
    size = grp["item"].transform("size").to_numpy()
    # the epsilon keeps e.g. 0.8 * 5 from flooring to 3 through rounding error (as history.py)
    n_persona = np.floor(persona_fraction * size + 1e-9)
    n_train = np.floor(train_fraction * size + 1e-9)
    r["period"] = np.where(rank < n_persona, 0, np.where(rank < n_train, 1, 2)).astype(np.int64)
    counts = pd.crosstab(r["user_id"], r["period"]).reindex(columns=[0, 1, 2], fill_value=0)
    total = counts.sum(axis=1)
    ok = (total >= min_ratings) & (counts > 0).all(axis=1)
    if not ok.any():
        raise ValueError(
            f"too few ratings to split: no user has at least {min_ratings} ratings with a "
            f"non-empty persona ({persona_fraction:.0%}), fit (to {train_fraction:.0%}) and "
            f"held-out period (the most ratings of any user is {int(total.max())}); "
            f"lower min_ratings or load a larger dataset")
    kept = [str(u) for u in counts.index[ok.to_numpy()]]
    if all(u.isdigit() for u in kept):
        kept = sorted(kept, key=int)
    else:
        kept = sorted(kept)
    code = pd.Index(kept).get_indexer(r["user_id"].to_numpy())
    r = r[code >= 0].assign(user=code[code >= 0].astype(np.int64))
    r = r.sort_values(["user", "timestamp", "item"], kind="stable").reset_index(drop=True)
    r = r[["user", "user_id", "item", "rating", "timestamp", "period"]]
    r.attrs["user_ids"] = np.asarray(kept, dtype=str)
    r.attrs["n_dropped_users"] = int((~ok).sum())
    return r


def item_prior(items: IntArray, ratings: FloatArray, n_items: int, kind: str,
               rating_scale: tuple[float, float]) -> FloatArray:
    """An item prior in [0, 1] counted from a set of ratings.

    Args:
        items: [m] item index of each rating.
        ratings: [m] the ratings.
        n_items: catalog size.
        kind: ``"popularity"``: ``log1p(count) / log1p(max count)``; ``"mean_rating"``: the
            Bayesian-shrunk mean ``(sum r + 10 * global_mean) / (count + 10)`` mapped linearly
            from ``rating_scale`` to [0, 1] (an unrated film gets the global mean).
        rating_scale: (lowest, highest) possible rating.

    Returns:
        [n_items] prior values in [0, 1].
    """
    if kind not in ITEM_PRIORS:
        raise ValueError(f"unknown item prior {kind!r}; valid: {list(ITEM_PRIORS)}")
    count = np.bincount(items, minlength=n_items).astype(np.float64)
    if kind == "popularity":
        top = np.log1p(count.max(initial=0.0))
        return np.log1p(count) / top if top > 0 else np.zeros(n_items)
    total = np.bincount(items, weights=ratings, minlength=n_items)
    mu = float(ratings.mean()) if len(ratings) else 0.5 * sum(rating_scale)
    shrunk = (total + PRIOR_STRENGTH * mu) / (count + PRIOR_STRENGTH)
    lo, hi = rating_scale
    return np.clip((shrunk - lo) / (hi - lo), 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# events and the fit


def pair_features(world: World, users: IntArray, items: IntArray) -> tuple[FloatArray, FloatArray]:
    """Cosines of (user, item) pairs in the world's centred embedding space.

    Args:
        world: users' ``interest0`` [n_users, d], ``dislike`` [n_users, d], ``item_emb``
            [n_items, d] (unit rows; zero dislike rows for users who dislike nothing).
        users: [m] user rows.
        items: [m] item rows.

    Returns:
        ``(cos_interest, cos_dislike)``, each [m] float64.
    """
    e = world.item_emb[items]
    cos_p = np.einsum("md,md->m", world.interest0[users], e, dtype=np.float64)
    cos_q = np.einsum("md,md->m", world.dislike[users], e, dtype=np.float64)
    return cos_p, cos_q


@dataclass(frozen=True)
class Events:
    """Binary choice events: a liked film (label 1) or a sampled unseen film (label 0).

    All arrays have shape [m].
    """

    user: IntArray
    item: IntArray
    label: FloatArray
    cos_interest: FloatArray
    """cos(p_u, e_i)"""
    cos_dislike: FloatArray
    """cos(q_u, e_i) (0 where the user dislikes nothing)"""
    prior: FloatArray
    """prior_i in [0, 1] (zeros when the model has no prior)"""

    def __len__(self) -> int:
        return len(self.label)

    @property
    def n_pos(self) -> int:
        return int(self.label.sum())

    def with_features(self, world: World, prior: FloatArray | None) -> Events:
        """The same (user, item, label) triples with features from another world / prior."""
        cos_p, cos_q = pair_features(world, self.user, self.item)
        pr = np.zeros(len(self)) if prior is None else np.asarray(prior, np.float64)[self.item]
        return Events(self.user, self.item, self.label, cos_p, cos_q, pr)


def build_events(world: World, pos_users: IntArray, pos_items: IntArray, seen: BoolArray,
                 prior: FloatArray | None, *, neg_per_pos: int = NEG_PER_POS,
                 rng: np.random.Generator, max_rounds: int = 1000) -> Events:
    """Liked (user, item) pairs plus ``neg_per_pos`` sampled unseen films per pair.

    Negatives are drawn uniformly with replacement from the films with ``seen[u] == False``, by
    vectorised rejection sampling (each round redraws only the draws that hit a seen film).

    Args:
        world: source of the embeddings (user rows index ``world.interest0``).
        pos_users: [n_pos] user rows of the liked pairs.
        pos_items: [n_pos] item rows of the liked pairs.
        seen: [n_users, n_items] films a user may not get as a negative (rated so far).
        prior: [n_items] item prior, or None for zeros.
        neg_per_pos: negatives per positive (>= 1).
        rng: generator of the negative draws.
        max_rounds: give up rejection sampling after this many rounds.

    Returns:
        :class:`Events` with ``n_pos * (1 + neg_per_pos)`` rows, positives first.

    Raises:
        ValueError: no positives, or a user with a positive has seen every film.
    """
    pos_users = np.asarray(pos_users, np.int64)
    pos_items = np.asarray(pos_items, np.int64)
    if len(pos_users) == 0:
        raise ValueError("no liked (rating >= 4) ratings in the fit period: nothing to fit")
    if neg_per_pos < 1:
        raise ValueError(f"neg_per_pos must be >= 1, got {neg_per_pos}")
    n_items = seen.shape[1]
    full = seen[np.unique(pos_users)].all(axis=1)
    if full.any():
        raise ValueError("a user has rated every film: no unseen film to sample as a negative")
    neg_users = np.repeat(pos_users, neg_per_pos)
    neg_items = rng.integers(0, n_items, size=len(neg_users))
    bad = seen[neg_users, neg_items]
    rounds = 0
    while bad.any():
        rounds += 1
        if rounds > max_rounds:
            raise RuntimeError("negative sampling did not finish; users have seen too many films")
        neg_items[bad] = rng.integers(0, n_items, size=int(bad.sum()))
        bad = seen[neg_users, neg_items]
    users = np.concatenate([pos_users, neg_users])
    items = np.concatenate([pos_items, neg_items])
    label = np.concatenate([np.ones(len(pos_users)), np.zeros(len(neg_users))])
    empty = Events(users, items, label, np.zeros(0), np.zeros(0), np.zeros(0))
    return empty.with_features(world, prior)


PARAM_NAMES = ("temperature", "lam_dislike", "w_prior", "no_click_utility")


@dataclass(frozen=True)
class ChoiceFit:
    """Fitted constants of the binary choice model ``P = sigmoid(v - no_click_utility)``."""

    temperature: float
    lam_dislike: float
    w_prior: float
    no_click_utility: float
    """intercept; corrected to balanced liked:unseen odds when ``balanced``"""
    text: bool
    """the model has the text term (else temperature = lam_dislike = 0)"""
    prior: bool
    """the model has the item prior term (else w_prior = 0)"""
    nll: float
    """mean negative log-likelihood per fit event (at the uncorrected intercept)"""
    n_events: int
    n_pos: int
    converged: bool
    message: str
    std_err: dict[str, float] = field(default_factory=dict)
    """Gauss-Newton standard error of each free parameter (NaN at a bound)"""
    balanced: bool = False
    intercept_shift: float = 0.0
    """``log(n_neg / n_pos)`` subtracted from the fitted intercept when ``balanced``"""
    seconds: float = 0.0

    def utility(self, cos_interest: FloatArray, cos_dislike: FloatArray,
                prior: FloatArray) -> FloatArray:
        """``v = temperature * (cos_p - lam * max(0, cos_q)) + w_prior * prior`` (any shape)."""
        return (self.temperature * (cos_interest - self.lam_dislike * np.maximum(cos_dislike, 0))
                + self.w_prior * prior)

    def prob(self, cos_interest: FloatArray, cos_dislike: FloatArray,
             prior: FloatArray) -> FloatArray:
        """``P(yes) = sigmoid(v - no_click_utility)`` (any shape)."""
        return expit(self.utility(cos_interest, cos_dislike, prior) - self.no_click_utility)

    def choice_config(self) -> dict[str, float]:
        """The :class:`~recsim_llm.config.ChoiceConfig` fields this fit sets (``w_quality`` is
        ``w_prior``: it multiplies the prior the fit used, which must be the catalog's quality).
        """
        return {"temperature": self.temperature, "no_click_utility": self.no_click_utility,
                "lam_dislike": self.lam_dislike, "w_quality": self.w_prior}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _design(theta: FloatArray, ev: Events) -> tuple[FloatArray, FloatArray, FloatArray]:
    """z = v - c, the affinity a and max(0, cos_q) for parameters (T, lam, w, c)."""
    t, lam, w, c = theta
    relu_q = np.maximum(ev.cos_dislike, 0.0)
    a = ev.cos_interest - lam * relu_q
    return t * a + w * ev.prior - c, a, relu_q


def _jacobian(theta: FloatArray, a: FloatArray, relu_q: FloatArray, ev: Events) -> FloatArray:
    """[m, 4] dz/d(T, lam, w, c)."""
    return np.stack([a, -theta[0] * relu_q, ev.prior, -np.ones(len(a))], axis=1)


def fit_choice_model(events: Events, *, text: bool = True, prior: bool = True,
                     balance: bool = True, x0: Sequence[float] | None = None) -> ChoiceFit:
    """Maximum-likelihood fit of ``P(label = 1) = sigmoid(T * a + w * prior - c)``.

    ``a = cos_interest - lam * max(0, cos_dislike)``. Minimises the mean negative log-likelihood
    ``mean(log(1 + exp(z)) - y * z)`` with L-BFGS-B and its analytic gradient (vectorised over
    events), bounds ``T, lam, w >= 0``; parameters of a switched-off term are held at 0.

    Args:
        events: the fit events (:func:`build_events`, or any labelled pairs).
        text: fit the text term (``temperature``, ``lam_dislike``).
        prior: fit the item prior term (``w_prior``).
        balance: subtract ``log(n_neg / n_pos)`` from the fitted intercept, so the returned
            ``no_click_utility`` is that of balanced odds (the events were sampled with that many
            negatives per positive). Set False for events drawn from the model itself.
        x0: start (T, lam, w, c); default (5, 0.5, 1, 0) with switched-off terms at 0.

    Returns:
        The :class:`ChoiceFit`.

    Raises:
        ValueError: no events, only one class, neither term switched on, or non-finite features.
    """
    n = len(events)
    if n == 0:
        raise ValueError("no events to fit")
    n_pos = events.n_pos
    if n_pos in (0, n):
        raise ValueError(f"the fit events need both liked and unseen films, got {n_pos} liked of "
                         f"{n}")
    if not (text or prior):
        raise ValueError("switch on at least one of text and prior")
    for name in ("cos_interest", "cos_dislike", "prior"):
        if not np.isfinite(getattr(events, name)).all():
            raise ValueError(f"events.{name} holds non-finite values")
    start = np.array(x0 if x0 is not None else (5.0, 0.5, 1.0, 0.0), np.float64)
    free = np.array([text, text, prior, True])
    start[~free] = 0.0
    y = events.label
    t0 = time.perf_counter()

    def full(x: FloatArray) -> FloatArray:
        theta = np.zeros(4)
        theta[free] = x
        return theta

    def objective(x: FloatArray) -> tuple[float, FloatArray]:
        theta = full(x)
        z, a, relu_q = _design(theta, events)
        loss = float(np.mean(np.logaddexp(0.0, z) - y * z))
        r = expit(z) - y
        grad = np.array([r @ a, -theta[0] * (r @ relu_q), r @ events.prior, -r.sum()]) / n
        return loss, grad[free]

    bounds = [(0.0, None), (0.0, None), (0.0, None), (None, None)]
    res = minimize(objective, start[free], jac=True, method="L-BFGS-B",
                   bounds=[b for b, f in zip(bounds, free, strict=True) if f],
                   options={"maxiter": 1000, "ftol": 1e-12, "gtol": 1e-8})
    theta = full(res.x)
    z, a, relu_q = _design(theta, events)
    p = expit(z)
    jac = _jacobian(theta, a, relu_q, events)[:, free]
    info = (jac * (p * (1 - p))[:, None]).T @ jac
    try:
        cov = np.linalg.inv(info)
        se_free = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    except np.linalg.LinAlgError:
        se_free = np.full(int(free.sum()), np.nan)
    bounded = (True, True, True, False)
    std_err: dict[str, float] = {}
    for j, k in enumerate(np.flatnonzero(free)):
        at_bound = bounded[k] and theta[k] <= 1e-9
        std_err[PARAM_NAMES[k]] = float("nan") if at_bound else float(se_free[j])
    shift = math.log((n - n_pos) / n_pos) if balance else 0.0
    return ChoiceFit(
        temperature=float(theta[0]), lam_dislike=float(theta[1]), w_prior=float(theta[2]),
        no_click_utility=float(theta[3] - shift), text=text, prior=prior, nll=float(res.fun),
        n_events=n, n_pos=n_pos, converged=bool(res.success), message=str(res.message),
        std_err=std_err, balanced=balance, intercept_shift=shift,
        seconds=time.perf_counter() - t0)


# --------------------------------------------------------------------------------------------
# held-out evaluation


def auc_score(pos_scores: FloatArray, neg_scores: FloatArray) -> float:
    """Mann-Whitney AUC: P(a positive scores above a negative), ties counting half.

    Args:
        pos_scores: [n_pos] scores of positives (>= 1 of them).
        neg_scores: [n_neg] scores of negatives (>= 1 of them).
    """
    pos_scores, neg_scores = np.asarray(pos_scores), np.asarray(neg_scores)
    if len(pos_scores) == 0 or len(neg_scores) == 0:
        raise ValueError("AUC needs at least one positive and one negative score")
    u = mannwhitneyu(pos_scores, neg_scores, alternative="two-sided").statistic
    return float(u) / (len(pos_scores) * len(neg_scores))


def per_user_auc(scores: FloatArray, pos: BoolArray, neg: BoolArray
                 ) -> tuple[FloatArray, IntArray]:
    """Within-user AUC of every row: positives vs negatives of that row only.

    Vectorised with row-wise ranks: cells that are neither positive nor negative are set to
    ``-inf`` so they take the lowest ranks, and the positives' rank sum among the included cells
    gives the Mann-Whitney U (ties count half).

    Args:
        scores: [n_users, n_items] finite scores.
        pos: [n_users, n_items] positive cells.
        neg: [n_users, n_items] negative cells (disjoint from ``pos``).

    Returns:
        ``(auc, n_pairs)``, each [n_users]; ``auc`` is NaN for a row without a positive or a
        negative.
    """
    if (pos & neg).any():
        raise ValueError("a cell cannot be both positive and negative")
    included = pos | neg
    s = np.where(included, scores, -np.inf)
    ranks = rankdata(s, axis=1)
    n_excl = (~included).sum(axis=1)
    n_pos = pos.sum(axis=1)
    n_neg = neg.sum(axis=1)
    rank_sum = np.where(pos, ranks - n_excl[:, None], 0.0).sum(axis=1)
    u = rank_sum - n_pos * (n_pos + 1) / 2.0
    pairs = n_pos * n_neg
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = np.where(pairs > 0, u / np.maximum(pairs, 1), np.nan)
    return auc, pairs.astype(np.int64)


def binary_metrics(y_true: BoolArray, y_pred: BoolArray) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of yes/no decisions (micro over all pairs).

    Precision (and F1) is 0 when nothing is predicted yes; recall is 0 without positives.
    """
    y_true = np.asarray(y_true, bool)
    y_pred = np.asarray(y_pred, bool)
    tp = int((y_true & y_pred).sum())
    fp = int((~y_true & y_pred).sum())
    fn = int((y_true & ~y_pred).sum())
    tn = int((~y_true & ~y_pred).sum())
    n = tp + fp + fn + tn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": (tp + tn) / n if n else float("nan"), "precision": precision,
            "recall": recall, "f1": f1, "n_pos": tp + fn, "n_neg": fp + tn}


@dataclass(frozen=True)
class HeldOut:
    """The held-out test set, shared by every model (common random numbers).

    Shapes: n = users, n_items = films.
    """

    liked: BoolArray
    """[n, n_items] held-out ratings >= 4"""
    disliked: BoolArray
    """[n, n_items] held-out ratings <= 2.5 (watched, not liked)"""
    unseen: BoolArray
    """[n, n_items] films the user never rated (in any period)"""
    neg_samples: dict[int, tuple[IntArray, IntArray]]
    """ratio m -> (user rows, item rows) of the sampled unseen films, ``m`` per liked film of the
    user (fewer when the user has fewer unseen films); nested across ratios"""
    n_capped_users: dict[int, int]
    """ratio m -> users who had fewer unseen films than ``m * n_liked`` (all were taken)"""

    @property
    def users(self) -> IntArray:
        """Rows of the users with at least one held-out liked film."""
        return np.flatnonzero(self.liked.any(axis=1))


def build_heldout(periods: pd.DataFrame, n_users: int, n_items: int, *,
                  ratios: Sequence[int] = RATIOS, rng: np.random.Generator,
                  like_threshold: float = LIKE_THRESHOLD,
                  dislike_threshold: float = DISLIKE_THRESHOLD) -> HeldOut:
    """Held-out liked films and, per ratio, sampled unseen films (without replacement per user).

    One uniform key per (user, film) is drawn once; a user's unseen films sorted by key give the
    negatives of every ratio as prefixes, so the 1:1 sample lies inside the 1:3 and 1:9 ones.

    Args:
        periods: :func:`split_periods` output.
        n_users: users (rows); ``periods.user`` indexes them.
        n_items: catalog size.
        ratios: unseen films per liked film.
        rng: generator of the keys.
        like_threshold: lowest liked rating.
        dislike_threshold: highest disliked rating.

    Raises:
        ValueError: the held-out period holds no liked film.
    """
    test = periods[periods["period"] == 2]
    if test.empty:
        raise ValueError("the held-out period is empty: no rating after the training period")
    hit = test[test["rating"] >= like_threshold]
    if hit.empty:
        raise ValueError(f"the held-out period is empty of liked films: none of its {len(test)} "
                         f"ratings is >= {like_threshold}, so there is nothing to evaluate")
    liked = np.zeros((n_users, n_items), bool)
    liked[hit["user"].to_numpy(), hit["item"].to_numpy()] = True
    low = test[test["rating"] <= dislike_threshold]
    disliked = np.zeros((n_users, n_items), bool)
    disliked[low["user"].to_numpy(), low["item"].to_numpy()] = True
    unseen = np.ones((n_users, n_items), bool)
    unseen[periods["user"].to_numpy(), periods["item"].to_numpy()] = False
    keys = rng.random((n_users, n_items))
    keys[~unseen] = 2.0
    order = np.argsort(keys, axis=1, kind="stable")
    n_liked = liked.sum(axis=1)
    n_unseen = unseen.sum(axis=1)
    samples: dict[int, tuple[IntArray, IntArray]] = {}
    capped: dict[int, int] = {}
    cols = np.arange(n_items)[None, :]
    for m in ratios:
        if int(m) < 1:
            raise ValueError(f"ratios must be >= 1, got {m}")
        want = int(m) * n_liked
        take = np.minimum(want, n_unseen)
        capped[int(m)] = int((want > n_unseen).sum())
        rows, pos = np.nonzero(cols < take[:, None])
        samples[int(m)] = (rows.astype(np.int64), order[rows, pos].astype(np.int64))
    return HeldOut(liked=liked, disliked=disliked, unseen=unseen, neg_samples=samples,
                   n_capped_users=capped)


def _score_matrix(fit: ChoiceFit, world: World, prior: FloatArray | None) -> FloatArray:
    """[n_users, n_items] utilities ``v`` of every (user, film)."""
    n_users, n_items = world.n_users, world.n_items
    v = np.zeros((n_users, n_items))
    if fit.text:
        cos_p = world.interest0.astype(np.float64) @ world.item_emb.T.astype(np.float64)
        cos_q = world.dislike.astype(np.float64) @ world.item_emb.T.astype(np.float64)
        v += fit.temperature * (cos_p - fit.lam_dislike * np.maximum(cos_q, 0.0))
    if fit.prior and prior is not None:
        v += fit.w_prior * np.asarray(prior, np.float64)[None, :]
    return v


def _liked_vs_disliked(v: FloatArray, heldout: HeldOut) -> tuple[float, int]:
    """Mean within-user AUC of held-out liked vs disliked films, and the number of users."""
    both = np.flatnonzero(heldout.liked.any(axis=1) & heldout.disliked.any(axis=1))
    if len(both) == 0:
        return float("nan"), 0
    auc, _ = per_user_auc(v[both], heldout.liked[both], heldout.disliked[both])
    return float(np.nanmean(auc)), len(both)


def evaluate(fit: ChoiceFit, world: World, prior: FloatArray | None, heldout: HeldOut
             ) -> dict[str, Any]:
    """Held-out AUC and yes/no decision metrics of a fitted model.

    Args:
        fit: the fitted constants.
        world: embeddings of the evaluation personas (rows = ``heldout`` rows).
        prior: [n_items] item prior of the evaluation period (ignored without a prior term).
        heldout: the test set (:func:`build_heldout`).

    Returns:
        ``auc`` (mean over users of the within-user AUC, held-out liked vs all unseen films),
        ``auc_pairs`` (the same, users weighted by their pairs), ``auc_liked_vs_disliked``
        (within-user AUC of held-out liked vs held-out disliked films, mean over the
        ``n_users_liked_vs_disliked`` users with both: does the model know what a user will
        enjoy among what they watch), ``n_users``, ``n_liked``, and ``ratios``: ``"1:m"`` ->
        :func:`binary_metrics` of ``P > 0.5`` over the liked films and the sampled unseen films
        of that ratio.

    Raises:
        ValueError: no held-out liked film.
    """
    users = heldout.users
    if len(users) == 0:
        raise ValueError("the held-out period is empty of liked films: nothing to evaluate")
    v = _score_matrix(fit, world, prior)
    auc, pairs = per_user_auc(v[users], heldout.liked[users], heldout.unseen[users])
    p_yes = expit(v - fit.no_click_utility) > 0.5
    pu, pi = np.nonzero(heldout.liked)
    auc_ld, n_ld = _liked_vs_disliked(v, heldout)
    out: dict[str, Any] = {
        "auc": float(np.nanmean(auc)),
        "auc_pairs": float(np.nansum(auc * pairs) / pairs.sum()),
        "auc_liked_vs_disliked": auc_ld, "n_users_liked_vs_disliked": n_ld,
        "n_users": len(users), "n_liked": len(pu), "ratios": {}}
    pos_pred = p_yes[pu, pi]
    for m, (nu, ni) in heldout.neg_samples.items():
        y_true = np.concatenate([np.ones(len(pu), bool), np.zeros(len(nu), bool)])
        y_pred = np.concatenate([pos_pred, p_yes[nu, ni]])
        out["ratios"][f"1:{m}"] = binary_metrics(y_true, y_pred)
    return out


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
    personas, _ = personas_from_history(data, train_fraction=fraction, min_train_ratings=1)
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
    priors_fit["catalog_quality"] = data.catalog.quality.astype(np.float64)
    priors_eval["catalog_quality"] = data.catalog.quality.astype(np.float64)
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
    cfg = ScenarioConfig(name=scenario, encoder=enc_name or "custom")
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
                       setup.heldout)
        res["seconds"] = time.perf_counter() - t0
        fits[name], evals[name] = fit, res
        meta[name] = {"encoder": enc_label if text else "-", "prior": prior or "-", "note": note}

    for kind in ITEM_PRIORS:
        run(f"text+{kind}", world_fit, world_eval, kind, text=True, enc_label=enc_name)
    best = min(ITEM_PRIORS, key=lambda k: fits[f"text+{k}"].nll)
    run("text-only", world_fit, world_eval, None, text=True, enc_label=enc_name)
    for kind in ITEM_PRIORS:
        run(f"{kind}-only", world_fit, world_eval, kind, text=False, enc_label=enc_name)
    run("text+catalog_quality", world_fit, world_eval, "catalog_quality", text=True,
        enc_label=enc_name, note="prior sees held-out ratings: held-out numbers are leaky")
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
            "note": (f"w_quality multiplies the item prior {best!r} in [0, 1] (see "
                     f"calibration.item_prior) counted on the training period; to use it, set "
                     f"the catalog's quality to that prior")},
        "for_catalog_quality": {
            "model": "text+catalog_quality",
            "choice_config": fits["text+catalog_quality"].choice_config(),
            "note": "w_quality for the current Catalog.quality (Bayesian mean rating)"},
        "position_bias": POSITION_BIAS_NOTE,
        "fits": {k: f.to_dict() for k, f in fits.items()},
        "evaluation": evals,
        "models": meta,
        "rating_fits": {k: f.to_dict() for k, f in rating_fits.items()},
        "rating_evaluation": rating_evals,
        "timings": timings,
    }


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return "nan" if math.isnan(x) else f"{x:.{digits}f}"
    return str(x)


def _fit_table(fits: dict[str, dict[str, Any]], intercept: str) -> list[str]:
    lines = [f"| model | temperature | lam_dislike | w_prior | {intercept} | NLL/event |"
             " converged |", "|---|---|---|---|---|---|---|"]
    for name, f in fits.items():
        se = f["std_err"]

        def cell(key: str, f: dict = f, se: dict = se) -> str:
            if se.get(key) is not None and not math.isnan(se[key]):
                return f"{f[key]:.3f} ± {se[key]:.3f}"
            return f"{f[key]:.3f}"
        lines.append(f"| {name} | {cell('temperature')} | {cell('lam_dislike')} | "
                     f"{cell('w_prior')} | {cell('no_click_utility')} | {f['nll']:.4f} | "
                     f"{f['converged']} |")
    return lines


def format_report(results: dict[str, Any]) -> str:
    """Markdown tables of a :func:`calibrate` result: fitted constants, AUC, decision metrics."""
    lines = [f"## Calibration: {results['scenario']}, encoder {results['encoder']}, "
             f"seed {results['seed']}", ""]
    c = results["counts"]
    lines += [f"users {c['users']} (dropped, too few ratings: "
              f"{c['users_dropped_too_few_ratings']}), films {c['items']}, ratings per period "
              f"{c['ratings_per_period']}, fit events {c['fit_events']} ({c['fit_liked']} liked), "
              f"held-out liked {c['heldout_liked']} of {c['heldout_users_with_liked']} users.", "",
              f"Position bias: {results['position_bias']}.", "",
              "### Fitted constants (fit period; liked vs sampled unseen; intercept at balanced "
              "odds; ± standard error)", "",
              *_fit_table(results["fits"], "no_click_utility")]
    ratios = list(next(iter(results["evaluation"].values()))["ratios"])
    lines += ["", "### Held-out period", "",
              "| model | AUC | AUC (pair-weighted) | "
              + " | ".join(f"{r} acc / prec / rec / F1" for r in ratios)
              + " | liked vs disliked AUC |",
              "|---|---|---|" + "---|" * len(ratios) + "---|"]
    for name, ev in results["evaluation"].items():
        cells = [" / ".join(_fmt(ev["ratios"][r][k]) for k in
                            ("accuracy", "precision", "recall", "f1")) for r in ratios]
        lines.append(f"| {name} | {_fmt(ev['auc'])} | {_fmt(ev['auc_pairs'])} | "
                     + " | ".join(cells) + f" | {_fmt(ev['auc_liked_vs_disliked'])} |")
    notes = [f"{k}: {m['note']}" for k, m in results["models"].items() if m["note"]]
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    if results.get("rating_fits"):
        lines += ["", "### Watched films only: liked (>= 4) vs disliked (<= 2.5), fit period",
                  "", *_fit_table(results["rating_fits"], "intercept"), "",
                  "| model | held-out liked vs disliked AUC | users |", "|---|---|---|"]
        for name, ev in results["rating_evaluation"].items():
            lines.append(f"| {name} | {_fmt(ev['auc_liked_vs_disliked'])} | "
                         f"{ev['n_users_liked_vs_disliked']} |")
    rec = results["recommended"]
    lines += ["", f"Recommended ({rec['model']}): "
              + ", ".join(f"{k} = {v:.3f}" for k, v in rec["choice_config"].items()),
              "For the current Catalog.quality: "
              + ", ".join(f"{k} = {v:.3f}" for k, v in
                          results["for_catalog_quality"]["choice_config"].items()),
              "", "Timings (s): " + ", ".join(f"{k} {v:.1f}"
                                             for k, v in results["timings"].items()),
              ""]
    return "\n".join(lines)


def _load(scenario: str, data: Path | None) -> MovieLensData:
    if scenario not in CALIBRATION_SCENARIOS:
        from recsim_llm.scenarios import scenario_names
        others = [s for s in scenario_names() if s not in CALIBRATION_SCENARIOS]
        hint = (f" ({scenario!r} has no rating history to calibrate against)"
                if scenario in others else "")
        raise ValueError(f"unknown scenario {scenario!r} for calibration{hint}; valid scenarios: "
                         f"{sorted(CALIBRATION_SCENARIOS)}")
    variant, folder_name = CALIBRATION_SCENARIOS[scenario]
    folder = Path(data) if data is not None else None
    if folder is None and os.environ.get(DATA_ENV_VAR):
        candidate = Path(os.environ[DATA_ENV_VAR]) / folder_name
        if candidate.exists() or variant == "latest-small":
            folder = candidate
    if folder is None and variant == "latest-small":
        raise FileNotFoundError(f"scenario {scenario!r} needs the ml-latest-small folder: pass "
                                f"--data PATH or set {DATA_ENV_VAR}")
    return load_movielens(folder, variant=variant)


def calibrate_command(scenario: str, data: Path | None, encoder: str, out: Path | None,
                      max_users: int | None, seed: int) -> dict[str, Any]:
    """``recsim-llm calibrate``: load the scenario's data, calibrate, write the results.

    Prints nothing. With ``out``, writes ``out/results.json`` (the returned dict) and
    ``out/report.md`` (:func:`format_report`).

    Args:
        scenario: ``"ml-100k"`` (default data: the ``recbole`` wheel's copy) or
            ``"ml-latest-small"`` (needs ``data`` or ``$RECSIM_LLM_DATA_DIR``).
        data: dataset folder, or None for the default.
        encoder: ``"minilm"``, ``"hashing[:dim]"`` or a local model folder.
        out: results folder (created), or None to write nothing.
        max_users: calibrate on a seeded sample of this many users, or None for all.
        seed: seed of every sample.

    Returns:
        The :func:`calibrate` dict: ``recommended`` (the ChoiceConfig values of the best text +
        prior model and which prior), ``for_catalog_quality`` (``w_quality`` etc. for the current
        catalog quality), ``position_bias`` (not identifiable), ``fits`` (every model's
        constants, standard errors, NLL), ``evaluation`` (held-out AUC and acc / precision /
        recall / F1 at each ratio), ``counts``, ``timings`` (seconds, ``load_s`` included), and
        ``report`` (the markdown tables); plus ``out_files`` when written.

    Raises:
        ValueError: unknown scenario (lists the valid ones), too few ratings to split, an empty
            held-out period.
        FileNotFoundError: the data folder is missing.
    """
    t0 = time.perf_counter()
    dataset = _load(scenario, data)
    load_s = time.perf_counter() - t0
    results = calibrate(dataset, scenario=scenario, encoder=encoder, max_users=max_users,
                        seed=seed)
    results["timings"] = {"load_s": load_s, **results["timings"],
                          "total_s": time.perf_counter() - t0}
    results["data"] = str(data) if data is not None else None
    results["report"] = format_report(results)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(
            json.dumps(_finite(results), indent=2, default=_json_default, allow_nan=False))
        (out / "report.md").write_text(results["report"])
        results["out_files"] = [str(out / "results.json"), str(out / "report.md")]
    return results


def _finite(x: Any) -> Any:
    """NaN / inf floats as None (strict JSON), recursively."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if isinstance(x, (float, np.floating)) and not math.isfinite(float(x)):
        return None
    return x


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON-serialisable: {type(x).__name__}")
