"""Pure-PyTorch covariance assembly and products: the oracle in tests and the baseline in bench/.

Written the way one would without custom kernels (``torch.cdist`` + the model's own formula
:meth:`~porevae.covariance.CovarianceModel.correlation`, gathers from the offset table), on any
device torch supports. Any stationary model works (a formula without a torch form, such as the
general Matern, is evaluated on the host).
"""

from __future__ import annotations

import torch

from porevae.covariance import CovarianceModel
from porevae.grid import Grid
from porevae.ops.covariance.table import offset_table, scaled_pair

TILE = 2048  # rows of C per step of the products


def status() -> dict:
    return {"available": True, "reason": f"torch {torch.__version__}"}


def covariance_matrix(points: torch.Tensor, model: CovarianceModel,
                      points_b: torch.Tensor | None = None, out=None) -> torch.Tensor:
    """``C[i, j] = C(x_i - y_j)``: points (n, d), points_b (m, d) -> (n, m) (into ``out`` when
    given), in the dtype of ``points`` (``out``'s dtype when given)."""
    dtype = out.dtype if out is not None else points.dtype
    a, b = scaled_pair(points, points_b, model, dtype)
    b = a if b is None else b
    r = torch.cdist(a, b, p=2.0 if model.metric == "euclidean" else 1.0,
                    compute_mode="donot_use_mm_for_euclid_dist")
    c = model.correlation(r).mul_(model.variance)
    if out is None:
        return c
    out.copy_(c)
    return out


def _grid_rows(table: torch.Tensor, shape3, rows: torch.Tensor) -> torch.Tensor:
    """Rows ``rows`` of a grid's covariance gathered from its offset table: (len(rows), n).

    ``C[i, j] = table[|iz - jz|, |iy - jy|, jx - ix + nx - 1]``, rows and columns I-fastest.
    """
    nx, ny, nz = shape3
    j = torch.arange(nx * ny * nz, device=table.device)
    ix, iy, iz = rows % nx, (rows // nx) % ny, rows // (nx * ny)
    jx, jy, jz = j % nx, (j // nx) % ny, j // (nx * ny)
    return table[(iz[:, None] - jz).abs(), (iy[:, None] - jy).abs(), jx - ix[:, None] + nx - 1]


def grid_covariance_matrix(grid: Grid, model: CovarianceModel, out=None,
                           dtype=torch.float64, device="cpu") -> torch.Tensor:
    """Dense covariance (n, n) of a regular grid gathered from its offset table, on ``out``'s
    device (else ``device``), ``TILE`` rows at a time."""
    if out is not None:
        dtype, device = out.dtype, out.device
    table = offset_table(grid, model, dtype, device)
    n = grid.n_cells
    res = torch.empty((n, n), dtype=dtype, device=device) if out is None else out
    for s in range(0, n, TILE):
        rows = torch.arange(s, min(s + TILE, n), device=device)
        res[s:s + TILE] = _grid_rows(table, grid.shape3, rows)
    return res


def covariance_matvec(points: torch.Tensor, model: CovarianceModel, x: torch.Tensor,
                      tile: int = TILE) -> torch.Tensor:
    """``C @ x`` for (n, d) points and x of shape (n, k), ``tile`` rows of C at a time."""
    out = torch.empty_like(x)
    pts = points.to(device=x.device, dtype=x.dtype)
    for start in range(0, pts.shape[0], tile):
        block = covariance_matrix(pts[start:start + tile], model, pts)
        out[start:start + tile] = block @ x
    return out


def grid_covariance_matvec(grid: Grid, model: CovarianceModel, x: torch.Tensor,
                           tile: int = TILE) -> torch.Tensor:
    """``C @ x`` for a regular grid, x (n, k): rows of C gathered from the offset table."""
    table = offset_table(grid, model, x.dtype, x.device)
    out = torch.empty_like(x)
    n = grid.n_cells
    for s in range(0, n, tile):
        rows = torch.arange(s, min(s + tile, n), device=x.device)
        out[s:s + tile] = _grid_rows(table, grid.shape3, rows) @ x
    return out
