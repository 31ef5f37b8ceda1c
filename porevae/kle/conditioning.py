"""Exact Gaussian conditioning of a truncated KLE on point data (wells).

The truncated prior is ``y = mu + B xi``, ``xi ~ N(0, I_M)``, ``B = Phi Lambda^(1/2)`` (n_cells, M).
Data ``d_j`` (j = 1..m) observe the field in the cells ``c_j`` that hold the data locations, with
independent Gaussian errors of standard deviations ``r_j`` (``noise``: one number for all data,
or one per datum, in the units of the field ``y``): ``d = mu + H xi + e``, ``H = B[c, :]`` (m, M),
``e ~ N(0, R)``, ``R = diag(r^2)``. The posterior of ``xi`` is Gaussian (exact, no
approximation beyond the truncation of the prior):

    K = H H^T + R                              (m, m)
    xi_hat = H^T K^-1 (d - mu)                 posterior mean
    Sigma  = I - H^T K^-1 H                    posterior covariance, a rank-m update of I

It is computed in two exact steps, each by a thin SVD, so that noise-free data stay exact:

1. the noise-free data E (``r_j = 0``): ``H_E = V diag(s) U_E^T``,
   ``xi_E = U_E diag(1 / s) V^T (d_E - mu)``; the coefficients left free are ``P z`` with the
   projector ``P = I - U_E U_E^T`` (the data directions are fixed: shrink 1);
2. the noisy data N, whitened and restricted to what step 1 left free:
   ``G = R_N^(-1/2) H_N P = V_N diag(g) U_N^T``, ``c = 1 / sqrt(1 + g^2)``,
   ``xi_hat = xi_E + U_N diag(g c^2) V_N^T R_N^(-1/2) (d_N - mu - H_N xi_E)``.

Then ``Sigma^(1/2) = I - U diag(shrink) U^T`` with ``U = [U_E, U_N]`` orthonormal and
``shrink = [1, ..., 1, 1 - c]`` (exact: no square root of a difference that rounding could
spoil); with one noise ``r`` for all data, ``c = r / sqrt(s^2 + r^2)`` for the singular values
``s`` of ``H``. A conditional realization is ``xi = xi_hat + Sigma^(1/2) z`` with ``z`` the
realization's unconditional coefficients (:meth:`porevae.KLE.coefficients`): realization ``i``
of seed ``s`` is the same whether drawn alone or in a batch, as for the prior. Noise-free data
are honoured exactly by every realization (zero spread); noisy data within their noise. The
conditional mean field ``mu + B xi_hat`` is simple kriging with the truncated covariance
``B B^T`` (with every term kept: the field's own covariance).

Cost: ``O(m M (m + n_cells))`` once (the SVDs and the mean field); per realization ``O(M m)`` on
top of the prior's ``O(n_cells M)``. Memory: ``O(M m)``.
"""

from __future__ import annotations

import numpy as np

from porevae.cornerpoint import CornerPointGrid
from porevae.kle.sampling import DTYPES, draw

AXES = "xyz"


def _names(labels, m: int) -> list[str]:
    """The names of ``m`` data in messages: ``labels`` (e.g. ``wells.csv line 4``), or
    ``datum k`` (k from 0)."""
    if labels is None:
        return [f"datum {k}" for k in range(m)]
    names = [str(x) for x in labels]
    if len(names) != m:
        raise ValueError(f"{len(names)} labels for {m} data")
    return names


