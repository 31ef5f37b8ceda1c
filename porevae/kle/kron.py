"""Kronecker solver for separable covariances on regular grids.

When ``C(h) = sigma^2 prod_a rho(|h_a| / l_a)`` (squared exponential with the Euclidean metric,
exponential with the L1 metric), the grid covariance is ``C = sigma^2 C_z (x) C_y (x) C_x`` in
I-fastest order. Its eigenpairs are products of the 1-D ones: ``lambda = sigma^2 a_i b_j c_k``,
``phi = w_k (x) v_j (x) u_i``. Cost: three 1-D eigen-solves and a sort of ``n`` products.
"""

from __future__ import annotations

import numpy as np

from porevae._validation import check_memory
from porevae.kle._linalg import fix_signs


class KronSolver:
    name = "kron"
    full_spectrum_cheap = True

    def __init__(self, grid, model):
        if not model.separable:
            raise ValueError(f"solver='kron' needs a separable covariance (squared exponential "
                             f"with metric='euclidean', exponential with metric='l1'), got "
                             f"{model!r}")
        self.grid, self.model = grid, model
        self.n = grid.n_cells
        ls = model.length_scales(grid.ndim)
        self.factors = []
        for a in range(grid.ndim):
            h = np.arange(grid.shape[a]) * grid.spacing[a]
            c1 = model.correlation(np.abs(h[:, None] - h[None, :]) / ls[a])
            w, v = np.linalg.eigh(c1)
            w, v = w[::-1].copy(), np.ascontiguousarray(v[:, ::-1])
            fix_signs(v)
            self.factors.append((np.clip(w, 0.0, None), v))

    def memory_bytes(self, k, vectors=True):
        return 16 * self.n + (8 * self.n * k if vectors else 0)

    def _products(self):
        w = self.model.variance * np.ones(1)
        for wa, _ in reversed(self.factors):  # last axis slowest: index = i + nx (j + ny k)
            w = np.multiply.outer(w, wa).ravel()
        return w

    def eigenvalues(self, k=None, progress=False):
        w = np.sort(self._products())[::-1]
        return w if k is None else w[:k]

    def eigenpairs(self, k, progress=False):
        k = min(int(k), self.n)
        check_memory(self.memory_bytes(k), f"{k} Kronecker eigenvectors of {self.n} cells")
        w = self._products()
        order = np.argsort(-w, kind="stable")[:k]
        idx = np.unravel_index(order, tuple(len(f[0]) for f in self.factors), order="F")
        v = np.ones((1, k))
        for a in reversed(range(self.grid.ndim)):
            va = self.factors[a][1][:, idx[a]]            # (n_a, k)
            v = (v[:, None, :] * va[None, :, :]).reshape(-1, k)  # slower axes outer
        # v rows are now ordered with axis 0 fastest
        return w[order], np.ascontiguousarray(v)
