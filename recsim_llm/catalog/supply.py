"""The supply side: providers whose hook effort follows the clicks that hooks earn them.

The catalog's texts are fixed; what a provider changes is how its items are *packaged*. A
provider p has a hook effort ``eta_p`` in [0, 1]; its items' effective appeal and value are

    appeal_i(t) = min(1, appeal_i + effort_appeal * eta_p(i)(t))
    value_i(t)  = max(-1, value_i - effort_value * eta_p(i)(t))

(a sensational thumbnail and title get more clicks and leave the viewer with less than was
promised). Providers are paid in clicks: each night every provider's payoff, its clicks per
available item, is averaged with memory ``payoff_memory``, and a share ``revision_rate`` of the
providers reconsiders by *proportional imitation* (Schlag 1998; its mean dynamics are the
replicator equation): provider p meets a peer q drawn at random and copies q's effort with
probability ``max(0, payoff_q - payoff_p) / (max payoff - min payoff)``; a reconsidering
provider's effort then moves by ``mutation * N(0, 1)`` (experimentation), clipped to [0, 1].

This is the mechanism of the creator-incentive literature (Immorlica, Jagadeesan and Lucier
2024, "Clickbait vs. Quality"; Hron et al. 2022): whatever the platform's exposure rewards is
what the supply becomes. Nothing names a policy: effort rises where hooks pay in clicks (a
ranker that learns from clicks, or any ranker blind to value, since appeal raises the click
probability of whatever is shown) and falls where the platform ranks the disappointing items
down. All draws are fixed-shape, from named streams, so two policies on one seed meet the same
peers and draws; only the payoffs differ.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from recsim_llm.config import SupplyConfig

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def effective_items(appeal: FloatArray, value: FloatArray, effort_of_item: FloatArray,
                    cfg: SupplyConfig) -> tuple[FloatArray, FloatArray]:
    """Items' appeal and value under their providers' hook efforts (see the module doc)."""
    return (np.minimum(1.0, appeal + cfg.effort_appeal * effort_of_item),
            np.maximum(-1.0, value - cfg.effort_value * effort_of_item))


def imitate(effort: FloatArray, payoff: FloatArray, revise: npt.NDArray[np.bool_],
            peer: IntArray, u: FloatArray, noise: FloatArray, mutation: float) -> FloatArray:
    """One night of proportional imitation among providers, shape [P].

    Args:
        effort: [P] efforts in [0, 1]; payoff: [P] payoffs (clicks per item).
        revise: [P] providers that reconsider tonight; peer: [P] the peer each one meets.
        u: [P] uniforms for the copy decision; noise: [P] standard normals (experimentation).
        mutation: standard deviation of the experiment.
    Returns:
        the new efforts, in [0, 1]; providers that do not revise keep theirs exactly.
    """
    span = float(payoff.max() - payoff.min()) if len(payoff) else 0.0
    gain = payoff[peer] - payoff
    p_copy = np.clip(gain / span, 0.0, 1.0) if span > 0 else np.zeros_like(payoff)
    copied = np.where(revise & (u < p_copy), effort[peer], effort)
    moved = np.clip(copied + mutation * noise, 0.0, 1.0)
    return np.where(revise, moved, effort)


class ProviderSupply:
    """The providers' efforts and payoffs over a run (owned by the simulator).

    Args:
        cfg: the supply configuration (``cfg.enabled`` must be true).
        provider: [n_items] provider of each item.
        appeal, value: [n_items] the items' own appeal and value (effort 0).
    """

    def __init__(self, cfg: SupplyConfig, provider: IntArray, appeal: FloatArray,
                 value: FloatArray) -> None:
        self.cfg = cfg
        self.provider = np.asarray(provider, np.int64)
        self.n_providers = int(self.provider.max()) + 1 if len(self.provider) else 0
        self.appeal0 = np.asarray(appeal, np.float64)
        self.value0 = np.asarray(value, np.float64)
        self.effort = np.zeros(self.n_providers)
        self.payoff = np.zeros(self.n_providers)
        self.day_clicks = np.zeros(len(self.provider), np.int64)
        """[n_items] clicks of the day so far"""

    def reset(self, rng: np.random.Generator) -> None:
        """Day-0 efforts ``Uniform(0, initial_effort_max)`` from the ``supply`` stream."""
        self.effort = self.cfg.initial_effort_max * rng.random(self.n_providers)
        self.payoff = np.zeros(self.n_providers)
        self.day_clicks[:] = 0

    def items(self) -> tuple[FloatArray, FloatArray]:
        """[n_items] effective appeal and value today."""
        return effective_items(self.appeal0, self.value0, self.effort[self.provider], self.cfg)

    def record_clicks(self, items: IntArray) -> None:
        """Count a request's clicked items (-1 = no click); O(clicks)."""
        hit = items[items >= 0]
        np.add.at(self.day_clicks, hit, 1)

    def end_day(self, n_available: int, rng: np.random.Generator) -> None:
        """Update payoffs from the day's clicks, then let providers imitate (one draw of each
        kind per provider, whoever revises: common random numbers across policies)."""
        P, cfg = self.n_providers, self.cfg
        prov = self.provider[:n_available]
        n_items = np.bincount(prov, minlength=P)
        clicks = np.bincount(prov, weights=self.day_clicks[:n_available], minlength=P)
        has = n_items > 0
        today = np.where(has, clicks / np.maximum(n_items, 1), 0.0)
        self.payoff = np.where(has, cfg.payoff_memory * self.payoff
                               + (1 - cfg.payoff_memory) * today, self.payoff)
        revise = rng.random(P) < cfg.revision_rate
        peer = rng.integers(0, max(P - 1, 1), size=P)
        peer = peer + (peer >= np.arange(P))   # a peer other than oneself
        peer = np.minimum(peer, P - 1)
        u = rng.random(P)
        noise = rng.standard_normal(P)
        active = has.copy()
        # Providers without an item yet neither revise nor serve as examples.
        revise &= active & active[peer]
        self.effort = imitate(self.effort, self.payoff, revise, peer, u, noise, cfg.mutation)
        self.day_clicks[:] = 0

    def mean_effort(self, n_available: int) -> float:
        """Item-weighted mean effort over the available items."""
        if n_available == 0:
            return float("nan")
        return float(self.effort[self.provider[:n_available]].mean())

    def state(self) -> dict[str, Any]:
        return {"effort": self.effort.copy(), "payoff": self.payoff.copy(),
                "day_clicks": self.day_clicks.copy()}

    def set_state(self, state: dict[str, Any]) -> None:
        self.effort = np.array(state["effort"], np.float64)
        self.payoff = np.array(state["payoff"], np.float64)
        self.day_clicks = np.array(state["day_clicks"], np.int64)
