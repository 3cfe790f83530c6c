"""Cost of the LLM ranker on CPU: serving latency/throughput, training samples/s, CPU seconds
per 1,000 requests and per retraining, and what int8 dynamic quantisation gives up.

Every figure is measured here on the bundled all-MiniLM-L6-v2 (384 dims) over the synthetic
catalog's real item texts; nothing is extrapolated. Results go to a JSON file
(``benchmarks/results/llm.json`` by default) and are discussed in ``docs/llm_ranker.md``.

Sections:

* ``serving``: a policy bound to n in-session users (1e3, 1e4) over 1,000 items, random
  histories of 20 events; per tick every user's history has changed (the loop's real case:
  each request adds a click or a skip), so every user vector is recomputed, then all users are
  scored and ranked. Timed: ``act`` wall time per tick (p50, p99), requests/s, process CPU
  seconds per 1,000 requests. Variants: plain top-k over all items, and top-100 retrieval +
  MMR (alpha 0.7). Item encoding of the catalog (first tick) is reported apart.
* ``training``: one retraining on a synthetic log (1,000 users, 20 k requests, 30% clicks) per
  fine-tuning mode (head, lora, full): fit samples/s and CPU seconds, plus the refresh of the
  item cache afterwards (re-encoding the catalog when the encoder changed).
* ``int8``: the zero-shot ranker (``llm:0``: encoder cosine of history text and item text) in
  float32 and with int8 dynamic quantisation: cosine between the two item embeddings, top-10
  overlap and Kendall tau of the two item rankings per user, and encode time of both.

Usage::

    python benchmarks/bench_llm.py --quick            # smoke (~2 min)
    python benchmarks/bench_llm.py --out benchmarks/results/llm.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace as NS
from typing import Any

import numpy as np
import scipy.stats
import torch

from recsim_llm.agents.llm import LLMRankerConfig, LLMRankerPolicy
from recsim_llm.agents.llm.model import CLICK, SKIP
from recsim_llm.config import ScenarioConfig, override
from recsim_llm.scenarios import build_world
from recsim_llm.text import make_encoder


def catalog(n_items: int) -> Any:
    """The synthetic scenario's catalog (real item texts); hashing embeddings, unused here."""
    cfg = override(ScenarioConfig(), encoder="hashing:16", **{"catalog.n_items": n_items,
                                                              "population.n_users": 10})
    return build_world(cfg, 0, encoder=make_encoder("hashing:16")).catalog


def random_histories(pol: LLMRankerPolicy, n_items: int, rng: np.random.Generator) -> None:
    n, h = pol.hist_items.shape
    pol.hist_items[:] = rng.integers(n_items, size=(n, h))
    pol.hist_types[:] = np.where(rng.random((n, h)) < 0.4, CLICK, SKIP)


