"""The two-tower transformer ranker: item tower over item text, user tower over the history.

Item tower: the encoder (bundled all-MiniLM-L6-v2 or any local Hugging Face encoder) reads the
item's public text; mean pooling over the attention mask (the sentence-transformers recipe),
a projection initialised to the identity, L2 normalisation: ``e_i`` [d].

User tower, two options:

* ``attention`` — attention pooling over the item tower's embeddings of the user's last
  ``history_len`` interactions (clicks and skips, newest first). Keys add a type embedding
  (click / skip) and a recency embedding; values are gated by type; a learned "empty" token
  always takes part, so a user with no history (cold start) or only skips still gets a vector.
  The pooled vector is L2-normalised; at initialisation it is the unit mean of the clicked
  items' embeddings (skips gated to zero), i.e. the content baseline's profile, and training
  moves it from there.
* ``text`` — the history written as text, "Clicked: A; B. Skipped: C.", encoded by the same
  transformer (the history as a sentence, newest first).

Score: ``dot`` = ``scale * <u, e_i> + w . e_i + b`` (the item bias is a function of the item
*text embedding*, so a cold item gets one at once, unlike an id bias), or ``mlp`` = the same
plus a small MLP over ``[u, e, u * e]`` whose last layer starts at zero. With the collaborative
item prior (``LLMRankerConfig.item_prior``) both add ``prior_weight * o_i``, the shrunk
log-odds of the item's logged click rate (computed by the policy from its logs, an input here
like the embeddings; 0 for an item never shown).

The ranker only ever sees what the platform view holds: item texts, its own slates, clicks and
the logged dwell signal; never interests, fatigue, appeal, value or quality.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from recsim_llm.agents.llm.config import LLMRankerConfig
from recsim_llm.text.transformer import TransformerEncoder, _resolve_model_dir

PAD, CLICK, SKIP = 0, 1, 2
"""history event types (``hist_type`` values)"""


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; an explicit CUDA device must exist.

    Raises:
        ValueError: ``cuda`` asked for where torch sees no CUDA device (no silent fallback: a
            run that was meant for a GPU would otherwise take hours on CPU unnoticed).
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"llm.device={device!r} but torch sees no CUDA device "
                             f"(torch {torch.__version__}); use device='auto' or 'cpu'")
        dev = torch.device(device)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"llm.device={device!r} but only {torch.cuda.device_count()} "
                             f"CUDA device(s) exist")
        return dev
    if device == "cpu":
        return torch.device("cpu")
    raise ValueError(f"llm.device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")


def backbone_identity(cfg: LLMRankerConfig) -> str:
    """Which encoder the ranker is built on: a checkpoint of another one is refused.

    Pretrained: the text encoder's identity (folder, hash of config + weights size); tiny: the
    random BertConfig's arguments. The architecture choices (towers, score, proj width, LoRA
    rank) are part of it too, since their weights would not fit another architecture.
    """
    if cfg.tiny is not None:
        base = "tiny-bert:" + json.dumps(cfg.tiny, sort_keys=True)
    else:
        base = TransformerEncoder(cfg.model_path).identity.rsplit(":maxlen", 1)[0]
    arch = (f"user={cfg.user_tower},score={cfg.score},finetune={cfg.finetune},"
            f"proj={cfg.proj_dim},lora_r={cfg.lora_r if cfg.finetune == 'lora' else 0}"
            + (",prior" if cfg.uses_prior else "")
            + (f",history={cfg.history_len}" if cfg.user_tower == "attention" else ""))
    return f"{base}|{arch}"


def load_tokenizer(cfg: LLMRankerConfig) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(_resolve_model_dir(cfg.model_path), local_files_only=True)


def load_encoder(cfg: LLMRankerConfig, vocab_size: int) -> nn.Module:
    """The transformer (pretrained from a local folder, or a random tiny BERT), float32."""
    from transformers import AutoModel, BertConfig, BertModel

    if cfg.tiny is not None:
        kw = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
              "intermediate_size": 64, "max_position_embeddings": 512, **cfg.tiny}
        model: nn.Module = BertModel(BertConfig(vocab_size=vocab_size, **kw),
                                     add_pooling_layer=False)
    else:
        model = AutoModel.from_pretrained(_resolve_model_dir(cfg.model_path),
                                          local_files_only=True)
    return model.float()


def hidden_size(encoder: nn.Module) -> int:
    """Width of an encoder's hidden states (its Hugging Face config's ``hidden_size``)."""
    config: Any = getattr(encoder, "config")  # noqa: B009  (typed Any: HF configs vary)
    return int(config.hidden_size)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of token states over the attention mask: [b, t, h], [b, t] -> [b, h]."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


class AttentionUserTower(nn.Module):
    """Attention pooling over history embeddings [b, H, d] with event types [b, H] -> [b, d]."""

    def __init__(self, d: int, history_len: int) -> None:
        super().__init__()
        self.key = nn.Linear(d, d, bias=False)
        self.value = nn.Linear(d, d, bias=False)
        nn.init.zeros_(self.key.weight)
        with torch.no_grad():
            self.value.weight.copy_(torch.eye(d))
        # A random query and zero keys start the pooling uniform, while giving the keys a
        # gradient (a zero query and zero keys would be a saddle).
        self.query = nn.Parameter(torch.randn(d) / math.sqrt(d))
        self.type_key = nn.Embedding(3, d)
        self.pos_key = nn.Embedding(history_len, d)
        self.type_value = nn.Embedding(3, d)
        for emb in (self.type_key, self.pos_key, self.type_value):
            nn.init.zeros_(emb.weight)
        self.type_gate = nn.Parameter(torch.tensor([0.0, 1.0, 0.0]))  # pad, click, skip
        self.empty_value = nn.Parameter(torch.zeros(d))

    def item_terms(self, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-item parts of keys and values: [..., d] -> attention logit [...], value [..., d].

        The key and value maps are linear in the item embedding, so serving computes them once
        per item (after each refresh) instead of once per history slot of every user.
        """
        return (self.key(e) @ self.query) / math.sqrt(e.shape[-1]), self.value(e)

    def weights(self, item_logit: torch.Tensor, hist_type: torch.Tensor) -> torch.Tensor:
        """Attention weights [b, 1+H] (column 0: the empty token) from per-slot item logits."""
        b, h = item_logit.shape
        d = self.query.shape[0]
        scale = math.sqrt(d)
        logits = (item_logit + (self.type_key.weight @ self.query)[hist_type] / scale
                  + (self.pos_key.weight[:h] @ self.query) / scale)                # [b, H]
        logits = logits.masked_fill(hist_type == PAD, float("-inf"))
        logits = torch.cat([logits.new_zeros(b, 1), logits], dim=1)              # [b, 1+H]
        return torch.softmax(logits, dim=1)

    def _finish(self, w: torch.Tensor, items_part: torch.Tensor, hist_type: torch.Tensor
                ) -> torch.Tensor:
        # type values: only 3 rows, so sum the weights per type first ([b, 3] @ [3, d])
        per_type = torch.zeros(w.shape[0], 3, dtype=w.dtype, device=w.device).scatter_add_(
            1, hist_type, w[:, 1:])
        pooled = w[:, 0:1] * self.empty_value + items_part + per_type @ self.type_value.weight
        # Unit norm (zero stays zero): the score's scale is then one learned number, not the
        # share of clicks in the history (skips would otherwise shrink every vector).
        return F.normalize(pooled, dim=-1)

    def pool(self, item_logit: torch.Tensor, item_value: torch.Tensor, hist_type: torch.Tensor
             ) -> torch.Tensor:
        """Pool the history from per-slot terms: [b, H], [b, H, d], types [b, H] -> [b, d]."""
        hist_type = hist_type.long()
        w = self.weights(item_logit, hist_type)
        g = w[:, 1:] * self.type_gate[hist_type]                                  # [b, H]
        return self._finish(w, torch.bmm(g.unsqueeze(1), item_value).squeeze(1), hist_type)

    def pool_indexed(self, logit_table: torch.Tensor, value_table: torch.Tensor,
                     hist_items: torch.Tensor, hist_type: torch.Tensor) -> torch.Tensor:
        """:meth:`pool` from per-item tables [n], [n, d] and history ids [b, H] (ids of
        padding slots may be any valid id): ``embedding_bag`` sums the weighted values without
        materialising the [b, H, d] gather (the serving path)."""
        hist_type = hist_type.long()
        w = self.weights(logit_table[hist_items], hist_type)
        g = w[:, 1:] * self.type_gate[hist_type]
        items_part = F.embedding_bag(hist_items, value_table, mode="sum",
                                     per_sample_weights=g)
        return self._finish(w, items_part, hist_type)

    def forward(self, hist_emb: torch.Tensor, hist_type: torch.Tensor) -> torch.Tensor:
        return self.pool(*self.item_terms(hist_emb), hist_type)


