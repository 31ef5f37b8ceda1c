"""Custom kernels, one public function per operation, each dispatching on ``backend``.

``backend="auto"`` picks the fastest available backend for the inputs' device: ``"cuda"`` for CUDA
tensors when ``porevae._cuda`` is built (else ``"numba_cuda"``, the Numba CUDA kernels of
:mod:`porevae.ops.numba_cuda`), ``"numba"`` on the host, ``"torch"`` (the pure-PyTorch
reference of :mod:`porevae.ops.reference`) otherwise. :func:`backends` says which are usable and why
not. NumPy arrays in give NumPy arrays out; torch tensors in give torch tensors out on their device.
"""

from __future__ import annotations

import numpy as np
import torch

from porevae._validation import check_choice, check_memory
from porevae.covariance import CovarianceModel
from porevae.grid import Grid
from porevae.ops import cuda as _cuda
from porevae.ops import reference
from porevae.ops.latent_loss import vae_latent_loss

BACKENDS = ("auto", "numba", "torch", "cuda", "numba_cuda")
DEVICE_BACKENDS = ("cuda", "numba_cuda")

__all__ = ["backends", "covariance_matrix", "covariance_matvec", "grid_offset_table",
           "reference", "vae_latent_loss"]


def backends() -> dict:
    """Availability of each backend: ``{name: {"available": bool, "reason": str}}``."""
    out = {"torch": {"available": True, "reason": f"torch {torch.__version__}"}}
    try:
        import numba

        out["numba"] = {"available": True, "reason": f"numba {numba.__version__}"}
    except ImportError as exc:  # pragma: no cover - numba is a dependency
        out["numba"] = {"available": False, "reason": f"numba not importable: {exc}"}
    out["cuda"] = _cuda.status()
    out["numba_cuda"] = _device("numba_cuda").status()
    return out


def _device(backend):
    """The module of a device backend: ``ops.cuda`` (pybind11) or ``ops.numba_cuda``."""
    if backend == "cuda":
        return _cuda
    from porevae.ops import numba_cuda  # imports numba.cuda: only when asked for

    return numba_cuda


def _to_numpy(x, dtype=None):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(x, dtype=dtype)


def _resolve(backend, is_cuda_tensor, model):
    check_choice(backend, "backend", BACKENDS)
    if backend == "auto":
        if is_cuda_tensor:
            if _cuda.status()["available"]:
                return "cuda"
            return "numba_cuda" if _device("numba_cuda").status()["available"] else "torch"
        return "numba" if model.kernel_code is not None else "torch"
    if backend == "numba" and model.kernel_code is None:
        raise ValueError(f"backend='numba' has no closed form for {model!r}; use backend='torch'")
    if backend in DEVICE_BACKENDS and not _device(backend).status()["available"]:
        raise RuntimeError(f"backend={backend!r} is unavailable: "
                           f"{_device(backend).status()['reason']}")
    return backend


def _check_points(points, name="points"):
    if points.ndim != 2 or not 1 <= points.shape[1] <= 3 or points.shape[0] < 1:
        raise ValueError(f"{name} must have shape (n, d) with n >= 1 and d in 1..3, got "
                         f"{tuple(points.shape)}")


def grid_offset_table(grid: Grid, model: CovarianceModel, dtype=np.float64) -> np.ndarray:
    """Covariance at every index offset of a regular grid, shape ``(nz, ny, 2 nx - 1)``.

    ``table[dz, dy, t] = C((t - (nx - 1)) hx, dy hy, dz hz)``: the ``n`` distinct values of the
    grid's covariance matrix, laid out so that each row block of C is a contiguous slice.
    """
    shape3 = tuple(grid.shape) + (1,) * (3 - grid.ndim)
    h = np.asarray(grid.spacing)
    nx, ny, nz = shape3
    axes = [np.arange(-(nx - 1), nx) * h[0]]
    axes += [np.arange(n) * h[a] for a, n in zip(range(1, grid.ndim), (ny, nz))]
    mesh = np.meshgrid(*axes, indexing="ij")
    offsets = np.stack(mesh, axis=-1)  # (2nx-1, ny[, nz], d)
    table = model(offsets).reshape(2 * nx - 1, ny, nz)
    return np.ascontiguousarray(table.transpose(2, 1, 0), dtype=dtype)


