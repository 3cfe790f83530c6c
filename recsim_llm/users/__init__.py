"""Users: text personas and where they come from."""

from recsim_llm.users.history import personas_from_history
from recsim_llm.users.personas import Personas

__all__ = ["Personas", "personas_from_history"]