class TwoTowerRanker(nn.Module):
    """Encoder + projection (item tower), user tower, score head. See the module docstring."""

    def __init__(self, cfg: LLMRankerConfig, encoder: nn.Module) -> None:
        super().__init__()
        self.cfg = cfg
        hidden = hidden_size(encoder)
        d = cfg.proj_dim or hidden
        self.dim = d
        if cfg.finetune == "lora":
            from peft import LoraConfig, get_peft_model

            targets = _lora_targets(encoder)
            encoder = get_peft_model(encoder, LoraConfig(
                r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0,
                target_modules=targets))
        elif cfg.finetune in ("head", "none"):
            encoder.requires_grad_(False)
        self.encoder = encoder
        self.proj = nn.Linear(hidden, d, bias=False)
        with torch.no_grad():
            if d == hidden:
                self.proj.weight.copy_(torch.eye(d))
            else:  # a random orthonormal map keeps cosines roughly as the encoder's
                nn.init.orthogonal_(self.proj.weight)
        self.user_att = AttentionUserTower(d, cfg.history_len) if cfg.user_tower == "attention" \
            else None
        zero_shot = cfg.finetune == "none"
        self.log_scale = nn.Parameter(torch.tensor(0.0 if zero_shot else math.log(5.0)))
        self.item_bias = nn.Linear(d, 1)
        nn.init.zeros_(self.item_bias.weight)
        nn.init.constant_(self.item_bias.bias, 0.0 if zero_shot else -2.0)
        self.prior_weight: nn.Parameter | None = (
            nn.Parameter(torch.tensor(1.0)) if cfg.uses_prior else None)
        self.mlp: nn.Sequential | None = None
        if cfg.score == "mlp":
            last = nn.Linear(64, 1)
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
            self.mlp = nn.Sequential(nn.Linear(3 * d, 64), nn.ReLU(), last)
        if zero_shot:
            self.requires_grad_(False)

    # ---------------------------------------------------------------- towers
    def encode_base(self, input_ids: torch.Tensor, attention_mask: torch.Tensor
                    ) -> torch.Tensor:
        """Sentence embeddings of token batches: [b, t] -> [b, hidden], mean pooled and
        L2-normalised (exactly the bundled encoder's recipe, so a frozen encoder's vectors can
        come from the project's embedding cache)."""
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        return F.normalize(mean_pool(out.last_hidden_state, attention_mask), dim=-1)

    def item_head(self, base: torch.Tensor) -> torch.Tensor:
        """Item embeddings from pooled states: [b, hidden] -> [b, d], unit norm."""
        return F.normalize(self.proj(base.float()), dim=-1)

    def user_from_history(self, hist_emb: torch.Tensor, hist_type: torch.Tensor
                          ) -> torch.Tensor:
        """Attention user tower: [b, H, d] item embeddings of the history, [b, H] types."""
        if self.user_att is None:
            raise RuntimeError("this ranker has a text user tower; use user_from_text")
        return self.user_att(hist_emb, hist_type)

    def user_from_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor
                       ) -> torch.Tensor:
        """Text user tower: tokens of the history text [b, t] -> [b, d], unit norm."""
        return self.item_head(self.encode_base(input_ids, attention_mask))

    # ---------------------------------------------------------------- scores
    def prior_term(self, prior: torch.Tensor | None) -> torch.Tensor | float:
        """``prior_weight * o`` for the items' prior offsets ``o`` (0 without a prior)."""
        if prior is None or self.prior_weight is None:
            return 0.0
        return self.prior_weight * prior

    def score_pairs(self, u: torch.Tensor, e: torch.Tensor, prior: torch.Tensor | None = None
                    ) -> torch.Tensor:
        """Logits of aligned (user, item) pairs: [b, d], [b, d] (prior offsets [b]) -> [b]."""
        s = self.log_scale.exp() * (u * e).sum(-1) + self.item_bias(e).squeeze(-1)
        if self.mlp is not None:
            s = s + self.mlp(torch.cat([u, e, u * e], dim=-1)).squeeze(-1)
        return s + self.prior_term(prior)

    def score_matrix(self, u: torch.Tensor, e: torch.Tensor, prior: torch.Tensor | None = None
                     ) -> torch.Tensor:
        """Logits of every user against every item: [m, d], [a, d] (prior [a]) -> [m, a] (dot
        part plus the item biases; the MLP term needs :meth:`score_candidates`)."""
        return (self.log_scale.exp() * (u @ e.T) + self.item_bias(e).squeeze(-1)
                + self.prior_term(prior))

    def score_candidates(self, u: torch.Tensor, e: torch.Tensor,
                         prior: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of per-user candidate sets: [m, d], [m, C, d] (prior [m, C]) -> [m, C]."""
        s = self.log_scale.exp() * torch.einsum("md,mcd->mc", u, e) + self.item_bias(e)[..., 0]
        if self.mlp is not None:
            ub = u.unsqueeze(1).expand_as(e)
            s = s + self.mlp(torch.cat([ub, e, ub * e], dim=-1))[..., 0]
        return s + self.prior_term(prior)

    def head_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters()
                if not n.startswith("encoder.") and p.requires_grad]

    def encoder_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.encoder.parameters() if p.requires_grad]


def _lora_targets(encoder: nn.Module) -> list[str]:
    """Names of the attention projections LoRA adapts (BERT: query/value; others: q/v)."""
    names = {n.rsplit(".", 1)[-1] for n, m in encoder.named_modules() if isinstance(m, nn.Linear)}
    for pair in (["query", "value"], ["q_lin", "v_lin"], ["q_proj", "v_proj"], ["q", "v"]):
        if set(pair) <= names:
            return pair
    raise ValueError(f"LoRA: no query/value projections found in {type(encoder).__name__} "
                     f"(Linear names: {sorted(names)[:12]}); use finetune='full' or 'head'")


def build_ranker(cfg: LLMRankerConfig, seed: int) -> tuple[TwoTowerRanker, Any, str]:
    """Tokenizer, freshly initialised ranker (deterministic given ``seed``) and its identity.

    The torch RNG is forked, so building a ranker never moves the global torch stream.
    """
    tok = load_tokenizer(cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TwoTowerRanker(cfg, load_encoder(cfg, len(tok)))
    return model, tok, backbone_identity(cfg)


def model_folder(cfg: LLMRankerConfig) -> Path:
    """The local folder the tokenizer (and pretrained weights) come from."""
    return _resolve_model_dir(cfg.model_path)
