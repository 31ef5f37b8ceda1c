"""VTK image data (``.vti``) for ParaView and other VTK viewers.

Written with pyevtk because it is small and pure Python (NumPy only, no VTK C++ build) and writes
the VTK XML format with the arrays in one *raw binary appended* block: compact, fast to load, and
readable by every VTK >= 5 reader. A 2D grid becomes a one-cell-thick image (its z extent is empty
and its z spacing 0); a 1D grid a line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from pyevtk.hl import imageToVTK

from porevae._files import atomic_path
from porevae.export._check import check_fields


def write_vti(path, fields: Mapping, grid) -> Path:
    """Write ``{name: array of grid.shape}`` as cell data of one ``.vti`` file, atomically.

    ``path`` must end in ``.vti``. The image origin and spacing are the grid's (its units); the
    arrays keep their dtype (float32/float64, int64 for integer keywords). Names follow the GRDECL
    rules so one transform output serves every format.
    """
    path = Path(path)
    if path.suffix != ".vti":
        raise ValueError(f"a VTK image file must end in .vti, got {path.name!r}")
    flat = check_fields(fields, grid)
    cells = {name: np.asfortranarray(values.reshape(grid.shape3, order="F"))
             for name, values in flat.items()}
    origin = tuple(grid.origin) + (0.0,) * (3 - grid.ndim)
    spacing = tuple(grid.spacing) + (0.0,) * (3 - grid.ndim)
    with atomic_path(path, suffix=".vti") as tmp:
        imageToVTK(str(tmp), origin=origin, spacing=spacing, cellData=cells)
    return path
