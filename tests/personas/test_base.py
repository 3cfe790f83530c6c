"""Personas: validation of likes, interests and hook susceptibility; interests to vectors."""

from __future__ import annotations

import numpy as np
import pytest

from recsim_llm.catalog.synthetic import generate_catalog
from recsim_llm.config import CatalogConfig, ScenarioConfig
from recsim_llm.personas import Personas
from recsim_llm.scenarios import embed_world
from recsim_llm.text import make_encoder


def _personas(**kw) -> Personas:
    base = {"user_ids": np.array(["a", "b"]), "likes": ["jazz", "history"],
            "dislikes": ["", "horror"]}
    return Personas(**{**base, **kw})


def test_persona_with_no_likes_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"persona 'b' \(row 1\) likes nothing"):
        _personas(likes=["jazz", "  "])
    with pytest.raises(ValueError, match=r"persona 'a' \(row 0\) likes nothing"):
        _personas(interests=[[], ["history"]])
    with pytest.raises(ValueError, match="one list per user"):
        _personas(interests=[["jazz"]])
    with pytest.raises(ValueError, match="hook must be 2 finite values >= 0"):
        _personas(hook=np.array([1.0, -0.5]))


def test_interests_are_encoded_separately_and_padded() -> None:
    p = _personas(interests=[["jazz piano", "the history of Rome"], ["medieval history"]],
                  hook=np.array([0.5, 2.0]))
    cat = generate_catalog(CatalogConfig(n_items=20), np.random.default_rng(0))
    cfg = ScenarioConfig(encoder="hashing:32", center_embeddings=False,
                         catalog=CatalogConfig(n_items=20))
    enc = make_encoder("hashing:32")
    w = embed_world(cfg, cat, p, enc)
    assert w.interest0.shape == (2, 2, 32) and w.n_interests == 2
    np.testing.assert_allclose(w.interest0[0], enc.encode(["jazz piano", "the history of Rome"]),
                               atol=1e-6)
    np.testing.assert_array_equal(w.interest0[1, 1], w.interest0[1, 0])  # padding = slot 0
    assert w.interest_logw is not None and w.hook is not None
    np.testing.assert_allclose(w.interest_logw[0], -np.log(2))
    assert w.interest_logw[1, 0] == 0.0 and w.interest_logw[1, 1] == -np.inf
    np.testing.assert_allclose(w.hook, [0.5, 2.0])
    # without interests, the likes text is the one interest
    w1 = embed_world(cfg, cat, _personas(), enc)
    assert w1.interest0.shape == (2, 1, 32)
