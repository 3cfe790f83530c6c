"""The LLM ranker as a policy: serves slates, logs feedback, retrains every R days in the loop.

Specs (see :func:`make_llm_policy`):

* ``llm`` — fine-tuned two-tower ranker over the bundled MiniLM, retrained every 7 days on a
  sliding window (``window_days``) of its own logs;
* ``llm:R`` — retrained every R days;
* ``llm:0`` — frozen zero-shot: the pretrained encoder's cosine between the user's history text
  (the titles they clicked, newest first) and each item's text; never trains. Users without a
  click yet get random items (no text to match), as the content baselines do;
* ``llm:R,key=value,...`` — any :class:`LLMRankerConfig` field overridden, e.g.
  ``llm:7,finetune=head``, ``llm:7,target=dwell`` (the value-aware target), ``llm:7,mmr_alpha=0.7``,
  ``llm:7,init=PATH`` (start from a checkpoint's weights, e.g. one fitted on another policy's
  saved run with :meth:`LLMRankerPolicy.fit_from_run`; the path must not contain a comma).

The policy reads only the platform view (public item text, its own slates and logged responses,
the logged dwell where the feedback carries one) and keeps its own per-user history of the last
``history_len`` events (a click, or the top-slot item of a request without a click as a skip).
Until the first retraining, users without a click are served at random (the untrained model has
no signal for them); afterwards the learned empty-history vector, the text-based item bias and
the collaborative click-rate prior (``item_prior``: the shrunk log-odds of each item's logged
click rate, counted online from its own logs) score them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from recsim_llm.agents.base import BasePolicy, PolicyError
from recsim_llm.agents.llm.checkpoint import (
    CheckpointMismatchError,
    load_ranker_checkpoint,
    read_meta,
    save_ranker_checkpoint,
)
from recsim_llm.agents.llm.config import LLMRankerConfig
from recsim_llm.agents.llm.model import CLICK, PAD, SKIP, build_ranker, resolve_device
from recsim_llm.agents.llm.serving import ServingCache, history_texts
from recsim_llm.agents.llm.training import FitStats, InteractionLog, draw_samples, fit

IntArray = npt.NDArray[np.int64]


class LLMRankerPolicy(BasePolicy):
    """Two-tower transformer ranker in the loop (see the module docstring).

    Args:
        cfg: model, training and serving settings.
        spec: the spec it was built from (``make_policy`` sets it too).
    """

    name = "llm"

    def __init__(self, cfg: LLMRankerConfig | None = None, spec: str = "llm") -> None:
        self.cfg = cfg or LLMRankerConfig()
        self.spec = spec
        self.device = resolve_device(self.cfg.device)  # fails fast on CUDA where there is none
        self.model: Any = None
        self.tokenizer: Any = None
        self.identity: str | None = None
        self.cache: ServingCache | None = None
        self.retrains = 0
        self.fit_history: list[dict[str, float]] = []
        self.serve_cpu_s = 0.0
        self.serve_wall_s = 0.0
        self.requests = 0
        self.ticks = 0
        self.pretrained_retrains = 0
        """retrainings behind the weights loaded from ``cfg.init`` (0 = fresh weights)"""
        self.fit_source: dict[str, Any] = {}
        """what :meth:`fit_from_run` trained on (run folder, policy, seed, rows)"""

    # ------------------------------------------------------------------ lifecycle
    def has_params(self) -> bool:
        return self.model is not None and hasattr(self, "hist_items")

    def check_params(self, ctx: Any) -> None:
        if self.hist_items.shape[0] != ctx.n_users:
            raise PolicyError(f"{self.spec}: its learned state is for {self.hist_items.shape[0]} "
                              f"users, this run has {ctx.n_users}")
        n_items = len(ctx.catalog.texts)
        if len(self.item_clicks) != n_items:
            raise PolicyError(f"{self.spec}: its item counts are for {len(self.item_clicks)} "
                              f"items, this run's catalog has {n_items}")

    def bind(self, ctx: Any, rng: np.random.Generator) -> None:
        """Public facts of a run; initialises parameters only when there are none yet."""
        super().bind(ctx, rng)
        self.cache = None  # rebuilt from this run's catalog on the first act

    def init_params(self) -> None:
        """A fresh ranker (deterministic given the bound rng), empty histories and log."""
        if not self.bound:
            raise PolicyError(f"{self.spec}: bind(ctx, rng) before init_params()")
        seed = int(self.rng.integers(2**31 - 1))
        self.model, self.tokenizer, self.identity = build_ranker(self.cfg, seed)
        self.pretrained_retrains = 0
        if self.cfg.init is not None:
            meta, state, _arrays = load_ranker_checkpoint(self.cfg.init, self.identity)
            self.model.load_state_dict(state)
            self.pretrained_retrains = max(int(meta.get("retrains", 0))
                                           + int(meta.get("pretrained_retrains", 0)), 1)
        self.model.to(self.device).eval()
        n, h = self.ctx.n_users, self.cfg.history_len
        self.hist_items = np.full((n, h), -1, np.int64)
        self.hist_types = np.zeros((n, h), np.int8)
        n_items = len(self.ctx.catalog.texts)
        self.item_impressions = np.zeros(n_items, np.float64)
        self.item_clicks = np.zeros(n_items, np.float64)
        self.log = InteractionLog()
        self.retrains = 0
        self.fit_history = []
        self.cache = None

    def item_offsets(self) -> npt.NDArray[np.float32]:
        """[n_items] the collaborative prior offsets ``o_i`` (``LLMRankerConfig.item_prior``):
        log-odds of each item's logged click rate per impression, shrunk toward the overall
        rate with ``item_prior`` pseudo-impressions, minus the overall rate's log-odds."""
        m = self.cfg.item_prior
        p = (self.item_clicks.sum() + 1.0) / (self.item_impressions.sum() + 2.0)
        rate = (self.item_clicks + m * p) / (self.item_impressions + m)
        return (np.log(rate / (1 - rate)) - np.log(p / (1 - p))).astype(np.float32)

    def _cache(self, n_available: int) -> ServingCache:
        if self.cache is None:
            self.cache = ServingCache(self.model, self.tokenizer, self.cfg, self.device,
                                      self.ctx.n_users)
        cat = self.ctx.catalog
        self.cache.ensure_items(n_available, cat.texts, cat.titles)
        return self.cache

    def rank(self, view: Any) -> IntArray:
        """Slates [len(view.users), k] of distinct available items."""
        users = np.asarray(view.users, np.int64)
        k = int(view.slate_size)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        cache = self._cache(int(view.n_available))
        if self.cfg.uses_prior:
            cache.prior = self.item_offsets()
        cache.update_users(users, self.hist_items, self.hist_types, self.ctx.catalog.titles)
        has_click = (self.hist_types[users] == CLICK).any(axis=1)
        untrained = self.retrains + self.pretrained_retrains == 0
        cold = ~has_click if (self.cfg.finetune == "none" or untrained) else None
        excl = None
        if self.cfg.exclude_recent:
            excl = np.where(self.hist_types[users] == CLICK, self.hist_items[users], -1)
        if view.log.consume_once:  # a consumed item is never re-recommended
            watched = np.asarray(view.log.excluded(users))
            excl = watched if excl is None else np.concatenate([excl, watched], axis=1)
        slates = cache.rank(users, int(view.n_available), k, excl, self.rng, self.cfg.epsilon,
                            cold)
        self.serve_cpu_s += time.process_time() - cpu0
        self.serve_wall_s += time.perf_counter() - wall0
        self.requests += len(users)
        self.ticks += 1
        return slates

    def observe(self, feedback: Any) -> None:
        """Log the request (history as it was before it), then fold it into the histories."""
        users = np.asarray(feedback.users, np.int64)
        if len(users) == 0:
            return
        pos = np.asarray(feedback.positions, np.int64)
        slates = np.asarray(feedback.slates, np.int64)
        dwell = getattr(feedback, "dwell", None)  # absent before the dwell signal exists
        dwell = (np.full(len(users), np.nan, np.float32) if dwell is None
                 else np.asarray(dwell, np.float32))
        self.log.append(int(feedback.day), users, slates, pos, dwell, self.hist_items[users],
                        self.hist_types[users])
        clicked = pos >= 0
        ev_item = np.where(clicked, slates[np.arange(len(users)), np.maximum(pos, 0)],
                           slates[:, 0])
        n_items = len(self.item_clicks)
        self.item_impressions += np.bincount(slates.ravel(), minlength=n_items)[:n_items]
        self.item_clicks += np.bincount(ev_item[clicked], minlength=n_items)[:n_items]
        ev_type = np.where(clicked, CLICK, SKIP if self.cfg.skips_per_request else PAD)
        add = ev_type != PAD
        u = users[add]
        if len(u):
            self.hist_items[u, 1:] = self.hist_items[u, :-1]
            self.hist_types[u, 1:] = self.hist_types[u, :-1]
            self.hist_items[u, 0] = ev_item[add]
            self.hist_types[u, 0] = ev_type[add]
            if self.cache is not None:
                # The zero-shot history text holds clicked titles only: a skip leaves it as it
                # was, so only clicks make it stale (and cost a re-encoding).
                text_changes = ev_type[add] == CLICK if self.cfg.finetune == "none" else None
                self.cache.dirty[u if text_changes is None else u[text_changes]] = True

    def on_day_end(self, view: Any) -> None:
        """Retrain every ``retrain_every`` days on the last ``window_days`` of logs."""
        day = int(view.day)
        r = self.cfg.retrain_every
        if self.cfg.finetune == "none" or r == 0 or (day + 1) % r:
            return
        self.retrain(min_day=day + 1 - self.cfg.window_days)

    def retrain(self, min_day: int = 0) -> FitStats:
        """One retraining on the logged rows of days >= ``min_day``; refreshes the caches."""
        if self.cfg.finetune == "none":
            raise ValueError(f"{self.spec} is frozen (finetune='none'); it does not train")
        self.log.keep_from(min_day)
        samples = draw_samples(self.log, self.cfg, self.rng, min_day)
        if self.cfg.uses_prior:
            # the offsets as of now: each sample's own click is in its item's count (one of
            # typically hundreds of impressions; the shrinkage bounds it for rare items)
            samples.prior = self.item_offsets()[samples.items]
        cache = self._cache(0)
        n_enc = cache.n_items
        if len(samples) and int(samples.items.max()) >= n_enc:
            raise RuntimeError("logged items not yet encoded (act was never called?)")
        model, dev = self.model, self.device
        base = cache.base                                              # [n_enc, hidden]
        trains_encoder = self.cfg.finetune in ("full", "lora")

        def item_emb(ids: torch.Tensor) -> torch.Tensor:
            if not trains_encoder:
                return model.item_head(base[ids])
            uniq, inv = torch.unique(ids, return_inverse=True)
            tok, mask = cache.tokens.batch(uniq, dev)
            return model.item_head(model.encode_base(tok, mask))[inv]

        def hist_emb(ids: torch.Tensor) -> torch.Tensor:
            return model.item_head(base[ids])

        user_text = None
        if model.user_att is None:
            titles = self.ctx.catalog.titles

            def user_text(hi: torch.Tensor, ht: torch.Tensor) -> torch.Tensor:
                texts = history_texts(hi.cpu().numpy(), ht.cpu().numpy(), titles, True,
                                      self.cfg.history_titles)
                enc = self.tokenizer(texts, padding=True, truncation=True,
                                     max_length=self.cfg.history_max_length,
                                     return_tensors="pt").to(dev)
                return model.user_from_text(enc["input_ids"], enc["attention_mask"])

        cpu0, wall0 = time.process_time(), time.perf_counter()
        stats = fit(model, samples, self.cfg, item_emb=item_emb, hist_emb=hist_emb,
                    user_text=user_text, device=dev, seed=int(self.rng.integers(2**31 - 1)),
                    rng=self.rng)
        cat = self.ctx.catalog
        cache.refresh(cat.texts, cat.titles)
        self.retrains += 1
        row = stats.as_dict()
        row.update(retrain=self.retrains, min_day=min_day,
                   total_cpu_s=time.process_time() - cpu0,
                   total_wall_s=time.perf_counter() - wall0)
        self.fit_history.append(row)
        return stats

    def costs(self) -> dict[str, float]:
        """CPU seconds per 1,000 requests served and per retraining (measured in this run).

        Serving time includes the encoder passes made while serving (first encoding of the
        catalog and of arriving items, history texts of a text tower), reported apart as
        ``serve_encode_wall_s`` too."""
        fits = self.fit_history
        return {
            "requests": self.requests, "ticks": self.ticks,
            "serve_encode_wall_s": self.cache.encode_s if self.cache is not None else 0.0,
            "serve_cpu_s_per_1k_requests": 1e3 * self.serve_cpu_s / max(self.requests, 1),
            "serve_wall_s_per_tick": self.serve_wall_s / max(self.ticks, 1),
            "retrains": len(fits),
            "cpu_s_per_retrain": float(np.mean([f["total_cpu_s"] for f in fits]))
            if fits else float("nan"),
            "wall_s_per_retrain": float(np.mean([f["total_wall_s"] for f in fits]))
            if fits else float("nan")}

    # ------------------------------------------------------------------ state
    def _build(self) -> None:
        """The model skeleton (weights to be loaded), when parameters arrive before binding."""
        if self.model is None:
            self.model, self.tokenizer, self.identity = build_ranker(self.cfg, 0)
            self.model.to(self.device).eval()

    def params(self) -> dict[str, Any]:
        """Weights (torch tensors), histories and log (numpy), counters (plain values)."""
        if not self.has_params():
            raise PolicyError(f"{self.spec}: no parameters yet (bind first)")
        arrays = {"hist_items": self.hist_items.copy(), "hist_types": self.hist_types.copy(),
                  "item_impressions": self.item_impressions.copy(),
                  "item_clicks": self.item_clicks.copy()}
        arrays.update({f"log_{k}": v for k, v in self.log.state().items()})
        meta = {"spec": self.spec, "config": self.cfg.to_dict(), "identity": self.identity,
                "retrains": self.retrains, "fit_history": self.fit_history,
                "pretrained_retrains": self.pretrained_retrains, "fit_source": self.fit_source}
        return {"meta": meta, "arrays": arrays,
                "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}}

    def load_params(self, params: dict[str, Any]) -> None:
        """Load :meth:`params`; a state of another backbone or architecture is refused."""
        missing = {"meta", "arrays", "model"} - set(params)
        if missing:
            raise PolicyError(f"llm parameters lack {sorted(missing)}")
        meta = params["meta"]
        self._build()
        if meta.get("identity") != self.identity:
            raise CheckpointMismatchError(
                f"state of model {meta.get('identity')!r} cannot load into {self.identity!r}")
        self.model.load_state_dict(params["model"])
        self.model.eval()
        arrays = params["arrays"]
        self.hist_items = np.asarray(arrays["hist_items"], np.int64).copy()
        self.hist_types = np.asarray(arrays["hist_types"], np.int8).copy()
        if "item_clicks" not in arrays or "item_impressions" not in arrays:
            raise PolicyError("llm parameters lack the item click counts (item_clicks, "
                              "item_impressions): a state saved before the item prior existed")
        self.item_impressions = np.asarray(arrays["item_impressions"], np.float64).copy()
        self.item_clicks = np.asarray(arrays["item_clicks"], np.float64).copy()
        self.log = InteractionLog()
        self.log.set_state({k[4:]: v for k, v in arrays.items() if k.startswith("log_")})
        self.retrains = int(meta.get("retrains", 0))
        self.fit_history = list(meta.get("fit_history", []))
        self.pretrained_retrains = int(meta.get("pretrained_retrains", 0))
        self.fit_source = dict(meta.get("fit_source", {}))
        self.cache = None

    def save_checkpoint(self, path: str | Path) -> Path:
        """A checkpoint folder: weights, tokenizer, config (see :mod:`.checkpoint`)."""
        p = self.params()
        return save_ranker_checkpoint(path, meta=p["meta"], model_state=p["model"],
                                      arrays=p["arrays"], tokenizer=self.tokenizer)

    def load_checkpoint(self, path: str | Path) -> None:
        """Load a checkpoint of *this* model; another backbone/architecture is refused."""
        self._build()
        meta, model_state, arrays = load_ranker_checkpoint(path, self.identity)
        self.load_params({"meta": meta, "model": model_state, "arrays": arrays})

    @classmethod
    def fit_from_run(cls, results_dir: str | Path, policy: str, seed: int, spec: str = "llm",
                     *, min_day: int = 0, encoder: Any = None, **overrides: Any
                     ) -> LLMRankerPolicy:
        """A ranker fitted on another policy's saved request-level run (see
        :func:`fit_from_run`)."""
        return fit_from_run(results_dir, policy, seed, spec, min_day=min_day, encoder=encoder,
                            **overrides)

    @classmethod
    def from_checkpoint(cls, path: str | Path, **overrides: Any) -> LLMRankerPolicy:
        """A policy rebuilt from a checkpoint's own config (``overrides``: serving fields such
        as ``device``, ``quantize_int8``, ``epsilon``)."""
        meta = read_meta(path)
        cfg = LLMRankerConfig.from_dict({**meta["config"], **overrides})
        pol = cls(cfg, spec=meta.get("spec", "llm"))
        pol.load_checkpoint(path)
        return pol


def fit_from_run(results_dir: str | Path, policy: str, seed: int, spec: str = "llm", *,
                 min_day: int = 0, encoder: Any = None, **overrides: Any) -> LLMRankerPolicy:
    """A ranker trained on the request-level log of another policy's saved run.

    Reads ``results_dir/trajectories/<policy>__seed<seed>.npz`` (a run saved with ``--out`` and
    ``--log-level request``), rebuilds the run's public context (item texts and titles) from
    its manifest, replays the logged slates, clicks and dwell through :meth:`observe` in order
    (so each row's history is the one before its request, built by the ranker's own rule), and
    fits once on the rows of days >= ``min_day`` (at most ``max_train_samples`` samples; the
    target, negatives and optimiser are the config's). Only platform-view data is read.

    Args:
        spec: the ranker to build (``llm``, ``llm:7,finetune=lora``, ...); ``llm:0`` is refused.
        min_day: first logged day trained on (0 = the whole run).
        encoder: the world's text encoder (default: the one the run's config names).
        overrides: further :class:`LLMRankerConfig` fields (e.g. ``max_train_samples``).
    Returns:
        the fitted policy, bound to the run's context; ``save_checkpoint`` writes a folder that
        ``LLMRankerPolicy.from_checkpoint`` or the spec ``llm:R,init=PATH`` loads.
    Raises:
        RunLogError: the run folder is missing, damaged or not request-level.
        ValueError: a frozen spec, or a bad option.
    """
    from recsim_llm.agents.llm.runlog import load_run_log, replay_into
    from recsim_llm.platform import PolicyContext
    from recsim_llm.rng import RngStreams
    from recsim_llm.scenarios import build_world
    from recsim_llm.text import make_encoder

    if spec != "llm" and not spec.startswith("llm:"):
        raise ValueError(f"fit_from_run builds an llm ranker; got spec {spec!r}")
    arg = spec[4:] if spec.startswith("llm:") else None
    extra = ",".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}"
                     for k, v in overrides.items())
    if extra:
        arg = f"{arg},{extra}" if arg else extra
    pol = make_llm_policy(arg)
    if pol.cfg.finetune == "none":
        raise ValueError(f"{pol.spec} is frozen (finetune='none'); it cannot be trained on a run")
    log = load_run_log(results_dir, policy, seed)
    world = build_world(log.cfg, seed, encoder=encoder or make_encoder(log.cfg.encoder),
                        data_path=log.data_path)
    ctx = PolicyContext.of(world)  # the public context only: item texts, sizes, groups
    del world
    pol.bind(ctx, RngStreams(seed).fresh(f"llm_fit/{policy}"))
    pol._cache(ctx.catalog.n_items)
    n_req = replay_into(pol, log, min_day=min_day)
    rows = len(pol.log)
    pol.retrain(min_day=min_day)
    pol.fit_source = {"results_dir": str(results_dir), "policy": policy, "seed": int(seed),
                      "min_day": int(min_day), "requests": n_req, "rows": rows}
    return pol


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_llm_arg(arg: str | None) -> tuple[int | None, dict[str, Any]]:
    """``"7,finetune=head"`` -> (7, {"finetune": "head"}); ``""``/None -> (None, {})."""
    if not arg:
        return None, {}
    first, *rest = [p.strip() for p in arg.split(",")]
    pairs = rest
    r: int | None = None
    if "=" in first:
        pairs = [first, *rest]
    else:
        try:
            r = int(first)
        except ValueError:
            raise ValueError(f"llm:R needs an integer number of days R >= 0, got {first!r}"
                             ) from None
        if r < 0:
            raise ValueError(f"llm:R needs R >= 0 days, got {r}")
    kw: dict[str, Any] = {}
    for p in pairs:
        key, eq, val = p.partition("=")
        if not eq or not key:
            raise ValueError(f"llm option {p!r} is not key=value (e.g. finetune=head)")
        kw[key.strip()] = _parse_value(val.strip())
    return r, kw


ZERO_SHOT = {"user_tower": "text", "finetune": "none", "retrain_every": 0, "epsilon": 0.0,
             "history_len": 20}
"""``llm:0``: the frozen pretrained encoder, cosine between history text and item text"""


def make_llm_policy(arg: str | None = None) -> LLMRankerPolicy:
    """Build ``llm`` / ``llm:R`` / ``llm:0`` / ``llm:R,key=value,...`` (module docstring)."""
    r, kw = parse_llm_arg(arg)
    base: dict[str, Any] = dict(ZERO_SHOT) if r == 0 else {}
    if r:
        base["retrain_every"] = r
    spec = "llm" if not arg else f"llm:{arg}"
    try:
        cfg = LLMRankerConfig.from_dict({**base, **kw})
    except (TypeError, ValueError) as err:
        raise ValueError(f"bad policy {spec!r}: {err}") from None
    return LLMRankerPolicy(cfg, spec=spec)
