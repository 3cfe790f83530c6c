"""The real-time path: cached item embeddings, cached user vectors, batched scoring, MMR.

* Item embeddings ``E`` [n_encoded, d] are computed once per item and kept; items that arrive
  later (cold start, text only) are encoded the first time a view makes them available, so they
  are scorable at once. After a retraining the cache is refreshed (the pooled encoder states are
  re-encoded when the encoder itself was trained; with ``finetune="head"`` only the projection
  is reapplied to the cached states).
* User vectors ``U`` [n_users, d] are cached and recomputed only for users whose history
  changed since (a ``dirty`` flag set by ``observe``), all users after a retraining.
* One request tick scores every in-session user at once: ``scale * U @ E.T + bias`` [m, a], or
  with ``candidates = M`` a top-M retrieval by that score first (and the MLP head on the M);
  exploration, exclusion of remembered clicks, then top-k or MMR re-ranking.
* ``quantize_int8``: the encoder passes of serving (item refresh, text user tower) run through
  ``torch.ao.quantization.quantize_dynamic`` (int8 Linear layers, CPU only); training always
  uses the float32 model.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from recsim_llm.agents.base import exclusion_mask, mmr_select
from recsim_llm.agents.llm.config import LLMRankerConfig
from recsim_llm.agents.llm.model import CLICK, SKIP, TwoTowerRanker, hidden_size

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]

USER_CHUNK = 4096
"""users per pass of the attention user tower at serving (bounds temporaries)"""


def item_texts(texts: Sequence[str], titles: Sequence[str]) -> list[str]:
    """What the item tower reads: the item text, its title where the text is empty.

    An item with neither still gets an embedding (that of the empty sentence, ``[CLS] [SEP]``):
    it is scorable, as an item with unknown content.
    """
    return [t if t and t.strip() else (ti or "") for t, ti in zip(texts, titles, strict=True)]


def history_texts(hist_items: np.ndarray, hist_types: np.ndarray, titles: Sequence[str],
                  with_skips: bool, max_titles: int = 0) -> list[str]:
    """The history as text, newest first: "Clicked: A; B. Skipped: C." (one per row).

    ``max_titles`` > 0 keeps only the newest that many clicked (and skipped) titles: a shorter
    text, so a cheaper encoder pass (``LLMRankerConfig.history_titles``); 0 = every remembered
    event (the text is still truncated at ``history_max_length`` tokens by the tokenizer,
    which keeps its beginning, i.e. the newest titles).

    Building strings is a loop over the rows given (only users whose history changed, or one
    training batch), which a text tower cannot avoid; the encoder pass itself is batched.
    """
    out = []
    for items, types in zip(hist_items.tolist(), hist_types.tolist(), strict=True):
        clicked = [titles[i] for i, t in zip(items, types, strict=True) if t == CLICK]
        if max_titles:
            clicked = clicked[:max_titles]
        parts = [f"Clicked: {'; '.join(clicked)}."] if clicked else []
        if with_skips:
            skipped = [titles[i] for i, t in zip(items, types, strict=True) if t == SKIP]
            if max_titles:
                skipped = skipped[:max_titles]
            if skipped:
                parts.append(f"Skipped: {'; '.join(skipped)}.")
        out.append(" ".join(parts))
    return out


class Tokens:
    """Padded token ids and masks of a growing list of texts (the catalog, in arrival order)."""

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        self.tokenizer, self.max_length = tokenizer, max_length
        self.ids = torch.zeros((0, max_length), dtype=torch.long)
        self.mask = torch.zeros((0, max_length), dtype=torch.long)

    def __len__(self) -> int:
        return len(self.ids)

    def extend(self, texts: list[str]) -> None:
        if not texts:
            return
        enc = self.tokenizer(texts, padding="max_length", truncation=True,
                             max_length=self.max_length, return_tensors="pt")
        self.ids = torch.cat([self.ids, enc["input_ids"]])
        self.mask = torch.cat([self.mask, enc["attention_mask"]])

    def batch(self, idx: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and mask of items ``idx``, trimmed to the longest of them."""
        ids, mask = self.ids[idx.cpu()], self.mask[idx.cpu()]
        t = max(int(mask.sum(1).max()), 1)
        return ids[:, :t].to(device), mask[:, :t].to(device)


