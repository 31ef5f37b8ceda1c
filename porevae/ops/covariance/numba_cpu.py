"""Numba CPU backend of the covariance operation (parallel over rows or tiles; float32 and
float64 outputs, float64 arithmetic).

Kernels take points already divided by the length scales (:func:`.table.scaled_points`) and the
closed form's :class:`~porevae.covariance.KernelCode` (:mod:`.formula`, compiled here with
``fastmath``); grids are filled from their offset table (any stationary model).
"""

from __future__ import annotations

import numba as nb
import numpy as np
import torch

from porevae.ops.covariance import formula
from porevae.ops.covariance.table import check_code, grid_offset_table, scaled_points

TILE = 64


_rho = nb.njit(inline="always", fastmath=True)(formula.correlation)
_dist = nb.njit(inline="always", fastmath=True)(formula.distance)
_lower_tile = nb.njit(inline="always")(formula.lower_tile)


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


# ---- the backend interface (same names in every backend module) ----------------------------------
def status() -> dict:
    return {"available": True, "reason": f"numba {nb.__version__} on the host"}


def _args(model) -> tuple[int, float, bool, float]:
    return (check_code(model, "numba"), float(model.kernel_param), model.metric == "l1",
            float(model.variance))


def covariance_matrix(points, model, points_b, out) -> torch.Tensor:
    """Fill ``out`` (n, m) CPU tensor with ``C(points, points_b)`` (symmetric when points_b is
    None: one triangle of tiles computed and mirrored)."""
    args = _args(model)
    xa = scaled_points(points, model).numpy()
    if points_b is None:
        cov_points_symmetric(xa, *args, out.numpy())
    else:
        cov_points_cross(xa, scaled_points(points_b, model).numpy(), *args, out.numpy())
    return out


def grid_covariance_matrix(grid, model, out) -> torch.Tensor:
    """Fill ``out`` (n, n) CPU tensor from the grid's offset table (a memory-bound copy)."""
    table = grid_offset_table(grid, model, out.numpy().dtype)
    cov_grid_fill(table, *grid.shape3, out.numpy())
    return out


def covariance_matvec(points, model, x) -> torch.Tensor:
    """``C @ x`` for a CPU tensor x (n, k), C never stored."""
    y = torch.empty_like(x)
    cov_matvec(scaled_points(points, model).numpy(), *_args(model), x.numpy(), y.numpy())
    return y


def grid_covariance_matvec(grid, model, x) -> torch.Tensor:
    """``C @ x`` on a grid: the point kernel on its cell centres (closed forms only)."""
    return covariance_matvec(torch.from_numpy(grid.cell_centers()), model, x)
