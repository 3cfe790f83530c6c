"""Configuration of the LLM ranker: one frozen, validated dataclass (model, training, serving).

Every field has a docstring under it (CleanRL style); :meth:`LLMRankerConfig.to_dict` /
:meth:`LLMRankerConfig.from_dict` round-trip it through checkpoints.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from recsim_llm.config import ConfigError

USER_TOWERS = ("attention", "text")
SCORES = ("dot", "mlp")
FINETUNE = ("full", "lora", "head", "none")
TARGETS = ("click", "dwell")


@dataclass(frozen=True)
class LLMRankerConfig:
    """What the ranker is, how it is trained in the loop and how it serves."""

    # ------------------------------------------------------------------ model
    model_path: str | None = None
    """local Hugging Face encoder folder; None = the bundled all-MiniLM-L6-v2"""
    tiny: dict[str, Any] | None = None
    """BertConfig keyword arguments of a randomly initialised encoder (tests, scale runs); the
    tokenizer still comes from ``model_path`` (or the bundled MiniLM). None = pretrained weights"""
    user_tower: str = "attention"
    """``attention``: attention pooling over the item tower's embeddings of the history (clicks
    and skips, with type and recency embeddings); ``text``: the history written as text
    ("Clicked: A; B. Skipped: C.") and encoded by the same transformer"""
    score: str = "dot"
    """``dot``: scale * <user, item> + a linear item bias over the item embedding (text-based,
    so cold items get one too); ``mlp``: a small head over [u, e, u*e]"""
    item_prior: float = 5.0
    """collaborative item prior of the click target: the score adds ``w * o_i``, where
    ``o_i = logit((c_i + m p) / (n_i + m)) - logit(p)`` is the log-odds of item i's click rate
    per impression in the policy's own logs (``c_i`` clicks, ``n_i`` impressions, ``p`` the
    logs' overall rate) shrunk toward ``p`` with a prior of ``m = item_prior`` impressions, and
    ``w`` a learned weight (starting at 1). The counts are updated online at every request, so
    what the crowd clicks (item appeal, which the text shows only partly) enters the score
    between retrainings, as it does for ``mf``'s item bias; an item never shown has ``o_i = 0``
    and is scored by its text alone (cold start). 0 = off. Used only by a trained ranker on the
    click target: a dwell-trained ranker (``target=dwell``) and ``llm:0`` ignore it (a click-
    rate prior would pull the value-aware ranker back toward hooks)"""
    finetune: str = "head"
    """``full``: every encoder weight trains; ``lora``: low-rank adapters on the attention
    projections (peft), base weights frozen; ``head``: encoder frozen, its sentence embeddings
    of the items computed once (through the project's embedding cache), and the projection,
    user tower and score head train; ``none``: nothing trains (the zero-shot ``llm:0``).
    The default is ``head`` because it is what a CPU affords in the loop: measured on this
    project's 2-core box, head trains ~35x faster than lora and ~70x faster than full (see
    docs/llm_ranker.md); ``llm:7,finetune=lora`` adapts the transformer itself"""
    proj_dim: int = 0
    """width of the item/user embedding after the projection; 0 = the encoder's hidden size
    (projection initialised to the identity, so the untrained ranker starts as the pretrained
    encoder's cosine)"""
    lora_r: int = 8
    """LoRA rank"""
    lora_alpha: int = 16
    """LoRA scaling numerator (scale = alpha / r)"""
    history_len: int = 50
    """interactions remembered per user (newest first). 50 since session 5 (was 20): the last
    20 events are about two sessions, too few to hold a user's several interests (NDCG@10 after
    the first retraining 0.590 with 20, 0.624 with 50, 0.611 with 100; 1,000 users x 60 days,
    seed 101, docs/llm_ranker.md). ``llm:0`` keeps 20, the history it was measured with (its
    history is text, cut at ``history_max_length`` tokens). Part of the attention tower's
    architecture (one recency embedding per slot): a checkpoint of another length is refused"""
    max_length: int = 48
    """token truncation of item texts (synthetic item texts are ~25 tokens)"""
    history_max_length: int = 128
    """token truncation of the history text (text user tower)"""
    history_titles: int = 0
    """text user tower (and ``llm:0``): the history text holds only the newest that many clicked
    (and skipped) titles; 0 = every remembered event, cut at ``history_max_length`` tokens.
    A cost knob: the encoder pass is roughly linear in the text's tokens (docs/llm_ranker.md)"""
    skips_per_request: int = 1
    """a request without a click adds its top-slot item to the history as a skip"""
    init: str | None = None
    """a ranker checkpoint folder whose model weights start this policy (e.g. one fitted on
    another policy's saved run with ``LLMRankerPolicy.fit_from_run``); its backbone and
    architecture must be this config's (else ``CheckpointMismatchError``). Histories and the
    interaction log start empty in the new run, and users are scored by the loaded model from
    the first request. None = fresh weights"""

    # ------------------------------------------------------------------ training
    retrain_every: int = 7
    """days between retrainings; 0 = never (frozen)"""
    window_days: int = 14
    """sliding window of logged days a retraining reads"""
    max_train_samples: int = 16384
    """(user, item, label) samples drawn per retraining from the window. 16,384 since session 5
    (was 4,096, about 3 % of a 14-day window at 1,000 users): NDCG@10 after the first
    retraining 0.590 with 4,096, 0.632 with 16,384, at 4x the samples per fit (1,000 users x
    60 days, seed 101, docs/llm_ranker.md)"""
    epochs: int = 1
    """passes over the drawn samples per retraining"""
    batch_size: int = 64
    """samples per optimiser step"""
    lr: float = 3e-3
    """AdamW learning rate of the heads (projection, user tower, score)"""
    encoder_lr: float = 5e-5
    """AdamW learning rate of the encoder weights (full) or adapters (lora: x10)"""
    weight_decay: float = 0.01
    """AdamW weight decay"""
    warmup_ratio: float = 0.1
    """share of each retraining's steps with a linear learning-rate warm-up"""
    grad_clip: float = 1.0
    """max global gradient norm (0 = no clipping)"""
    neg_per_request: int = 2
    """shown-but-skipped items drawn per logged request as label-0 samples"""
    in_batch_negatives: bool = False
    """add a sampled-softmax loss of each clicked sample against the other clicked items of the
    batch (in-batch negatives, as in two-tower retrieval). Off by default: the batch's clicked
    items are drawn in proportion to their clicks, so the softmax pushes popular items down,
    against the click-rate prior (measured: NDCG@10 after retraining 0.465 with it, 0.506
    without, 300 users x 28 days, seed 0, docs/llm_ranker.md)"""
    in_batch_weight: float = 1.0
    """weight of the in-batch loss next to the pointwise BCE"""
    target: str = "click"
    """``click``: BCE on click (1) / skip (0); ``dwell``: value-aware, a click's label is the
    percentile rank of its logged dwell among the window's clicks, in (0, 1] (see
    :func:`recsim_llm.agents.llm.training.labels_from_log`)"""
    amp: bool = True
    """mixed precision (bf16 autocast where supported, else fp16 + GradScaler) on CUDA; CPU
    always trains in float32"""

    # ------------------------------------------------------------------ serving
    device: str = "auto"
    """``auto`` = CUDA when present, else CPU; ``cuda`` where there is none is an error"""
    epsilon: float = 0.1
    """share of slate slots given to random available items (exploration, as ``mf``)"""
    candidates: int = 0
    """top-M retrieval by embedding before scoring / MMR; 0 = score every available item"""
    mmr_alpha: float = 1.0
    """MMR trade-off: alpha * relevance - (1 - alpha) * max similarity to placed items; 1 = off"""
    quantize_int8: bool = False
    """serve with int8 dynamic quantisation of the encoder's Linear layers (CPU only)"""
    encode_batch: int = 128
    """texts per forward pass when (re)encoding items or histories"""
    exclude_recent: bool = False
    """never re-recommend a user's remembered clicks (as the content baselines do). Off by
    default: the simulated users re-consume what they like (boredom lowers an item's utility,
    it does not forbid it), and ``mf`` filters nothing; with the filter on, the ranker's NDCG@10
    after its first retraining was 0.505 against 0.636 without (300 users x 28 days, seed 0;
    docs/llm_ranker.md). On a consume-once catalog (``catalog.consume_once``, the MovieLens
    scenarios) the items the user has consumed are excluded either way, as by every policy"""
    extra: dict[str, Any] = field(default_factory=dict)
    """free-form notes kept in checkpoints (e.g. the spec that built the policy)"""

    def __post_init__(self) -> None:
        def check(ok: bool, key: str, msg: str) -> None:
            if not ok:
                raise ConfigError(f"llm.{key} {msg}, got {getattr(self, key)!r}")

        check(self.user_tower in USER_TOWERS, "user_tower", f"must be one of {USER_TOWERS}")
        check(self.score in SCORES, "score", f"must be one of {SCORES}")
        check(self.finetune in FINETUNE, "finetune", f"must be one of {FINETUNE}")
        check(self.target in TARGETS, "target", f"must be one of {TARGETS}")
        check(self.proj_dim >= 0, "proj_dim", "must be >= 0")
        for key in ("lora_r", "lora_alpha", "history_len", "max_length", "history_max_length",
                    "max_train_samples", "epochs", "batch_size", "window_days", "encode_batch"):
            check(getattr(self, key) >= 1, key, "must be >= 1")
        for key in ("retrain_every", "neg_per_request", "candidates", "skips_per_request",
                    "history_titles"):
            check(getattr(self, key) >= 0, key, "must be >= 0")
        check(self.skips_per_request <= 1, "skips_per_request", "must be 0 or 1")
        for key in ("lr", "encoder_lr"):
            check(getattr(self, key) > 0, key, "must be > 0")
        for key in ("weight_decay", "grad_clip", "in_batch_weight", "item_prior"):
            check(getattr(self, key) >= 0, key, "must be >= 0")
        check(0 <= self.warmup_ratio < 1, "warmup_ratio", "must be in [0, 1)")
        check(0 <= self.epsilon <= 1, "epsilon", "must be in [0, 1]")
        check(0 <= self.mmr_alpha <= 1, "mmr_alpha", "must be in [0, 1]")
        check(self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"),
              "device", "must be 'auto', 'cpu' or 'cuda[:N]'")

    @property
    def uses_prior(self) -> bool:
        """Whether the collaborative item prior takes part (see ``item_prior``)."""
        return self.item_prior > 0 and self.target == "click" and self.finetune != "none"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LLMRankerConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown llm config keys {unknown}; valid keys: {sorted(names)}")
        return cls(**data)

    def replace(self, **changes: Any) -> LLMRankerConfig:
        return dataclasses.replace(self, **changes)
