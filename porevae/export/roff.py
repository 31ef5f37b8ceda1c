"""ROFF parameter files (Roxar Open File Format, RMS): what ERT's ``FIELD`` keyword reads from
a ``.roff`` file, written through the kept library ``roffio``.

A binary ROFF parameter file holds the tags ``filedata`` (``filetype "parameter"``),
``dimensions`` (``nX nY nZ``) and one ``parameter`` tag per field (``name``, ``data``). ROFF runs
over the cells in another order than Eclipse: I slowest, then J, then K fastest, with K counted
from the bottom layer up (RMS's K axis is reversed against Eclipse's, where K = 1 is the top).
Cell ``(i, j, k)`` (0-based, Eclipse's K from the top) is ``data[(i * nY + j) * nZ + (nZ - 1 - k)]``
(``numpy.flip(values, -1).ravel()`` of the (nX, nY, nZ) array, as ERT's ``export_roff`` and
``import_roff`` do). Floats are written as 32-bit ``float`` (RMS works in single precision);
inactive cells of a corner-point grid hold RMS's undefined value
:data:`UNDEFINED` (-999.0), which ERT's reader masks. The ``filedata`` tag's ``creationDate`` is
the fixed :data:`CREATION_DATE` (roffio would write the current time), so that the same fields
give the same bytes and an ensemble realization regenerates bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from porevae._files import atomic_path
from porevae.export._check import check_fields

UNDEFINED = -999.0  # RMS_UNDEFINED_FLOAT: ERT masks it when it reads a ROFF field
CREATION_DATE = "01/01/1970 00:00:00"  # dd/mm/yyyy hh:mm:ss, the format RMS and roffio write


def roff_order(flat: np.ndarray, shape3) -> np.ndarray:
    """Values (nX nY nZ,) in Eclipse order (I fastest, K from the top) -> ROFF order (I
    slowest, K fastest from the bottom)."""
    return np.flip(flat.reshape(shape3, order="F"), -1).ravel()


def write_roff(path, fields: Mapping, grid, *, binary: bool = True) -> Path:
    """Write ``{name: array}`` as one ROFF parameter file, atomically.

    ``grid``: a :class:`~porevae.grid.Grid` (arrays of ``grid.shape``) or a
    :class:`~porevae.cornerpoint.CornerPointGrid` (its active cells' values (n_active,), inactive
    cells written as :data:`UNDEFINED`, or whole-grid arrays (nx, ny, nz)). Names follow the
    Eclipse keyword rules (1 to 8 characters; for ERT the ``FIELD`` ID); several fields are
    several ``parameter`` tags of the one file. Validated as for
    :func:`porevae.export.write_grdecl` before anything is written. ``binary=False`` writes
    ASCII ROFF.
    """
    try:
        import roffio
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("ROFF files need the optional 'roffio' package: "
                          "pip install 'porevae[reservoir]'") from exc
    flat = check_fields(fields, grid, fill=UNDEFINED)
    nx, ny, nz = grid.shape3
    tags: list = [("filedata", {"filetype": "parameter", "creationDate": CREATION_DATE}),
                  ("dimensions", {"nX": np.int32(nx), "nY": np.int32(ny), "nZ": np.int32(nz)})]
    for name, values in flat.items():
        data = values.astype(np.int32 if values.dtype.kind == "i" else np.float32)
        tags.append(("parameter", [("name", name), ("data", roff_order(data, (nx, ny, nz)))]))
    path = Path(path)
    with atomic_path(path) as tmp:
        roffio.write(str(tmp), tags,
                     roff_format=roffio.Format.BINARY if binary else roffio.Format.ASCII)
    return path
