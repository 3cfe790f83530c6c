"""recsim_llm: a Gymnasium laboratory of evolving text-preference users."""

__version__ = "0.1.0"
