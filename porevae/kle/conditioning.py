"""Exact Gaussian conditioning of a truncated KLE on point data (wells).

The truncated prior is ``y = mu + B xi``, ``xi ~ N(0, I_M)``, ``B = Phi Lambda^(1/2)`` (n_cells, M).
Data ``d_j`` (j = 1..m) observe the field in the cells ``c_j`` that hold the data locations, with
independent Gaussian errors of standard deviation ``noise``: ``d = mu + H xi + e``,
``H = B[c, :]`` (m, M), ``e ~ N(0, noise^2 I)``. The posterior of ``xi`` is Gaussian (exact, no
approximation beyond the truncation of the prior):

    K = H H^T + noise^2 I                      (m, m)
    xi_hat = H^T K^-1 (d - mu)                 posterior mean
    Sigma  = I - H^T K^-1 H                    posterior covariance, a rank-m update of I

With the thin SVD ``H = V diag(s) U^T``: ``xi_hat = U diag(s / (s^2 + noise^2)) V^T (d - mu)`` and
``Sigma^(1/2) = I - U diag(1 - noise / sqrt(s^2 + noise^2)) U^T`` (exact: no square root of a
difference that rounding could spoil), so a conditional realization is
``xi = xi_hat + Sigma^(1/2) z`` with ``z`` the realization's unconditional coefficients
(:meth:`porevae.KLE.coefficients`): realization ``i`` of seed ``s`` is the same whether drawn
alone or in a batch, as for the prior. At noise-free data the shrink is 1 in the data directions
and the realizations honour the data exactly (zero spread). The conditional mean
field ``mu + B xi_hat`` is simple kriging with the truncated covariance ``B B^T`` (with every term
kept: the field's own covariance).

Cost: ``O(m M (m + n_cells))`` once (K, its Cholesky factor, the SVD of W and the mean field);
per realization ``O(M m)`` on top of the prior's ``O(n_cells M)``. Memory: ``O(M m)``.
"""

from __future__ import annotations

import math

import numpy as np

from porevae._validation import check_int
from porevae.cornerpoint import CornerPointGrid


def data_cells(grid, locations=None, cells=None) -> np.ndarray:
    """Indices, in the KLE's field order, of the cells that hold the data: from coordinates
    ``locations`` (m, ndim) in the grid's length units, or integer cell indices ``cells``
    (m, ndim).

    Regular grid: a location on a face between two cells belongs to the upper one (except at the
    grid's far boundary). Corner-point grid: a location belongs to the active cell with the
    nearest centre, which must lie within that cell's size (the cube root of its volume);
    ``cells`` are (i, j, k) of the whole grid and must be active. Refuses locations outside the
    grid, inactive cells, and non-integer or out-of-range indices.
    """
    if (locations is None) == (cells is None):
        raise ValueError("give the data positions as locations (coordinates) or cells (indices)")
    if isinstance(grid, CornerPointGrid):  # the active cells in I-fastest order
        return _corner_point_cells(grid, locations, cells)
    d = grid.ndim
    if locations is not None:
        loc = np.asarray(locations, dtype=float)
        if loc.ndim != 2 or loc.shape[1] != d or not np.all(np.isfinite(loc)):
            raise ValueError(f"locations must be finite coordinates of shape (m, {d}), got "
                             f"shape {loc.shape}")
        lo = np.asarray(grid.origin)
        hi = lo + np.asarray(grid.shape) * np.asarray(grid.spacing)
        outside = np.flatnonzero(np.any((loc < lo) | (loc > hi), axis=1))
        if outside.size:
            raise ValueError(f"{outside.size} data location(s) outside the grid "
                             f"[{lo.tolist()}, {hi.tolist()}], e.g. {loc[outside[0]].tolist()}")
        idx = np.floor((loc - lo) / np.asarray(grid.spacing)).astype(np.int64)
        idx = np.minimum(idx, np.asarray(grid.shape) - 1)
        return np.ravel_multi_index(tuple(idx.T), grid.shape, order="F")
    return _flat_cells(cells, grid.shape)


def _flat_cells(cells, shape) -> np.ndarray:
    """Integer cell indices (m, len(shape)) -> flat I-fastest indices over the ``shape`` grid,
    refusing non-integer or out-of-range ones."""
    idx = np.asarray(cells)
    d = len(shape)
    if idx.ndim != 2 or idx.shape[1] != d or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"cells must be integer indices of shape (m, {d}), got "
                         f"{idx.dtype} of shape {idx.shape}")
    bad = np.flatnonzero(np.any((idx < 0) | (idx >= np.asarray(shape)), axis=1))
    if bad.size:
        raise ValueError(f"cell index {idx[bad[0]].tolist()} is outside the grid {shape}")
    return np.ravel_multi_index(tuple(idx.T), shape, order="F")


def _corner_point_cells(grid, locations, cells) -> np.ndarray:
    active = np.full(grid.n_total, -1, dtype=np.int64)
    active[grid.active_index()] = np.arange(grid.n_cells)
    if cells is not None:
        pos = active[_flat_cells(cells, grid.shape)]
        if np.any(pos < 0):
            bad = np.asarray(cells)[np.argmax(pos < 0)].tolist()
            raise ValueError(f"datum in inactive cell {bad}: the KLE has no value there")
        return pos
    import scipy.spatial

    loc = np.asarray(locations, dtype=float)
    if loc.ndim != 2 or loc.shape[1] != 3 or not np.all(np.isfinite(loc)):
        raise ValueError(f"locations must be finite coordinates of shape (m, 3), got shape "
                         f"{loc.shape}")
    dist, pos = scipy.spatial.cKDTree(grid.cell_centers()).query(loc)
    far = np.flatnonzero(dist > np.cbrt(grid.volumes[pos]))
    if far.size:
        raise ValueError(f"{far.size} data location(s) outside the active cells, e.g. "
                         f"{loc[far[0]].tolist()} ({dist[far[0]]:.3g} from the nearest centre)")
    return pos.astype(np.int64)


