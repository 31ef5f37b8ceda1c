"""CUDA backend of the covariance operation: thin wrappers of ``porevae._cuda`` (``csrc/ops/``).

Each wrapper passes device pointers of C-contiguous torch tensors and torch's current stream;
the kernels launch without synchronising. Arithmetic in the output's dtype (float32/float64).
"""

from __future__ import annotations

import torch

from porevae.ops import _cuda_ext
from porevae.ops._common import check_device_tensor
from porevae.ops.covariance.table import check_code, offset_table, scaled_pair

FUNCTIONS = ("cov_points_symmetric", "cov_points_cross", "cov_grid_fill", "cov_matvec_points",
             "cov_matvec_grid")


def status() -> dict:
    return _cuda_ext.status(*FUNCTIONS)


def _model_args(model) -> dict:
    return {"code": check_code(model, "cuda"), "param": model.kernel_param,
            "l1": model.metric == "l1", "variance": model.variance}


def covariance_matrix(points, model, points_b=None, out=None) -> torch.Tensor:
    """``C(points, points_b)`` (n, m) for CUDA point tensors (n, d), into ``out`` (C-contiguous
    CUDA tensor, float32/float64; default: a new one of the points' dtype). Symmetric case: one
    triangle of 32 x 32 tiles computed and mirrored."""
    ext = _cuda_ext.extension(*FUNCTIONS)
    args = _model_args(model)
    check_device_tensor(points, "points")
    dtype = out.dtype if out is not None else points.dtype
    n, d = points.shape
    if points_b is not None:
        check_device_tensor(points_b, "points_b")
    xa, xb = scaled_pair(points, points_b, model, dtype)
    m = n if xb is None else xb.shape[0]
    if out is None:
        out = torch.empty((n, m), dtype=dtype, device=points.device)
    check_device_tensor(out, "out", dtype, (n, m))
    common = {**args, "out": out.data_ptr(), "double": dtype == torch.float64,
              "stream": _cuda_ext.stream()}
    with torch.cuda.device(points.device):
        if xb is None:
            ext.cov_points_symmetric(x=xa.data_ptr(), n=n, d=d, **common)
        else:
            ext.cov_points_cross(xa=xa.data_ptr(), xb=xb.data_ptr(), n=n, m=m, d=d, **common)
    return out


def grid_covariance_matrix(grid, model, out) -> torch.Tensor:
    """Fill ``out`` (n, n), a C-contiguous CUDA tensor, from the grid's offset table (any
    stationary model; the table is evaluated on the host, n values)."""
    ext = _cuda_ext.extension(*FUNCTIONS)
    n = grid.n_cells
    check_device_tensor(out, "out", None, (n, n))
    table = offset_table(grid, model, out.dtype, out.device)
    nx, ny, nz = grid.shape3
    with torch.cuda.device(out.device):
        ext.cov_grid_fill(table=table.data_ptr(), nx=nx, ny=ny, nz=nz, out=out.data_ptr(),
                          double=out.dtype == torch.float64, stream=_cuda_ext.stream())
    return out


def _check_x(x):
    check_device_tensor(x, "x")
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"x must be float32 or float64, got {x.dtype}")


def covariance_matvec(points, model, x) -> torch.Tensor:
    """``C @ x`` for x a C-contiguous CUDA tensor (n, k), closed-form models; C never stored."""
    ext = _cuda_ext.extension(*FUNCTIONS)
    args = _model_args(model)
    _check_x(x)
    n, k = x.shape
    y = torch.empty_like(x)
    pts, _ = scaled_pair(points.to(x.device), None, model, x.dtype)
    with torch.cuda.device(x.device):
        ext.cov_matvec_points(points=pts.data_ptr(), n=n, d=pts.shape[1], **args,
                              x=x.data_ptr(), k=k, y=y.data_ptr(),
                              double=x.dtype == torch.float64, stream=_cuda_ext.stream())
    return y


def grid_covariance_matvec(grid, model, x) -> torch.Tensor:
    """``C @ x`` for a regular grid, entries read from its offset table (any stationary model)."""
    ext = _cuda_ext.extension(*FUNCTIONS)
    _check_x(x)
    k = x.shape[1]
    y = torch.empty_like(x)
    table = offset_table(grid, model, x.dtype, x.device)
    nx, ny, nz = grid.shape3
    with torch.cuda.device(x.device):
        ext.cov_matvec_grid(table=table.data_ptr(), nx=nx, ny=ny, nz=nz, x=x.data_ptr(), k=k,
                            y=y.data_ptr(), double=x.dtype == torch.float64,
                            stream=_cuda_ext.stream())
    return y
