"""Gymnasium environments: one user's lifetime, and the whole population as a VectorEnv."""

from recsim_llm.envs.population import PopulationEnv
from recsim_llm.envs.registration import DATA_FREE_IDS, ENV_SPECS, register_envs
from recsim_llm.envs.single_user import SingleUserEnv
from recsim_llm.envs.spaces import SlateSpace

__all__ = ["DATA_FREE_IDS", "ENV_SPECS", "PopulationEnv", "SingleUserEnv", "SlateSpace",
           "register_envs"]
