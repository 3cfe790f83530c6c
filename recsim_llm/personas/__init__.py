"""Persona writers: the simulated users' likes and dislikes, in natural language.

* :mod:`~recsim_llm.personas.base`: :class:`Personas`, the texts, interests, hook
  susceptibility and public group labels of a population;
* :mod:`~recsim_llm.personas.synthetic`: synthetic personas in taste groups over the built-in
  topics;
* :mod:`~recsim_llm.personas.books`: synthetic readers of a book catalog (goodbooks-10k);
* :mod:`~recsim_llm.personas.ratings`: personas written from a user's own rating history
  (MovieLens), with a chronological hold-out.
"""

from recsim_llm.personas.base import Personas
from recsim_llm.personas.ratings import personas_from_history

__all__ = ["Personas", "personas_from_history"]