def covariance_matrix(points, model: CovarianceModel, points_b=None, out=None,
                      backend: str = "auto", dtype=None):
    """Dense covariance matrix.

    Parameters
    ----------
    points : Grid, array (n, d) or tensor (n, d)
        A :class:`~porevae.grid.Grid` (cells in I-fastest order; C is filled from the table of
        index offsets, a memory-bound copy) or collocation points in length units.
    model : CovarianceModel
    points_b : array (m, d), optional
        Second point set for a cross-covariance ``(n, m)``; default: ``points`` (symmetric,
        one triangle computed and mirrored).
    out : array (n, m), optional
        Preallocated output (C-contiguous, float32 or float64).
    backend : {"auto", "numba", "torch", "cuda"}
    dtype : float32 or float64, default float64 (or ``out.dtype``, or the tensor's dtype)

    Returns
    -------
    (n, m) array of the type of ``points`` (NumPy for a Grid).
    """
    if isinstance(points, Grid):
        if points_b is not None:
            raise ValueError("points_b is not supported with a Grid; pass cell centres instead")
        return _grid_matrix(points, model, out, backend, dtype)
    is_torch = isinstance(points, torch.Tensor)
    _check_points(points)
    if points_b is not None:
        _check_points(points_b, "points_b")
        if points_b.shape[1] != points.shape[1]:
            raise ValueError(f"points_b has {points_b.shape[1]} axes, points has "
                             f"{points.shape[1]}")
    model.length_scales(points.shape[1])  # validates the number of axes
    n = points.shape[0]
    m = n if points_b is None else points_b.shape[0]
    dtype = _dtype(dtype, out, points if is_torch else None)
    _check_out(out, (n, m), dtype)
    if out is None:
        check_memory(n * m * np.dtype(dtype).itemsize, f"a dense {n} x {m} covariance matrix")
    be = _resolve(backend, is_torch and points.is_cuda, model)
    if be in DEVICE_BACKENDS:
        return _device(be).covariance_matrix(points, model, points_b, out, dtype)
    if be == "torch":
        tdt = torch.float64 if dtype == np.float64 else torch.float32
        pa = torch.as_tensor(points).to(tdt)
        pb = None if points_b is None else torch.as_tensor(points_b).to(tdt)
        res = reference.covariance_matrix(pa, model, pb)
        if out is not None:
            out[...] = res if isinstance(out, torch.Tensor) else res.cpu().numpy()
            return out
        return res if is_torch else res.numpy()
    from porevae.ops import numba_cpu

    ls = model.length_scales(points.shape[1])
    xa = _to_numpy(points, np.float64) / ls
    res = out if out is not None else np.empty((n, m), dtype=dtype)
    target = res.numpy() if isinstance(res, torch.Tensor) else res
    l1 = model.metric == "l1"
    if points_b is None:
        numba_cpu.cov_points_symmetric(xa, model.kernel_code, model.kernel_param, l1,
                                       model.variance, target)
    else:
        xb = _to_numpy(points_b, np.float64) / ls
        numba_cpu.cov_points_cross(xa, xb, model.kernel_code, model.kernel_param, l1,
                                   model.variance, target)
    if is_torch and not isinstance(res, torch.Tensor):
        return torch.from_numpy(res)
    return res


