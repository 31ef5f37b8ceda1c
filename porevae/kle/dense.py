"""Dense solver: assemble C with the custom kernel, then LAPACK (``syevr`` subset or ``syevd``)."""

from __future__ import annotations

import scipy.linalg

from porevae import ops
from porevae._validation import check_memory
from porevae.grid import Grid
from porevae.kle._linalg import eigh_leading, eigvalsh_desc


class DenseSolver:
    """Exact; ``O(n^3)`` time and ``8 n^2`` bytes. The reference for every other solver."""

    name = "dense"
    full_spectrum_cheap = False

    def __init__(self, points, model):
        self.points, self.model = points, model
        self.n = points.n_cells if isinstance(points, Grid) else len(points)
        model.length_scales(points.ndim if isinstance(points, Grid) else points.shape[1])

    def memory_bytes(self, k, vectors=True):
        # the matrix, LAPACK's working copy, and the eigenvectors
        return 2 * 8 * self.n**2 + (8 * self.n * k if vectors else 0)

    def matrix(self):
        check_memory(self.memory_bytes(0, False), f"the dense solve of {self.n} cells")
        return ops.covariance_matrix(self.points, self.model)

    def eigenvalues(self, k=None, progress=False):
        c = self.matrix()
        if k is None or 2 * k >= self.n:
            w = eigvalsh_desc(c)
            return w if k is None else w[:k]
        w = scipy.linalg.eigh(c, subset_by_index=[self.n - k, self.n - 1], eigvals_only=True,
                              driver="evr", overwrite_a=True, check_finite=False)
        return w[::-1].copy()

    def eigenpairs(self, k, progress=False):
        check_memory(self.memory_bytes(k), f"{k} dense eigenpairs of {self.n} cells")
        return eigh_leading(self.matrix(), k, method="lapack")
