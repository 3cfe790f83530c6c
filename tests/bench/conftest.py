from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

TINY: dict[str, Any] = {
    "name": "tiny",
    "policies": ["random", "greedy"],
    "seeds": 2,
    "horizon_days": 5,
    "encoder": "hashing:16",
    "scenarios": [{"id": "syn", "scenario": "synthetic",
                   "config": {"population": {"n_users": 60}, "catalog": {"n_items": 80}}}],
}
"""a suite of 4 runs that takes about a second"""


def tiny_suite(**over: Any) -> dict[str, Any]:
    return copy.deepcopy({**TINY, **over})  # tests edit nested tables


@pytest.fixture(scope="session")
def make_suite() -> Callable[..., dict[str, Any]]:
    """``make_suite(**top_level_overrides)``: a fresh copy of the tiny suite table."""
    return tiny_suite
