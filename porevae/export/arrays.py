"""HDF5 ``.h5`` files of property fields (arrays of ``grid.shape``); ``.npy`` files of fields are
written by :func:`porevae.media.io.write_npy`, the one volume writer (see
:func:`porevae.export.formats.write_fields`).

Unlike GRDECL these keep the array axes (x, y[, z]) as they are. The HDF5 file holds one dataset
per keyword and the grid as attributes (``shape``, ``spacing``, ``origin``) plus any header
entries (as strings); dataset timestamps are switched off so the same fields give the same bytes.
Each dataset carries the checksum ``sha256`` (:func:`porevae._files.digest_arrays`) that
:func:`read_h5` verifies; truncated, corrupt or foreign files raise
:class:`porevae._files.FileIntegrityError` naming the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np

from porevae._files import FileIntegrityError, atomic_path, digest_arrays
from porevae.export._check import check_fields


def write_h5(path, fields: Mapping, grid, *, header: Mapping | None = None) -> Path:
    """Write ``{keyword: array of grid.shape}`` as datasets of one HDF5 file, atomically."""
    flat = check_fields(fields, grid)
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w", track_order=True) as h5:
        for key, value in grid.to_dict().items():
            h5.attrs[key] = value
        for key, value in (header or {}).items():
            h5.attrs[str(key)] = str(value)
        for name, values in flat.items():
            arr = grid.unflatten(values)
            ds = h5.create_dataset(name, data=arr, track_times=False)
            ds.attrs["sha256"] = digest_arrays({name: arr})
    return path


def read_h5(path) -> dict[str, np.ndarray]:
    """``{keyword: array of grid.shape}`` from a file of :func:`write_h5` (checksums verified)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"field file {str(path)!r} does not exist")
    try:
        with h5py.File(path, "r") as h5:
            out = {name: (h5[name][()], h5[name].attrs.get("sha256")) for name in h5}
    except (OSError, KeyError, RuntimeError, TypeError) as exc:
        raise FileIntegrityError(f"{path}: truncated, corrupt or foreign HDF5 file "
                                 f"({' '.join(str(exc).split())})") from None
    for name, (arr, stored) in out.items():
        if stored is not None and digest_arrays({name: arr}) != stored:
            raise FileIntegrityError(f"{path}: corrupt file: dataset {name} does not match its "
                                     f"stored checksum (sha256)")
    return {name: arr for name, (arr, _) in out.items()}
