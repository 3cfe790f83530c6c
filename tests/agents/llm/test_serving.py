"""Serving: cold-start items at once, users re-encoded only when their history changes,
retrieval and MMR, int8 quantisation."""

from __future__ import annotations

import numpy as np
import pytest

from recsim_llm.agents.base import mmr_select
from recsim_llm.agents.llm import LLMRankerPolicy


def _valid(slates: np.ndarray, n_available: int) -> bool:
    srt = np.sort(slates, axis=1)
    return bool((slates >= 0).all() and (slates < n_available).all()
                and (srt[:, 1:] != srt[:, :-1]).all())


def test_cold_start_items_are_scorable_at_once(toy, tiny_cfg) -> None:
    pol = LLMRankerPolicy(tiny_cfg(epsilon=0.0))
    pol.bind(toy.ctx, np.random.default_rng(0))
    s = pol.act(toy.view(0, n_available=20))
    assert _valid(s, 20) and pol.cache.n_items == 20
    s = pol.act(toy.view(1, n_available=toy.n_items))  # 20 items arrive, text only
    assert _valid(s, toy.n_items) and pol.cache.n_items == toy.n_items
    scores = pol.cache.scores(np.arange(3), toy.n_items)
    assert scores.shape == (3, toy.n_items) and np.isfinite(scores).all()


def test_user_vectors_recomputed_only_when_history_changes(toy, tiny_cfg) -> None:
    pol = LLMRankerPolicy(tiny_cfg(epsilon=0.0, user_tower="text"))
    pol.bind(toy.ctx, np.random.default_rng(0))
    users = np.arange(toy.n_users)
    slates = pol.act(toy.view(0))
    assert not pol.cache.dirty[users].any()
    calls = []
    orig = pol.cache.update_users

    def spy(u, *a, **kw):
        calls.append(int(pol.cache.dirty[u].sum()))
        return orig(u, *a, **kw)

    pol.cache.update_users = spy
    pol.act(toy.view(0))
    assert calls[-1] == 0  # nothing changed: nobody re-encoded
    fb = toy.feedback(0, users, slates, np.random.default_rng(0))
    fb.positions[:] = -1
    fb.positions[:5] = 0
    pol.cfg = pol.cfg.replace(skips_per_request=0)  # only the 5 clicks change histories
    pol.observe(fb)
    assert pol.cache.dirty.sum() == 5
    pol.act(toy.view(0))
    assert calls[-1] == 5 and not pol.cache.dirty.any()


@pytest.mark.parametrize("kw", [{"candidates": 12}, {"mmr_alpha": 0.3},
                                {"score": "mlp", "candidates": 10}, {"epsilon": 0.5}])
def test_retrieval_mmr_mlp_exploration_give_valid_slates(toy, tiny_cfg, kw) -> None:
    pol = LLMRankerPolicy(tiny_cfg(exclude_recent=True, **kw))
    pol.bind(toy.ctx, np.random.default_rng(0))
    toy.run(pol, days=1, ticks=2)
    s = pol.act(toy.view(1))
    assert s.shape == (toy.n_users, toy.k) and _valid(s, toy.n_items)
    # with exclude_recent, remembered clicks are not re-recommended
    clicks = np.where(pol.hist_types == 1, pol.hist_items, -1)
    assert not (s[:, :, None] == clicks[:, None, :]).any()


def test_mmr_alpha_trades_relevance_for_diversity() -> None:
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((30, 8)).astype(np.float32)
    emb[:10] = emb[0] + 0.05 * emb[:10]          # ten near-duplicates with top relevance
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    rel = np.linspace(1.0, 0.0, 30)[None, :].repeat(4, axis=0)
    cand = np.arange(30)[None, :].repeat(4, axis=0)
    greedy = mmr_select(rel, cand, emb, 5, 1.0)
    assert (greedy == np.arange(5)).all()
    diverse = mmr_select(rel, cand, emb, 5, 0.3)

    def ild(s: np.ndarray) -> float:
        e = emb[s[0]]
        return float((e @ e.T)[np.triu_indices(5, 1)].mean())

    assert ild(diverse) < ild(greedy)


def test_int8_serving_stays_close_to_float(toy, tiny_cfg) -> None:
    f32 = LLMRankerPolicy(tiny_cfg(user_tower="text", finetune="none", epsilon=0.0))
    q8 = LLMRankerPolicy(tiny_cfg(user_tower="text", finetune="none", epsilon=0.0,
                                  quantize_int8=True))
    for p in (f32, q8):
        p.bind(toy.ctx, np.random.default_rng(0))
        p.act(toy.view(0))
    a, b = f32.cache.E, q8.cache.E
    assert not np.array_equal(a, b)  # int8 really served
    cos = (a * b).sum(1)
    assert cos.min() > 0.95


def test_serving_fast_path_equals_the_tower(toy, tiny_cfg) -> None:
    """Per-item key/value terms at serving give the same user vectors as the training path."""
    import torch

    pol = LLMRankerPolicy(tiny_cfg(finetune="full", retrain_every=2))
    pol.bind(toy.ctx, np.random.default_rng(0))
    toy.run(pol, days=2, ticks=3)                 # trained once: non-trivial key/value maps
    users = np.arange(toy.n_users)
    pol.cache.dirty[:] = True
    pol.cache.update_users(users, pol.hist_items, pol.hist_types, toy.catalog.titles)
    with torch.inference_mode():
        e = torch.as_tensor(pol.cache.E)[torch.as_tensor(np.clip(pol.hist_items, 0, None))]
        ref = pol.model.user_from_history(e, torch.as_tensor(pol.hist_types)).numpy()
    assert np.allclose(pol.cache.U, ref, atol=1e-5)


def test_history_text_newest_first_and_capped() -> None:
    """The text tower's history: clicked then skipped titles, newest first; ``max_titles``
    keeps the newest N of each (the ``history_titles`` cost knob)."""
    from recsim_llm.agents.llm.model import CLICK, PAD, SKIP
    from recsim_llm.agents.llm.serving import history_texts

    titles = ["A", "B", "C", "D", "E"]
    hi = np.array([[4, 3, 2, 1, 0], [-1, -1, -1, -1, -1]])
    ht = np.array([[CLICK, SKIP, CLICK, CLICK, SKIP], [PAD] * 5])
    assert history_texts(hi, ht, titles, True) == ["Clicked: E; C; B. Skipped: D; A.", ""]
    assert history_texts(hi, ht, titles, False, max_titles=2) == ["Clicked: E; C.", ""]
    assert history_texts(hi, ht, titles, True, max_titles=1) == ["Clicked: E. Skipped: D.", ""]


def test_history_titles_option_is_validated(tiny_cfg) -> None:
    from recsim_llm.config import ConfigError

    with pytest.raises(ConfigError, match="history_titles"):
        tiny_cfg(history_titles=-1)
    assert tiny_cfg(history_titles=5).history_titles == 5


def test_default_ranker_may_serve_a_remembered_click_again(toy, tiny_cfg) -> None:
    # The simulated users re-consume what they like (boredom lowers, not forbids), so by
    # default the ranker filters nothing: an item a user clicked may be served again.
    pol = LLMRankerPolicy(tiny_cfg(epsilon=0.0))
    assert not pol.cfg.exclude_recent
    pol.bind(toy.ctx, np.random.default_rng(0))
    toy.run(pol, days=1, ticks=2)
    s = pol.act(toy.view(1))
    clicks = np.where(pol.hist_types == 1, pol.hist_items, -1)
    assert (clicks >= 0).any()
    assert (s[:, :, None] == clicks[:, None, :]).any()
