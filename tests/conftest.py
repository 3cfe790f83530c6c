"""Shared fixtures of the core tests: a private embedding cache and a small shared world.

The embedding cache is pointed at a session tmp dir so that no test writes to the real
``~/.cache/recsim_llm``; the small world (hashing encoder, 50 users, 60 items, 5 days) is built
once per session and shared, since building worlds is the slow part of most tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from recsim_llm.config import ScenarioConfig, override
from recsim_llm.scenarios import build_world
from recsim_llm.simulator import World
from recsim_llm.text.cache import CACHE_ENV_VAR

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

SMALL = {"encoder": "hashing:32", "population.n_users": 50, "catalog.n_items": 60,
         "horizon_days": 5}
"""dotted overrides of a small, fast scenario (hashing encoder, no model)"""


@pytest.fixture(scope="session", autouse=True)
def _private_embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point the embedding cache and SB3's default log folder at session tmp dirs, and keep
    torch on one thread: the test box is shared and two OpenMP threads on two cores crawl."""
    path = tmp_path_factory.mktemp("embedding_cache")
    old = os.environ.get(CACHE_ENV_VAR)
    os.environ[CACHE_ENV_VAR] = str(path)
    # SB3 makes an (empty) /tmp/SB3-<time> folder at every learn() without a logger folder;
    # SB3_LOGDIR is where it makes it instead
    os.environ.setdefault("SB3_LOGDIR", str(tmp_path_factory.mktemp("sb3_logs")))
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    try:
        yield path
    finally:
        if old is None:
            os.environ.pop(CACHE_ENV_VAR, None)
        else:
            os.environ[CACHE_ENV_VAR] = old


def small_config(**dotted: object) -> ScenarioConfig:
    """The small scenario, with further dotted overrides."""
    return override(ScenarioConfig(), **{**SMALL, **dotted})


@pytest.fixture(scope="session")
def small_cfg() -> ScenarioConfig:
    return small_config()


@pytest.fixture(scope="session")
def make_small_config():
    """``make_small_config(**dotted)`` -> the small scenario with more overrides (test modules
    cannot import conftest under ``--import-mode=importlib``)."""
    return small_config


@pytest.fixture(scope="session")
def small_world(small_cfg: ScenarioConfig) -> World:
    """One small world (seed 0), shared read-only by the whole session."""
    return build_world(small_cfg, 0)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return SHARED_DATA
