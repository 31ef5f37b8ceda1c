"""Structured 1D/2D/3D grids with cell-centred collocation points.

A grid of ``shape = (nx, ny[, nz])`` cells has spacing ``(hx, hy[, hz])`` (length units of the
user, e.g. metres) and ``origin`` at the corner of its first cell. Cell ``(i, j, k)`` has its centre
at ``origin + (i + 1/2, j + 1/2, k + 1/2) * spacing``.

Flat order is I-fastest (the Eclipse/GRDECL order): flat index ``i + nx * (j + ny * k)``.
A field array of ``shape`` is therefore flattened with ``order="F"``; :meth:`Grid.flatten` and
:meth:`Grid.unflatten` do this for batches too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from porevae._validation import check_positive_finite


@dataclass(frozen=True)
class Grid:
    """Regular structured grid.

    Parameters
    ----------
    shape : tuple of int
        Number of cells per axis, 1 to 3 axes, each >= 1.
    spacing : float or tuple of float, optional
        Cell size per axis (> 0, finite). Default: ``1 / shape`` (the unit square/cube).
    origin : tuple of float, optional
        Coordinates of the grid corner. Default: zeros.
    """

    shape: tuple
    # None asks for the defaults; __post_init__ stores a tuple either way
    spacing: tuple = None  # type: ignore[assignment]
    origin: tuple = None  # type: ignore[assignment]

    def __post_init__(self):
        shape = tuple(np.atleast_1d(self.shape).tolist()) if not isinstance(self.shape, int) \
            else (self.shape,)
        if not 1 <= len(shape) <= 3:
            raise ValueError(f"shape must have 1 to 3 axes, got {len(shape)}: {shape}")
        for n in shape:
            if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
                raise ValueError(f"shape must hold integers >= 1 (an empty grid is not allowed), "
                                 f"got {shape}")
        shape = tuple(int(n) for n in shape)
        d = len(shape)
        if self.spacing is None:
            spacing = tuple(1.0 / n for n in shape)
        else:
            spacing = _per_axis(self.spacing, d, "spacing")
        check_positive_finite(spacing, "spacing")
        origin = (0.0,) * d if self.origin is None else _per_axis(self.origin, d, "origin")
        if not all(math.isfinite(o) for o in origin):
            raise ValueError(f"origin must be finite, got {origin}")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "origin", origin)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def shape3(self) -> tuple:
        """``shape`` padded with ones to three axes, ``(nx, ny, nz)``: the layout of the 3-D
        kernels, which serve 1-D and 2-D grids as ``nz = 1`` (and ``ny = 1``)."""
        return self.shape + (1,) * (3 - self.ndim)

    @property
    def field_shape(self) -> tuple:
        """Shape of one field on this grid: ``shape`` (a corner-point grid's is (n_active,))."""
        return self.shape

    @property
    def n_cells(self) -> int:
        return math.prod(self.shape)

    @property
    def cell_volume(self) -> float:
        """Cell length/area/volume ``prod(spacing)``."""
        return math.prod(self.spacing)

    def axis_centers(self, axis: int) -> np.ndarray:
        """Centre coordinates along one axis, shape ``(shape[axis],)``."""
        n, h, o = self.shape[axis], self.spacing[axis], self.origin[axis]
        return o + (np.arange(n) + 0.5) * h

    def cell_centers(self, dtype=np.float64) -> np.ndarray:
        """Cell centres, shape ``(n_cells, ndim)``, in I-fastest flat order."""
        axes = [self.axis_centers(a) for a in range(self.ndim)]
        mesh = np.meshgrid(*axes, indexing="ij")
        return np.stack([m.ravel(order="F") for m in mesh], axis=1).astype(dtype, copy=False)

    def flatten(self, field) -> np.ndarray:
        """``(..., *shape)`` -> ``(..., n_cells)`` in I-fastest order (NumPy or torch)."""
        lead = field.shape[: field.ndim - self.ndim]
        if tuple(field.shape[field.ndim - self.ndim:]) != self.shape:
            raise ValueError(f"field shape {tuple(field.shape)} does not end with grid shape "
                             f"{self.shape}")
        perm = list(range(len(lead))) + [len(lead) + a for a in reversed(range(self.ndim))]
        return field.transpose(*perm).reshape(*lead, self.n_cells) if isinstance(
            field, np.ndarray) else field.permute(*perm).reshape(*lead, self.n_cells)

    def unflatten(self, flat) -> np.ndarray:
        """``(..., n_cells)`` in I-fastest order -> ``(..., *shape)`` (NumPy or torch)."""
        if flat.shape[-1] != self.n_cells:
            raise ValueError(f"last axis has {flat.shape[-1]} values, the grid has "
                             f"{self.n_cells} cells")
        lead = tuple(flat.shape[:-1])
        rev = flat.reshape(*lead, *reversed(self.shape))
        perm = list(range(len(lead))) + [len(lead) + a for a in reversed(range(self.ndim))]
        return rev.transpose(*perm) if isinstance(rev, np.ndarray) else rev.permute(*perm)

    def to_dict(self) -> dict:
        return {"shape": list(self.shape), "spacing": list(self.spacing),
                "origin": list(self.origin)}


def _per_axis(value, d, name):
    arr = np.atleast_1d(np.asarray(value, dtype=float))
    if arr.size == 1:
        arr = np.repeat(arr, d)
    if arr.shape != (d,):
        raise ValueError(f"{name} must be a scalar or have {d} values (one per axis), "
                         f"got {np.asarray(value).tolist()}")
    return tuple(float(v) for v in arr)
