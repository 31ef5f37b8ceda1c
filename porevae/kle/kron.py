"""Kronecker solver for separable covariances on regular grids.

When ``C(h) = sigma^2 prod_a rho(|h_a| / l_a)`` (squared exponential with the Euclidean metric,
exponential with the L1 metric), the grid covariance is ``C = sigma^2 C_z (x) C_y (x) C_x`` in
I-fastest order. Its eigenpairs are products of the 1-D ones: ``lambda = sigma^2 a_i b_j c_k``,
``phi = w_k (x) v_j (x) u_i``. Cost: three 1-D eigen-solves (host), a sort of the ``n`` products
(host, ``16 n`` bytes) and the ``k`` product vectors (on the device).
"""

from __future__ import annotations

import numpy as np

from porevae.kle import _device, base
from porevae.kle._linalg import fix_signs


class KronSolver(base.Solver):
    """Exact eigenpairs of a separable covariance on a regular grid (module docstring)."""

    name = "kron"
    full_spectrum_cheap = True
    grid_only = True
    separable_only = True

    def __init__(self, grid, model, device=None):
        reason = self.applies(grid, model)
        if reason:
            raise ValueError(reason)
        self.grid, self.model = grid, model
        self.n = grid.n_cells
        self.device = _device.resolve(device)
        model.length_scales(grid.ndim)
        self._factors = None

    @property
    def factors(self):
        """Per axis ``(w (n_a,), v (n_a, n_a))``: the 1-D correlation eigenpairs, descending."""
        if self._factors is not None:
            return self._factors
        ls = self.model.length_scales(self.grid.ndim)
        grid, model = self.grid, self.model
        self._factors = []
        for a in range(grid.ndim):
            h = np.arange(grid.shape[a]) * grid.spacing[a]
            c1 = model.correlation(np.abs(h[:, None] - h[None, :]) / ls[a])
            w, v = np.linalg.eigh(c1)
            w, v = w[::-1].copy(), np.ascontiguousarray(v[:, ::-1])
            fix_signs(v)
            self._factors.append((np.clip(w, 0.0, None), v))
        return self._factors

    def memory_bytes(self, k, vectors=True):
        """The 1-D eigen-solves, the ``n`` products and their sort order (host), and the vectors
        (twice: the product being formed)."""
        return 3 * 8 * max(self.grid.shape) ** 2 + 16 * self.n + \
            (16 * self.n * k if vectors else 0)

    def _products(self):
        w = self.model.variance * np.ones(1)
        for wa, _ in reversed(self.factors):  # last axis slowest: index = i + nx (j + ny k)
            w = np.multiply.outer(w, wa).ravel()
        return w

    def eigenvalues(self, k=None, progress=False):
        base.check(self, 0, False)
        w = np.sort(self._products())[::-1]
        return w if k is None else w[:k]

    def eigenpairs(self, k, progress=False):
        """Leading ``k`` pairs ``(w (k,) NumPy, v (n, k) on the device)``."""
        k = min(int(k), self.n)
        base.check(self, k)
        w = self._products()
        order = np.argsort(-w, kind="stable")[:k]
        idx = np.unravel_index(order, tuple(len(f[0]) for f in self.factors), order="F")
        v = _device.asarray(np.ones((1, k)), self.device)
        for a in reversed(range(self.grid.ndim)):
            va = _device.asarray(self.factors[a][1][:, idx[a]], self.device)  # (n_a, k)
            v = (v[:, None, :] * va[None, :, :]).reshape(-1, k)  # slower axes outer
        # v rows are now ordered with axis 0 fastest
        fix_signs(v)
        return w[order], v
