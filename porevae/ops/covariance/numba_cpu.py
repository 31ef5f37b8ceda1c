"""Numba CPU backend of the covariance operation (parallel over rows or tiles; float32 and
float64 outputs).

Point kernels take the points divided by the length scales, by coordinate (:func:`soa`), the
closed form's :class:`~porevae.covariance.KernelCode` and the variance folded into the
exponential's constants (:func:`~porevae.ops._numba_math.exp_scale`: no multiply per entry);
each row is a branch-free loop that LLVM vectorises, the exponential included, specialised on
the metric, the closed form and the number of axes. A float64 matrix is computed in float64; a
float32 matrix with float32 distances and a float32 exponential (twice the lanes per vector and a
polynomial of degree 6 instead of 11; the Matern forms' factors in front of it are promoted to
float64 by their constants), on points moved to their mean first so that the coordinate
differences keep their digits when the coordinates are large (UTM metres, say; every backend
does this, :func:`~.table.scaled_pair`): errors of about ``|x - y| / l * 6e-8`` relative.
Grids are filled from their offset table (any stationary model): a memory-bound copy.
``cov_matvec`` evaluates C in float64, its products in x's dtype.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import torch
from numba.core import types
from numba.extending import overload

from porevae._threads import start_numba_threads
from porevae.ops._numba_math import FASTMATH, exp_scale, scaled_exp_poly
from porevae.ops.covariance import formula
from porevae.ops.covariance.table import check_code, grid_offset_table, scaled_pair

start_numba_threads()

TILE = 64


def _exp(x, scale):  # pragma: no cover - replaced by the overload in jitted code
    raise NotImplementedError


@overload(_exp, inline="always", jit_options={"fastmath": FASTMATH})
def _exp_overload(x, scale):
    """``variance * exp(x)`` for ``scale = exp_scale(variance, dtype)``: the argument clamped
    at ``lo`` first (one vmaxpd; ``np.maximum`` compiles to a compare chain that made the kernel
    10 % slower), NaN propagates."""
    real = scale.dtype  # the Matern forms' float64 constants promote x in a float32 kernel

    def exp_clamped(x, scale):
        return scaled_exp_poly(max(real(x), scale[-1]), scale)

    return exp_clamped


_cov = nb.njit(inline="always", fastmath=FASTMATH)(formula.with_exp(formula.covariance, _exp))


def _unpack(s):  # pragma: no cover - replaced by the overload in jitted code
    raise NotImplementedError


@overload(_unpack, inline="always")
def _unpack_overload(s):
    """The tuple of :func:`~porevae.ops._numba_math.exp_scale` from the array ``s`` the kernels
    take (a parallel kernel takes arrays, not tuples), as scalars."""
    if s.dtype == types.float64:
        return lambda s: (s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], s[10],
                          s[11], s[12])
    if s.dtype == types.float32:
        return lambda s: (s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7])
    return None


@nb.njit(inline="always", fastmath=FASTMATH)
def _cov_row(code, param, l1, nd, scale, a0, a1, a2, b, j0, w, buf):
    """``buf[t] = C(a, b[:, j0 + t])`` for ``t < w``: one point a against a run of points b.

    ``b`` (3, m) holds scaled points by coordinate (structure of arrays, unused axes zero), of
    which the first ``nd`` axes are read, so the loop runs over contiguous memory, branch-free
    once the loop-invariant ``code``, ``l1`` and ``nd`` are hoisted (LLVM unswitches the loop
    on them: 2-D points skip the third axis' subtraction and square, about 5 % of the time), and
    LLVM vectorises it, the exponential included
    (:func:`~porevae.ops._numba_math.scaled_exp_poly`), in the precision of ``a0`` and ``b``.
    ``scale``: the array of ``exp_scale(variance, dtype)`` (see :func:`_args`).
    """
    b0, b1, b2 = b[0], b[1], b[2]
    scale = _unpack(scale)
    if l1:
        for t in range(w):
            j = j0 + t
            r = abs(a0 - b0[j])
            if nd > 1:
                r += abs(a1 - b1[j])
            if nd > 2:
                r += abs(a2 - b2[j])
            buf[t] = _cov(code, param, scale, r * r, r)
    else:
        for t in range(w):
            j = j0 + t
            d = a0 - b0[j]
            r2 = d * d
            if nd > 1:
                d = a1 - b1[j]
                r2 += d * d
            if nd > 2:
                d = a2 - b2[j]
                r2 += d * d
            buf[t] = _cov(code, param, scale, r2, np.sqrt(r2))


@nb.njit(parallel=True, fastmath=FASTMATH, cache=True)
def cov_points(xa, xb, nd, code, param, l1, scale, out):
    """``out = C(xa, xb)`` for scaled points by coordinate xa (3, n), xb (3, m) -> (n, m), of
    ``nd`` dimensions (1-3).

    One row per step, written straight into ``out``: the writes stream. The symmetric case
    (``xb is xa``) also computes both triangles, n^2 evaluations instead of n^2 / 2, because
    writing the mirrored triangle (short segments spread over many rows, or the matrix read
    back by columns) costs more than the vectorised evaluations it saves (174^2 points, float64,
    into held memory, 2 cores: one triangle alone 0.27-0.44 s, one triangle plus its mirror
    0.69-2.5 s in six layouts, both triangles 0.53-0.67 s; bench/RESULTS.md, sixth stop).
    The result is still exactly symmetric: ``x_i - x_j = -(x_j - x_i)`` exactly in IEEE
    arithmetic, so both entries see the same squares.
    Work: n m evaluations; writes: n m entries (the floor of the operation).
    """
    for i in nb.prange(xa.shape[1]):
        _cov_row(code, param, l1, nd, scale, xa[0, i], xa[1, i], xa[2, i], xb, 0,
                 xb.shape[1], out[i])


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


@nb.njit(parallel=True, fastmath=FASTMATH, cache=True)
def cov_matvec(xs, nd, code, param, l1, scale, x, out):
    """``out = C @ x`` without storing C: rows in tiles of TILE, each tile of C built then used.

    xs: (3, n) scaled points by coordinate, ``nd`` of the axes used; x: (n, k) contiguous;
    out: (n, k), dtype of x.
    Work: n^2 evaluations and 2 n^2 k flops (BLAS on each TILE x TILE block).
    """
    n, k = x.shape
    nt = (n + TILE - 1) // TILE
    for ti in nb.prange(nt):
        i0 = ti * TILE
        i1 = min(i0 + TILE, n)
        buf = np.empty(TILE)
        block = np.empty((i1 - i0, TILE), dtype=x.dtype)
        acc = np.zeros((i1 - i0, k), dtype=x.dtype)
        for j0 in range(0, n, TILE):
            w = min(TILE, n - j0)
            for i in range(i0, i1):
                _cov_row(code, param, l1, nd, scale, xs[0, i], xs[1, i], xs[2, i], xs, j0,
                         w, buf)
                for t in range(w):
                    block[i - i0, t] = buf[t]
            b = block if w == TILE else np.ascontiguousarray(block[:, :w])
            acc += np.dot(b, np.ascontiguousarray(x[j0:j0 + w]))
        out[i0:i1] = acc


# ---- the backend interface (same names in every backend module) ----------------------------------
def status() -> dict:
    return {"available": True, "reason": f"numba {nb.__version__} on the host"}


def _args(model, dtype) -> tuple[tuple[int, float, bool, np.ndarray], float]:
    """The kernels' model arguments (code, param, l1, scale) in ``dtype``, and a factor to apply
    afterwards: 1, the variance being folded into the exponential's constants
    (:func:`~porevae.ops._numba_math.exp_scale`), or the variance itself where it lies outside
    the range that allows that (1.3e-290 to 9.0e307; float32 7.9e-31 to 1.7e38)."""
    real = np.dtype(dtype).type  # the scalars in the arithmetic's precision
    scale = exp_scale(model.variance, real)
    after = 1.0 if scale is not None else float(model.variance)
    return (check_code(model, "numba"), real(model.kernel_param), model.metric == "l1",
            np.array(exp_scale(1.0, real) if scale is None else scale, dtype=real)), after


def soa(points, model, points_b=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Scaled points (:func:`~.table.scaled_pair`: both sets about one origin) as (3, n) and
    (3, m) float64 by coordinate (unused axes zero): the kernels' layout."""
    def by_coordinate(xs):
        out = np.zeros((3, xs.shape[0]))
        out[:xs.shape[1]] = xs.numpy().T
        return out

    a, b = scaled_pair(points, points_b, model)
    return by_coordinate(a), None if b is None else by_coordinate(b)


def covariance_matrix(points, model, points_b, out) -> torch.Tensor:
    """Fill ``out`` (n, m) CPU tensor with ``C(points, points_b)`` (``points_b`` None: the
    symmetric ``C(points, points)``), in ``out``'s precision."""
    res = out.numpy()
    args, after = _args(model, res.dtype)
    xa, xb = soa(points, model, points_b)
    xa = xa.astype(res.dtype, copy=False)
    xb = xa if xb is None else xb.astype(res.dtype, copy=False)
    cov_points(xa, xb, points.shape[1], *args, res)
    if after != 1.0:
        out.mul_(after)
    return out


def grid_covariance_matrix(grid, model, out) -> torch.Tensor:
    """Fill ``out`` (n, n) CPU tensor from the grid's offset table (a memory-bound copy)."""
    table = grid_offset_table(grid, model, out.numpy().dtype)
    cov_grid_fill(table, *grid.shape3, out.numpy())
    return out


def covariance_matvec(points, model, x) -> torch.Tensor:
    """``C @ x`` for a CPU tensor x (n, k), C never stored."""
    y = torch.empty_like(x)
    args, after = _args(model, np.float64)
    cov_matvec(soa(points, model)[0], points.shape[1], *args, x.numpy(), y.numpy())
    return y.mul_(after) if after != 1.0 else y


def grid_covariance_matvec(grid, model, x) -> torch.Tensor:
    """``C @ x`` on a grid: the point kernel on its cell centres (closed forms only)."""
    return covariance_matvec(torch.from_numpy(grid.cell_centers()), model, x)
