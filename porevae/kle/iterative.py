"""Iterative solvers for the leading eigenpairs without an n x n matrix in memory.

* ``fft``: regular grid and stationary covariance. C is block-Toeplitz (I-fastest order), so
  ``C v`` is a circular convolution after embedding in a ``(2 nx - 1) x (2 ny - 1) x (2 nz - 1)``
  periodic grid: ``O(n log n)`` per product with real FFTs (scipy.fft, all cores).
* ``matfree``: any point set; ``C X`` by the tiled custom kernel (``ops.covariance_matvec``),
  ``O(n^2)`` per product, ``O(n k)`` memory.

Both run ARPACK's implicitly restarted Lanczos (``scipy.sparse.linalg.eigsh``) on that product,
to a relative tolerance of ``1e-12`` by default.
"""

from __future__ import annotations

import os

import numpy as np
import scipy.fft
import scipy.sparse.linalg as sla

from porevae import ops
from porevae._validation import check_memory
from porevae.grid import Grid
from porevae.kle._linalg import fix_signs


class _Lanczos:
    full_spectrum_cheap = False
    tol = 1e-12

    def _operator(self):
        raise NotImplementedError

    def eigenpairs(self, k, progress=False):
        k = min(int(k), self.n - 1)
        if k < 1:
            raise ValueError(f"solver={self.name!r} needs n_terms in [1, n_cells - 1] = "
                             f"[1, {self.n - 1}]; use solver='dense' for the whole spectrum")
        check_memory(self.memory_bytes(k), f"{k} {self.name} eigenpairs of {self.n} cells")
        ncv = min(self.n, max(2 * k + 1, k + 32))
        rng = np.random.default_rng(0)
        w, v = sla.eigsh(self._operator(), k=k, which="LA", tol=self.tol, ncv=ncv,
                         v0=rng.standard_normal(self.n))
        order = np.argsort(-w, kind="stable")
        w, v = w[order], np.ascontiguousarray(v[:, order])
        fix_signs(v)
        return w, v

    def eigenvalues(self, k=None, progress=False):
        if k is None:
            raise ValueError(f"solver={self.name!r} computes leading eigenvalues only; "
                             f"use solver='dense' or 'parity' for the whole spectrum")
        return self.eigenpairs(k)[0]

    def memory_bytes(self, k, vectors=True):
        ncv = min(self.n, max(2 * k + 1, k + 32))
        return 8 * self.n * (ncv + k) + self._extra_bytes()

    def _extra_bytes(self):
        return 0


class FFTSolver(_Lanczos):
    """Leading eigenpairs of a regular grid's covariance by FFT products (circulant embedding)."""

    name = "fft"

    def __init__(self, grid, model):
        if not isinstance(grid, Grid):
            raise TypeError("solver='fft' needs a regular Grid")
        model.length_scales(grid.ndim)
        self.grid, self.model, self.n = grid, model, grid.n_cells
        self.shape_rev = tuple(reversed(grid.shape))          # (nz, ny, nx) memory layout
        self.ext = tuple(2 * m - 1 for m in self.shape_rev)
        self._spec = None

    def _extra_bytes(self):
        return 8 * int(np.prod(self.ext)) * 3

    @property
    def spectrum(self):
        """FFT of the embedded circulant's first column (real, even)."""
        if self._spec is None:
            axes = []
            for a, (m, e) in enumerate(zip(self.shape_rev, self.ext)):
                h = self.grid.spacing[self.grid.ndim - 1 - a]
                k = np.arange(e)
                axes.append(np.where(k < m, k, e - k) * h)
            mesh = np.meshgrid(*axes, indexing="ij")
            offs = np.stack(mesh[::-1], axis=-1)  # back to (x, y, z) order of offsets
            col = self.model(offs)
            self._spec = scipy.fft.rfftn(col, workers=os.cpu_count())
        return self._spec

    def matmat(self, x):
        """``C @ x`` for x of shape (n,) or (n, k)."""
        vec = x.ndim == 1
        x2 = x[:, None] if vec else x
        k = x2.shape[1]
        d = len(self.shape_rev)
        xs = x2.T.reshape(k, *self.shape_rev)
        f = scipy.fft.rfftn(xs, s=self.ext, axes=tuple(range(1, d + 1)),
                            workers=os.cpu_count())
        f *= self.spectrum
        y = scipy.fft.irfftn(f, s=self.ext, axes=tuple(range(1, d + 1)), workers=os.cpu_count())
        y = y[(slice(None),) + tuple(slice(0, m) for m in self.shape_rev)]
        out = np.ascontiguousarray(y.reshape(k, self.n).T)
        return out[:, 0] if vec else out

    def _operator(self):
        return sla.LinearOperator((self.n, self.n), matvec=self.matmat, matmat=self.matmat,
                                  dtype=np.float64)


class MatfreeSolver(_Lanczos):
    """Leading eigenpairs for any point set; C is never stored (tiled Numba kernel)."""

    name = "matfree"

    def __init__(self, points, model):
        self.points = points.cell_centers() if isinstance(points, Grid) else np.asarray(points)
        self.model = model
        self.n = len(self.points)
        model.length_scales(self.points.shape[1])

    def _operator(self):
        def mm(x):
            return ops.covariance_matvec(self.points, self.model, np.asarray(x, np.float64))

        return sla.LinearOperator((self.n, self.n), matvec=mm, matmat=mm, dtype=np.float64)
