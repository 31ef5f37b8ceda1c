"""Covariance assembly and matrix-free products: ``ops.covariance_matrix``,
``ops.covariance_matvec`` and the grid's offset table.

Backends beside this file (same function names in each, chosen by :mod:`porevae.ops._dispatch`):
``reference`` (torch), ``numba_cpu``, ``numba_cuda``, ``cuda``. On a regular :class:`Grid` every
stationary model runs on every backend (C is copied from the table of the ``n`` distinct values,
a memory-bound fill); on a point set the compiled backends need a closed form
(:class:`~porevae.covariance.KernelCode`), other models run on ``torch``. A rotated model has no
offset table (it is not symmetric under each axis reflection): a Grid then enters as its cell
centres.
"""

from __future__ import annotations

import torch

from porevae._validation import check_memory
from porevae.covariance import CovarianceModel
from porevae.grid import Grid
from porevae.ops import _dispatch
from porevae.ops._common import as_tensor, check_out, empty, torch_dtype
from porevae.ops.covariance.table import grid_offset_table

__all__ = ["covariance_matrix", "covariance_matvec", "grid_offset_table"]

OP = "covariance"
_ANY = tuple(_dispatch.MODULES)


def _check_points(points, name="points") -> torch.Tensor:
    t = as_tensor(points, name)
    if t.ndim != 2 or not 1 <= t.shape[1] <= 3 or t.shape[0] < 1:
        raise ValueError(f"{name} must have shape (n, d) with n >= 1 and d in 1..3, got "
                         f"{tuple(t.shape)}")
    if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
        raise TypeError(f"{name} must hold real numbers, got {t.dtype}")
    return t


def _supported(model, grid: bool, matvec: bool = False) -> tuple:
    """Backends for a call: every one on a grid's table (the host matvec kernel works on the
    cell centres, so it needs a closed form); on points the compiled ones need a closed form."""
    if model.kernel_code is not None or (grid and not matvec):
        return _ANY
    return ("torch", "cuda", "numba_cuda") if grid else ("torch",)


def _why(model) -> str:
    return "" if model.kernel_code is not None else \
        f" (no compiled closed form for {model!r} on points)"


def covariance_matrix(points, model: CovarianceModel, points_b=None, out=None,
                      backend: str = "auto", dtype=None):
    """Dense covariance matrix ``C[i, j] = C(x_i - y_j)``.

    Parameters
    ----------
    points : Grid, array (n, d) or tensor (n, d)
        A :class:`~porevae.grid.Grid` (cells in I-fastest order; C is filled from the table of
        index offsets) or collocation points in length units, d in 1..3.
    model : CovarianceModel
    points_b : array (m, d), optional
        Second point set for a cross-covariance ``(n, m)``; default: ``points`` (symmetric
        and exactly so: on the host both triangles are evaluated row by row, which streams the
        writes; the CUDA kernels compute one triangle of tiles and mirror it).
    out : array or tensor (n, m), optional
        Preallocated C-contiguous output, float32 or float64; the work runs on its device
        (a CUDA tensor: a device backend; a Grid's matrix can be filled on any device this way).
    backend : {"auto", "numba", "torch", "cuda", "numba_cuda"}
    dtype : float32 or float64, default ``out``'s, else the tensor's, else float64

    Returns
    -------
    (n, m) of the type of ``points`` (NumPy for a Grid and for NumPy points), or ``out``.
    Memory: ``n m`` entries, refused up front when they do not fit.
    """
    if isinstance(points, Grid) and not model.reflection_symmetric:  # no offset table: points
        if points_b is not None:
            raise ValueError("points_b is not supported with a Grid; pass cell centres instead")
        centres = torch.from_numpy(points.cell_centers())
        if isinstance(out, torch.Tensor):
            return covariance_matrix(centres.to(out.device), model, None, out, backend, dtype)
        return covariance_matrix(centres.numpy(), model, None, out, backend, dtype)
    grid = points if isinstance(points, Grid) else None
    if grid is not None:
        if points_b is not None:
            raise ValueError("points_b is not supported with a Grid; pass cell centres instead")
        model.length_scales(grid.ndim)
        n = m = grid.n_cells
        device = out.device if isinstance(out, torch.Tensor) else torch.device("cpu")
        numpy_out = not isinstance(out, torch.Tensor)
    else:
        pa = _check_points(points)
        pb = None if points_b is None else _check_points(points_b, "points_b")
        if pb is not None and pb.shape[1] != pa.shape[1]:
            raise ValueError(f"points_b has {pb.shape[1]} axes, points has {pa.shape[1]}")
        model.length_scales(pa.shape[1])  # validates the number of axes
        n = pa.shape[0]
        m = n if pb is None else pb.shape[0]
        device = pa.device
        numpy_out = not isinstance(points, torch.Tensor) if out is None else \
            not isinstance(out, torch.Tensor)
    if out is not None:
        tdt = torch_dtype(out.dtype, "out")
    elif dtype is not None:
        tdt = torch_dtype(dtype)
    elif grid is None and isinstance(points, torch.Tensor) and pa.is_floating_point():
        tdt = torch_dtype(pa.dtype, "points")
    else:
        tdt = torch.float64
    if out is None:
        check_memory(n * m * tdt.itemsize, f"a dense {n} x {m} covariance matrix")
        res = empty((n, m), tdt, device)
    else:
        res = check_out(out, (n, m), tdt)
    be = _dispatch.resolve(OP, backend, device.type == "cuda", _supported(model, grid is not None),
                           _why(model))
    if grid is not None:
        be.grid_covariance_matrix(grid, model, out=res)
    else:
        be.covariance_matrix(pa, model, pb, out=res)
    if out is not None:
        return out
    return res.numpy() if numpy_out else res


def covariance_matvec(points, model: CovarianceModel, x, backend: str = "auto"):
    """``C @ x`` computed tile by tile, never storing C.

    points: Grid or (n, d) points; x: (n,) or (n, k), float32 or float64, NumPy or a tensor on
    any device (the work runs there). Returns the type, device and dtype of ``x``. Cost: n^2
    covariance evaluations and 2 n^2 k flops, memory O(n k).
    """
    if isinstance(points, Grid) and not model.reflection_symmetric:  # no offset table: points
        points = points.cell_centers()
    grid = points if isinstance(points, Grid) else None
    if grid is not None:
        model.length_scales(grid.ndim)
        n = grid.n_cells
    else:
        pts = _check_points(points)
        model.length_scales(pts.shape[1])
        n = pts.shape[0]
    xt = as_tensor(x, "x")
    if xt.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"x must be float32 or float64, got {xt.dtype}")
    if xt.ndim not in (1, 2) or xt.shape[0] != n:
        raise ValueError(f"x must have shape ({n},) or ({n}, k), got {tuple(xt.shape)}")
    vec = xt.ndim == 1
    x2 = (xt[:, None] if vec else xt).contiguous()
    be = _dispatch.resolve(OP, backend, xt.is_cuda, _supported(model, grid is not None, True),
                           _why(model))
    y = be.grid_covariance_matvec(grid, model, x2) if grid is not None else \
        be.covariance_matvec(pts, model, x2)
    y = y[:, 0] if vec else y
    return y if isinstance(x, torch.Tensor) else y.numpy()
