"""ROFF parameter files (Roxar Open File Format, RMS): what ERT's ``FIELD`` keyword reads from
a ``.roff`` file.

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

Binary files are assembled here (little-endian, the tags roffio writes: ``filedata`` with
``byteswaptest``, ``version`` 2.0, ``dimensions``, the parameters, ``eof``) and written in large
writes, each parameter's data in slabs of about :data:`PART_BYTES` (each reordered and
written while it is in the cache); they are byte
for byte what the kept library ``roffio`` writes for the same tags except the ``#Creator`` line
(porevae's), and roffio reads them (the tests' reference). ASCII ROFF (``binary=False``) is
written through roffio (optional: ``pip install 'porevae[reservoir]'``).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from porevae._files import atomic_path
from porevae._version import __version__
from porevae.cornerpoint import CornerPointGrid
from porevae.export._check import check_fields
from porevae.export._io import write_parts

UNDEFINED = -999.0  # RMS_UNDEFINED_FLOAT: ERT masks it when it reads a ROFF field
CREATION_DATE = "01/01/1970 00:00:00"  # dd/mm/yyyy hh:mm:ss, the format RMS and roffio write
PART_BYTES = 1 << 20  # bytes of data per part handed to the writer


def write_roff(path, fields: Mapping, grid, *, binary: bool = True) -> Path:
    """Write ``{name: array}`` as one ROFF parameter file, atomically.

    ``grid``: a :class:`~porevae.grid.Grid` (arrays of ``grid.shape``) or a
    :class:`~porevae.cornerpoint.CornerPointGrid` (its active cells' values (n_active,), inactive
    cells written as :data:`UNDEFINED`, or whole-grid arrays (nx, ny, nz)). Names follow the
    Eclipse keyword rules (1 to 8 characters; for ERT the ``FIELD`` ID); several fields are
    several ``parameter`` tags of the one file. Validated as for
    :func:`porevae.export.write_grdecl` before anything is written. Float fields are written as
    32-bit ``float``, integer ones as ``int``. ``binary=False`` writes ASCII ROFF (through
    roffio).
    """
    nx, ny, nz = shape3 = grid.shape3
    if not binary:
        return _write_ascii(path, check_fields(fields, grid, fill=UNDEFINED), shape3)
    # a regular grid's arrays stay in their (x, y, z) layout: ROFF's order is that layout with
    # K reversed, no transposition
    corner = isinstance(grid, CornerPointGrid)
    checked = check_fields(fields, grid, fill=UNDEFINED, flat=corner)
    for name, values in checked.items():
        if values.size >= 2**31:
            raise ValueError(f"{name} has {values.size} values; ROFF arrays hold fewer than 2**31")

    def parts():
        yield _head(shape3)
        for name, values in checked.items():
            dtype = np.dtype("<i4" if values.dtype.kind == "i" else "<f4")
            # (nX, nY, nZ) in Eclipse's K order: a corner-point grid's flat values are I fastest
            src = values.reshape(shape3, order="F" if corner else "C")
            kind = b"int" if dtype.kind == "i" else b"float"
            yield (b"tag\0parameter\0" + _char(b"name", name.encode("ascii"))
                   + b"array\0" + kind + b"\0data\0" + struct.pack("<i", values.size))
            step = max(1, PART_BYTES // (ny * nz * dtype.itemsize))
            for i0 in range(0, nx, step):          # I slowest: slabs of I, K reversed
                slab = np.empty((min(step, nx - i0), ny, nz), dtype)
                slab[...] = src[i0:i0 + step, :, ::-1]
                yield slab
            yield b"endtag\0"
        yield b"tag\0eof\0endtag\0"

    return write_parts(path, parts())


def roff_order(flat: np.ndarray, shape3, dtype=None) -> np.ndarray:
    """Values (nX nY nZ,) in Eclipse order (I fastest, K from the top) -> ROFF order (I
    slowest, K fastest from the bottom), converted to ``dtype`` (default: kept) in the same
    pass."""
    out = np.empty(flat.size, flat.dtype if dtype is None else dtype)
    out.reshape(shape3)[...] = np.flip(flat.reshape(shape3, order="F"), -1)
    return out


def _char(key: bytes, value: bytes) -> bytes:
    return b"char\0" + key + b"\0" + value + b"\0"


def _int(key: bytes, value: int) -> bytes:
    return b"int\0" + key + b"\0" + struct.pack("<i", value)


def _head(shape3) -> bytes:
    """File header and the tags before the parameters (what roffio writes first)."""
    nx, ny, nz = shape3
    return (b"roff-bin\0#ROFF file#\0" + f"#Creator: porevae {__version__}#".encode("ascii")
            + b"\0tag\0filedata\0" + _int(b"byteswaptest", 1)
            + _char(b"creationDate", CREATION_DATE.encode("ascii"))
            + _char(b"filetype", b"parameter") + b"endtag\0"
            + b"tag\0version\0" + _int(b"major", 2) + _int(b"minor", 0) + b"endtag\0"
            + b"tag\0dimensions\0" + _int(b"nX", nx) + _int(b"nY", ny) + _int(b"nZ", nz)
            + b"endtag\0")


def _write_ascii(path, flat: dict, shape3) -> Path:
    try:
        import roffio
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("ASCII ROFF files need the optional 'roffio' package: "
                          "pip install 'porevae[reservoir]'") from exc
    nx, ny, nz = shape3
    tags: list = [("filedata", {"filetype": "parameter", "creationDate": CREATION_DATE}),
                  ("dimensions", {"nX": np.int32(nx), "nY": np.int32(ny), "nZ": np.int32(nz)})]
    for name, values in flat.items():
        data = values.astype(np.int32 if values.dtype.kind == "i" else np.float32)
        tags.append(("parameter", [("name", name), ("data", roff_order(data, shape3))]))
    path = Path(path)
    with atomic_path(path) as tmp:
        roffio.write(str(tmp), tags, roff_format=roffio.Format.ASCII)
    return path
