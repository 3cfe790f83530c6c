"""Choice models: which slate position (if any) a user clicks.

Pure functions of utilities and pre-drawn uniforms, so the same uniforms give the same choice
whatever else happened (common random numbers across policies).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating]
IntArray = npt.NDArray[np.int64]


def position_penalty(slate_size: int, position_bias: float) -> npt.NDArray[np.float32]:
    """Utility lost at each slot, ``position_bias * log2(1 + slot)``, shape [slate_size]."""
    return (position_bias * np.log2(1.0 + np.arange(slate_size))).astype(np.float32)


def choice_probs(utilities: FloatArray, no_click_utility: float) -> FloatArray:
    """Multinomial-logit probabilities over the slate and a final no-click option.

    Args:
        utilities: [n, k] utilities of the slate items.
        no_click_utility: utility of choosing nothing.
    Returns:
        [n, k + 1] probabilities; column k is no click. Rows sum to 1.
    """
    # The no-click logit joins the softmax so that "nothing" competes with the slate (RecSim MNL).
    n = utilities.shape[0]
    logits = np.concatenate(
        [utilities, np.full((n, 1), no_click_utility, dtype=utilities.dtype)], axis=1)
    logits = logits - logits.max(axis=1, keepdims=True)  # overflow-safe softmax
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return logits


def sample_mnl(utilities: FloatArray, no_click_utility: float, uniforms: FloatArray) -> IntArray:
    """Sample one slate position per user from the MNL; -1 means no click.

    Args:
        utilities: [n, k] utilities.
        no_click_utility: utility of choosing nothing.
        uniforms: [n] draws in [0, 1) from the ``choice`` stream.
    Returns:
        [n] chosen position in [0, k) or -1.
    """
    p = choice_probs(utilities, no_click_utility)
    cdf = np.cumsum(p, axis=1)
    k = utilities.shape[1]
    pos = (cdf[:, :-1] <= uniforms[:, None]).sum(axis=1)  # first slot whose cdf exceeds u
    return np.where(pos >= k, -1, pos).astype(np.int64)


def cascade_probs(utilities: FloatArray, no_click_utility: float) -> FloatArray:
    """Per-slot click probabilities of the cascade model, ``sigmoid(v - v_none)``, shape [n, k]."""
    # exp overflows (float32 already below v - v_none = -88) to inf, giving exactly the limit 0.
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-(utilities - no_click_utility)))


def sample_cascade(utilities: FloatArray, no_click_utility: float, uniforms: FloatArray
                   ) -> IntArray:
    """Cascade model: the user scans top-down and clicks the first slot whose coin comes up.

    Args:
        utilities: [n, k] utilities (position bias already included).
        no_click_utility: the utility a slot must beat to be clicked with probability > 1/2.
        uniforms: [n, k] draws in [0, 1) from the ``choice`` stream.
    Returns:
        [n] first clicked position, or -1.
    """
    hit = uniforms < cascade_probs(utilities, no_click_utility)
    first = hit.argmax(axis=1)
    return np.where(hit.any(axis=1), first, -1).astype(np.int64)


def cascade_outcome_probs(utilities: FloatArray, no_click_utility: float) -> FloatArray:
    """Probability of each outcome under the cascade (first click at j, or none), [n, k + 1]."""
    c = cascade_probs(utilities, no_click_utility)
    survive = np.cumprod(1.0 - c, axis=1)
    before = np.concatenate([np.ones((c.shape[0], 1)), survive[:, :-1]], axis=1)
    return np.concatenate([before * c, survive[:, -1:]], axis=1)