def data_cells(grid, locations=None, cells=None, labels=None) -> np.ndarray:
    """Indices, in the KLE's field order, of the cells that hold the data: from coordinates
    ``locations`` (m, ndim) in the grid's length units, or integer cell indices ``cells``
    (m, ndim), counted from 0.

    Regular grid: a location on a face between two cells belongs to the upper one (except at the
    grid's far boundary). Corner-point grid: a location belongs to the active cell with the
    nearest centre, which must lie within that cell's size (the cube root of its volume);
    ``cells`` are (i, j, k) of the whole grid and must be active. Refuses locations outside the
    grid, inactive cells, and non-integer or out-of-range indices, naming the first bad datum by
    its entry of ``labels`` (m strings; default ``datum k``).
    """
    if (locations is None) == (cells is None):
        raise ValueError("give the data positions as locations (coordinates) or cells (indices)")
    if isinstance(grid, CornerPointGrid):  # the active cells in I-fastest order
        return _corner_point_cells(grid, locations, cells, labels)
    if cells is not None:
        return _flat_cells(cells, grid.shape, labels)
    loc = _coordinates(locations, grid.ndim)
    lo = np.asarray(grid.origin)
    hi = lo + np.asarray(grid.shape) * np.asarray(grid.spacing)
    outside = (loc < lo) | (loc > hi)
    if outside.any():
        k, a = np.argwhere(outside)[0]
        n = int(outside.any(axis=1).sum())
        raise ValueError(f"{_names(labels, len(loc))[k]}: {AXES[a]} = {loc[k, a]:g} is outside "
                         f"the grid's [{lo[a]:g}, {hi[a]:g}]"
                         + (f" ({n} data outside the grid)" if n > 1 else ""))
    idx = np.floor((loc - lo) / np.asarray(grid.spacing)).astype(np.int64)
    idx = np.minimum(idx, np.asarray(grid.shape) - 1)
    return np.ravel_multi_index(tuple(idx.T), grid.shape, order="F")


def cell_indices(grid, flat) -> np.ndarray:
    """Field indices (m,) -> cell indices (m, ndim) of the whole grid, counted from 0 (the inverse
    of :func:`data_cells` for ``cells``; on a corner-point grid the field holds the active
    cells)."""
    flat = np.asarray(flat, dtype=np.int64)
    if isinstance(grid, CornerPointGrid):
        flat = grid.active_index()[flat]
    return np.stack(np.unravel_index(flat, grid.shape, order="F"), axis=-1)


def _coordinates(locations, d: int) -> np.ndarray:
    loc = np.asarray(locations, dtype=float)
    if loc.ndim != 2 or loc.shape[1] != d or not np.all(np.isfinite(loc)):
        raise ValueError(f"locations must be finite coordinates of shape (m, {d}), got "
                         f"shape {loc.shape}")
    return loc


def _flat_cells(cells, shape, labels) -> np.ndarray:
    """Integer cell indices (m, len(shape)) -> flat I-fastest indices over the ``shape`` grid,
    refusing non-integer or out-of-range ones."""
    idx = np.asarray(cells)
    d = len(shape)
    if idx.ndim != 2 or idx.shape[1] != d or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"cells must be integer indices of shape (m, {d}), got "
                         f"{idx.dtype} of shape {idx.shape}")
    bad = np.flatnonzero(np.any((idx < 0) | (idx >= np.asarray(shape)), axis=1))
    if bad.size:
        raise ValueError(f"{_names(labels, len(idx))[bad[0]]}: cell index {idx[bad[0]].tolist()} "
                         f"is outside the grid {shape} (indices from 0)")
    return np.ravel_multi_index(tuple(idx.T), shape, order="F")


def _corner_point_cells(grid, locations, cells, labels) -> np.ndarray:
    active = np.full(grid.n_total, -1, dtype=np.int64)
    active[grid.active_index()] = np.arange(grid.n_cells)
    if cells is not None:
        pos = active[_flat_cells(cells, grid.shape, labels)]
        if np.any(pos < 0):
            k = int(np.argmax(pos < 0))
            raise ValueError(f"{_names(labels, len(pos))[k]}: datum in inactive cell "
                             f"{np.asarray(cells)[k].tolist()}: the KLE has no value there")
        return pos
    import scipy.spatial

    loc = _coordinates(locations, 3)
    dist, pos = scipy.spatial.cKDTree(grid.cell_centers()).query(loc)
    far = np.flatnonzero(dist > np.cbrt(grid.volumes[pos]))
    if far.size:
        k = far[0]
        raise ValueError(f"{_names(labels, len(loc))[k]}: location {loc[k].tolist()} is outside "
                         f"the active cells ({dist[k]:.3g} from the nearest centre)"
                         + (f" ({far.size} data outside)" if far.size > 1 else ""))
    return pos.astype(np.int64)