def _grid_matrix(grid, model, out, backend, dtype):
    model.length_scales(grid.ndim)
    n = grid.n_cells
    dtype = _dtype(dtype, out, None)
    _check_out(out, (n, n), dtype)
    if out is None:
        check_memory(n * n * np.dtype(dtype).itemsize, f"the dense {n} x {n} covariance of grid "
                     f"{grid.shape}")
    check_choice(backend, "backend", BACKENDS)
    if backend == "torch":
        return covariance_matrix(grid.cell_centers(), model, out=out, backend="torch",
                                 dtype=dtype)
    if backend in DEVICE_BACKENDS:
        return _device(backend).grid_covariance_matrix(grid, model, out, dtype)
    from porevae.ops import numba_cpu

    table = grid_offset_table(grid, model, dtype)
    res = np.empty((n, n), dtype=dtype) if out is None else out
    target = res.numpy() if isinstance(res, torch.Tensor) else res
    nx, ny, nz = tuple(grid.shape) + (1,) * (3 - grid.ndim)
    numba_cpu.cov_grid_fill(table, nx, ny, nz, target)
    return res


def covariance_matvec(points, model: CovarianceModel, x, backend: str = "auto"):
    """``C @ x`` computed tile by tile, never storing C.

    points: Grid or (n, d) points; x: (n,) or (n, k). Returns the type and dtype of ``x``
    (float32 or float64). Cost: n^2 covariance evaluations and 2 n^2 k flops, memory O(n k).
    """
    grid = points if isinstance(points, Grid) else None
    if grid is not None:
        points = grid.cell_centers()
    is_torch = isinstance(x, torch.Tensor)
    _check_points(points)
    model.length_scales(points.shape[1])
    n = points.shape[0]
    if x.shape[0] != n:
        raise ValueError(f"x has {x.shape[0]} rows but there are {n} points")
    vec = x.ndim == 1
    be = _resolve(backend, is_torch and x.is_cuda, model)
    if be in DEVICE_BACKENDS:  # a Grid goes to the offset-table kernel
        return _device(be).covariance_matvec(grid if grid is not None else points, model, x)
    if be == "torch":
        xt = torch.as_tensor(x)
        pts = torch.as_tensor(points).to(device=xt.device, dtype=xt.dtype)
        res = reference.covariance_matvec(pts, model, xt[:, None] if vec else xt)
        res = res[:, 0] if vec else res
        return res if is_torch else res.numpy()
    from porevae.ops import numba_cpu

    xs = _to_numpy(points, np.float64) / model.length_scales(points.shape[1])
    xn = _to_numpy(x)
    if xn.dtype not in (np.float32, np.float64):
        raise TypeError(f"x must be float32 or float64, got {xn.dtype}")
    x2 = np.ascontiguousarray(xn[:, None] if vec else xn)
    res = np.empty_like(x2)
    numba_cpu.cov_matvec(xs, model.kernel_code, model.kernel_param, model.metric == "l1",
                         model.variance, x2, res)
    res = res[:, 0] if vec else res
    return torch.from_numpy(res).to(x.device) if is_torch else res


def _np_dtype(dt):
    if isinstance(dt, torch.dtype):
        return np.dtype(str(dt).replace("torch.", ""))
    try:
        return np.dtype(dt)
    except TypeError as exc:
        raise ValueError(f"dtype must be float32 or float64, got {dt!r}") from exc


def _dtype(dtype, out, tensor):
    if out is not None:
        dt = _np_dtype(out.dtype)
    elif dtype is not None:
        dt = _np_dtype(dtype)
    elif tensor is not None:
        dt = _np_dtype(tensor.dtype)
    else:
        dt = np.dtype(np.float64)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt.type


def _check_out(out, shape, dtype):
    if out is None:
        return
    if tuple(out.shape) != shape:
        raise ValueError(f"out must have shape {shape}, got {tuple(out.shape)}")
    contiguous = out.is_contiguous() if isinstance(out, torch.Tensor) else \
        out.flags.c_contiguous
    if not contiguous:
        raise ValueError("out must be C-contiguous")
