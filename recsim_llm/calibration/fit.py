"""Binary choice events and the maximum-likelihood fit of the choice constants."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from recsim_llm.calibration.constants import (
    NEG_PER_POS,
    BoolArray,
    FloatArray,
    IntArray,
)
from recsim_llm.simulator import World
from recsim_llm.users import dynamics as dyn

# --------------------------------------------------------------------------------------------
# events and the fit


def pair_features(world: World, users: IntArray, items: IntArray) -> tuple[FloatArray, FloatArray]:
    """Cosines of (user, item) pairs in the world's centred embedding space.

    Args:
        world: users' ``interest0`` [n_users, K, d] (pooled by the simulator's soft maximum,
            :func:`~recsim_llm.users.dynamics.pool_interests`), ``dislike`` [n_users, d],
            ``item_emb``
            [n_items, d] (unit rows; zero dislike rows for users who dislike nothing).
        users: [m] user rows.
        items: [m] item rows.

    Returns:
        ``(cos_interest, cos_dislike)``, each [m] float64.
    """
    e = world.item_emb[items]
    assert world.interest_logw is not None
    cos_k = np.einsum("mkd,md->mk", world.interest0[users], e)              # [m, K]
    cos_p = dyn.pool_interests(cos_k, world.interest_logw[users],
                               world.cfg.choice.pool_temperature).astype(np.float64)
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
        """``v = temperature * (cos_p - lam * max(0, cos_q)) + w_prior * prior`` (any shape):
        the simulator's :func:`~recsim_llm.users.dynamics.click_utility` with no boredom (a
        fresh user) and ``h_u = w_prior``, the pooled interest cosine given."""
        return np.asarray(dyn.click_utility(
            dyn.affinity(cos_interest, cos_dislike, self.lam_dislike), 0.0, prior, self.w_prior,
            self.temperature), np.float64)

    def prob(self, cos_interest: FloatArray, cos_dislike: FloatArray,
             prior: FloatArray) -> FloatArray:
        """``P(yes) = sigmoid(v - no_click_utility)`` (any shape)."""
        return expit(self.utility(cos_interest, cos_dislike, prior) - self.no_click_utility)

    def choice_config(self) -> dict[str, float]:
        """The :class:`~recsim_llm.config.ChoiceConfig` fields this fit sets (``w_appeal`` is
        ``w_prior``: it multiplies the prior the fit used, which must be the catalog's appeal).
        """
        return {"temperature": self.temperature, "no_click_utility": self.no_click_utility,
                "lam_dislike": self.lam_dislike, "w_appeal": self.w_prior}

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