def _exact_step(h, d):
    """Step 1 of the module docstring: ``(U_E (M, m_E), xi_E (M,))`` from the rows ``h``
    (m_E, M) and centred values ``d`` (m_E,) of the noise-free data."""
    m, n_terms = h.shape
    if m == 0:
        return np.zeros((n_terms, 0)), np.zeros(n_terms)
    v, s, ut = np.linalg.svd(h, full_matrices=False)
    if len(s) < m or s.min() <= 1e-12 * max(float(s.max()), 1e-300):
        raise ValueError("noise-free data in cells that the truncated KLE cannot tell apart "
                         "(H H^T is singular): give a noise > 0 or keep more terms")
    return ut.T, ut.T @ ((v.T @ d) / s)


class ConditionalKLE:
    """A KLE conditioned on data: the posterior of its coefficients (see the module docstring).

    Built by :func:`condition` (:meth:`porevae.KLE.condition`). Attributes: ``kle`` (the
    prior), ``cells`` (m,) field indices of the data cells, ``values`` (m,), ``noise`` (m,)
    standard deviations, ``xi_mean`` (M,) posterior mean of the coefficients, ``basis`` (M, r)
    orthonormal and ``shrink`` (r,) in [0, 1]: ``Sigma^(1/2) = I - basis diag(shrink) basis^T``.
    """

    def __init__(self, kle, cells, values, noise):
        self.kle = kle
        self.cells = np.asarray(cells, dtype=np.int64)
        self.values = np.asarray(values, dtype=np.float64)
        self.noise = np.broadcast_to(np.asarray(noise, dtype=np.float64),
                                     self.values.shape).copy()
        h = np.asarray(kle.eigenvectors, dtype=np.float64)[self.cells] * \
            np.sqrt(np.clip(kle.eigenvalues, 0.0, None))          # H = B[c, :] (m, M)
        d = self.values - kle.mean
        exact = self.noise == 0.0
        u_e, xi = _exact_step(h[exact], d[exact])
        hn, rn = h[~exact], self.noise[~exact]
        g = (hn - (hn @ u_e) @ u_e.T) / rn[:, None]                # R_N^-1/2 H_N P
        v, gs, ut = np.linalg.svd(g, full_matrices=False) if len(g) else \
            (np.zeros((0, 0)), np.zeros(0), np.zeros((0, kle.n_terms)))
        keep = gs > 1e-12 * max(float(gs.max(initial=0.0)), 1e-300)
        v, gs, u_n = v[:, keep], gs[keep], ut[keep].T
        c = 1.0 / np.hypot(1.0, gs)
        self.xi_mean = xi + u_n @ ((gs * c * c) * (v.T @ ((d[~exact] - hn @ xi) / rn)))
        self.basis = np.hstack([u_e, u_n])
        self.shrink = np.concatenate([np.ones(u_e.shape[1]), 1.0 - c])

    @property
    def grid(self):
        return self.kle.grid

    @property
    def dtype(self) -> str:
        """The prior's dtype (``"float64"`` or ``"float32"``): that of the fields."""
        return self.kle.dtype

    def posterior(self, z) -> np.ndarray:
        """Posterior coefficients ``xi = xi_hat + Sigma^(1/2) z`` from standard normal ``z``
        (n, M) or (M,) (the prior's coefficients of the same realizations)."""
        z = np.asarray(z, dtype=np.float64)
        if z.shape[-1] != self.kle.n_terms:
            raise ValueError(f"z must have {self.kle.n_terms} coefficients in its last axis, "
                             f"got shape {z.shape}")
        return self.xi_mean + z - ((z @ self.basis) * self.shrink) @ self.basis.T

    def coefficients(self, n: int, seed=None, start: int = 0) -> np.ndarray:
        """Posterior coefficients (n, M) of realizations ``start .. start + n - 1``."""
        return self.posterior(self.kle.coefficients(n, seed, start))

    def field(self, z) -> np.ndarray:
        """Conditional fields ``mean + B (xi_hat + Sigma^(1/2) z)``: ``z`` (n, M) or (M,) ->
        (n, *grid.shape) or grid.shape (e.g. ERT's standard normal coefficients)."""
        return self.kle.field(self.posterior(z))

    def sample(self, n: int, seed=None, start: int = 0) -> np.ndarray:
        """``n`` conditional realizations (n, *grid.shape), seeded like :meth:`KLE.sample` and
        bit for bit the same per realization whatever ``start`` and ``n``: realization ``i`` is
        computed at its row of its aligned chunk, as the prior's
        (:func:`porevae.kle.sampling.draw`)."""
        kle = self.kle
        return draw(n, seed, start, grid=kle.grid, n_terms=kle.n_terms,
                    coefficients=kle.coefficients, field=self.field, dtype=DTYPES[kle.dtype])

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

    def params(self) -> dict:
        """The prior's parameters (:meth:`porevae.KLE.params`) and the data, JSON-serialisable:
        ``"conditioning": {"cells": (m, ndim) indices from 0, "values", "noise"}``."""
        return self.kle.params() | {"conditioning": {
            "cells": cell_indices(self.grid, self.cells).tolist(),
            "values": self.values.tolist(), "noise": self.noise.tolist()}}

    def __repr__(self):
        lo, hi = float(self.noise.min()), float(self.noise.max())
        noise = f"{lo:g}" if lo == hi else f"{lo:g}..{hi:g}"
        return f"ConditionalKLE({len(self.cells)} data, noise={noise}, prior={self.kle!r})"


