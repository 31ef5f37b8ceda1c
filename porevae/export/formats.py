"""One entry point per output format, used by ensembles: the files of one realization.

========== ======================================== =========================================
format     files in the realization folder          writer
========== ======================================== =========================================
grdecl     ``PERMX.GRDECL``, ... one per keyword      :func:`porevae.export.write_grdecl`
bgrdecl    ``PERMX.BGRDECL``, ... one per keyword     :func:`porevae.export.write_bgrdecl`
roff       ``PERMX.roff``, ... one per keyword        :func:`porevae.export.write_roff`
vti        ``fields.vti`` (all keywords as cell data) :func:`porevae.export.write_vti`
npy        ``PERMX.npy``, ... one per keyword         :func:`porevae.media.io.write_npy`
h5         ``fields.h5`` (one dataset per keyword)    :func:`porevae.export.write_h5`
========== ======================================== =========================================

A KLE on a corner-point grid writes its fields as ERT's ``FIELD`` keyword reads them
(:data:`CORNER_POINT_FORMATS`: all cells, float32, inactive cells filled, the keyword named as
the FIELD ID); its geometry is the model's own grid file, so no ``grid_section`` or
``geometry``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from porevae._validation import check_positive_finite
from porevae.export._check import CORNER_POINT_FORMATS, check_fields, check_format
from porevae.export.arrays import write_h5
from porevae.export.binary import write_bgrdecl
from porevae.export.grdecl import write_grdecl
from porevae.export.roff import write_roff
from porevae.export.vtk import write_vti
from porevae.media.io import write_npy

RESERVOIR_CELL = (50.0, 50.0, 5.0)  # m: DX DY DZ of a reservoir model's cells


def default_cell_size(grid) -> list | None:
    """``cell_size="auto"``: the grid's own spacing read as metres, unless the grid is the
    default unit square / cube (spacing ``1/shape``, no physical size), which gets reservoir
    cells of :data:`RESERVOIR_CELL` (50 m x 50 m x 5 m). A 2-D grid gets a third entry, its
    layer thickness (5 m). None for a corner-point grid: its cells are the model's own."""
    from porevae.cornerpoint import CornerPointGrid

    if isinstance(grid, CornerPointGrid):
        return None
    unit = all(abs(h * n - 1.0) < 1e-12 for h, n in zip(grid.spacing, grid.shape))
    sizes = list(RESERVOIR_CELL[:grid.ndim]) if unit else [float(h) for h in grid.spacing]
    return sizes + ([RESERVOIR_CELL[2]] if grid.ndim == 2 else [])


def physical_grid(grid, cell_size=None):
    """The grid fields are written on: ``grid`` itself (``cell_size`` None), or the same cells
    with edge lengths ``cell_size`` [m] (one value, or one per axis; a 2-D grid may take a third
    entry, its layer thickness, used by the GRDECL geometry) from origin 0; ``"auto"``:
    :func:`default_cell_size`.

    Returns ``(grid, thickness)``; ``thickness`` is None unless given for a 2-D grid.
    """
    from porevae.grid import Grid

    if isinstance(cell_size, str):
        if cell_size != "auto":
            raise ValueError(f"cell_size must be 'auto' or numbers [m], got {cell_size!r}")
        cell_size = default_cell_size(grid)
    if cell_size is None:
        return grid, None
    sizes = [float(c) for c in np.atleast_1d(cell_size)]
    if len(sizes) == 1:
        sizes = sizes * grid.ndim
    if len(sizes) not in (grid.ndim, grid.ndim + (grid.ndim == 2)):
        raise ValueError(f"cell_size needs 1 or {grid.ndim} values"
                         f"{' (or 3: DX DY and the layer thickness)' if grid.ndim == 2 else ''}"
                         f" for a {grid.ndim}-D grid, got {sizes}")
    check_positive_finite(sizes, "cell_size")
    thickness = sizes[2] if grid.ndim == 2 and len(sizes) == 3 else None
    return Grid(grid.shape, spacing=tuple(sizes[:grid.ndim])), thickness


