"""The ``matfree`` solver: leading eigenpairs for any point set without an n x n matrix.

Block Lanczos (:func:`porevae.kle._linalg.lanczos_eigsh`, GEMM-bound, thick restart, residuals
``<= tol * theta_1``, ``tol = 1e-12``) on the product ``C X`` by the tiled custom kernel
(``ops.covariance_matvec``): ``O(n^2)`` per product, ``O(n k)`` memory.
"""

from __future__ import annotations

import numpy as np

from porevae import ops
from porevae._lazy import lazy_module
from porevae.grid import Grid
from porevae.kle import _device, base
from porevae.kle._linalg import fix_signs, lanczos_eigsh, lanczos_memory
from porevae.kle.weights import sqrt_like, unweight

torch = lazy_module("torch")


class MatfreeSolver(base.Solver):
    """Leading eigenpairs for any point set (or a Grid's cell centres); C is never stored:
    block Lanczos on ``ops.covariance_matvec`` (the tiled kernel of the tensor's device).
    Memory: the Krylov basis, ``O(n k)``; time ``O(n^2)`` per product column.

    ``weights`` (n,), normalised quadrature weights (:mod:`porevae.kle.weights`): the product
    is ``A X = s * (C (s * X))``, ``s = sqrt(w)``, and the eigenfunctions
    ``phi = W^(-1/2) u`` come back (``phi^T W phi = I``)."""

    name = "matfree"
    full_spectrum_cheap = False
    takes_weights = True
    tol = 1e-12

    def __init__(self, points, model, device=None, weights=None):
        self.points = points if isinstance(points, Grid) else np.asarray(points)
        self.model = model
        self.n = points.n_cells if isinstance(points, Grid) else len(self.points)
        self.ndim = points.ndim if isinstance(points, Grid) else self.points.shape[1]
        model.length_scales(self.ndim)
        self.device = _device.resolve(device)
        self.weights = weights

    def memory_bytes(self, k: int, vectors: bool = True) -> int:
        """The Krylov basis, the point coordinates, and (``vectors``) the eigenvectors."""
        k = min(int(k), self.n)
        return lanczos_memory(self.n, k) + 2 * 8 * self.ndim * self.n + \
            (8 * self.n * k if vectors else 0)

    def matmat(self, x):
        """``C x`` (``A x`` with weights) for a tensor ``x`` (n, p)."""
        s = None if self.weights is None else sqrt_like(self.weights, x)[:, None]
        if s is not None:
            x = x * s
        if self.device is None:
            y = torch.from_numpy(ops.covariance_matvec(self.points, self.model, x.numpy()))
        else:
            y = ops.covariance_matvec(self.points, self.model, x.contiguous())
        return y if s is None else y * s

    def eigenvalues(self, k=None, progress=False):
        if k is None:
            raise ValueError(f"solver={self.name!r} computes leading eigenvalues only; "
                             f"use solver='dense' or 'parity' for the whole spectrum")
        return self.eigenpairs(k, progress, vectors=False)[0]

    def eigenpairs(self, k, progress=False, vectors=True):
        k = int(k)
        if not 1 <= k <= self.n:
            raise ValueError(f"solver={self.name!r} needs k in [1, n_cells={self.n}], got {k}")
        base.check(self, k, vectors)
        w, v = lanczos_eigsh(self.matmat, self.n, k, device=self.device or "cpu", tol=self.tol)
        v = v.contiguous()
        fix_signs(v)
        if self.weights is not None:
            unweight(v, self.weights)
        return w.cpu().numpy(), (v.numpy() if self.device is None else v)
