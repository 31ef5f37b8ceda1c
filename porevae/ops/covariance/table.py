"""Inputs of the covariance kernels, prepared once for every backend.

* :func:`grid_offset_table`: the ``n`` distinct covariance values of a regular grid;
* :func:`scaled_points`: points divided by the per-axis length scales (the kernels' input),
  and :func:`scaled_pair`: both point sets of a covariance about one origin (every backend's
  entry);
* :func:`check_code`: the closed form a compiled kernel is asked for must be a
  :class:`~porevae.covariance.KernelCode`.
"""

from __future__ import annotations

import numpy as np
import torch

from porevae.covariance import CovarianceModel, KernelCode
from porevae.grid import Grid


def grid_offset_table(grid: Grid, model: CovarianceModel, dtype=np.float64) -> np.ndarray:
    """Covariance at every index offset of a regular grid, shape ``(nz, ny, 2 nx - 1)``.

    ``table[dz, dy, t] = C((t - (nx - 1)) hx, dy hy, dz hz)``: the ``n`` distinct values of the
    grid's covariance matrix (any stationary model, evaluated by ``model`` itself in float64),
    laid out so that each row block of C is a contiguous slice. Needs a model symmetric under
    each axis reflection (``model.reflection_symmetric``: not rotated), since only the
    non-negative y and z offsets are kept.
    """
    model.length_scales(grid.ndim)  # validates the number of axes
    if not model.reflection_symmetric:
        raise ValueError(f"the grid offset table needs a model symmetric under each axis "
                         f"reflection; {model!r} is rotated (use the cell centres as points)")
    h = np.asarray(grid.spacing)
    nx, ny, nz = grid.shape3
    axes = [np.arange(-(nx - 1), nx) * h[0]]
    axes += [np.arange(n) * h[a] for a, n in zip(range(1, grid.ndim), (ny, nz))]
    offsets = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)  # (2nx-1, ny[, nz], d)
    table = model(offsets).reshape(2 * nx - 1, ny, nz)
    return np.ascontiguousarray(table.transpose(2, 1, 0), dtype=dtype)


def offset_table(grid: Grid, model: CovarianceModel, dtype: torch.dtype,
                 device) -> torch.Tensor:
    """:func:`grid_offset_table` as a contiguous tensor of ``dtype`` on ``device`` (n values,
    computed on the host in float64 and uploaded once)."""
    return torch.as_tensor(grid_offset_table(grid, model), dtype=dtype, device=device)


def scaled_points(points: torch.Tensor, model: CovarianceModel,
                  dtype: torch.dtype = torch.float64, origin: torch.Tensor | None = None
                  ) -> torch.Tensor:
    """Points in the model's principal axes over its length scales, ``((x - o) P) / l`` (n, d):
    the scaled distance is the plain (or L1) distance between them. ``origin`` o (d,), in the
    points' units, is subtracted first (default: none). Contiguous, on the points' device;
    computed in float64, then cast to ``dtype``."""
    p = points.to(torch.float64)
    if origin is not None:
        p = p - origin.to(device=p.device, dtype=torch.float64)
    d = p.shape[1]
    ls = torch.as_tensor(model.length_scales(d), dtype=torch.float64, device=p.device)
    if model.rotated:
        p = p @ torch.as_tensor(model.rotation(d), dtype=torch.float64, device=p.device)
    return (p / ls).to(dtype).contiguous()


def scaled_pair(points: torch.Tensor, points_b: torch.Tensor | None, model: CovarianceModel,
                dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`scaled_points` of ``points`` and of ``points_b`` (None: ``(a, None)``) about one
    origin, the mean of ``points``. The distances are those of the raw points; centred, the
    coordinates keep their digits in float32 when they are large (UTM metres: 6.7e6 has a
    float32 ulp of 0.5 m)."""
    origin = points.to(torch.float64).mean(0)
    a = scaled_points(points, model, dtype, origin)
    return a, None if points_b is None else scaled_points(points_b, model, dtype, origin)


def check_code(model: CovarianceModel, backend: str) -> int:
    """``model.kernel_code`` as an int; ValueError when it is not a :class:`KernelCode`
    (a compiled kernel never guesses a formula)."""
    code = model.kernel_code
    if code is None or code not in KernelCode.__members__.values():
        raise ValueError(f"backend={backend!r} has no compiled closed form for {model!r} "
                         f"(kernel_code {code!r}); use a Grid (offset table) or backend='torch'")
    return int(code)