def encode_texts(model: TwoTowerRanker, encoder: torch.nn.Module, tokenizer: Any,
                 texts: list[str], max_length: int, batch: int, device: torch.device
                 ) -> torch.Tensor:
    """Sentence embeddings of texts, [n, hidden] (mean pooled, unit norm), no gradient."""
    from recsim_llm.agents.llm.model import mean_pool

    n = len(texts)
    hidden = hidden_size(model.encoder)
    if n == 0:
        return torch.zeros((0, hidden), device=device)
    order = sorted(range(n), key=lambda i: -len(texts[i]))
    out = torch.empty((n, hidden), device=device)
    with torch.inference_mode():
        for s in range(0, n, batch):
            idx = order[s: s + batch]
            enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                            max_length=max_length, return_tensors="pt").to(device)
            h = encoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
            out[idx] = torch.nn.functional.normalize(
                mean_pool(h.last_hidden_state, enc["attention_mask"]).float(), dim=-1)
    return out


def serving_encoder(model: TwoTowerRanker, quantize_int8: bool, device: torch.device
                    ) -> torch.nn.Module:
    """The encoder the serving passes use: the model's own, or an int8 copy (CPU only)."""
    if not quantize_int8:
        return model.encoder
    if device.type != "cpu":
        raise ValueError("llm.quantize_int8 is for CPU serving; use device='cpu' or drop it")
    enc: Any = copy.deepcopy(model.encoder)
    if hasattr(enc, "merge_and_unload"):  # LoRA: fold the adapters into the base weights
        enc = enc.merge_and_unload()
    # torch marks eager dynamic quantisation deprecated (in favour of torchao, not installed
    # here) but still ships it; silence the notice, not errors.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
        return torch.ao.quantization.quantize_dynamic(enc.eval(), {torch.nn.Linear},
                                                      dtype=torch.qint8)


