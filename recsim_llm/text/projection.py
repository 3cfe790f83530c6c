"""PCA down-projection of text embeddings (e.g. 384-d MiniLM -> a small latent space).

Fit once on a reference matrix (typically the catalog's item embeddings) and apply the same map
to items and user personas, so both live in one low-dimensional space where cosine similarity
still means something.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recsim_llm.text.base import FloatArray

Float64Array = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class PCAProjection:
    """A fitted PCA map ``x -> normalize((x - mean) @ components.T)``.

    Build it with :meth:`fit`.

    Attributes:
        mean: float64 [d], the column means of the fitting matrix.
        components: float64 [dim, d], orthonormal principal axes, strongest first. Each row's
            largest-magnitude entry is positive, so the fit is reproducible across LAPACK builds
            (SVD alone fixes axes only up to sign).
        explained_variance_ratio: float64 [dim], share of the total variance per component
            (zeros if the fitting matrix has no variance).
    """

    mean: Float64Array
    components: Float64Array
    explained_variance_ratio: Float64Array

    @property
    def dim(self) -> int:
        """Output width."""
        return int(self.components.shape[0])

    @property
    def input_dim(self) -> int:
        """Input width ``d``."""
        return int(self.components.shape[1])

    @classmethod
    def fit(cls, x: npt.ArrayLike, dim: int) -> PCAProjection:
        """Fit on the rows of ``x``.

        Args:
            x: Array of shape [n, d] (finite values).
            dim: Number of components, 1 <= dim <= min(n, d).

        Returns:
            The fitted projection.

        Raises:
            ValueError: If ``x`` is not a finite 2-D array or ``dim`` is out of range.
        """
        a = np.asarray(x, dtype=np.float64)
        if a.ndim != 2:
            raise ValueError(f"x must be a 2-D array [n, d], got shape {a.shape}")
        n, d = a.shape
        if int(dim) != dim or not 1 <= dim <= min(n, d):
            raise ValueError(
                f"dim must be an integer in [1, min(n, d)] = [1, {min(n, d)}] for x of shape "
                f"{a.shape}, got {dim!r}"
            )
        dim = int(dim)
        if not np.isfinite(a).all():
            raise ValueError("x contains NaN or infinite values")
        mean = a.mean(axis=0)
        centred = a - mean
        # Thin SVD: centred = U S Vt; the rows of Vt are the principal axes.
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        components = vt[:dim].copy()
        # Deterministic sign: make the largest-|loading| entry of each component positive.
        pivot = np.argmax(np.abs(components), axis=1)
        signs = np.sign(components[np.arange(dim), pivot])
        signs[signs == 0] = 1.0
        components *= signs[:, None]
        var = s**2
        total = var.sum()
        ratio = var[:dim] / total if total > 0 else np.zeros(dim)
        return cls(mean=mean, components=components, explained_variance_ratio=ratio)

    def transform(self, x: npt.ArrayLike) -> FloatArray:
        """Project and L2-renormalise rows.

        Args:
            x: Array of shape [m, d] (or a single vector [d], treated as [1, d]).

        Returns:
            float32 [m, dim] with unit-norm rows. A row that coincides with ``mean`` projects to
            zero and has no direction; it is mapped to the first basis vector so the output stays
            unit-norm (and never NaN).

        Raises:
            ValueError: If the input width is not ``d``.
        """
        a = np.asarray(x, dtype=np.float64)
        if a.ndim == 1:
            a = a[None, :]
        if a.ndim != 2 or a.shape[1] != self.input_dim:
            raise ValueError(f"x must have shape [m, {self.input_dim}], got {np.shape(x)}")
        z = (a - self.mean) @ self.components.T  # [m, dim]
        norms = np.linalg.norm(z, axis=1)
        degenerate = norms <= 1e-12
        z[~degenerate] /= norms[~degenerate, None]
        z[degenerate] = 0.0
        z[degenerate, 0] = 1.0
        return z.astype(np.float32)

    def __repr__(self) -> str:
        kept = float(self.explained_variance_ratio.sum())
        return f"PCAProjection({self.input_dim} -> {self.dim}, variance kept {kept:.3f})"
