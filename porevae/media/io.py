"""Volume I/O (.npy, raw binary, multi-page TIFF, HDF5), binarisation, cropping and subsampling.

Arrays are returned exactly as stored -- no axes are permuted. A TIFF stack comes back as
(pages, rows, columns); if its pages are z slices of an (x, y, z) volume, use
``np.transpose(v, (2, 1, 0))``. Bool volumes are written as uint8 (0/1) for portability; read them
back with ``binary=True`` to get bool. Every writer is atomic: it writes a temporary file beside
the target and moves it into place with :func:`os.replace`, so a crash never leaves half a file.

Bad files raise :class:`VolumeFormatError` (a ``ValueError``) naming the file and the problem:
truncated or oversized raw data, unreadable containers, unsupported dtypes, NaN/inf values, or
non-binary values where ``binary=True`` asks for 0/1.
"""

from __future__ import annotations

import logging
import os
import struct
from pathlib import Path

import h5py
import numpy as np
import tifffile

from porevae._files import atomic_path
from porevae._validation import check_choice, check_int
from porevae.media._checks import as_binary, check_numeric

RAW_SUFFIXES = (".raw", ".bin")
TIFF_SUFFIXES = (".tif", ".tiff")
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")
BYTE_ORDERS = {"little": "<", "big": ">"}


class VolumeFormatError(ValueError):
    """A volume file is truncated, corrupt, of the wrong size or holds unusable values."""


def _finish(volume, path, binary) -> np.ndarray:
    """Common checks after reading: numeric dtype, finite values, optionally binary -> bool."""
    try:
        arr = check_numeric(volume, f"volume in {path}")
        return as_binary(arr, f"volume in {path}") if binary else arr
    except (TypeError, ValueError) as exc:
        raise VolumeFormatError(str(exc)) from None


def _writable(volume) -> np.ndarray:
    arr = check_numeric(volume, "volume")
    return arr.astype(np.uint8) if arr.dtype == bool else arr


