"""Item catalogs: the :class:`Catalog` type and loaders for real data.

Personas written from a rating history live in :mod:`recsim_llm.users` (``personas_from_history``),
so that this package never imports the users package.
"""

from recsim_llm.catalog.base import Catalog
from recsim_llm.catalog.goodbooks import load_goodbooks
from recsim_llm.catalog.movielens import MovieLensData, load_movielens
from recsim_llm.catalog.tabular import load_table

__all__ = [
    "Catalog",
    "MovieLensData",
    "load_goodbooks",
    "load_movielens",
    "load_table",
]
