"""The user model's equations as pure, vectorised functions (see ``docs/user_model.md``).

Every function takes arrays over users (and slate slots) and returns new arrays; none mutates
its inputs and none loops over users or items in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating]
BoolArray = npt.NDArray[np.bool_]


@dataclass
class PopulationState:
    """Hidden state of every user, as arrays over users (never shown to a policy).

    Shapes: n = users (including future arrivals), d = embedding dims.
    """

    interest: npt.NDArray[np.float32]
    """[n, d] current interest p (unit norm)"""
    interest0: npt.NDArray[np.float32]
    """[n, d] persona interest p0 from the 'likes' text (unit norm, static)"""
    dislike: npt.NDArray[np.float32]
    """[n, d] dislike q from the 'dislikes' text (unit norm, or zeros if none; static)"""
    fatigue: npt.NDArray[np.float32]
    """[n, d] fatigue memory f (norm <= 1)"""
    satisfaction: npt.NDArray[np.float64]
    """[n] satisfaction EMA s"""
    budget: npt.NDArray[np.float64]
    """[n] remaining session time budget (>= 0)"""
    misses: npt.NDArray[np.int64]
    """[n] consecutive requests without a click in this session"""
    requests: npt.NDArray[np.int64]
    """[n] requests so far in this session"""
    in_session: npt.NDArray[np.bool_]
    """[n] user is in a session now (masked out otherwise)"""
    visited_today: npt.NDArray[np.bool_]
    """[n] user came back today"""
    days_absent: npt.NDArray[np.int64]
    """[n] consecutive days without a visit"""
    churned: npt.NDArray[np.bool_]
    """[n] user left for good"""
    joined: npt.NDArray[np.bool_]
    """[n] user has arrived (new users join on their arrival day)"""
    day_sat_sum: npt.NDArray[np.float64]
    """[n] sum of realised satisfaction (no-click requests included) today"""
    day_requests: npt.NDArray[np.int64]
    """[n] requests served today"""
    day_clicks: npt.NDArray[np.int64]
    """[n] clicks today"""
    day_sessions: npt.NDArray[np.int64]
    """[n] sessions started today"""

    def copy(self) -> PopulationState:
        return PopulationState(**{f.name: getattr(self, f.name).copy() for f in fields(self)})

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def alive(self) -> BoolArray:
        """[n] joined and not churned."""
        return self.joined & ~self.churned


def unit_norm(x: FloatArray, axis: int = -1) -> FloatArray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    norm = np.linalg.norm(x, axis=axis, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


def affinity(cos_interest: FloatArray, cos_dislike: FloatArray, lam_dislike: float) -> FloatArray:
    """Text affinity ``a = cos(p, e) - lam * max(0, cos(q, e))``, shape as the inputs."""
    return cos_interest - lam_dislike * np.maximum(cos_dislike, 0.0)


def boredom(fatigue_dot: FloatArray, beta_fatigue: float) -> FloatArray:
    """Boredom ``b = beta * max(0, cos(f, e)) * |f| = beta * max(0, f . e)`` for unit ``e``."""
    return beta_fatigue * np.maximum(fatigue_dot, 0.0)


def utility(a: FloatArray, b: FloatArray, quality: FloatArray, temperature: float,
            w_quality: float, position_penalty: FloatArray) -> FloatArray:
    """``v = temperature * (a - b) + w_quality * c - position_penalty[slot]``, shape [n, k]."""
    return temperature * (a - b) + w_quality * quality - position_penalty


def realized_satisfaction(a: FloatArray, b: FloatArray, quality: FloatArray, w_quality: float,
                          noise: FloatArray) -> FloatArray:
    """Satisfaction of a consumed item, ``y = a - b + w_quality * c + noise``, shape [n]."""
    return a - b + w_quality * quality + noise


def drift_toward(interest: FloatArray, consumed: FloatArray, y: FloatArray, clicked: BoolArray,
                 drift_rate: float) -> FloatArray:
    """Interest drift toward consumed items: ``p <- normalize(p + eta * max(y,0) * (e - p))``.

    Args:
        interest: [n, d] current interests.
        consumed: [n, d] embedding of the consumed item (any value where not clicked).
        y: [n] realised satisfaction.
        clicked: [n] whether the user consumed an item.
    Returns:
        [n, d] new interests; rows without a click are unchanged.
    """
    step = (drift_rate * np.where(clicked, np.maximum(y, 0.0), 0.0))[:, None]
    return unit_norm(interest + step.astype(interest.dtype) * (consumed - interest))


def overnight_interest(interest: FloatArray, interest0: FloatArray, noise: FloatArray,
                       anchor_rate: float, drift_noise: float) -> FloatArray:
    """Nightly anchoring to the persona and exogenous noise.

    ``p <- normalize(p + kappa * (p0 - p) + sigma * noise)``, noise ~ N(0, I), shape [n, d].
    """
    return unit_norm(interest + anchor_rate * (interest0 - interest) + drift_noise * noise)


def update_fatigue(fatigue: FloatArray, consumed: FloatArray, shown_mean: FloatArray,
                   clicked: BoolArray, decay: float, shown_weight: float) -> FloatArray:
    """``f <- gamma f + (1 - gamma) * target``, target mixing consumed and mean shown items.

    target = ``(1 - w) * e_consumed * clicked + w * mean(e_shown)``; |target| <= 1 so |f| <= 1.
    """
    # Cast the per-user weight to the vectors' dtype: a float64 weight would promote the whole
    # [n, d] update to float64 (measured 1.14x slower at 1e5 users).
    w = ((1.0 - shown_weight) * clicked).astype(consumed.dtype)[:, None]
    target = shown_weight * shown_mean + w * consumed
    return decay * fatigue + (1.0 - decay) * target


def update_budget(budget: FloatArray, y: FloatArray, clicked: BoolArray, request_cost: float,
                  refund: float) -> FloatArray:
    """Each request costs time; a satisfying click refunds ``refund * max(y, 0)``. Never < 0."""
    gain = np.where(clicked, refund * np.maximum(y, 0.0), 0.0)
    return np.maximum(budget - request_cost + gain, 0.0)


def satisfaction_ema(s: FloatArray, day_mean: FloatArray, visited: BoolArray, ema: float
                     ) -> FloatArray:
    """``s <- (1 - ema) s + ema * today's mean satisfaction`` for users who visited; else s."""
    return np.where(visited, (1.0 - ema) * s + ema * day_mean, s)


def return_probability(s: FloatArray, bias: float, slope: float) -> FloatArray:
    """End-of-day return probability ``sigmoid(theta0 + theta1 * s)``."""
    return 1.0 / (1.0 + np.exp(-(bias + slope * s)))