# ---- .npy ----------------------------------------------------------------------------------------
def read_npy(path, binary=False) -> np.ndarray:
    """Read a ``.npy`` file (no pickles). ``binary=True`` requires 0/1 values and returns bool."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise VolumeFormatError(f"{path}: truncated or corrupt .npy file ({exc})") from None
    return _finish(arr, path, binary)


def write_npy(path, volume) -> None:
    """Write ``volume`` to ``path`` as ``.npy`` (atomically; bool stored as uint8)."""
    arr = _writable(volume)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, arr, allow_pickle=False)


# ---- raw binary ----------------------------------------------------------------------------------
def _raw_dtype(dtype, byte_order):
    dt = np.dtype(dtype)
    if dt.kind not in "biuf":
        raise ValueError(f"dtype must be a bool, integer or float type, got {dt}")
    check_choice(byte_order, "byte_order", set(BYTE_ORDERS))
    return dt.newbyteorder(BYTE_ORDERS[byte_order])


def read_raw(path, shape, dtype, byte_order="little", order="C", offset=0,
             binary=False) -> np.ndarray:
    """Read headerless binary voxels.

    Parameters
    ----------
    shape : tuple of int
        Volume shape; the file must hold exactly ``offset + prod(shape) * itemsize`` bytes.
    dtype : numpy dtype (bool, integer or float)
    byte_order : {"little", "big"}
    order : {"C", "F"}
        Layout of the bytes: "C" (last axis fastest) or "F" (first axis, x, fastest).
    offset : int
        Header bytes to skip.
    """
    dt = _raw_dtype(dtype, byte_order)
    check_choice(order, "order", {"C", "F"})
    offset = check_int(offset, "offset", low=0)
    shape = tuple(check_int(s, "shape entry", low=1) for s in shape)
    expected = offset + int(np.prod(shape)) * dt.itemsize
    actual = os.path.getsize(path)
    if actual != expected:
        what = "truncated" if actual < expected else "larger than expected"
        raise VolumeFormatError(f"{path}: raw file {what}: shape {shape} of {dt.name} "
                                f"(+{offset} header bytes) needs {expected} bytes, file has "
                                f"{actual} bytes")
    arr = np.fromfile(path, dtype=dt, offset=offset).reshape(shape, order=order)
    return _finish(arr.astype(dt.newbyteorder("="), copy=False), path, binary)


def write_raw(path, volume, byte_order="little", order="C") -> None:
    """Write ``volume``'s voxels as headerless bytes (bool as uint8); shape and dtype are not
    stored, keep them beside the file."""
    arr = _writable(volume)
    check_choice(order, "order", {"C", "F"})
    data = arr.astype(_raw_dtype(arr.dtype, byte_order), copy=False).tobytes(order=order)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


# ---- TIFF ----------------------------------------------------------------------------------------
class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def read_tiff(path, binary=False) -> np.ndarray:
    """Read a (multi-page) TIFF: (pages, rows, columns) for a stack, (rows, columns) for one page.

    tifffile recovers from some damage (a broken page chain, data past the end of the file) by
    logging a warning and returning fewer pages or zeros; such files are rejected here.
    """
    log = logging.getLogger("tifffile")
    collect = _Collect()
    log.addHandler(collect)
    try:
        with tifffile.TiffFile(path) as tf:
            size = tf.filehandle.size
            for page in tf.pages:
                ends = [o + n for o, n in zip(page.dataoffsets, page.databytecounts)]
                if ends and max(ends) > size:
                    raise VolumeFormatError(f"{path}: truncated TIFF file: page data ends at "
                                            f"byte {max(ends)}, file has {size} bytes")
            arr = tf.asarray()
    except FileNotFoundError:
        raise
    except (tifffile.TiffFileError, ValueError, OSError, EOFError, struct.error,
            IndexError, KeyError) as exc:
        if isinstance(exc, VolumeFormatError):
            raise
        raise VolumeFormatError(f"{path}: truncated or corrupt TIFF file ({exc})") from None
    finally:
        log.removeHandler(collect)
    if collect.messages:
        raise VolumeFormatError(f"{path}: truncated or corrupt TIFF file "
                                f"({'; '.join(collect.messages)})")
    return _finish(arr, path, binary)


def write_tiff(path, volume, compression=None) -> None:
    """Write a 2D image or a 3D stack (one page per index of the first axis), grey-scale.

    ``compression``: None or a tifffile codec name such as ``"zlib"``.
    """
    arr = _writable(volume)
    if arr.ndim not in (2, 3):
        raise ValueError(f"volume must be 2D or 3D for TIFF, got shape {arr.shape}")
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, arr, photometric="minisblack", compression=compression)


# ---- HDF5 ----------------------------------------------------------------------------------------
def read_hdf5(path, dataset="volume", binary=False) -> np.ndarray:
    """Read dataset ``dataset`` (a path inside the file) of an HDF5 file."""
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    try:
        with h5py.File(path, "r") as fh:
            if dataset not in fh or not isinstance(fh[dataset], h5py.Dataset):
                names = []
                fh.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
                raise VolumeFormatError(f"{path}: no dataset {dataset!r}; datasets: {names}")
            arr = fh[dataset][()]
    except OSError as exc:
        raise VolumeFormatError(f"{path}: truncated or corrupt HDF5 file ({exc})") from None
    return _finish(arr, path, binary)


def write_hdf5(path, volume, dataset="volume", compression="gzip") -> None:
    """Write ``volume`` as dataset ``dataset`` of a new HDF5 file (``compression``: h5py filter
    name or None)."""
    arr = _writable(volume)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as fh:
        fh.create_dataset(dataset, data=arr, compression=compression)


# ---- dispatch by suffix --------------------------------------------------------------------------
def read_volume(path, binary=False, **kwargs) -> np.ndarray:
    """Read a volume, choosing the reader from the suffix.

    ``.npy`` -> :func:`read_npy`; ``.raw``/``.bin`` -> :func:`read_raw` (needs ``shape`` and
    ``dtype``); ``.tif``/``.tiff`` -> :func:`read_tiff`; ``.h5``/``.hdf5``/``.hdf`` ->
    :func:`read_hdf5` (``dataset``). Extra keyword arguments go to that reader.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        return read_npy(path, binary=binary, **kwargs)
    if suffix in RAW_SUFFIXES:
        return read_raw(path, binary=binary, **kwargs)
    if suffix in TIFF_SUFFIXES:
        return read_tiff(path, binary=binary, **kwargs)
    if suffix in HDF5_SUFFIXES:
        return read_hdf5(path, binary=binary, **kwargs)
    raise ValueError(f"unknown volume suffix {suffix!r} of {path}; expected .npy, "
                     f"{', '.join(RAW_SUFFIXES + TIFF_SUFFIXES + HDF5_SUFFIXES)}")


