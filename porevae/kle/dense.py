"""Dense solver: assemble C with the custom kernel, then LAPACK (``syevr`` subset or ``syevd``;
cuSOLVER ``syevd`` on a CUDA device) or block Lanczos on C for a few leading pairs."""

from __future__ import annotations

import numpy as np

from porevae import ops
from porevae._lazy import lazy_module
from porevae.grid import Grid
from porevae.kle import _device, base
from porevae.kle._linalg import eigh_leading, eigvalsh_desc, lanczos_memory
from porevae.kle.weights import scale_symmetric, unweight

torch = lazy_module("torch")


class DenseSolver(base.Solver):
    """Exact; ``O(n^3)`` time and ``8 n^2`` bytes. The reference for every other solver.

    ``points``: a Grid (C filled from its offset table) or points (n, d). ``device``: ``None``
    (host NumPy, the Numba kernel, SciPy/MKL LAPACK) or a torch device (C filled there by
    ``ops.covariance_matrix(..., out=tensor)``, then ``torch.linalg.eigh`` or Lanczos).
    Memory: C twice (LAPACK's working copy) and the eigenvectors; or, on the Lanczos route
    (:func:`~porevae.kle._linalg.eigh_leading` ``"auto"``: ``n >= 2000``, ``4 k <= n``), C and
    the Krylov basis.

    ``weights`` (n,), normalised quadrature weights (:mod:`porevae.kle.weights`): the solver
    works on ``A = W^(1/2) C W^(1/2)`` (rows and columns of C scaled in place) and returns the
    eigenfunctions ``phi = W^(-1/2) u`` (``phi^T W phi = I``).
    """

    name = "dense"
    full_spectrum_cheap = False
    takes_weights = True

    def __init__(self, points, model, device=None, weights=None):
        self.points, self.model = points, model
        self.n = points.n_cells if isinstance(points, Grid) else len(points)
        model.length_scales(points.ndim if isinstance(points, Grid) else np.shape(points)[1])
        self.device = _device.resolve(device)
        self.weights = weights

    def memory_bytes(self, k, vectors=True):
        if vectors and self.n >= 2000 and 4 * k <= self.n:
            return 8 * self.n**2 + lanczos_memory(self.n, k)
        return 2 * 8 * self.n**2 + (8 * self.n * k if vectors else 0)

    def matrix(self):
        """C (n, n) float64 (``W^(1/2) C W^(1/2)`` with weights): NumPy on the host, a tensor
        on the device."""
        c = self._covariance()
        return c if self.weights is None else scale_symmetric(c, self.weights)

    def _covariance(self):
        base.check(self, 0, False)
        if self.device is None:
            return ops.covariance_matrix(self.points, self.model)
        if isinstance(self.points, Grid):
            out = torch.empty((self.n, self.n), dtype=torch.float64, device=self.device)
            return ops.covariance_matrix(self.points, self.model, out=out)
        pts = torch.as_tensor(np.asarray(self.points, np.float64), device=self.device)
        return ops.covariance_matrix(pts, self.model)

    def eigenvalues(self, k=None, progress=False):
        if k is None or 2 * k >= self.n or self.device is not None:
            w = eigvalsh_desc(self.matrix())
            return w if k is None else w[:k]
        import scipy.linalg

        w = scipy.linalg.eigh(self.matrix(), subset_by_index=[self.n - k, self.n - 1],
                              eigvals_only=True, driver="evr", overwrite_a=True,
                              check_finite=False)
        return w[::-1].copy()

    def eigenpairs(self, k, progress=False):
        """Leading ``k`` pairs ``(w (k,) NumPy, v (n, k) on the device)``."""
        k = min(int(k), self.n)
        base.check(self, k)
        w, v = eigh_leading(self.matrix(), k)
        return w, (v if self.weights is None else unweight(v, self.weights))
