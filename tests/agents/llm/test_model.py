"""Towers and devices: deterministic init, empty / skip-only histories, empty item text, LoRA."""

from __future__ import annotations

import pytest
import torch

from recsim_llm.agents.llm.config import LLMRankerConfig
from recsim_llm.agents.llm.model import (
    CLICK,
    PAD,
    SKIP,
    backbone_identity,
    build_ranker,
    resolve_device,
)
from recsim_llm.agents.llm.serving import encode_texts, item_texts
from recsim_llm.config import ConfigError


def test_device_auto_and_missing_cuda() -> None:
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")
        from recsim_llm.agents.llm import LLMRankerPolicy

        with pytest.raises(ValueError, match="no CUDA device"):
            LLMRankerPolicy(LLMRankerConfig(tiny={}, device="cuda:0"))
    with pytest.raises(ConfigError, match=r"llm\.device"):
        LLMRankerConfig(device="tpu")


def test_bad_config_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"llm\.finetune"):
        LLMRankerConfig(finetune="partial")
    with pytest.raises(ConfigError, match=r"llm\.mmr_alpha"):
        LLMRankerConfig(mmr_alpha=1.5)
    with pytest.raises(ConfigError, match="unknown llm config keys"):
        LLMRankerConfig.from_dict({"lrate": 1})


def test_init_is_deterministic_and_leaves_global_rng_alone() -> None:
    cfg = LLMRankerConfig(tiny={}, finetune="full")
    before = torch.random.get_rng_state()
    a, _, ida = build_ranker(cfg, 3)
    b, _, idb = build_ranker(cfg, 3)
    c, _, _ = build_ranker(cfg, 4)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert ida == idb
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)


def test_identity_tells_models_apart() -> None:
    ids = {backbone_identity(LLMRankerConfig(tiny={})),
           backbone_identity(LLMRankerConfig(tiny={"hidden_size": 16})),
           backbone_identity(LLMRankerConfig(tiny={}, finetune="full")),
           backbone_identity(LLMRankerConfig(tiny={}, user_tower="text"))}
    assert len(ids) == 4


def test_empty_and_skip_only_histories_give_finite_scores() -> None:
    model, _, _ = build_ranker(LLMRankerConfig(tiny={}, finetune="head"), 0)
    d = model.dim
    emb = torch.nn.functional.normalize(torch.randn(3, 4, d), dim=-1)
    types = torch.tensor([[PAD] * 4, [SKIP, SKIP, PAD, PAD], [CLICK, SKIP, CLICK, PAD]])
    u = model.user_from_history(emb, types)
    assert u.shape == (3, d) and torch.isfinite(u).all()
    # Empty history: the learned empty token only (zero at init); skips are gated off at init.
    assert torch.allclose(u[0], torch.zeros(d)) and torch.allclose(u[1], torch.zeros(d))
    expected = torch.nn.functional.normalize(emb[2, 0] + emb[2, 2], dim=0)
    assert torch.allclose(u[2], expected, atol=1e-5)  # init = unit mean of the clicked items
    s = model.score_pairs(u, emb[:, 0])
    assert torch.isfinite(s).all()


def test_items_with_empty_text_are_encoded() -> None:
    model, tok, _ = build_ranker(LLMRankerConfig(tiny={}), 0)
    texts = item_texts(["", "  ", "a jazz show"], ["Only a title", "", "x"])
    assert texts == ["Only a title", "", "a jazz show"]
    base = encode_texts(model, model.encoder, tok, texts, 16, 8, torch.device("cpu"))
    e = model.item_head(base)
    assert e.shape == (3, model.dim) and torch.isfinite(e).all()
    assert torch.allclose(e.norm(dim=1), torch.ones(3), atol=1e-5)


def test_lora_trains_adapters_only() -> None:
    model, _, _ = build_ranker(LLMRankerConfig(tiny={}, finetune="lora", lora_r=2), 0)
    names = [n for n, p in model.encoder.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    full, _, _ = build_ranker(LLMRankerConfig(tiny={}, finetune="full"), 0)
    assert all(p.requires_grad for p in full.encoder.parameters())
    head, _, _ = build_ranker(LLMRankerConfig(tiny={}, finetune="head"), 0)
    assert not any(p.requires_grad for p in head.encoder.parameters())
    assert head.head_parameters()
