"""Shared helpers of the benchmark scripts: a cheap synthetic World, slate pools, machine info.

Import this only *after* the thread-count environment variables (``THREAD_VARS``) are set,
since it imports numpy.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys

import numpy as np

from recsim_llm.catalog.base import Catalog
from recsim_llm.config import CatalogConfig, PopulationConfig, ScenarioConfig
from recsim_llm.personas.base import Personas
from recsim_llm.simulator import World

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def unit_rows(x: np.ndarray) -> np.ndarray:
    """float32 rows of unit L2 norm."""
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def make_world(n_users: int, dim: int, n_items: int = 1000, slate_size: int = 10,
               seed: int = 0, horizon_days: int = 1_000_000, n_interests: int = 2,
               n_topics: int = 1) -> World:
    """A World with random unit-norm float32 embeddings and no text encoder.

    Catalog and personas are built cheaply (placeholder texts, ``n_topics`` uniformly drawn
    topics, one provider): the
    simulator's step reads only ``item_emb``, ``interest0``, ``dislike``, ``catalog.appeal``,
    ``catalog.value``, ``catalog.arrival_day`` and ``personas.arrival_day``. Appeal ~ Beta(2, 3)
    and value ~ 2 Beta(4, 3) - 1 as the synthetic catalog's regular items; every persona has a
    dislike vector (the worst case for the step's cost) and ``n_interests`` interest vectors
    (two, as a synthetic persona's two stated interests).
    """
    rng = np.random.default_rng(seed)
    topics = (np.zeros(n_items, np.int64) if n_topics == 1
              else rng.integers(n_topics, size=n_items).astype(np.int64))
    catalog = Catalog(
        item_ids=np.array([f"item{i}" for i in range(n_items)]), titles=[""] * n_items,
        texts=[""] * n_items, topics=topics,
        topic_names=tuple(f"bench{t}" for t in range(n_topics)) if n_topics > 1 else ("bench",),
        provider=np.zeros(n_items, np.int64), provider_group=np.zeros(n_items, np.int64),
        provider_group_names=("major",), appeal=rng.beta(2.0, 3.0, n_items),
        value=2.0 * rng.beta(4.0, 3.0, n_items) - 1.0,
        arrival_day=np.zeros(n_items, np.int64), source="benchmark")
    personas = Personas(user_ids=np.array([f"user{u}" for u in range(n_users)]),
                        likes=["bench"] * n_users, dislikes=[""] * n_users)
    cfg = ScenarioConfig(name="benchmark", slate_size=slate_size, horizon_days=horizon_days,
                         encoder="none", catalog=CatalogConfig(n_items=n_items),
                         population=PopulationConfig(n_users=n_users))
    return World(cfg=cfg, catalog=catalog, personas=personas,
                 item_emb=unit_rows(rng.standard_normal((n_items, dim))),
                 interest0=unit_rows(rng.standard_normal((n_users * n_interests, dim))).reshape(
                     n_users, n_interests, dim),
                 dislike=unit_rows(rng.standard_normal((n_users, dim))),
                 encoder_identity=f"random-unit-normal-d{dim}")


def make_slate_pool(n_users: int, n_items: int, slate_size: int, n_batches: int = 4,
                    n_templates: int = 4096, seed: int = 1) -> np.ndarray:
    """[n_batches, n_users, slate_size] int64 slates with distinct ids in every row.

    Template rows are the first ``slate_size`` entries of ``argsort`` of random keys over all
    items (uniform random k-subsets in random order); each batch assigns every user a random
    template. Computed once, before timing, and reused cyclically.
    """
    rng = np.random.default_rng(seed)
    n_t = min(n_templates, max(n_users, 1) * n_batches)
    templates = np.argsort(rng.random((n_t, n_items)), axis=1)[:, :slate_size].astype(np.int64)
    return np.stack([templates[rng.integers(n_t, size=n_users)] for _ in range(n_batches)])


def machine_info() -> dict:
    """CPU count, library versions, thread settings and threadpoolctl's view, with the date."""
    info: dict = {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else None,
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "thread_env": {v: os.environ.get(v) for v in THREAD_VARS},
    }
    try:
        import threadpoolctl

        info["threadpoolctl"] = threadpoolctl.threadpool_info()
    except ImportError:
        info["threadpoolctl"] = "threadpoolctl not installed"
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def time_episodes(run_step, new_episode, day_of, n_users: int, min_seconds: float,
                  days_per_episode: int, warmup_steps: int = 2) -> dict:
    """Time whole episodes of ``days_per_episode`` simulated days.

    ``new_episode(seed)`` starts an episode (not timed) and returns a handle; ``run_step(h, j)``
    performs step ``j`` and returns ``(served, clicks)``; ``day_of(h)`` is the current day, or
    None at the horizon. Episodes repeat until ``min_seconds`` of timed stepping (at least one).
    ``warmup_steps`` steps of a throw-away episode run first (first-touch allocations).
    """
    import time

    if warmup_steps:
        h = new_episode(10_000)
        for j in range(warmup_steps):
            run_step(h, j)
    acc = {"served": 0, "clicks": 0, "seconds": 0.0, "cpu_seconds": 0.0, "steps": 0,
           "episodes": 0}
    while acc["episodes"] == 0 or acc["seconds"] < min_seconds:
        h = new_episode(acc["episodes"])
        j = 0
        c0, t0 = time.process_time(), time.perf_counter()
        while True:
            day = day_of(h)
            if day is None or day >= days_per_episode:
                break
            served, clicks = run_step(h, j)
            acc["served"] += served
            acc["clicks"] += clicks
            j += 1
        acc["seconds"] += time.perf_counter() - t0
        acc["cpu_seconds"] += time.process_time() - c0
        acc["steps"] += j
        acc["episodes"] += 1
    return summarize(acc, n_users)


def time_simulator(make_sim, pool: np.ndarray, min_seconds: float, days_per_episode: int,
                   warmup_steps: int = 2) -> dict:
    """:func:`time_episodes` for ``Simulator.serve``: a fresh ``make_sim(seed)`` per episode,
    ``reset()`` untimed; user-steps = ``len(feedback.users)``; slates cycle through ``pool``.

    Each step serves the in-session users the rows of their ids in the pool batch (the gather
    ``pool[j][users]`` is timed, as a policy's slates for the served users would be).
    """

    def new_episode(seed):
        sim = make_sim(seed)
        sim.reset()
        return sim

    def run_step(sim, j):
        users = np.flatnonzero(sim.state.in_session)
        fb = sim.serve(np.take(pool[j % len(pool)], users, axis=0), users)
        return len(fb.users), int(np.count_nonzero(fb.positions >= 0))

    def day_of(sim):
        return None if sim.done else sim.day

    return time_episodes(run_step, new_episode, day_of, pool.shape[1], min_seconds,
                         days_per_episode, warmup_steps)


def summarize(acc: dict, n_users: int) -> dict:
    """Throughput figures from accumulated served user-steps, steps and seconds.

    ``seconds`` is wall-clock time; ``cpu_seconds`` the process CPU time over the same span
    (numpy runs these steps on one thread, so on a shared machine ``user_steps_per_cpu_s`` is a
    steadier estimate of the uncontended wall-clock throughput).
    """
    s = acc["seconds"]
    return {"user_steps_per_s": acc["served"] / s, "steps_per_s": acc["steps"] / s,
            "seconds": s, "n_steps": acc["steps"], "user_steps": acc["served"],
            "cpu_seconds": acc["cpu_seconds"],
            "user_steps_per_cpu_s": acc["served"] / max(acc["cpu_seconds"], 1e-9),
            "in_session_fraction": acc["served"] / (acc["steps"] * n_users),
            "click_rate": acc["clicks"] / max(acc["served"], 1), "episodes": acc["episodes"]}