def bench_serving(cat: Any, n_users: int, ticks: int, variant: str, k: int = 10
                  ) -> dict[str, Any]:
    kw: dict[str, Any] = {"device": "cpu", "finetune": "head"}
    if variant == "mmr":
        kw.update(candidates=100, mmr_alpha=0.7)
    pol = LLMRankerPolicy(LLMRankerConfig(**kw))
    ctx = NS(n_users=n_users, slate_size=k, catalog=cat)
    pol.bind(ctx, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    random_histories(pol, cat_n(cat), rng)
    pol.retrains = 1  # serve everyone through the model (no random cold-start rows)
    view = NS(day=0, users=np.arange(n_users), n_available=cat_n(cat), slate_size=k)
    t0 = time.perf_counter()
    pol.act(view)                                   # first tick: encodes the catalog
    first = time.perf_counter() - t0
    item_encode = pol.cache.encode_s
    lat, cpu = [], []
    for _ in range(ticks):
        pol.cache.dirty[:] = True                   # every served user's history changed
        c0, w0 = time.process_time(), time.perf_counter()
        s = pol.act(view)
        lat.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    assert s.shape == (n_users, k)
    lat_a = np.array(lat)
    return {"n_users": n_users, "n_items": cat_n(cat), "variant": variant, "ticks": ticks,
            "first_tick_s": first, "item_encode_s": item_encode,
            "tick_p50_s": float(np.percentile(lat_a, 50)),
            "tick_p99_s": float(np.percentile(lat_a, 99)), "tick_mean_s": float(lat_a.mean()),
            "requests_per_s": n_users / float(lat_a.mean()),
            "cpu_s_per_1k_requests": 1e3 * float(np.sum(cpu)) / (n_users * ticks)}


def cat_n(cat: Any) -> int:
    return len(cat.texts)


def synthetic_log(pol: LLMRankerPolicy, n_items: int, n_requests: int, k: int,
                  rng: np.random.Generator) -> None:
    n_users = pol.hist_items.shape[0]
    per_day = n_requests // 7
    for day in range(7):
        users = rng.integers(n_users, size=per_day)
        slates = np.argsort(rng.random((per_day, n_items)), axis=1)[:, :k]
        pos = np.where(rng.random(per_day) < 0.3, rng.integers(k, size=per_day), -1)
        dwell = np.where(pos >= 0, rng.gamma(2.0, size=per_day), np.nan)
        pol.log.append(day, users, slates, pos, dwell, pol.hist_items[users],
                       pol.hist_types[users])


def bench_training(cat: Any, mode: str, samples: int, k: int = 10) -> dict[str, Any]:
    cfg = LLMRankerConfig(device="cpu", finetune=mode, max_train_samples=samples, epochs=1)
    pol = LLMRankerPolicy(cfg)
    n_users = 1000
    pol.bind(NS(n_users=n_users, slate_size=k, catalog=cat), np.random.default_rng(0))
    rng = np.random.default_rng(2)
    random_histories(pol, cat_n(cat), rng)
    view = NS(day=0, users=np.arange(10), n_available=cat_n(cat), slate_size=k)
    pol.act(view)                                   # item cache (not part of the retraining)
    synthetic_log(pol, cat_n(cat), 20_000, k, rng)
    c0 = time.process_time()
    stats = pol.retrain(min_day=0)
    row = pol.fit_history[-1]
    return {"finetune": mode, "samples": stats.samples, "batch_size": cfg.batch_size,
            "fit_wall_s": stats.wall_s, "fit_cpu_s": stats.cpu_s,
            "train_samples_per_s": stats.samples_per_s,
            "retrain_wall_s": row["total_wall_s"], "retrain_cpu_s": time.process_time() - c0,
            "loss_first": stats.loss_first, "loss_last": stats.loss_last}


def bench_int8(cat: Any, n_users: int, k: int = 10) -> dict[str, Any]:
    rng = np.random.default_rng(3)
    n_items = cat_n(cat)
    hist = rng.integers(n_items, size=(n_users, 5))
    out: dict[str, Any] = {"n_users": n_users, "n_items": n_items}
    scores, embs = {}, {}
    for q in (False, True):
        # A fresh embedding cache each: the float model must really encode, as the int8 one.
        from recsim_llm.text.cache import CACHE_ENV_VAR

        os.environ[CACHE_ENV_VAR] = tempfile.mkdtemp(prefix="bench_llm_int8")
        pol = LLMRankerPolicy(LLMRankerConfig(device="cpu", user_tower="text", finetune="none",
                                              retrain_every=0, epsilon=0.0, quantize_int8=q))
        pol.bind(NS(n_users=n_users, slate_size=k, catalog=cat), np.random.default_rng(0))
        pol.hist_items[:, :5] = hist
        pol.hist_types[:, :5] = CLICK
        t0 = time.perf_counter()
        pol.act(NS(day=0, users=np.arange(n_users), n_available=n_items, slate_size=k))
        tag = "int8" if q else "fp32"
        out[f"{tag}_encode_s"] = pol.cache.encode_s
        out[f"{tag}_first_tick_s"] = time.perf_counter() - t0
        scores[tag] = pol.cache.scores(np.arange(n_users), n_items)
        embs[tag] = pol.cache.E.copy()
    out["item_emb_cosine_mean"] = float((embs["fp32"] * embs["int8"]).sum(1).mean())
    out["item_emb_cosine_min"] = float((embs["fp32"] * embs["int8"]).sum(1).min())
    top_f = np.argsort(-scores["fp32"], axis=1)[:, :k]
    top_q = np.argsort(-scores["int8"], axis=1)[:, :k]
    overlap = [len(set(a) & set(b)) / k for a, b in zip(top_f.tolist(), top_q.tolist(),
                                                         strict=True)]
    out["top10_overlap_mean"] = float(np.mean(overlap))
    taus = [scipy.stats.kendalltau(a, b).statistic for a, b in
            zip(scores["fp32"][:200], scores["int8"][:200], strict=True)]
    out["kendall_tau_mean"] = float(np.mean(taus))
    # NDCG@10 of the int8 top-10 with the float model's scores as graded gains (min-max per
    # user): how much of the float ranking's quality the int8 ranking keeps.
    s = scores["fp32"]
    g = (s - s.min(1, keepdims=True)) / np.ptp(s, axis=1, keepdims=True)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    rows = np.arange(n_users)[:, None]
    out["ndcg10_int8_vs_fp32"] = float(((g[rows, top_q] * disc).sum(1)
                                        / (g[rows, top_f] * disc).sum(1)).mean())
    out["encode_speedup_int8"] = out["fp32_encode_s"] / out["int8_encode_s"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke sizes")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--sections", nargs="+", default=["serving", "training", "int8"])
    ap.add_argument("--sizes", nargs="+", type=int, default=None,
                    help="in-session users of the serving section (default 1e3 1e4)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/llm.json"))
    ap.add_argument("--ticks", type=int, default=30, help="timed ticks per serving config")
    ap.add_argument("--mmr-max-users", type=int, default=10_000,
                    help="largest user count of the MMR serving variant")
    ap.add_argument("--train-samples", type=int, nargs=3, default=[4096, 1024, 512],
                    metavar=("HEAD", "LORA", "FULL"), help="samples per retraining and mode")
    ap.add_argument("--int8-users", type=int, default=500)
    ap.add_argument("--warm-cache", action="store_true",
                    help="use the default embedding cache (else a fresh temporary one, so the "
                         "first encoding of the catalog is really measured)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not args.warm_cache:
        from recsim_llm.text.cache import CACHE_ENV_VAR

        os.environ[CACHE_ENV_VAR] = tempfile.mkdtemp(prefix="bench_llm_cache")
    from _common import machine_info  # benchmarks/ is on sys.path when run as a script

    result: dict[str, Any] = {"machine": machine_info(), "torch_threads": args.threads,
                              "quick": args.quick, "encoder": "bundled all-MiniLM-L6-v2",
                              "cuda_available": torch.cuda.is_available()}
    cat = catalog(1000)
    if "serving" in args.sections:
        sizes = args.sizes or ([1000] if args.quick else [1000, 10_000])
        ticks = 5 if args.quick else args.ticks
        result["serving"] = [bench_serving(cat, n, ticks, v) for n in sizes
                             for v in ("topk", "mmr") if v == "topk" or n <= args.mmr_max_users]
        for r in result["serving"]:
            print("serving", json.dumps(r))
    if "training" in args.sections:
        plan = {"head": 4096, "lora": 256, "full": 128} if args.quick else \
            dict(zip(("head", "lora", "full"), args.train_samples, strict=True))
        result["training"] = [bench_training(cat, m, n) for m, n in plan.items()]
        for r in result["training"]:
            print("training", json.dumps(r))
    if "int8" in args.sections:
        result["int8"] = bench_int8(cat, 100 if args.quick else args.int8_users)
        print("int8", json.dumps(result["int8"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
