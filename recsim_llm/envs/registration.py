"""Environment ids, registered on ``import recsim_llm`` and through the ``gymnasium.envs`` entry
point. Each id has a single-user entry point (``gym.make``) and the population as its vector
entry point (``gym.make_vec(id, num_envs=n, vectorization_mode="vector_entry_point")``).
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

SINGLE = "recsim_llm.envs.single_user:SingleUserEnv"
POPULATION = "recsim_llm.envs.population:PopulationEnv"

ENV_SPECS: dict[str, dict] = {
    "recsim_llm/SyntheticUsers-v0": {"scenario": "synthetic"},
    "recsim_llm/SyntheticUsersFast-v0": {"scenario": "synthetic", "encoder": "hashing:64"},
    "recsim_llm/MovieLens100K-v0": {"scenario": "ml-100k"},
    "recsim_llm/MovieLensSmall-v0": {"scenario": "ml-latest-small"},
    "recsim_llm/Goodbooks-v0": {"scenario": "goodbooks"},
}
"""id -> default kwargs. ``SyntheticUsers`` uses the bundled MiniLM encoder, ``...Fast`` the
hashing encoder (no model, for quick experiments); the MovieLens ids need their data: ML-100K
from a GroupLens folder or the ``recbole==1.2.1`` wheel, ml-latest-small from ``data_path`` or
``$RECSIM_LLM_DATA_DIR``; ``Goodbooks`` (goodbooks-10k books, synthetic text readers) likewise from
``data_path`` or ``$RECSIM_LLM_DATA_DIR/goodbooks-10k``."""

DATA_FREE_IDS = ("recsim_llm/SyntheticUsers-v0", "recsim_llm/SyntheticUsersFast-v0")


def register_envs() -> None:
    """Register every id (idempotent)."""
    for env_id, kwargs in ENV_SPECS.items():
        if env_id in registry:
            continue
        register(id=env_id, entry_point=SINGLE, vector_entry_point=POPULATION,
                 kwargs=dict(kwargs), disable_env_checker=False)
