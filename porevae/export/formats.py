"""One entry point per output format, used by ensembles: the files of one realization.

========== ======================================== =========================================
format     files in the realization folder          writer
========== ======================================== =========================================
grdecl     ``PERMX.GRDECL``, ... one per keyword      :func:`porevae.export.write_grdecl`
bgrdecl    ``PERMX.BGRDECL``, ... one per keyword     :func:`porevae.export.write_bgrdecl`
vti        ``fields.vti`` (all keywords as cell data) :func:`porevae.export.write_vti`
npy        ``PERMX.npy``, ... one per keyword         :func:`porevae.export.write_npy`
h5         ``fields.h5`` (one dataset per keyword)    :func:`porevae.export.write_h5`
========== ======================================== =========================================
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from porevae.export._check import check_fields
from porevae.export.arrays import write_h5, write_npy
from porevae.export.binary import write_bgrdecl
from porevae.export.grdecl import write_grdecl
from porevae.export.vtk import write_vti

FORMATS = ("grdecl", "bgrdecl", "vti", "npy", "h5")


def check_format(fmt: str) -> str:
    """Return ``fmt`` if it is one of :data:`FORMATS`."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {FORMATS}")
    return fmt


def write_fields(folder, fields: Mapping, grid, fmt: str, header: Mapping | None = None,
                 grid_section: str | None = None) -> list[str]:
    """Write ``{keyword: array of grid.shape}`` into ``folder`` in format ``fmt``.

    All fields are validated before the first file is written. ``header`` (GRDECL comments,
    HDF5 attributes) is ignored by the other formats; ``grid_section`` (GRDECL only) puts the
    geometry into the first keyword's file. Returns the file names written, relative to
    ``folder``.
    """
    check_format(fmt)
    check_fields(fields, grid)
    if grid_section is not None and fmt != "grdecl":
        raise ValueError("grid_section is for the grdecl format only")
    folder = Path(folder)
    if fmt == "grdecl":
        for k, (name, value) in enumerate(fields.items()):
            write_grdecl(folder / f"{name}.GRDECL", {name: value}, grid, header=header,
                         grid_section=grid_section if k == 0 else None)
        return [f"{name}.GRDECL" for name in fields]
    if fmt == "bgrdecl":
        for name, value in fields.items():
            write_bgrdecl(folder / f"{name}.BGRDECL", {name: value}, grid)
        return [f"{name}.BGRDECL" for name in fields]
    if fmt == "npy":
        for name, value in fields.items():
            write_npy(folder / f"{name}.npy", value, grid, name=name)
        return [f"{name}.npy" for name in fields]
    if fmt == "vti":
        write_vti(folder / "fields.vti", fields, grid)
        return ["fields.vti"]
    write_h5(folder / "fields.h5", fields, grid, header=header)
    return ["fields.h5"]