def condition(kle, locations, values, noise=0.0, *, cells=None,
              labels=None) -> ConditionalKLE:
    """The posterior of ``kle`` given ``values`` (m,) observed at ``locations`` (or, with
    ``locations=None``, at ``cells``: see :func:`data_cells`) with Gaussian errors of standard
    deviation ``noise`` (>= 0, in the units of the field: one number, or one per datum (m,)).
    ``labels`` (m strings, e.g. ``wells.csv line 4``) name the data in error messages.

    Refused before any work: a non-finite value, a negative or non-finite noise, data outside
    the grid, and a noise-free datum sharing its cell with another datum (two noisy data of a
    cell are allowed: they average).
    """
    vals = np.asarray(values, dtype=float)
    if vals.ndim != 1 or vals.size == 0 or not np.all(np.isfinite(vals)):
        raise ValueError(f"values must be a non-empty 1-D array of finite numbers, got shape "
                         f"{vals.shape}")
    r = np.asarray(noise, dtype=float)
    if r.shape not in ((), vals.shape) or not np.all(np.isfinite(r)) or np.any(r < 0):
        raise ValueError(f"noise must be finite standard deviations >= 0, one number or one per "
                         f"datum (shape ({vals.size},)), got {r.tolist() if r.size < 6 else r}")
    pos = locations if locations is not None else cells
    if pos is not None and len(pos) != vals.size:
        raise ValueError(f"{vals.size} values for {len(pos)} data positions")
    names = _names(labels, vals.size)
    flat = data_cells(kle.grid, locations, cells, names)
    r = np.broadcast_to(r, vals.shape)
    order = np.argsort(flat, kind="stable")
    for k in np.flatnonzero(np.diff(flat[order]) == 0):   # data order[k], order[k + 1]: one cell
        a, b = order[k], order[k + 1]
        if r[a] == 0.0 or r[b] == 0.0:
            ijk = cell_indices(kle.grid, flat[a:a + 1])[0].tolist()
            raise ValueError(f"{names[b]}: noise-free data repeated in one cell (cell {ijk}, "
                             f"from 0) with {names[a]}: give each noise-free datum a cell of "
                             f"its own, or both data a noise > 0 (they then average)")
    return ConditionalKLE(kle, flat, vals, r)
