"""Training the ranker on logged interactions: the interaction log, samples, the fit loop.

What is learned from: :class:`InteractionLog` rows, one per served user and request, holding
the slate, the clicked slot, the logged dwell (NaN where no click, or where the platform logs no
dwell) and the user's history *as it was before that request* (no leakage of the click into
its own input).

Samples: every logged click is a positive; ``neg_per_request`` shown-but-not-clicked items of
each request are label-0 samples (BCE on click/skip, the pointwise objective of implicit
feedback). ``in_batch_negatives`` adds a sampled softmax of each positive against the batch's
other positive items (two-tower retrieval training, Yi et al. 2019), masking duplicates.

Value-aware target (``target="dwell"``): a click's label is the percentile rank of its logged
dwell among the window's clicks, in (0, 1]; a skip stays 0. Clicks that were quickly abandoned
(low dwell: high appeal, low value) thus count as weak positives, and the ranker is pulled
toward items that are consumed, not only clicked. A click without a dwell value (NaN: the
platform logs none) keeps label 1, so the option degrades to the click target.

Optimiser: AdamW (heads at ``lr``, encoder weights at ``encoder_lr``, LoRA adapters at
10 x ``encoder_lr``), linear warm-up then linear decay, global gradient clipping, mixed
precision on CUDA. On CPU the fit is deterministic given the seed: batches come from a numpy
generator and dropout from a forked torch RNG seeded per fit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.stats
import torch
from torch.nn import functional as F

from recsim_llm.agents.llm.config import LLMRankerConfig
from recsim_llm.agents.llm.model import CLICK, TwoTowerRanker

IntArray = npt.NDArray[np.int64]

_LOG_FIELDS = ("day", "user", "slate", "pos", "dwell", "hist_items", "hist_types")


class InteractionLog:
    """Append-only rows of logged requests, kept as chunks and concatenated on demand.

    Row fields: ``day`` [N], ``user`` [N], ``slate`` [N, k], ``pos`` [N] (-1 = no click),
    ``dwell`` [N] float32 (NaN = no click / not logged), ``hist_items`` [N, H] (-1 = empty),
    ``hist_types`` [N, H] (0 pad, 1 click, 2 skip).
    """

    def __init__(self) -> None:
        self._chunks: list[dict[str, np.ndarray]] = []
        self._cat: dict[str, np.ndarray] | None = None

    def append(self, day: int, users: IntArray, slates: IntArray, positions: IntArray,
               dwell: npt.NDArray[np.floating], hist_items: IntArray, hist_types: np.ndarray
               ) -> None:
        m = len(users)
        if m == 0:
            return
        self._chunks.append({
            "day": np.full(m, day, np.int32), "user": users.astype(np.int32),
            "slate": slates.astype(np.int32), "pos": positions.astype(np.int16),
            "dwell": dwell.astype(np.float32), "hist_items": hist_items.astype(np.int32),
            "hist_types": hist_types.astype(np.int8)})
        self._cat = None

    def arrays(self) -> dict[str, np.ndarray]:
        if self._cat is None:
            if not self._chunks:
                self._cat = {}
            else:
                self._cat = {k: np.concatenate([c[k] for c in self._chunks])
                             for k in _LOG_FIELDS}
                self._chunks = [self._cat]
        return self._cat

    def __len__(self) -> int:
        return sum(len(c["day"]) for c in self._chunks)

    def keep_from(self, min_day: int) -> None:
        """Drop rows older than ``min_day`` (the sliding window bounds memory)."""
        a = self.arrays()
        if a:
            keep = a["day"] >= min_day
            self._chunks = [{k: v[keep] for k, v in a.items()}]
            self._cat = None

    def state(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.arrays().items()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        missing = [k for k in _LOG_FIELDS if k not in state] if state else []
        if missing:
            raise ValueError(f"interaction log state lacks fields {missing}")
        self._chunks = [{k: np.asarray(state[k]).copy() for k in _LOG_FIELDS}] if state else []
        self._cat = None


@dataclass
class Samples:
    """Training samples: the history at request time, the candidate item and its label."""

    hist_items: IntArray
    """[S, H] (-1 = empty)"""
    hist_types: npt.NDArray[np.int64]
    """[S, H] 0 pad, 1 click, 2 skip"""
    items: IntArray
    """[S] candidate item"""
    labels: npt.NDArray[np.float32]
    """[S] in [0, 1]"""
    prior: npt.NDArray[np.float32] | None = None
    """[S] collaborative prior offset of each candidate item (``LLMRankerConfig.item_prior``),
    set by the policy from its counts; None = the ranker has no prior"""

    def __len__(self) -> int:
        return len(self.items)


def labels_from_log(positions: np.ndarray, dwell: np.ndarray, target: str
                    ) -> npt.NDArray[np.float32]:
    """Label of each logged request's clicked item: 1 (click) or the dwell percentile.

    Args:
        positions: [N] clicked slot (-1 = none).
        dwell: [N] logged dwell (NaN where no click or not logged).
        target: ``click`` or ``dwell``.
    Returns:
        [N] labels of the clicks (0 where no click).
    """
    clicked = positions >= 0
    y = clicked.astype(np.float32)
    if target == "dwell":
        ok = clicked & np.isfinite(dwell)
        if ok.any():
            y[ok] = (scipy.stats.rankdata(dwell[ok], method="average") / ok.sum()
                     ).astype(np.float32)
    elif target != "click":
        raise ValueError(f"llm.target must be 'click' or 'dwell', got {target!r}")
    return y


def draw_samples(log: InteractionLog, cfg: LLMRankerConfig, rng: np.random.Generator,
                 min_day: int = 0) -> Samples:
    """Positives (clicks) and ``neg_per_request`` skipped items per request, subsampled to
    ``max_train_samples``. Vectorised over rows."""
    a = log.arrays()
    h = cfg.history_len
    empty = Samples(np.zeros((0, h), np.int64), np.zeros((0, h), np.int64),
                    np.zeros(0, np.int64), np.zeros(0, np.float32))
    if not a:
        return empty
    rows = np.flatnonzero(a["day"] >= min_day)
    if len(rows) == 0:
        return empty
    slate, pos = a["slate"][rows], a["pos"][rows].astype(np.int64)
    n, k = slate.shape
    y_click = labels_from_log(pos, a["dwell"][rows], cfg.target)
    clicked = pos >= 0
    parts_r, parts_i, parts_y = [rows[clicked]], [slate[clicked, pos[clicked]]], \
        [y_click[clicked]]
    n_neg = min(cfg.neg_per_request, k - 1 if k > 1 else 0)
    if n_neg:
        keys = rng.random((n, k))
        keys[np.flatnonzero(clicked), pos[clicked]] = np.inf     # never the clicked slot
        slots = np.argsort(keys, axis=1)[:, :n_neg]              # [n, n_neg]
        parts_r.append(np.repeat(rows, n_neg))
        parts_i.append(np.take_along_axis(slate, slots, axis=1).ravel())
        parts_y.append(np.zeros(n * n_neg, np.float32))
    r, items, y = (np.concatenate(parts_r), np.concatenate(parts_i).astype(np.int64),
                   np.concatenate(parts_y))
    if len(r) > cfg.max_train_samples:
        pick = np.sort(rng.choice(len(r), cfg.max_train_samples, replace=False))
        r, items, y = r[pick], items[pick], y[pick]
    return Samples(a["hist_items"][r].astype(np.int64), a["hist_types"][r].astype(np.int64),
                   items, y.astype(np.float32))


@dataclass
class FitStats:
    samples: int
    steps: int
    wall_s: float
    cpu_s: float
    device_s: float
    """CUDA event time of the fit (NaN on CPU)"""
    loss_first: float
    loss_last: float

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.wall_s if self.wall_s > 0 else float("nan")

    def as_dict(self) -> dict[str, float]:
        return {"samples": self.samples, "steps": self.steps, "wall_s": self.wall_s,
                "cpu_s": self.cpu_s, "device_s": self.device_s, "loss_first": self.loss_first,
                "loss_last": self.loss_last, "samples_per_s": self.samples_per_s}


ItemEncoder = Callable[[torch.Tensor], torch.Tensor]
UserEncoder = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def make_optimizer(model: TwoTowerRanker, cfg: LLMRankerConfig) -> torch.optim.AdamW:
    groups: list[dict[str, Any]] = [{"params": model.head_parameters(), "lr": cfg.lr}]
    enc = model.encoder_parameters()
    if enc:
        lr = cfg.encoder_lr * (10.0 if cfg.finetune == "lora" else 1.0)
        groups.append({"params": enc, "lr": lr})
    return torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)


def fit(model: TwoTowerRanker, samples: Samples, cfg: LLMRankerConfig, *,
        item_emb: ItemEncoder, hist_emb: ItemEncoder, user_text: UserEncoder | None,
        device: torch.device, seed: int, rng: np.random.Generator) -> FitStats:
    """Train ``model`` on ``samples`` for ``cfg.epochs`` epochs.

    Args:
        item_emb: item ids [b] (on ``device``) -> [b, d] embeddings *with* gradient (through the
            encoder when it trains, through the projection otherwise).
        hist_emb: item ids [b, H] (-1 clipped by the caller) -> [b, H, d] history embeddings
            (from the pooled-state cache, gradient through the projection only).
        user_text: for the text user tower, (hist_items [b, H], hist_types [b, H]) -> [b, d].
        seed: seeds the forked torch RNG (dropout), so CPU fits are repeatable.
        rng: batch order.
    """
    from transformers import get_linear_schedule_with_warmup

    n = len(samples)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if n == 0:
        return FitStats(0, 0, 0.0, 0.0, float("nan"), float("nan"), float("nan"))
    opt = make_optimizer(model, cfg)
    steps_per_epoch = -(-n // cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    sched = get_linear_schedule_with_warmup(opt, int(cfg.warmup_ratio * total), total)
    cuda = device.type == "cuda"
    amp_dtype = None
    if cuda and cfg.amp:
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    start_ev = end_ev = None
    if cuda:
        start_ev, end_ev = torch.cuda.Event(enable_timing=True), torch.cuda.Event(
            enable_timing=True)
        start_ev.record()
    hi = torch.as_tensor(samples.hist_items, device=device)
    ht = torch.as_tensor(samples.hist_types, device=device)
    it = torch.as_tensor(samples.items, device=device)
    yl = torch.as_tensor(samples.labels, device=device)
    po = None if samples.prior is None or model.prior_weight is None else \
        torch.as_tensor(samples.prior, device=device)
    losses: list[float] = []
    model.train()
    devices = [device.index or 0] if cuda else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for _ in range(cfg.epochs):
            order = torch.as_tensor(rng.permutation(n), device=device)
            for s in range(0, n, cfg.batch_size):
                b = order[s: s + cfg.batch_size]
                with torch.autocast(device.type, dtype=amp_dtype or torch.float32,
                                    enabled=amp_dtype is not None):
                    e = item_emb(it[b])                                      # [b, d]
                    if user_text is not None:
                        u = user_text(hi[b], ht[b])
                    else:
                        u = model.user_from_history(hist_emb(hi[b].clamp(min=0)), ht[b])
                    pb = None if po is None else po[b]
                    logits = model.score_pairs(u.float(), e.float(), pb)
                    loss = F.binary_cross_entropy_with_logits(logits, yl[b])
                    if cfg.in_batch_negatives:
                        loss = loss + cfg.in_batch_weight * in_batch_loss(
                            model, u.float(), e.float(), it[b], yl[b], pb)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if cfg.grad_clip > 0:
                    scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(
                        [p for g in opt.param_groups for p in g["params"]], cfg.grad_clip)
                scaler.step(opt)
                scaler.update()
                sched.step()
                losses.append(float(loss.detach()))
    model.eval()
    dev_s = float("nan")
    if start_ev is not None and end_ev is not None:
        end_ev.record()
        torch.cuda.synchronize(device)
        dev_s = start_ev.elapsed_time(end_ev) / 1e3
    return FitStats(n * cfg.epochs, len(losses), time.perf_counter() - wall0,
                    time.process_time() - cpu0, dev_s, losses[0], losses[-1])


def in_batch_loss(model: TwoTowerRanker, u: torch.Tensor, e: torch.Tensor, items: torch.Tensor,
                  labels: torch.Tensor, prior: torch.Tensor | None = None) -> torch.Tensor:
    """Sampled softmax of each positive against the batch's other positive items.

    Args:
        u, e: [b, d] user and item embeddings of the batch; items [b]; labels [b]; prior [b]
            the items' prior offsets (None = no prior).
    Returns:
        label-weighted mean cross-entropy over the positives (0 with fewer than two).
    """
    pos = labels > 0
    if int(pos.sum()) < 2:
        return u.new_zeros(())
    up, ep, ip, w = u[pos], e[pos], items[pos], labels[pos]
    logits = model.score_matrix(up, ep, None if prior is None else prior[pos])  # [P, P]
    same = (ip[:, None] == ip[None, :]) & ~torch.eye(len(ip), dtype=torch.bool,
                                                     device=ip.device)
    logits = logits.masked_fill(same, float("-inf"))                         # duplicates
    target = torch.arange(len(ip), device=ip.device)
    ce = F.cross_entropy(logits, target, reduction="none")
    return (w * ce).sum() / w.sum()


def history_has_click(hist_types: np.ndarray) -> npt.NDArray[np.bool_]:
    """[n] whether each history row holds at least one click."""
    return (hist_types == CLICK).any(axis=1)
