"""LLM ranker: a two-tower transformer recommender fine-tuned on the simulator's own logs.

Modules: :mod:`.config` (settings), :mod:`.model` (towers and score), :mod:`.training`
(interaction log, samples, fit loop), :mod:`.serving` (caches, batched scoring, MMR),
:mod:`.checkpoint` (folders with weights, tokenizer, config), :mod:`.policy` (the policy and its
specs ``llm``, ``llm:R``, ``llm:0``). Importing this package imports torch; the policy registry
imports it lazily, only when an ``llm`` spec is built.
"""

from recsim_llm.agents.llm.config import LLMRankerConfig
from recsim_llm.agents.llm.policy import LLMRankerPolicy, make_llm_policy
from recsim_llm.agents.registry import register_policy

register_policy("llm", make_llm_policy,
                "llm[:R[,key=value...]]  two-tower MiniLM ranker fine-tuned on its own logs, "
                "retrained every R days (7); llm:0 frozen zero-shot")

__all__ = ["LLMRankerConfig", "LLMRankerPolicy", "make_llm_policy"]