class ConditionalKLE:
    """A KLE conditioned on data: the posterior of its coefficients (see the module docstring).

    Built by :meth:`porevae.KLE.condition`. Attributes: ``kle`` (the prior), ``cells`` (m,)
    flat data cells, ``values`` (m,), ``noise``, ``xi_mean`` (M,) posterior mean of the
    coefficients, ``basis`` (M, r) orthonormal and ``shrink`` (r,) in [0, 1]:
    ``Sigma^(1/2) = I - basis diag(shrink) basis^T``.
    """

    def __init__(self, kle, cells, values, noise):
        self.kle = kle
        self.cells = np.asarray(cells, dtype=np.int64)
        self.values = np.asarray(values, dtype=np.float64)
        self.noise = float(noise)
        h = np.asarray(kle.eigenvectors, dtype=np.float64)[self.cells] * \
            np.sqrt(np.clip(kle.eigenvalues, 0.0, None))          # H = B[c, :] (m, M)
        v, sv, ut = np.linalg.svd(h, full_matrices=False)          # H = V diag(s) U^T
        keep = sv > 1e-12 * max(float(sv.max(initial=0.0)), 1e-300)
        if self.noise == 0.0 and not keep.all():
            raise ValueError("noise-free data in cells that the truncated KLE cannot tell apart "
                             "(H H^T is singular): give a noise > 0 or keep more terms")
        v, sv, u = v[:, keep], sv[keep], ut[keep].T
        k = sv * sv + self.noise**2
        self.xi_mean = u @ ((sv / k) * (v.T @ (self.values - kle.mean)))
        self.basis = u
        self.shrink = 1.0 - self.noise / np.sqrt(k)

    @property
    def grid(self):
        return self.kle.grid

    def coefficients(self, n: int, seed=None, start: int = 0) -> np.ndarray:
        """Posterior coefficients (n, M) of realizations ``start .. start + n - 1``."""
        z = self.kle.coefficients(n, seed, start)
        return self.xi_mean + z - ((z @ self.basis) * self.shrink) @ self.basis.T

    def sample(self, n: int, seed=None, start: int = 0) -> np.ndarray:
        """``n`` conditional realizations (n, *grid.shape), seeded like :meth:`KLE.sample`."""
        check_int(n, "n", 0)
        if seed is None:
            seed = np.random.SeedSequence().entropy
        return self.kle.field(self.coefficients(n, seed, start))

    def lognormal(self, n: int, seed=None, start: int = 0) -> np.ndarray:
        """Conditional log-normal realizations ``exp(Y)`` (e.g. permeability honouring wells)."""
        y = self.sample(n, seed, start)
        return np.exp(y, out=y)

    def mean(self) -> np.ndarray:
        """Posterior mean field ``mu + B xi_hat`` (grid.shape): simple kriging with ``B B^T``."""
        return self.kle.field(self.xi_mean)

    def std(self) -> np.ndarray:
        """Pointwise posterior standard deviation (grid.shape): the row norms of
        ``B Sigma^(1/2)``, ``diag(B Sigma B^T) = diag(B B^T) - |B U diag(sqrt(1 - (1 -
        shrink)^2))|^2`` per cell."""
        b = np.asarray(self.kle.eigenvectors, dtype=np.float64) * \
            np.sqrt(np.clip(self.kle.eigenvalues, 0.0, None))
        prior = np.einsum("ij,ij->i", b, b)
        reduce = (b @ self.basis) * np.sqrt(self.shrink * (2.0 - self.shrink))
        var = np.clip(prior - np.einsum("ij,ij->i", reduce, reduce), 0.0, None)
        return self.grid.unflatten(np.sqrt(var))

    def __repr__(self):
        return (f"ConditionalKLE({len(self.cells)} data, noise={self.noise:g}, "
                f"prior={self.kle!r})")


def condition(kle, locations, values, noise: float = 0.0, *, cells=None) -> ConditionalKLE:
    """The posterior of ``kle`` given ``values`` (m,) observed at ``locations`` (or, with
    ``locations=None``, at ``cells``: see :func:`data_cells`) with Gaussian errors of standard
    deviation ``noise`` (>= 0).

    Refused before any work: a non-finite value, a negative or non-finite noise, data outside
    the grid, and noise-free data repeated in one cell (two data of a cell with noise are
    allowed: they average).
    """
    vals = np.asarray(values, dtype=float)
    if vals.ndim != 1 or vals.size == 0 or not np.all(np.isfinite(vals)):
        raise ValueError(f"values must be a non-empty 1-D array of finite numbers, got shape "
                         f"{vals.shape}")
    noise = float(noise)
    if not (math.isfinite(noise) and noise >= 0.0):
        raise ValueError(f"noise must be a finite standard deviation >= 0, got {noise}")
    flat = data_cells(kle.grid, locations, cells)
    if flat.size != vals.size:
        raise ValueError(f"{vals.size} values for {flat.size} data positions")
    uniq, counts = np.unique(flat, return_counts=True)
    if noise == 0.0 and np.any(counts > 1):
        raise ValueError(f"noise-free data repeated in cell {int(uniq[counts > 1][0])} (field "
                         f"index): give each cell one datum, or a noise > 0")
    return ConditionalKLE(kle, flat, vals, noise)
