"""Numba CUDA backend of the covariance operation: the fallback when ``porevae._cuda`` is not built.

The same algorithms as ``csrc/ops/cuda/covariance_kernels.cuh``:

* :func:`launch_grid_fill`: a regular grid's covariance copied from its offset table, one warp per
  row, each row a sequence of contiguous table slices (coalesced, memory bound);
* :func:`launch_points_symmetric`: tiles of the lower triangle computed once and mirrored through
  shared memory (coalesced transposed writes);
* :func:`launch_matvec_points` / :func:`launch_matvec_grid`: ``Y = C X`` tile by tile, a
  ``TILE x TILE`` block of C and of X staged in shared memory per step, C never stored.

Arithmetic is float64 inside the kernels; outputs may be float32 or float64. The ``launch_*``
functions take arrays numba.cuda accepts (CUDA device arrays, torch CUDA tensors through
``__cuda_array_interface__``, or host NumPy arrays under ``NUMBA_ENABLE_CUDASIM=1``, which is how CI
tests them). The torch-level wrappers mirror :mod:`porevae.ops.covariance.cuda` and launch on
torch's current stream. Covariance codes: :class:`porevae.covariance.KernelCode`
(:mod:`.formula`, compiled here for the device).
"""

from __future__ import annotations

import os

import torch
from numba import cuda, float64

from porevae.ops._common import check_out
from porevae.ops.covariance import formula
from porevae.ops.covariance.table import check_code, offset_table, scaled_pair

TILE = 16         # assembly and matvec tile edge (entries); blocks are TILE x ROWS or TILE x TILE
ROWS = 4          # rows of threads of an assembly block; warps per block of the grid fill
WARP = 32


