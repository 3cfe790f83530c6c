"""The slate action space: k *distinct* item ids.

A plain ``MultiDiscrete([n_items] * k)`` samples slates with repeated items, which the simulator
rejects; :class:`SlateSpace` is a ``MultiDiscrete`` (so Gymnasium's checkers accept it) whose
``sample`` draws k distinct ids among the items available today and whose ``contains`` rejects
duplicates and unavailable ids. An RL library that samples each slot on its own (SB3's
``MultiDiscrete`` policies do) still produces invalid slates: agents use the ``scores``,
``query`` or ``strategy`` action modes (:mod:`recsim_llm.envs.actions`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces


class SlateSpace(spaces.MultiDiscrete):
    """Slates of ``slate_size`` distinct ids in ``[0, n_items)``; shape [slate_size] or
    [n_slates, slate_size] for a batch."""

    def __init__(self, n_items: int, slate_size: int, n_slates: int | None = None,
                 seed: int | np.random.Generator | None = None) -> None:
        if slate_size > n_items:
            raise ValueError(f"slate_size {slate_size} exceeds n_items {n_items}")
        shape = (slate_size,) if n_slates is None else (n_slates, slate_size)
        super().__init__(np.full(shape, n_items, dtype=np.int64), dtype=np.int64, seed=seed)
        self.n_items, self.slate_size, self.n_slates = n_items, slate_size, n_slates
        self.n_available = n_items
        """ids [0, n_available) are valid now (the environment updates it as items arrive)"""

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        if mask is not None or probability is not None:
            return super().sample(mask=mask, probability=probability)
        rows = 1 if self.n_slates is None else self.n_slates
        out = sample_distinct(self.np_random, rows, self.n_available, self.slate_size)
        return out[0] if self.n_slates is None else out

    def contains(self, x: Any) -> bool:
        if not super().contains(x):
            return False
        arr = np.sort(np.asarray(x).reshape(-1, self.slate_size), axis=1)
        if arr.size and arr[:, -1].max() >= self.n_available:
            return False
        return bool(not np.any(arr[:, 1:] == arr[:, :-1]))

    def __repr__(self) -> str:
        batch = "" if self.n_slates is None else f", n_slates={self.n_slates}"
        return f"SlateSpace(n_items={self.n_items}, slate_size={self.slate_size}{batch})"

    def __eq__(self, other: Any) -> bool:
        return (isinstance(other, SlateSpace) and self.n_items == other.n_items
                and self.slate_size == other.slate_size and self.n_slates == other.n_slates)

    __hash__ = None  # type: ignore[assignment]


def sample_distinct(rng: np.random.Generator, rows: int, n: int, k: int) -> np.ndarray:
    """k distinct ids in [0, n) per row, uniformly over ordered k-subsets, shape [rows, k].

    Floyd's algorithm run for all rows at once (a loop over the k slots), then a random order
    of the chosen ids: O(rows * k^2) work instead of the O(rows * n) of sorting random keys
    over the whole catalog.
    """
    if k > n:
        raise ValueError(f"cannot draw {k} distinct ids from {n}")
    out = np.empty((rows, k), np.int64)
    for j, top in enumerate(range(n - k, n)):  # loop over slots, never over rows
        r = rng.integers(0, top + 1, size=rows)
        taken = (out[:, :j] == r[:, None]).any(axis=1)
        out[:, j] = np.where(taken, top, r)
    order = np.argsort(rng.random((rows, k)), axis=1)
    return np.take_along_axis(out, order, axis=1)
