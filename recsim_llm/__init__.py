"""recsim_llm: a Gymnasium laboratory of evolving text-preference users.

Importing the package registers the environment ids (see :mod:`recsim_llm.envs.registration`).
"""

__version__ = "0.1.0"

from recsim_llm.envs.registration import ENV_SPECS, register_envs

register_envs()

__all__ = ["ENV_SPECS", "__version__", "register_envs"]
