"""Tests of the PCA down-projection."""

from __future__ import annotations

import numpy as np
import pytest

from recsim_llm.text import PCAProjection


def _data(n: int = 50, d: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Anisotropic so the components are well separated.
    return rng.standard_normal((n, d)) * np.linspace(3.0, 0.1, d) + 1.5


def test_shapes_and_unit_norm() -> None:
    x = _data()
    pca = PCAProjection.fit(x, 4)
    assert pca.mean.shape == (12,)
    assert pca.components.shape == (4, 12)
    assert pca.explained_variance_ratio.shape == (4,)
    assert pca.dim == 4 and pca.input_dim == 12
    z = pca.transform(x[:7])
    assert z.shape == (7, 4)
    assert z.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(4), atol=1e-10)
    ratio = pca.explained_variance_ratio
    assert np.all(np.diff(ratio) <= 1e-12) and 0 < ratio.sum() <= 1 + 1e-12


def test_sign_convention() -> None:
    pca = PCAProjection.fit(_data(), 5)
    c = pca.components
    assert np.all(c[np.arange(5), np.argmax(np.abs(c), axis=1)] > 0)


def test_deterministic() -> None:
    x = _data()
    a, b = PCAProjection.fit(x, 3), PCAProjection.fit(x.copy(), 3)
    np.testing.assert_array_equal(a.components, b.components)
    np.testing.assert_array_equal(a.transform(x), b.transform(x))


def test_full_rank_keeps_all_variance() -> None:
    x = _data(n=8, d=5)
    pca = PCAProjection.fit(x, 5)
    assert pca.explained_variance_ratio.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("dim", [0, 13, 51])
def test_dim_out_of_range(dim: int) -> None:
    with pytest.raises(ValueError, match="dim"):
        PCAProjection.fit(_data(n=50, d=12), dim)


def test_bad_inputs() -> None:
    pca = PCAProjection.fit(_data(), 2)
    with pytest.raises(ValueError):
        pca.transform(np.ones((3, 11)))
    with pytest.raises(ValueError):
        PCAProjection.fit(np.ones(5), 1)


def test_row_at_mean_stays_finite() -> None:
    x = _data()
    pca = PCAProjection.fit(x, 3)
    z = pca.transform(pca.mean[None, :])
    assert np.all(np.isfinite(z))
    assert np.linalg.norm(z[0]) == pytest.approx(1.0)