def write_volume(path, volume, **kwargs) -> None:
    """Write a volume atomically, choosing the writer from the suffix (see :func:`read_volume`)."""
    suffix = Path(path).suffix.lower()
    writers = {".npy": write_npy, **dict.fromkeys(RAW_SUFFIXES, write_raw),
               **dict.fromkeys(TIFF_SUFFIXES, write_tiff),
               **dict.fromkeys(HDF5_SUFFIXES, write_hdf5)}
    if suffix not in writers:
        raise ValueError(f"unknown volume suffix {suffix!r} of {path}; expected one of "
                         f"{sorted(writers)}")
    writers[suffix](path, volume, **kwargs)


# ---- grey levels -> binary -----------------------------------------------------------------------
def otsu_threshold(image, bins=256) -> float:
    """Otsu's threshold of a grey-scale image: maximises the between-class variance.

    Histogram of ``bins`` equal bins over [min, max]; returns the upper edge of the last bin of
    the lower class, so the classes are ``image <= t`` and ``image > t``.
    """
    x = check_numeric(image, "image").ravel()
    bins = check_int(bins, "bins", low=2)
    lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        raise ValueError(f"image is constant ({lo}); Otsu's threshold is undefined")
    hist, edges = np.histogram(x, bins=bins, range=(lo, hi))
    centres = 0.5 * (edges[:-1] + edges[1:])
    w0 = np.cumsum(hist)[:-1].astype(float)
    w1 = x.size - w0
    s0 = np.cumsum(hist * centres)[:-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        between = w0 * w1 * (s0 / w0 - (np.dot(hist, centres) - s0) / w1) ** 2
    k = int(np.nanargmax(np.where((w0 > 0) & (w1 > 0), between, np.nan)))
    return float(edges[k + 1])


def binarize(image, threshold="otsu", pore="dark") -> np.ndarray:
    """Grey-scale CT -> binary (True = pore).

    Parameters
    ----------
    threshold : "otsu" or float
        Grey level separating the phases (:func:`otsu_threshold` by default).
    pore : {"dark", "bright"}
        Which side is pore: ``image <= threshold`` ("dark", low attenuation, the usual case in CT)
        or ``image > threshold``.
    """
    arr = check_numeric(image, "image")
    check_choice(pore, "pore", {"dark", "bright"})
    t = otsu_threshold(arr) if isinstance(threshold, str) and threshold == "otsu" \
        else float(threshold)
    return arr <= t if pore == "dark" else arr > t


def crop(volume, start, stop) -> np.ndarray:
    """Copy of ``volume[start[0]:stop[0], start[1]:stop[1], ...]``; None entries mean the edge.

    Requires ``0 <= start < stop <= shape`` on every axis.
    """
    arr = np.asarray(volume)
    if len(start) != arr.ndim or len(stop) != arr.ndim:
        raise ValueError(f"start and stop need {arr.ndim} entries, got {start!r}, {stop!r}")
    index = []
    for a, (s, e, n) in enumerate(zip(start, stop, arr.shape)):
        s = 0 if s is None else int(s)
        e = n if e is None else int(e)
        if not 0 <= s < e <= n:
            raise ValueError(f"crop along axis {a} must satisfy 0 <= start < stop <= {n}, got "
                             f"start={s}, stop={e}")
        index.append(slice(s, e))
    return arr[tuple(index)].copy()


def subsample(volume, factor, method="stride") -> np.ndarray:
    """Coarsen by an integer ``factor`` per axis (scalar or one per axis, >= 1).

    ``method="stride"`` keeps every ``factor``-th voxel. ``"block"`` averages ``factor``-sized
    blocks (trailing voxels that do not fill a block are dropped); for bool input the result is
    the block majority (pore when at least half the block is pore), otherwise the float mean.
    """
    arr = check_numeric(volume, "volume")
    f = np.broadcast_to(np.atleast_1d(factor), (arr.ndim,))
    f = tuple(check_int(v, "factor", low=1) for v in f)
    check_choice(method, "method", {"stride", "block"})
    if method == "stride":
        return arr[tuple(slice(None, None, k) for k in f)].copy()
    m = tuple(n // k for n, k in zip(arr.shape, f))
    if min(m) == 0:
        raise ValueError(f"factor {f} exceeds the volume shape {arr.shape}")
    blocks = arr[tuple(slice(0, n * k) for n, k in zip(m, f))].reshape(
        [v for pair in zip(m, f) for v in pair])
    mean = blocks.mean(axis=tuple(range(1, 2 * arr.ndim, 2)))
    return mean >= 0.5 if arr.dtype == bool else mean
