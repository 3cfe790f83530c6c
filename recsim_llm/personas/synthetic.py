"""Synthetic personas: likes and dislikes written in natural language, in taste groups.

Taste groups ``taste0 .. taste{G-2}`` are mainstream: their favourite topics are drawn from the
catalog's big topics. The last group, ``minority``, has niche tastes (the catalog's small,
long-tail topics) and makes up ``minority_share`` of users, so that fairness metrics have a group
the catalog and popularity-driven policies under-serve.
"""

from __future__ import annotations

import numpy as np

from recsim_llm.catalog.synthetic import TOPICS
from recsim_llm.config import PopulationConfig
from recsim_llm.personas.base import Personas

MINORITY = "minority"


def taste_group_topics(n_groups: int, topic_share: np.ndarray, rng: np.random.Generator
                       ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Favourite and disliked topics of each taste group.

    Args:
        n_groups: number of taste groups (last = minority).
        topic_share: [n_topics] share of the catalog in each topic.
        rng: the ``users`` stream.
    Returns:
        (favourites, dislikes): per group, arrays of topic indices.
    """
    n_topics = len(topic_share)
    by_size = np.argsort(-topic_share, kind="stable")
    half = max(2, n_topics // 2)
    big, small = by_size[:half], by_size[half:] if n_topics - half >= 2 else by_size[-2:]
    favs, dislikes = [], []
    for g in range(n_groups):
        pool = small if g == n_groups - 1 else big
        fav = rng.choice(pool, size=min(3, len(pool)), replace=False)
        others = np.setdiff1d(np.arange(n_topics), fav)
        favs.append(fav)
        dislikes.append(rng.choice(others, size=min(2, len(others)), replace=False))
    return favs, dislikes


def generate_personas(cfg: PopulationConfig, topic_share: np.ndarray, rng: np.random.Generator,
                      horizon_days: int = 0) -> Personas:
    """Day-0 users plus ``cfg.new_users_per_day`` arrivals per day of the horizon.

    Args:
        cfg: population configuration.
        topic_share: [n_topics] catalog share per topic (from the synthetic catalog).
        rng: the ``users`` stream.
        horizon_days: the scenario's horizon; new users arrive on days 1 .. horizon_days - 1.
    """
    topics = TOPICS[: len(topic_share)]
    favs, dislikes = taste_group_topics(cfg.n_taste_groups, topic_share, rng)
    # Arrivals on days 1 .. horizon_days - 1 (the last simulated day is horizon_days - 1).
    n = cfg.n_users + cfg.new_users_per_day * max(horizon_days - 1, 0)
    g_main = cfg.n_taste_groups - 1
    p_groups = np.full(cfg.n_taste_groups, (1 - cfg.minority_share) / g_main)
    p_groups[-1] = cfg.minority_share
    group = rng.choice(cfg.n_taste_groups, size=n, p=p_groups)
    names = np.array([f"taste{g}" for g in range(g_main)] + [MINORITY])
    likes, dislike_texts, interests = [], [], []
    for u in range(n):  # persona writing runs once per population, not in a hot path
        g = group[u]
        a, b = rng.choice(favs[g], size=2, replace=False)
        ta, tb = topics[a], topics[b]
        first = (f"I love {rng.choice(ta.formats)}s about {rng.choice(ta.subjects)} and anything "
                 f"on {ta.name}")
        second = f"I also enjoy {rng.choice(tb.moods)} {tb.name} such as {rng.choice(tb.subjects)}"
        interests.append([first + ".", second + "."])
        likes.append(f"{first}; {second}.")
        if rng.random() < 0.8:
            tc = topics[rng.choice(dislikes[g])]
            dislike_texts.append(f"I can't stand {tc.name}, especially {rng.choice(tc.subjects)}.")
        else:
            dislike_texts.append("")
    arrival = np.zeros(n, np.int64)
    if n > cfg.n_users:
        arrival[cfg.n_users:] = 1 + np.arange(n - cfg.n_users) // cfg.new_users_per_day
    return Personas(user_ids=np.array([f"user{u}" for u in range(n)]), likes=likes,
                    dislikes=dislike_texts, groups={"taste": names[group]}, arrival_day=arrival,
                    interests=interests, hook=hook_susceptibility(cfg.hook_cv, n, rng))


def hook_susceptibility(cv: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """[n] relative hook susceptibility ``g_u ~ Gamma(1 / cv^2, cv^2)``: mean 1, coefficient of
    variation ``cv`` (all ones when ``cv == 0``). A Gamma keeps g_u >= 0 and right-skewed: most
    people are moderately swayed by a sensational title, a few a lot."""
    if cv == 0:
        return np.ones(n)
    return rng.gamma(1.0 / cv**2, cv**2, size=n)
