"""Fixtures of the LLM-ranker tests: a toy catalog with topic words, a toy click model, and a
driver that runs a ranker through days of act / observe / on_day_end (no simulator needed).

Torch is pinned to one thread by the session fixture of ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace as NS
from typing import Any

import numpy as np
import pytest

TOPICS = ("jazz music piano", "crime murder investigation", "space rockets astronomy",
          "cooking recipes food")
N_ITEMS, N_USERS, K = 40, 30, 5


class Toy:
    """Users like one topic each; an item of that topic is clicked w.p. 0.6, others 0.05
    (first success in slate order, cascade-like). Dwell: high for liked items."""

    def __init__(self, n_items: int = N_ITEMS, n_users: int = N_USERS, k: int = K) -> None:
        self.n_items, self.n_users, self.k = n_items, n_users, k
        self.item_topic = np.arange(n_items) % len(TOPICS)
        self.user_topic = np.arange(n_users) % len(TOPICS)
        texts = [f"Item {i}: a show about {TOPICS[t]}." for i, t in enumerate(self.item_topic)]
        titles = [f"Item {i} {TOPICS[t].split()[0]}" for i, t in enumerate(self.item_topic)]
        self.catalog = NS(texts=texts, titles=titles)
        self.ctx = NS(n_users=n_users, slate_size=k, catalog=self.catalog)

    def view(self, day: int, users: np.ndarray | None = None, n_available: int | None = None
             ) -> NS:
        u = np.arange(self.n_users) if users is None else users
        return NS(day=day, users=u, slate_size=self.k,
                  n_available=self.n_items if n_available is None else n_available,
                  log=NS(consume_once=False))

    def relevance(self) -> np.ndarray:
        """[n_users, n_items] ground truth (1 = the user's topic)."""
        return (self.item_topic[None, :] == self.user_topic[:, None]).astype(float)

    def feedback(self, day: int, users: np.ndarray, slates: np.ndarray,
                 rng: np.random.Generator, with_dwell: bool = True) -> NS:
        like = self.item_topic[slates] == self.user_topic[users][:, None]
        hit = rng.random(slates.shape) < np.where(like, 0.6, 0.05)
        pos = np.where(hit.any(1), hit.argmax(1), -1)
        r = np.arange(len(users))
        items = np.where(pos >= 0, slates[r, np.maximum(pos, 0)], -1)
        fb = NS(day=day, users=users, slates=slates, positions=pos, items=items,
                session_ended=np.zeros(len(users), bool))
        if with_dwell:
            liked = like[r, np.maximum(pos, 0)]
            fb.dwell = np.where(pos >= 0, np.where(liked, 2.0, 0.2) + rng.random(len(users)),
                                np.nan)
        return fb

    def run(self, policy: Any, days: int, ticks: int = 4, seed: int = 1,
            with_dwell: bool = True) -> None:
        rng = np.random.default_rng(seed)
        for day in range(days):
            for _ in range(ticks):
                view = self.view(day)
                slates = policy.act(view)
                policy.observe(self.feedback(day, view.users, slates, rng, with_dwell))
            policy.on_day_end(self.view(day))

    def precision(self, policy: Any) -> float:
        """Share of the toy relevance in each user's top-k by the ranker's scores."""
        users = np.arange(self.n_users)
        cache = policy._cache(self.n_items)
        cache.update_users(users, policy.hist_items, policy.hist_types, self.catalog.titles)
        top = np.argsort(-cache.scores(users, self.n_items), axis=1)[:, : self.k]
        return float(self.relevance()[users[:, None], top].mean())


@pytest.fixture
def toy() -> Toy:
    return Toy()


@pytest.fixture
def tiny_cfg() -> Callable[..., Any]:
    """``tiny_cfg(**fields)`` -> an LLMRankerConfig on a random 2-layer, 32-wide BERT."""
    from recsim_llm.agents.llm import LLMRankerConfig

    def make(**kw: Any) -> Any:
        base = {"tiny": {}, "finetune": "head", "retrain_every": 3, "max_train_samples": 1000,
                "epochs": 2, "batch_size": 32, "device": "cpu"}
        return LLMRankerConfig(**{**base, **kw})

    return make
