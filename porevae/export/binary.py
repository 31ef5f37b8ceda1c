"""Binary GRDECL (``.bgrdecl``): Eclipse's Fortran unformatted records.

Each keyword is a header record (8-character keyword, element count, type) and the values,
big-endian, in the Eclipse cell order (I fastest, then J, then K), in data records of
:data:`GROUP` values; every record is framed by its length in bytes (big-endian int32) before
and after. Floats are written as ``REAL`` (float32, what Eclipse's ``IMPORT`` expects) unless
``float_dtype=np.float64`` asks for ``DOUB``; integer keywords (``ACTNUM``, ``*NUM``) as ``INTE``
(int32).

Float keywords of a regular :class:`~porevae.grid.Grid` (the ensembles' case) are validated on
the ``(x, y[, z])`` array as given (no reordering copy first), reordered to I-fastest and cast in
one compiled pass (:func:`_transpose_cast`), byte-swapped into the records of the whole keyword
(both in buffers kept per thread) and written in one call. Integer keywords and
corner-point grids take the general path: the flat values assembled :data:`PART_RECORDS` records
at a time, each part written as it is made. Both give the bytes of the kept library resfo
(``resfo.write``, the tests' reference), which reads them back here (:func:`read_bgrdecl`).
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import numba as nb
import numpy as np
import resfo

from porevae._files import FileIntegrityError
from porevae._validation import check_choice
from porevae.cornerpoint import CornerPointGrid
from porevae.export._check import check_fields, is_integer_keyword
from porevae.export._io import write_parts

GROUP = 1000  # values per data record of a numeric keyword (Eclipse's blocking)
PART_RECORDS = 256  # data records per part handed to the writer (1 MB of REAL)
TYPES = {np.dtype(np.int32): b"INTE", np.dtype(np.float32): b"REAL",
         np.dtype(np.float64): b"DOUB"}
HEADER = 24  # bytes of a keyword's header record
KEEP_BYTES = 1 << 26  # the largest buffer kept per thread between files (64 MiB)
_BUFFERS = threading.local()


def write_bgrdecl(path, fields: Mapping, grid, *, float_dtype=np.float32) -> Path:
    """Write ``{keyword: array of grid.shape}`` as a binary GRDECL file, atomically.

    ``float_dtype`` is ``np.float32`` (``REAL``) or ``np.float64`` (``DOUB``). Inputs are validated
    as for :func:`porevae.export.write_grdecl` before anything is written; ``grid`` may be a
    :class:`~porevae.cornerpoint.CornerPointGrid` with active-cell values, written over all
    ``nx ny nz`` cells with 0.0 in the inactive ones (ERT's ``FIELD`` ignores them).
    """
    float_dtype = np.dtype(check_choice(np.dtype(float_dtype).name, "float_dtype",
                                        ("float32", "float64")))
    if isinstance(grid, CornerPointGrid):
        return _write_flat(path, check_fields(fields, grid), float_dtype)
    checked = check_fields(fields, grid, flat=False)   # validated, (x, y[, z]), no reordering
    if any(is_integer_keyword(name) for name in checked):
        return _write_flat(path, {name: grid.flatten(v) for name, v in checked.items()},
                           float_dtype)
    _check_sizes(checked)
    return write_parts(path, (keyword_buffer(name, values, float_dtype)
                              for name, values in checked.items()))


def _check_sizes(values: Mapping) -> None:
    for name, v in values.items():
        if v.size >= 2**31:
            raise ValueError(f"{name} has {v.size} values; binary GRDECL keywords hold "
                             f"fewer than 2**31")


def _write_flat(path, flat: Mapping, float_dtype: np.dtype) -> Path:
    _check_sizes(flat)
    return write_parts(path, (part for name, values in flat.items()
                              for part in keyword_parts(name, values.astype(
                                  np.int32 if values.dtype.kind == "i" else float_dtype,
                                  copy=False))))


def keyword_buffer(name: str, field: np.ndarray, float_dtype: np.dtype) -> np.ndarray:
    """The bytes of one float keyword (header and records) from ``field``, a float32 or float64
    array of a regular grid's shape (axes x, y[, z]; any strides), as big-endian ``float_dtype``
    in I-fastest order: a uint8 view of this thread's buffer, valid until the next call in the
    thread (:func:`write_parts` writes it before asking for the next part).

    Two passes over buffers kept per thread: :func:`_transpose_cast` (the reordering and the
    cast, native byte order, contiguous), then one byte-swapping copy into the records.
    """
    src = field.reshape(field.shape + (1,) * (3 - field.ndim))
    n = src.size
    dtype = np.dtype(float_dtype)
    item = dtype.itemsize
    full, rest = divmod(n, GROUP)
    size = HEADER + full * (GROUP * item + 8) + (rest * item + 8 if rest else 0)
    values = _buffer("values", n * item).view(dtype)
    _transpose_cast(src, values)
    out = _buffer("bytes", size)
    out[:HEADER] = np.frombuffer(struct.pack(">i8si4si", 16, name.ljust(8).encode("ascii"), n,
                                             TYPES[dtype], 16), np.uint8)
    big = dtype.newbyteorder(">")
    record = np.dtype([("start", ">i4"), ("values", big, (GROUP,)), ("end", ">i4")])
    body = out[HEADER:HEADER + full * record.itemsize].view(record)
    body["start"] = body["end"] = GROUP * item
    body["values"] = values[:full * GROUP].reshape(full, GROUP)
    if rest:
        tail = out[HEADER + full * record.itemsize:]
        tail[:4].view(">i4")[0] = tail[-4:].view(">i4")[0] = rest * item
        tail[4:-4].view(big)[:] = values[full * GROUP:]
    return out


def _buffer(kind: str, size: int) -> np.ndarray:
    """``size`` bytes of this thread's buffer ``kind``, grown as needed and kept between files
    (no fresh pages to fault in for each one) up to :data:`KEEP_BYTES`; a larger one is made
    for the call alone."""
    buf = getattr(_BUFFERS, kind, None)
    if buf is None or buf.size < size:
        buf = np.empty(size, np.uint8)
        if size <= KEEP_BYTES:
            setattr(_BUFFERS, kind, buf)
    return buf[:size]


@nb.njit(cache=True, nogil=True)
def _transpose_cast(src, out):
    """``out[(z * ny + y) * nx + x] = src[x, y, z]``: I-fastest order, cast to ``out``'s dtype.

    ``src`` (nx, ny, nz) is read in its own order when C-contiguous (z fastest); the ``nz`` rows
    (z, y) of one ``y`` are written a value at a time, their cache lines kept in L1 across x.
    """
    nx, ny, nz = src.shape
    for y in range(ny):
        for x in range(nx):
            for z in range(nz):
                out[(z * ny + y) * nx + x] = src[x, y, z]


def keyword_parts(name: str, values: np.ndarray) -> Iterator[np.ndarray]:
    """The bytes of one keyword, as uint8 arrays made one after the other: its header record,
    then its data records :data:`PART_RECORDS` at a time, the last one short.

    ``values`` (n,) int32, float32 or float64 (``INTE``, ``REAL``, ``DOUB``), n < 2**31.
    """
    kind = TYPES[values.dtype]
    item = values.dtype.itemsize
    n = values.size
    full, rest = divmod(n, GROUP)
    yield np.frombuffer(struct.pack(">i8si4si", 16, name.ljust(8).encode("ascii"), n, kind, 16),
                        np.uint8)
    big = values.dtype.newbyteorder(">")
    record = np.dtype([("start", ">i4"), ("values", big, (GROUP,)), ("end", ">i4")])
    for r0 in range(0, full, PART_RECORDS):
        r1 = min(r0 + PART_RECORDS, full)
        body = np.empty(r1 - r0, record)
        body["start"] = body["end"] = GROUP * item
        body["values"] = values[r0 * GROUP:r1 * GROUP].reshape(r1 - r0, GROUP)
        yield body.view(np.uint8)
    if rest:
        tail = np.empty(8 + rest * item, np.uint8)
        tail[:4].view(">i4")[0] = tail[-4:].view(">i4")[0] = rest * item
        tail[4:-4].view(big)[:] = values[full * GROUP:]
        yield tail


def read_bgrdecl(path) -> dict[str, np.ndarray]:
    """``{keyword: array (n,)}`` of a binary GRDECL file, in native byte order.

    Truncated or foreign files raise :class:`porevae._files.FileIntegrityError` naming the file
    (the Fortran record markers are checked by resfo).
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"binary GRDECL file {str(path)!r} does not exist")
    try:
        records = resfo.read(path, fileformat=resfo.Format.UNFORMATTED)
        return {name.strip(): np.asarray(v).astype(np.asarray(v).dtype.newbyteorder("="))
                for name, v in records}
    except (resfo.ResfoParsingError, ValueError, OSError, EOFError) as exc:
        raise FileIntegrityError(f"{path}: truncated, corrupt or foreign binary GRDECL file "
                                 f"({' '.join(str(exc).split())})") from None
