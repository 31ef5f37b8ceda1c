"""Quadrature weights of a KLE on cells of unequal size (Nystrom / Galerkin with weights).

Collocation at the cell centres treats every cell as the same share of the domain: on a grid
where some cells are refined, the refined region has more unknowns and dominates the spectrum.
With one quadrature weight per cell, ``w_i = |V_i| / mean(|V|)`` (bulk volume over the mean
volume, so that ``sum w = n``), the discrete eigenproblem of the covariance operator is

    C W phi = lambda phi,            W = diag(w)                      (Nystrom)

solved in its symmetric form

    A u = lambda u,   A = W^(1/2) C W^(1/2),   phi = W^(-1/2) u,      phi^T W phi = I.

A realization is ``Y = mu + sum_k sqrt(lambda_k) phi_k xi_k`` as without weights; with every term
kept its covariance is ``Phi Lambda Phi^T = W^(-1/2) A W^(-1/2) = C`` exactly, and truncated it
is the best rank-M approximation in the volume-weighted norm (the continuum L2 norm). Because
``sum w = n``, ``trace(A) = sum_i w_i C_ii = n sigma^2`` (the unweighted trace) and
``lambda_k * |D| / n`` approximates the k-th eigenvalue of the continuous operator on a domain of
volume ``|D|``, as ``lambda_k h^d`` does on a uniform grid. The coefficients of a field are
``xi_k = phi_k^T W (y - mu) / sqrt(lambda_k)`` (the W inner product).

Only the point-set solvers take weights (``takes_weights``, :mod:`porevae.kle.base`): ``dense``
scales the rows and columns of the assembled C by ``sqrt(w)``, ``matfree`` wraps its product,
``A X = s * (C (s * X))`` with ``s = sqrt(w)``.
``parity``, ``kron`` and ``fft`` rely on the equal cells of a regular grid and refuse them.
"""

from __future__ import annotations

import numpy as np

from porevae._lazy import lazy_module
from porevae.grid import Grid

torch = lazy_module("torch")


def resolve(weights, grid, normalised: bool = False) -> np.ndarray | None:
    """Normalised weights (n_cells,) float64 with ``sum = n_cells``, or None (unweighted).

    ``weights``: None; ``"volume"``: the cells' bulk volumes (``grid.volumes`` of a
    :class:`~porevae.cornerpoint.CornerPointGrid`; on a regular :class:`~porevae.grid.Grid`
    every cell has the same volume, so ``"volume"`` is the unweighted expansion and gives None);
    or an array (n_cells,) of finite positive numbers (any scale: divided by its mean).
    ``normalised=True``: an array must already have mean 1 (to 1e-9) and is kept bit for bit
    (eigenpairs that were computed with it).
    """
    if weights is None:
        return None
    if isinstance(weights, str):
        if weights != "volume":
            raise ValueError(f"weights must be None, 'volume' or an array of {grid.n_cells} "
                             f"positive numbers, got {weights!r}")
        if isinstance(grid, Grid):
            return None
        weights, normalised = grid.volumes, False
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (grid.n_cells,):
        raise ValueError(f"weights must have shape ({grid.n_cells},) (one per cell, in the "
                         f"field order), got {w.shape}")
    if not np.all(np.isfinite(w) & (w > 0)):
        raise ValueError(f"weights must be finite and > 0, got range [{w.min()}, {w.max()}]")
    if not normalised:
        return w / w.mean()
    if abs(w.mean() - 1.0) > 1e-9:
        raise ValueError(f"weights of given eigenpairs must be normalised to mean 1 "
                         f"(KLE.weights), got mean {w.mean()}")
    return w.copy()


def sqrt_like(weights: np.ndarray, like):
    """``sqrt(weights)`` (n,) as NumPy float64, or as a tensor of ``like``'s dtype and device."""
    s = np.sqrt(weights)
    if isinstance(like, torch.Tensor):
        return torch.as_tensor(s, dtype=like.dtype, device=like.device)
    return s


def scale_symmetric(a, weights: np.ndarray):
    """``a <- W^(1/2) a W^(1/2)`` in place for a symmetric (n, n) NumPy array or tensor."""
    s = sqrt_like(weights, a)
    a *= s[:, None]
    a *= s[None, :]
    return a


def unweight(v, weights: np.ndarray):
    """Eigenvectors ``u`` (n, k) of ``A`` -> eigenfunctions ``phi = W^(-1/2) u``, in place."""
    v /= sqrt_like(weights, v)[:, None]
    return v


__all__ = ["resolve", "scale_symmetric", "sqrt_like", "unweight"]