def check_target(grid, fmt: str, grid_section: str | None = None,
                 geometry: Mapping | None = None) -> None:
    """Refuse, in one line, what ``grid`` cannot be written as: a corner-point grid takes the
    :data:`CORNER_POINT_FORMATS` only, and neither a ``grid_section`` nor a ``cell_size``
    (``"auto"`` is its own cells; ``top`` only places a grid section, so it has no effect)."""
    from porevae.cornerpoint import CornerPointGrid

    check_format(fmt)
    if not isinstance(grid, CornerPointGrid):
        return
    if fmt not in CORNER_POINT_FORMATS:
        raise ValueError(f"format {fmt!r} needs a regular grid; fields of a corner-point grid "
                         f"are written as one of {CORNER_POINT_FORMATS}")
    cell_size = dict(geometry or {}).get("cell_size")
    given = [k for k, v in (("grid_section", grid_section), ("cell_size", cell_size))
             if v is not None and not (k == "cell_size" and v == "auto")]
    if given:
        raise ValueError(f"{', '.join(given)} set for a corner-point grid, whose geometry is its "
                         f"own grid file (INCLUDE it in the deck)")


SUFFIXES = {"grdecl": ".GRDECL", "bgrdecl": ".BGRDECL", "roff": ".roff", "npy": ".npy"}
ONE_FILE = {"vti": "fields.vti", "h5": "fields.h5"}


def file_names(keywords, fmt: str) -> list[str]:
    """The files :func:`write_fields` writes for ``keywords`` in format ``fmt`` (relative to
    its folder): one per keyword (``PERMX.GRDECL``), or one for all (``fields.vti``)."""
    check_format(fmt)
    if fmt in ONE_FILE:
        return [ONE_FILE[fmt]]
    return [f"{name}{SUFFIXES[fmt]}" for name in keywords]


def write_fields(folder, fields: Mapping, grid, fmt: str, header: Mapping | None = None,
                 grid_section: str | None = None, geometry: Mapping | None = None) -> list[str]:
    """Write ``{keyword: array of grid.shape}`` into ``folder`` in format ``fmt``.

    All fields are validated before the first file is written. ``header`` (GRDECL comments,
    HDF5 attributes) is ignored by the other formats; ``grid_section`` (GRDECL only) puts the
    geometry into the first keyword's file. ``geometry`` = ``{"cell_size": [m, ...], "top": m}``
    writes the fields on physical cells (:func:`physical_grid`; ``top`` = depth of the top
    face) instead of ``grid``'s own units. Returns the file names written, relative to
    ``folder``.
    """
    check_target(grid, fmt, grid_section, geometry)
    geometry = dict(geometry or {})
    grid, thickness = physical_grid(grid, geometry.get("cell_size"))
    top = geometry.get("top")
    layer = {"top": top} | ({"thickness": thickness} if thickness else {})
    checked = check_fields(fields, grid)
    if grid_section is not None and fmt != "grdecl":
        raise ValueError("grid_section is for the grdecl format only")
    folder = Path(folder)
    names = file_names(fields, fmt)
    if fmt == "grdecl":
        for k, (name, value) in enumerate(fields.items()):
            write_grdecl(folder / names[k], {name: value}, grid, header=header,
                         grid_section=grid_section if k == 0 else None, **layer)
    elif fmt == "bgrdecl":
        for file, (name, value) in zip(names, fields.items()):
            write_bgrdecl(folder / file, {name: value}, grid)
    elif fmt == "roff":
        for file, (name, value) in zip(names, fields.items()):
            write_roff(folder / file, {name: value}, grid)
    elif fmt == "npy":             # the arrays validated as for GRDECL, axes (x, y[, z])
        for file, value in zip(names, checked.values()):
            write_npy(folder / file, np.ascontiguousarray(grid.unflatten(value)))
    elif fmt == "vti":
        write_vti(folder / names[0], fields, grid)
    else:
        write_h5(folder / names[0], fields, grid, header=header)
    return names
