"""Binary GRDECL (``.bgrdecl``): Eclipse's Fortran unformatted records.

Each keyword is a header record (8-character keyword, element count, type) and the values,
big-endian, in the Eclipse cell order (I fastest, then J, then K), in data records of
:data:`GROUP` values; every record is framed by its length in bytes (big-endian int32) before
and after. Floats are written as ``REAL`` (float32, what Eclipse's ``IMPORT`` expects) unless
``float_dtype=np.float64`` asks for ``DOUB``; integer keywords (``ACTNUM``, ``*NUM``) as ``INTE``
(int32).

The writer assembles a keyword's records :data:`PART_RECORDS` at a time (one pass converting to
big-endian per part), each part written as it is made (its conversion stays in the cache); its
bytes are those of the kept library resfo (``resfo.write``, the tests' reference), which reads
them back here (:func:`read_bgrdecl`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import resfo

from porevae._files import FileIntegrityError
from porevae._validation import check_choice
from porevae.export._check import check_fields
from porevae.export._io import write_parts

GROUP = 1000  # values per data record of a numeric keyword (Eclipse's blocking)
PART_RECORDS = 256  # data records per part handed to the writer (1 MB of REAL)
TYPES = {np.dtype(np.int32): b"INTE", np.dtype(np.float32): b"REAL",
         np.dtype(np.float64): b"DOUB"}


def write_bgrdecl(path, fields: Mapping, grid, *, float_dtype=np.float32) -> Path:
    """Write ``{keyword: array of grid.shape}`` as a binary GRDECL file, atomically.

    ``float_dtype`` is ``np.float32`` (``REAL``) or ``np.float64`` (``DOUB``). Inputs are validated
    as for :func:`porevae.export.write_grdecl` before anything is written; ``grid`` may be a
    :class:`~porevae.cornerpoint.CornerPointGrid` with active-cell values, written over all
    ``nx ny nz`` cells with 0.0 in the inactive ones (ERT's ``FIELD`` ignores them).
    """
    float_dtype = np.dtype(check_choice(np.dtype(float_dtype).name, "float_dtype",
                                        ("float32", "float64")))
    flat = check_fields(fields, grid)
    for name, values in flat.items():
        if values.size >= 2**31:
            raise ValueError(f"{name} has {values.size} values; binary GRDECL keywords hold "
                             f"fewer than 2**31")
    return write_parts(path, (part for name, values in flat.items()
                              for part in keyword_parts(name, values.astype(
                                  np.int32 if values.dtype.kind == "i" else float_dtype,
                                  copy=False))))


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