class ServingCache:
    """Item and user caches of one ranker; see the module docstring.

    Args:
        n_users: users of the run (rows of the user cache).
    """

    def __init__(self, model: TwoTowerRanker, tokenizer: Any, cfg: LLMRankerConfig,
                 device: torch.device, n_users: int) -> None:
        self.model, self.tokenizer, self.cfg, self.device = model, tokenizer, cfg, device
        self.tokens = Tokens(tokenizer, cfg.max_length)
        self.base = torch.zeros((0, hidden_size(model.encoder)), device=device)
        """[n_encoded, hidden] pooled encoder states of the items (the history cache in training)"""
        self.E = np.zeros((0, model.dim), np.float32)
        """[n_encoded, d] item embeddings"""
        self.bias = np.zeros(0, np.float32)
        """[n_encoded] item bias of the dot score"""
        self.prior = np.zeros(0, np.float32)
        """[<= n_encoded] the items' collaborative prior offsets (set by the policy before each
        ranking from its click counts; shorter = the rest are 0)"""
        self.U = np.zeros((n_users, model.dim), np.float32)
        self.dirty = np.ones(n_users, bool)
        """users whose cached vector is stale"""
        self._enc: torch.nn.Module | None = None
        self._cached_encoder: Any = None
        self.item_logit = torch.zeros(0, device=device)
        """[n_encoded] per-item attention logit of the user tower"""
        self.item_value = torch.zeros((0, model.dim), device=device)
        """[n_encoded, d] per-item attention value of the user tower"""
        self.encode_s = 0.0
        """wall seconds spent in encoder passes of serving (items and histories)"""

    # ------------------------------------------------------------------ items
    @property
    def n_items(self) -> int:
        return len(self.E)

    def encoder(self) -> torch.nn.Module:
        if self._enc is None:
            self._enc = serving_encoder(self.model, self.cfg.quantize_int8, self.device)
        return self._enc

    def ensure_items(self, n_available: int, texts: Sequence[str], titles: Sequence[str]) -> None:
        """Encode items [n_encoded, n_available) (new arrivals are scorable at once)."""
        lo = self.n_items
        if n_available <= lo:
            return
        new = item_texts(texts[lo:n_available], titles[lo:n_available])
        self.tokens.extend(new)
        t0 = time.perf_counter()
        if self._frozen_pretrained():
            base = torch.as_tensor(self._text_encoder().encode(new), device=self.device)
        else:
            base = encode_texts(self.model, self.encoder(), self.tokenizer, new,
                                self.cfg.max_length, self.cfg.encode_batch, self.device)
        self.encode_s += time.perf_counter() - t0
        self.base = torch.cat([self.base, base])
        e, b = self._heads(base)
        self.E = np.concatenate([self.E, e])
        self.bias = np.concatenate([self.bias, b])
        self._item_terms()

    def _frozen_pretrained(self) -> bool:
        """A frozen pretrained float32 encoder: its item vectors are the text encoder's own,
        served from the project's verified embedding cache (``recsim_llm.text.cache``)."""
        c = self.model.cfg
        return c.finetune in ("head", "none") and c.tiny is None and not c.quantize_int8

    def _text_encoder(self) -> Any:
        if self._cached_encoder is None:
            from recsim_llm.text.cache import CachedEncoder
            from recsim_llm.text.transformer import TransformerEncoder

            self._cached_encoder = CachedEncoder(TransformerEncoder(
                self.model.cfg.model_path, batch_size=self.cfg.encode_batch,
                max_length=self.cfg.max_length, device=str(self.device)))
        return self._cached_encoder

    def _item_terms(self) -> None:
        """Per-item attention logits and values of the user tower (see ``item_terms``)."""
        att = self.model.user_att
        if att is None:
            return
        with torch.inference_mode():
            kq, v = att.item_terms(torch.as_tensor(self.E, device=self.device))
        self.item_logit, self.item_value = kq, v

    def _heads(self, base: torch.Tensor) -> tuple[FloatArray, FloatArray]:
        with torch.inference_mode():
            e = self.model.item_head(base)
            b = self.model.item_bias(e).squeeze(-1)
        return e.float().cpu().numpy(), b.float().cpu().numpy()

    def refresh(self, texts: Sequence[str], titles: Sequence[str]) -> None:
        """After a retraining: new item embeddings, every user vector stale."""
        n = self.n_items
        if self.model.cfg.finetune in ("full", "lora") and n:
            self._enc = None
            t0 = time.perf_counter()
            self.base = encode_texts(self.model, self.encoder(), self.tokenizer,
                                     item_texts(texts[:n], titles[:n]), self.cfg.max_length,
                                     self.cfg.encode_batch, self.device)
            self.encode_s += time.perf_counter() - t0
        if n:
            self.E, self.bias = self._heads(self.base)
            self._item_terms()
        self.dirty[:] = True

    # ------------------------------------------------------------------ users
    def update_users(self, users: IntArray, hist_items: IntArray, hist_types: np.ndarray,
                     titles: Sequence[str]) -> None:
        """Recompute the cached vectors of the dirty ones among ``users``."""
        stale = users[self.dirty[users]]
        if len(stale) == 0:
            return
        hi, ht = hist_items[stale], hist_types[stale]
        t0 = time.perf_counter()
        att = self.model.user_att
        if att is not None:
            with torch.inference_mode():
                for lo in range(0, len(stale), USER_CHUNK):  # chunks bound the temporaries
                    sl = slice(lo, lo + USER_CHUNK)
                    idx = torch.as_tensor(np.clip(hi[sl], 0, None), device=self.device)
                    u = att.pool_indexed(self.item_logit, self.item_value, idx,
                                         torch.as_tensor(ht[sl], device=self.device))
                    self.U[stale[sl]] = u.float().cpu().numpy()
        else:
            texts = history_texts(hi, ht, titles, with_skips=self.model.cfg.finetune != "none",
                                  max_titles=self.cfg.history_titles)
            base = encode_texts(self.model, self.encoder(), self.tokenizer, texts,
                                self.cfg.history_max_length, self.cfg.encode_batch, self.device)
            with torch.inference_mode():
                self.U[stale] = self.model.item_head(base).float().cpu().numpy()
            self.encode_s += time.perf_counter() - t0
        self.dirty[stale] = False

    # ------------------------------------------------------------------ ranking
    def prior_offsets(self, n_available: int) -> FloatArray | None:
        """``prior_weight * o_i`` of the available items, or None without a prior."""
        w = self.model.prior_weight
        if w is None:
            return None
        o = np.zeros(n_available, np.float32)
        m = min(n_available, len(self.prior))
        o[:m] = self.prior[:m]
        return float(w.detach()) * o

    def scores(self, users: IntArray, n_available: int) -> FloatArray:
        """[m, a] dot-part logits of the users against the available items (with the
        collaborative prior where the ranker has one)."""
        scale = float(self.model.log_scale.detach().exp())
        s = scale * (self.U[users] @ self.E[:n_available].T) + self.bias[:n_available]
        prior = self.prior_offsets(n_available)
        return s if prior is None else s + prior

    def rank(self, users: IntArray, n_available: int, k: int, exclude: IntArray | None,
             rng: np.random.Generator, epsilon: float,
             cold: npt.NDArray[np.bool_] | None = None) -> IntArray:
        """Slates [m, k] of ``users``: scoring, exploration, exclusion, retrieval, MMR.

        Args:
            exclude: [m, h] item ids not to recommend (-1 = none); they are placed only when
                fewer than k other items are available.
            cold: [m] users to serve at random (no usable history for a zero-shot model).
        """
        a, cfg = n_available, self.cfg
        m = len(users)
        s = self.scores(users, a)                                                # [m, a] f32
        if cold is not None and cold.any():
            s[cold] = rng.random((int(cold.sum()), a), dtype=np.float32)
        forced = np.zeros((m, a), bool)
        if epsilon > 0:
            # Each item is explored w.p. epsilon * k / a (as mf); drawn sparsely: how many per
            # user, then which (a repeat within a row only wastes that draw).
            n_exp = rng.binomial(a, min(1.0, epsilon * k / a), size=m)
            rows = np.repeat(np.arange(m), n_exp)
            forced[rows, rng.integers(a, size=len(rows))] = True
        n_cand = min(a, cfg.candidates) if cfg.candidates else a
        n_cand = max(n_cand, min(k, a))
        needs_cand = cfg.mmr_alpha < 1.0 or self.model.mlp is not None or n_cand < a
        excl_mask = (exclusion_mask(exclude, a) if exclude is not None and exclude.size
                     else np.zeros((m, a), bool))
        # Ranking key: explored items first, excluded ones last, then the score.
        key = np.where(forced & ~excl_mask, np.inf, np.where(excl_mask, -np.inf, s))
        top = _topk(key, k if not needs_cand else n_cand)                       # [m, C]
        if not needs_cand:
            return top
        cand = top
        rel = np.take_along_axis(s, cand, axis=1).astype(np.float64)
        cforced = np.take_along_axis(forced, cand, axis=1)
        excluded = np.take_along_axis(excl_mask, cand, axis=1)
        if self.model.mlp is not None:
            with torch.inference_mode():
                u = torch.as_tensor(self.U[users], device=self.device)
                e = torch.as_tensor(self.E, device=self.device)[torch.as_tensor(cand)]
                rel = self.model.score_candidates(u, e).double().cpu().numpy()
                prior = self.prior_offsets(a)
                if prior is not None:
                    rel = rel + prior[cand]
        if cfg.mmr_alpha >= 1.0:
            key = np.where(cforced & ~excluded, np.inf, np.where(excluded, -np.inf, rel))
            order = np.argsort(-key, axis=1, kind="stable")[:, :k]
            return np.take_along_axis(cand, order, axis=1)
        # Relevance rescaled to [0, 1] per user, so alpha trades it against cosine similarity
        # on the same scale whatever the logit scale learned (alpha means what it means in
        # mmr); explored items enter at the top of that scale.
        lo = rel.min(axis=1, keepdims=True)
        span = np.maximum(rel.max(axis=1, keepdims=True) - lo, 1e-12)
        rel = np.where(cforced, 1.0, (rel - lo) / span)
        return mmr_select(rel, cand, self.E, k, cfg.mmr_alpha, excluded)


def _topk(key: np.ndarray, k: int) -> IntArray:
    """Columns of the k largest keys per row, best first ([m, a] -> [m, k]; torch.topk, which
    is several times faster than numpy's argpartition + sort on one thread)."""
    t = torch.from_numpy(np.ascontiguousarray(key, dtype=np.float32))
    return torch.topk(t, k, dim=1, sorted=True).indices.numpy().astype(np.int64)
