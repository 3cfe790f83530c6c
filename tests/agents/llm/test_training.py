"""Samples, labels (click and dwell targets), deterministic CPU fits, in-batch negatives."""

from __future__ import annotations

import numpy as np
import torch

from recsim_llm.agents.llm.config import LLMRankerConfig
from recsim_llm.agents.llm.model import CLICK, build_ranker
from recsim_llm.agents.llm.training import (
    InteractionLog,
    draw_samples,
    in_batch_loss,
    labels_from_log,
)


def test_labels_click_and_dwell() -> None:
    pos = np.array([0, -1, 2, 1, 3])
    dwell = np.array([5.0, np.nan, 1.0, np.nan, 3.0])
    assert labels_from_log(pos, dwell, "click").tolist() == [1, 0, 1, 1, 1]
    y = labels_from_log(pos, dwell, "dwell")
    # percentile rank among logged dwells; a click without dwell stays a full positive
    assert np.allclose(y, [1.0, 0.0, 1 / 3, 1.0, 2 / 3])
    none = labels_from_log(pos, np.full(5, np.nan), "dwell")  # no dwell logged at all
    assert none.tolist() == [1, 0, 1, 1, 1]


def _log(rng: np.random.Generator, n: int = 50, k: int = 5) -> InteractionLog:
    log = InteractionLog()
    for day in range(3):
        slates = np.stack([rng.permutation(20)[:k] for _ in range(n)])
        pos = np.where(rng.random(n) < 0.5, rng.integers(k, size=n), -1)
        hist = rng.integers(-1, 20, size=(n, 4))
        log.append(day, np.arange(n), slates, pos, np.where(pos >= 0, 1.0, np.nan), hist,
                   np.where(hist >= 0, CLICK, 0))
    return log


def test_samples_never_take_the_clicked_slot_as_negative(tiny_cfg) -> None:
    rng = np.random.default_rng(0)
    log = _log(rng)
    cfg = tiny_cfg(neg_per_request=4, history_len=4, max_train_samples=10_000)
    s = draw_samples(log, cfg, np.random.default_rng(1))
    a = log.arrays()
    clicked_items = {(int(u), int(a["slate"][i, a["pos"][i]]), int(a["day"][i]))
                     for i, u in enumerate(a["user"]) if a["pos"][i] >= 0}
    n_req, n_click = len(a["day"]), int((a["pos"] >= 0).sum())
    assert len(s) == n_click + 4 * n_req
    assert s.labels.sum() == n_click
    # Negatives are exactly the other four slots: a clicked item never appears with label 0
    # for its own request (checked through the counts per request).
    assert (s.labels[:n_click] == 1).all() and (s.labels[n_click:] == 0).all()
    assert len(clicked_items) == n_click
    later = draw_samples(log, cfg, np.random.default_rng(1), min_day=2)
    assert len(later) < len(s)
    capped = draw_samples(log, tiny_cfg(max_train_samples=7), np.random.default_rng(1))
    assert len(capped) == 7


def test_fit_is_deterministic_on_cpu_and_lowers_the_loss(toy, tiny_cfg) -> None:
    from recsim_llm.agents.llm import LLMRankerPolicy

    def trained(seed: int) -> tuple[dict[str, torch.Tensor], list[dict[str, float]]]:
        pol = LLMRankerPolicy(tiny_cfg(finetune="full", retrain_every=2, epochs=3))
        pol.bind(toy.ctx, np.random.default_rng(seed))
        toy.run(pol, days=2, ticks=3)
        return pol.model.state_dict(), pol.fit_history

    a, fa = trained(0)
    b, fb = trained(0)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert fa[0]["loss_last"] == fb[0]["loss_last"]
    assert fa[0]["loss_last"] < fa[0]["loss_first"]


def test_in_batch_loss_masks_duplicate_items() -> None:
    model, _, _ = build_ranker(LLMRankerConfig(tiny={}), 0)
    u = torch.nn.functional.normalize(torch.randn(4, model.dim), dim=-1)
    e = torch.nn.functional.normalize(torch.randn(4, model.dim), dim=-1)
    items = torch.tensor([7, 7, 8, 9])
    labels = torch.tensor([1.0, 1.0, 1.0, 0.0])
    loss = in_batch_loss(model, u, e, items, labels)
    assert torch.isfinite(loss) and loss > 0
    # Two positives of the same item only: each one's other column is masked -> zero loss.
    only_dup = in_batch_loss(model, u[:2], e[:2], items[:2], labels[:2])
    assert float(only_dup.detach()) == 0.0
    assert float(in_batch_loss(model, u, e, items, torch.zeros(4)).detach()) == 0.0