def simulator() -> bool:
    """True under ``NUMBA_ENABLE_CUDASIM=1`` (kernels run on the host, one thread per thread)."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1"


cov = cuda.jit(device=True, inline=True)(
    formula.with_exp(formula.covariance, cuda.jit(device=True, inline=True)(formula.exp)))
dist = cuda.jit(device=True, inline=True)(formula.distance)
lower_tile = cuda.jit(device=True, inline=True)(formula.lower_tile)


@cuda.jit(device=True, inline=True)
def pair(xa, i, xb, j, d, code, param, l1, variance):
    r2, r = dist(xa, xb, i, j, l1)
    return cov(code, param, variance, r2, r)

@cuda.jit(device=True, inline=True)
def grid_entry(table, nx, ny, i, j):
    ix, jx = i % nx, j % nx
    iyz, jyz = i // nx, j // nx
    return table[abs(iyz // ny - jyz // ny), abs(iyz % ny - jyz % ny), jx - ix + nx - 1]

@cuda.jit
def grid_fill(table, nx, ny, nz, out):
    n = nx * ny * nz
    lane = cuda.threadIdx.x
    warps = cuda.gridDim.x * cuda.blockDim.y
    i = cuda.blockIdx.x * cuda.blockDim.y + cuda.threadIdx.y
    while i < n:
        ix = i % nx
        iy = (i // nx) % ny
        iz = i // (nx * ny)
        col = 0
        for jz in range(nz):
            dz = abs(iz - jz)
            for jy in range(ny):
                dy = abs(iy - jy)
                jx = lane
                while jx < nx:
                    out[i, col + jx] = table[dz, dy, nx - 1 - ix + jx]
                    jx += WARP
                col += nx
        i += warps

@cuda.jit
def points_symmetric(xs, code, param, l1, variance, out):
    n, d = xs.shape[0], xs.shape[1]
    p = cuda.blockIdx.x
    ti, tj = lower_tile(p)
    i0, j0 = ti * TILE, tj * TILE
    xi = cuda.shared.array((TILE, 3), float64)
    xj = cuda.shared.array((TILE, 3), float64)
    tile = cuda.shared.array((TILE, TILE + 1), float64)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    t = ty * TILE + tx
    while t < TILE * 3:
        r, a = t // 3, t % 3
        xi[r, a] = xs[i0 + r, a] if i0 + r < n and a < d else 0.0
        xj[r, a] = xs[j0 + r, a] if j0 + r < n and a < d else 0.0
        t += TILE * ROWS
    cuda.syncthreads()
    j = j0 + tx
    for r in range(ty, TILE, ROWS):
        v = pair(xi, r, xj, tx, d, code, param, l1, variance)
        tile[r, tx] = v
        if i0 + r < n and j < n:
            out[i0 + r, j] = v
    if ti != tj:  # the diagonal tile was written whole
        cuda.syncthreads()
        for r in range(ty, TILE, ROWS):
            if j0 + r < n and i0 + tx < n:
                out[j0 + r, i0 + tx] = tile[tx, r]

@cuda.jit
def points_cross(xa, xb, code, param, l1, variance, out):
    j, i = cuda.grid(2)
    if i < xa.shape[0] and j < xb.shape[0]:
        out[i, j] = pair(xa, i, xb, j, xa.shape[1], code, param, l1, variance)

def make_matvec(entry_of):
    @cuda.jit
    def matvec(src, a, b, c, e, x, y):
        # src, a..e: the entry's operands (points: xs, code, param, l1, variance;
        # grid: table, nx, ny, unused, unused)
        n, k = x.shape[0], x.shape[1]
        cs = cuda.shared.array((TILE, TILE), float64)
        xt = cuda.shared.array((TILE, TILE), float64)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        i = cuda.blockIdx.y * TILE + ty
        col = cuda.blockIdx.x * TILE + tx
        acc = 0.0
        for j0 in range(0, n, TILE):
            j = j0 + tx
            cs[ty, tx] = entry_of(src, a, b, c, e, i, j) if i < n and j < n else 0.0
            jr = j0 + ty
            xt[ty, tx] = x[jr, col] if jr < n and col < k else 0.0
            cuda.syncthreads()
            for jj in range(TILE):
                acc += cs[ty, jj] * xt[jj, tx]
            cuda.syncthreads()
        if i < n and col < k:
            y[i, col] = acc

    return matvec

@cuda.jit(device=True, inline=True)
def points_entry(xs, code, param, l1, variance, i, j):
    return pair(xs, i, xs, j, xs.shape[1], code, param, l1, variance)

@cuda.jit(device=True, inline=True)
def table_entry(table, nx, ny, unused_a, unused_b, i, j):
    return grid_entry(table, nx, ny, i, j)

KERNELS = {"grid_fill": grid_fill, "points_symmetric": points_symmetric,
        "points_cross": points_cross, "matvec_points": make_matvec(points_entry),
        "matvec_grid": make_matvec(table_entry)}


def _stream():
    if simulator() or not torch.cuda.is_available():
        return 0
    return cuda.external_stream(torch.cuda.current_stream().cuda_stream)


# ---- launchers (numba.cuda-compatible arrays) ----------------------------------------------------
def launch_grid_fill(table, shape3, out, stream=0) -> None:
    """``out`` (n, n) from the offset ``table`` (nz, ny, 2 nx - 1); ``shape3 = (nx, ny, nz)``."""
    nx, ny, nz = (int(v) for v in shape3)
    n = nx * ny * nz
    blocks = min(-(-n // ROWS), 1 << 16)
    KERNELS["grid_fill"][blocks, (WARP, ROWS), stream](table, nx, ny, nz, out)


def launch_points_symmetric(xs, code, param, l1, variance, out, stream=0) -> None:
    """``out`` (n, n) = C(xs, xs) for scaled points xs (n, d), float64."""
    nt = -(-xs.shape[0] // TILE)
    KERNELS["points_symmetric"][nt * (nt + 1) // 2, (TILE, ROWS), stream](
        xs, int(code), float(param), bool(l1), float(variance), out)


def launch_points_cross(xa, xb, code, param, l1, variance, out, stream=0) -> None:
    """``out`` (n, m) = C(xa, xb) for scaled points xa (n, d), xb (m, d), float64."""
    grid = (-(-xb.shape[0] // TILE), -(-xa.shape[0] // TILE))
    KERNELS["points_cross"][grid, (TILE, TILE), stream](
        xa, xb, int(code), float(param), bool(l1), float(variance), out)


def launch_matvec_points(xs, code, param, l1, variance, x, y, stream=0) -> None:
    """``y`` (n, k) = C x for scaled points xs (n, d) float64 and x (n, k)."""
    grid = (-(-x.shape[1] // TILE), -(-x.shape[0] // TILE))
    KERNELS["matvec_points"][grid, (TILE, TILE), stream](
        xs, int(code), float(param), bool(l1), float(variance), x, y)


def launch_matvec_grid(table, shape3, x, y, stream=0) -> None:
    """``y`` (n, k) = C x for a regular grid, entries read from its offset table."""
    nx, ny, _ = (int(v) for v in shape3)
    grid = (-(-x.shape[1] // TILE), -(-x.shape[0] // TILE))
    KERNELS["matvec_grid"][grid, (TILE, TILE), stream](table, nx, ny, 0, 0.0, x, y)


# ---- the backend interface (same names in every backend module) ----------------------------------
def status() -> dict:
    """``{"available": bool, "reason": str}`` for the Numba CUDA device backend."""
    if simulator():
        return {"available": False, "reason": "NUMBA_ENABLE_CUDASIM=1: the kernels run in the "
                "simulator (for tests), not on a device"}
    if not torch.cuda.is_available():
        return {"available": False, "reason": "torch sees no CUDA device"}
    if not cuda.is_available():
        return {"available": False, "reason": "numba.cuda finds no usable CUDA driver/device"}
    return {"available": True, "reason": f"numba.cuda on {torch.cuda.get_device_name()}"}


def array(t: torch.Tensor):
    """Zero-copy numba view of a tensor (a NumPy view of a CPU tensor under the simulator)."""
    if t.is_cuda:
        return cuda.as_cuda_array(t.detach())
    if simulator():
        return t.detach().numpy()
    raise TypeError(f"backend='numba_cuda' needs CUDA tensors, got one on {t.device}")


def _args(model) -> tuple[int, float, bool, float]:
    return (check_code(model, "numba_cuda"), float(model.kernel_param), model.metric == "l1",
            float(model.variance))


def covariance_matrix(points, model, points_b=None, out=None) -> torch.Tensor:
    """``C(points, points_b)`` (n, m) for point tensors (n, d) on their device, into ``out``
    (default: a new tensor of the points' dtype)."""
    args = _args(model)
    xa, xb = scaled_pair(points, points_b, model)
    m = xa.shape[0] if xb is None else xb.shape[0]
    if out is None:
        out = torch.empty((xa.shape[0], m), dtype=points.dtype, device=points.device)
    check_out(out, (xa.shape[0], m), out.dtype)
    if xb is None:
        launch_points_symmetric(array(xa), *args, array(out), _stream())
    else:
        launch_points_cross(array(xa), array(xb), *args, array(out), _stream())
    return out


def grid_covariance_matrix(grid, model, out) -> torch.Tensor:
    """Fill ``out`` (n, n) on its device from the grid's offset table (any stationary model)."""
    table = offset_table(grid, model, out.dtype, out.device)
    launch_grid_fill(array(table), grid.shape3, array(out), _stream())
    return out


def covariance_matvec(points, model, x) -> torch.Tensor:
    """``C @ x`` for a tensor x (n, k) float32/float64 on its device, C never stored."""
    y = torch.empty_like(x)
    xs, _ = scaled_pair(points.to(x.device), None, model)
    launch_matvec_points(array(xs), *_args(model), array(x), array(y), _stream())
    return y


def grid_covariance_matvec(grid, model, x) -> torch.Tensor:
    """``C @ x`` for a regular grid, entries read from its offset table (any stationary model)."""
    y = torch.empty_like(x)
    table = offset_table(grid, model, torch.float64, x.device)
    launch_matvec_grid(array(table), grid.shape3, array(x), array(y), _stream())
    return y
