"""Binary GRDECL (``.bgrdecl``): Eclipse's Fortran unformatted records, through resfo.

Each keyword is one record pair: a header (8-character keyword, element count, type) and the
values, big-endian, in the Eclipse cell order (I fastest, then J, then K). Floats are written as
``REAL`` (float32, what Eclipse's ``IMPORT`` expects) unless ``float_dtype=np.float64`` asks for
``DOUB``; integer keywords (``ACTNUM``, ``*NUM``) as ``INTE`` (int32).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import resfo

from porevae._files import FileIntegrityError, atomic_path
from porevae.export._check import check_fields


def write_bgrdecl(path, fields: Mapping, grid, *, float_dtype=np.float32) -> Path:
    """Write ``{keyword: array of grid.shape}`` as a binary GRDECL file, atomically.

    ``float_dtype`` is ``np.float32`` (``REAL``) or ``np.float64`` (``DOUB``). Inputs are validated
    as for :func:`porevae.export.write_grdecl` before anything is written; ``grid`` may be a
    :class:`~porevae.cornerpoint.CornerPointGrid` with active-cell values, written over all
    ``nx ny nz`` cells with 0.0 in the inactive ones (ERT's ``FIELD`` ignores them).
    """
    float_dtype = np.dtype(float_dtype)
    if float_dtype not in (np.float32, np.float64):
        raise ValueError(f"float_dtype must be float32 or float64, got {float_dtype}")
    flat = check_fields(fields, grid)
    records = [(name.ljust(8), values.astype(np.int32) if values.dtype.kind == "i"
                else values.astype(float_dtype)) for name, values in flat.items()]
    path = Path(path)
    with atomic_path(path) as tmp:
        resfo.write(tmp, records, fileformat=resfo.Format.UNFORMATTED)
    return path


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
