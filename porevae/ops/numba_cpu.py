"""Numba CPU kernels (parallel over rows or tiles; float32 and float64 outputs).

Covariance codes (``CovarianceModel.kernel_code``) on the scaled distance ``r``:
0 ``exp(-r)``; 1 ``exp(-p r^2)``; 2 Matérn 3/2 ``(1 + s) exp(-s)``, ``s = sqrt(3) r``;
3 Matérn 5/2 ``(1 + s + s^2/3) exp(-s)``, ``s = sqrt(5) r``.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

TILE = 64


def correlation(code, param, r2, r):
    """Closed-form correlation of ``CovarianceModel.kernel_code``: 0 exponential, 1 squared
    exponential (``param`` the factor of r^2), 2 Matern 3/2, 3 Matern 5/2; r2 = squared Euclidean
    (or r*r for l1) scaled distance, r = scaled distance. Plain Python, compiled for the host here
    and for CUDA devices in :mod:`porevae.ops.numba_cuda`."""
    if code == 0:
        return math.exp(-r)
    if code == 1:
        return math.exp(-param * r2)
    if code == 2:
        s = math.sqrt(3.0) * r
        return (1.0 + s) * math.exp(-s)
    s = math.sqrt(5.0) * r
    return (1.0 + s + s * s / 3.0) * math.exp(-s)


def distance(xa, xb, i, j, l1):
    """``(r2, r)`` between rows i of xa and j of xb (scaled points), L1 or Euclidean."""
    d = xa.shape[1]
    acc = 0.0
    if l1:
        for a in range(d):
            acc += abs(xa[i, a] - xb[j, a])
        return acc * acc, acc
    for a in range(d):
        t = xa[i, a] - xb[j, a]
        acc += t * t
    return acc, math.sqrt(acc)


def lower_tile(p):
    """Tile pair ``(ti, tj)``, ``tj <= ti``, of the ``p``-th tile of the lower triangle, counted
    row by row (``p = ti (ti + 1) / 2 + tj``). Plain Python, compiled here and in numba_cuda."""
    ti = int((math.sqrt(8.0 * p + 1.0) - 1.0) / 2.0)
    while ti * (ti + 1) // 2 > p:  # the float estimate may be off by one either way
        ti -= 1
    while (ti + 1) * (ti + 2) // 2 <= p:
        ti += 1
    return ti, p - ti * (ti + 1) // 2


_rho = nb.njit(inline="always", fastmath=True)(correlation)
_dist = nb.njit(inline="always", fastmath=True)(distance)
_lower_tile = nb.njit(inline="always")(lower_tile)


@nb.njit(parallel=True, fastmath=True, cache=True)
def cov_points_symmetric(xs, code, param, l1, variance, out):
    """``out = C(xs, xs)``: tiles (I, J) with J <= I computed once, written to both triangles.

    xs: (n, d) float64 points already divided by the per-axis length scales; out: (n, n).
    """
    n = xs.shape[0]
    nt = (n + TILE - 1) // TILE
    npairs = nt * (nt + 1) // 2
    for p in nb.prange(npairs):
        ti, tj = _lower_tile(p)
        i0, j0 = ti * TILE, tj * TILE
        i1, j1 = min(i0 + TILE, n), min(j0 + TILE, n)
        for i in range(i0, i1):
            jmax = min(j1, i + 1) if ti == tj else j1
            for j in range(j0, jmax):
                r2, r = _dist(xs, xs, i, j, l1)
                out[i, j] = variance * _rho(code, param, r2, r)
        for j in range(j0, j1):  # mirror the tile: writes stay inside one TILE x TILE block
            for i in range(i0, i1):
                if ti != tj or i > j:
                    out[j, i] = out[i, j]


@nb.njit(parallel=True, fastmath=True, cache=True)
def cov_points_cross(xa, xb, code, param, l1, variance, out):
    """``out = C(xa, xb)``, (n, d), (m, d) scaled points -> (n, m)."""
    n, m = xa.shape[0], xb.shape[0]
    for i in nb.prange(n):
        for j in range(m):
            r2, r = _dist(xa, xb, i, j, l1)
            out[i, j] = variance * _rho(code, param, r2, r)


@nb.njit(parallel=True, cache=True)
def cov_grid_fill(ext, nx, ny, nz, out):
    """Fill the covariance of a regular grid from its table of offsets: a memory-bound copy.

    ext: (nz, ny, 2 nx - 1) with ``ext[dz, dy, t] = C(|t - (nx - 1)|, dy, dz)`` (offsets in cells);
    out: (n, n), n = nx ny nz, I-fastest order. Row i = (ix, iy, iz), column block (jy, jz) is the
    contiguous slice ``ext[|iz - jz|, |iy - jy|, nx - 1 - ix : 2 nx - 1 - ix]``.
    """
    n = nx * ny * nz
    for i in nb.prange(n):
        ix = i % nx
        iy = (i // nx) % ny
        iz = i // (nx * ny)
        s = nx - 1 - ix
        for jz in range(nz):
            dz = abs(iz - jz)
            for jy in range(ny):
                dy = abs(iy - jy)
                src = ext[dz, dy]
                base = nx * (jy + ny * jz)
                for jx in range(nx):
                    out[i, base + jx] = src[s + jx]


@nb.njit(parallel=True, fastmath=True, cache=True)
def cov_matvec(xs, code, param, l1, variance, x, out):
    """``out = C @ x`` without storing C: rows in tiles of TILE, each tile of C built then used.

    xs: (n, d) scaled points; x: (n, k) contiguous; out: (n, k), same dtype as x.
    """
    n, k = x.shape
    nt = (n + TILE - 1) // TILE
    for ti in nb.prange(nt):
        i0 = ti * TILE
        i1 = min(i0 + TILE, n)
        block = np.empty((i1 - i0, TILE), dtype=x.dtype)
        acc = np.zeros((i1 - i0, k), dtype=x.dtype)
        for j0 in range(0, n, TILE):
            j1 = min(j0 + TILE, n)
            for i in range(i0, i1):
                for j in range(j0, j1):
                    r2, r = _dist(xs, xs, i, j, l1)
                    block[i - i0, j - j0] = variance * _rho(code, param, r2, r)
            w = j1 - j0
            b = block if w == TILE else np.ascontiguousarray(block[:, :w])
            acc += np.dot(b, np.ascontiguousarray(x[j0:j1]))
        out[i0:i1] = acc
