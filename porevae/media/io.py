"""The one volume-I/O layer of porevae: .npy, raw binary (+ JSON sidecar), TIFF and HDF5.

Every command reads and writes volumes through :func:`read_volume` / :func:`write_volume` (one
array), :func:`read_stack` (always a stack ``(n, *shape)``) and :class:`StackWriter` (a stack
written block by block, e.g. ``porevae sample``). Arrays come back exactly as stored: no axes are
permuted, and a stack ``(n, *shape)`` written to any format comes back as ``(n, *shape)``.

Conventions (the same for every command)
    * HDF5: the array is the dataset ``volume`` (:data:`DATASET`), whether it is one volume or a
      stack; reading picks ``volume``, or else the only dataset of the file, unless ``dataset``
      names another one.
    * Stacks: ``write_volume(..., stack=True)`` records that axis 0 counts samples (HDF5
      attribute ``stack``, TIFF description, the ``.json`` sidecar of ``.raw`` and ``.npy``
      files); every writer records it, ``True`` or ``False``. :func:`read_stack` honours it; for
      files without that record (foreign files) a 4-D array is a stack of 3-D volumes, and
      ``ndim`` (the dimensionality of one image) decides for 3-D arrays.
    * Raw ``.raw``/``.bin``: headerless bytes plus a sidecar ``NAME.raw.json`` holding shape,
      dtype, byte order, order, stack flag and checksum; :func:`read_volume` reads the sidecar,
      so ``shape``/``dtype`` are needed only for foreign raw files without one.
    * ``.npy``: the NumPy file plus a sidecar ``NAME.npy.json`` (stack flag, checksum,
      attributes; the ``.npy`` header has no room for them). A ``.npy`` without a sidecar (e.g.
      from ``numpy.save``) is read as well, its header checked against the file size.
    * Checksums: every file porevae writes carries :func:`porevae._files.digest_arrays` of the
      array (HDF5 attribute / TIFF description / sidecar ``sha256``), verified on read.
    * Bool volumes are written as uint8 (0/1); ``binary=True`` reads them back as bool.

Every writer is atomic (:func:`porevae._files.atomic_path`): a temporary file beside the target,
moved into place at the end, so a crash never leaves half a file, and the next writer of the same
target removes what a killed one left. Outputs are checked (:func:`check_volume_path`) before any
work. Bad files raise :class:`VolumeFormatError` (a :class:`porevae._files.FileIntegrityError`,
hence a ``ValueError``) whose one-line message names the file and what failed: truncated,
corrupt or foreign files, checksum mismatches, unsupported dtypes, NaN/inf, non-binary values
where ``binary=True`` asks for 0/1.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import struct
import sys
from pathlib import Path

import numpy as np

from porevae._files import FileIntegrityError, atomic_path, check_writable, digest_arrays
from porevae._lazy import lazy_module
from porevae._validation import (
    available_memory,
    check_choice,
    check_int,
    check_numeric,
    format_bytes,
)
from porevae.media._checks import as_binary

h5py = lazy_module("h5py")
tifffile = lazy_module("tifffile")

DATASET = "volume"
NPY_SUFFIXES = (".npy",)
RAW_SUFFIXES = (".raw", ".bin")
TIFF_SUFFIXES = (".tif", ".tiff")
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")
SUFFIXES = NPY_SUFFIXES + RAW_SUFFIXES + TIFF_SUFFIXES + HDF5_SUFFIXES
BYTE_ORDERS = {"little": "<", "big": ">"}
SIDECAR = ".json"  # sidecar of raw and .npy files: NAME.raw -> NAME.raw.json


class VolumeFormatError(FileIntegrityError):
    """A volume file is truncated, corrupt, foreign, fails its checksum or holds unusable values."""


def _suffix(path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"unknown volume suffix {suffix!r} of {path}; expected one of "
                         f"{', '.join(SUFFIXES)}")
    return suffix


def check_volume_path(path, what: str = "--out") -> Path:
    """Refuse, before any work, an output volume path with an unknown suffix or whose folder is
    missing or read-only (``what`` names the parameter in the message). Returns ``Path(path)``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{what} must end in one of {', '.join(SUFFIXES)}, got {path.name!r}")
    return check_writable(path, what)


def stack_flag(stack, shape) -> bool:
    """The stack flag recorded for an array of ``shape``: ``stack`` (True: axis 0 counts
    samples), or when None, whether the array is 4-D (a 4-D array can only be a stack of 3-D
    volumes). ``stack=False`` for a 4-D array is refused."""
    if stack is None:
        return len(shape) == 4
    if not stack and len(shape) == 4:
        raise ValueError(f"stack=False for an array of shape {tuple(shape)}: a 4-D array is a "
                         f"stack of 3-D volumes (stack=True)")
    return bool(stack)


def _checksum(arr: np.ndarray) -> str:
    return digest_arrays({DATASET: arr})


def _verify(arr, stored, path, hint: str = "") -> None:
    if stored is not None and _checksum(arr) != stored:
        raise VolumeFormatError(f"{path}: corrupt file: the data do not match the checksum "
                                f"(sha256) stored when porevae wrote it{hint}")


def _to_bool(arr, name) -> np.ndarray:
    if arr.ndim == 4:  # a stack of 3-D volumes
        return as_binary(arr.reshape(arr.shape[0], arr.shape[1], -1), name).reshape(arr.shape)
    return as_binary(arr, name)


def _finish(volume, path, binary) -> np.ndarray:
    """Common checks after reading: numeric dtype, finite values, optionally binary -> bool."""
    try:
        arr = check_numeric(volume, f"volume in {path}")
        return _to_bool(arr, f"volume in {path}") if binary else arr
    except (TypeError, ValueError) as exc:
        raise VolumeFormatError(str(exc)) from None


def _writable(volume) -> np.ndarray:
    arr = check_numeric(volume, "volume")
    return arr.astype(np.uint8) if arr.dtype == bool else arr


def _exists(path) -> None:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"volume file {str(path)!r} does not exist")


# ---- .npy ----------------------------------------------------------------------------------------
def _npy_header(path):
    """(shape, dtype, fortran_order, data offset) of a .npy file, checked against its size."""
    try:
        with open(path, "rb") as fh:
            major, _ = np.lib.format.read_magic(fh)
            read = {1: np.lib.format.read_array_header_1_0,
                    2: np.lib.format.read_array_header_2_0}.get(major)
            if read is None:
                raise ValueError(f"unsupported .npy version {major}")
            shape, fortran, dtype = read(fh)
            offset = fh.tell()
    except (ValueError, EOFError, OSError, SyntaxError) as exc:
        raise VolumeFormatError(f"{path}: truncated, corrupt or foreign .npy file "
                                f"({exc})") from None
    if dtype.hasobject:
        raise VolumeFormatError(f"{path}: .npy file holds Python objects (dtype {dtype}); "
                                f"volumes need a bool, integer or float dtype")
    need = offset + int(np.prod(shape)) * dtype.itemsize
    have = os.path.getsize(path)
    if have < need:
        raise VolumeFormatError(f"{path}: truncated .npy file: shape {shape} of {dtype} needs "
                                f"{need} bytes, file has {have}")
    return shape, dtype, fortran, offset


def read_npy(path, binary=False, mmap=False) -> np.ndarray:
    """Read a ``.npy`` file (no pickles); ``mmap=True`` maps it read-only instead of loading.

    The header is checked against the file size first, so a truncated file is refused with its
    name (not NumPy's "mmap length is greater than file size"); the checksum of the sidecar
    ``NAME.npy.json`` that :func:`write_npy` writes is verified when there is one.
    ``binary=True`` requires 0/1 values and returns bool.
    """
    _exists(path)
    _npy_header(path)
    meta = _read_sidecar(path)
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except (ValueError, EOFError, OSError) as exc:
        raise VolumeFormatError(f"{path}: truncated or corrupt .npy file ({exc})") from None
    _verify(arr, meta.get("sha256"), path,
            f" (in {sidecar_path(path).name}; if you replaced the .npy yourself, remove that "
            f"sidecar)")
    return _finish(arr, path, binary)


def write_npy(path, volume, stack=None, attrs=None) -> Path:
    """Write ``volume`` to ``path`` as ``.npy`` (atomically; bool stored as uint8) and the
    sidecar ``NAME.npy.json`` (stack flag, checksum, ``attrs``)."""
    arr = _writable(volume)
    with StackWriter(path, arr.shape, arr.dtype, stack=stack, attrs=attrs) as w:
        w.write(arr)
    return Path(path)


# ---- raw binary ----------------------------------------------------------------------------------
def sidecar_path(path) -> Path:
    """The JSON sidecar of a raw or .npy file: ``NAME.raw`` -> ``NAME.raw.json``."""
    return Path(f"{path}{SIDECAR}")


def _raw_dtype(dtype, byte_order):
    dt = np.dtype(dtype)
    if dt.kind not in "biuf":
        raise ValueError(f"dtype must be a bool, integer or float type, got {dt}")
    check_choice(byte_order, "byte_order", set(BYTE_ORDERS))
    return dt.newbyteorder(BYTE_ORDERS[byte_order])


def _read_sidecar(path) -> dict:
    side = sidecar_path(path)
    if not side.is_file():
        return {}
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise VolumeFormatError(f"{side}: corrupt sidecar ({exc})") from None
    if not isinstance(meta, dict):
        raise VolumeFormatError(f"{side}: corrupt sidecar (not a JSON object)")
    return meta


def read_raw(path, shape=None, dtype=None, byte_order=None, order=None, offset=0,
             binary=False) -> np.ndarray:
    """Read headerless binary voxels.

    Parameters left as None are taken from the sidecar ``NAME.raw.json`` that
    :func:`write_raw` writes (then the checksum recorded there is verified too); a foreign raw
    file without a sidecar needs ``shape`` and ``dtype``.

    Parameters
    ----------
    shape : tuple of int
        Volume shape; the file must hold exactly ``offset + prod(shape) * itemsize`` bytes.
    dtype : numpy dtype (bool, integer or float)
    byte_order : {"little", "big"}, default little
    order : {"C", "F"}, default C
        Layout of the bytes: "C" (last axis fastest) or "F" (first axis, x, fastest).
    offset : int
        Header bytes to skip.
    """
    _exists(path)
    meta = _read_sidecar(path)
    explicit = shape is not None or dtype is not None
    shape = meta.get("shape") if shape is None else shape
    dtype = meta.get("dtype") if dtype is None else dtype
    if shape is None or dtype is None:
        raise ValueError(f"{path}: raw file without a sidecar {sidecar_path(path).name}: give "
                         f"its shape and dtype (CLI: --raw-shape, --dtype)")
    dt = _raw_dtype(dtype, byte_order or meta.get("byte_order", "little"))
    order = order or meta.get("order", "C")
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
    arr = np.ascontiguousarray(arr.astype(dt.newbyteorder("="), copy=False))
    if not explicit:
        _verify(arr, meta.get("sha256"), path)
    return _finish(arr, path, binary)


def write_raw(path, volume, byte_order="little", order="C", stack=None,
              attrs=None) -> Path:
    """Write ``volume``'s voxels as headerless bytes (bool as uint8) and the sidecar
    ``NAME.raw.json`` (shape, dtype, byte order, order, stack flag, checksum, ``attrs``)."""
    arr = _writable(volume)
    check_choice(order, "order", {"C", "F"})
    stack = stack_flag(stack, arr.shape)
    data = arr.astype(_raw_dtype(arr.dtype, byte_order), copy=False).tobytes(order=order)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
    _write_sidecar(path, arr.shape, arr.dtype, stack, _checksum(arr), attrs,
                   byte_order=byte_order, order=order)
    return Path(path)


def _write_sidecar(path, shape, dtype, stack, digest, attrs, **layout) -> None:
    """The JSON sidecar of a raw or .npy file: shape, dtype, stack flag, checksum, ``attrs``
    and (raw) the byte ``layout`` (``byte_order``, ``order``) that :func:`read_raw` needs."""
    meta = {"shape": list(shape), "dtype": np.dtype(dtype).name, "stack": bool(stack),
            "sha256": digest, **layout, **({"attrs": attrs} if attrs else {})}
    with atomic_path(sidecar_path(path)) as tmp:
        tmp.write_text(json.dumps(meta, indent=1), encoding="utf-8")


# ---- TIFF ----------------------------------------------------------------------------------------
class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _tiff_meta(tf) -> dict:
    meta = tf.shaped_metadata
    return dict(meta[0]) if meta else {}


def read_tiff(path, binary=False) -> np.ndarray:
    """Read a (multi-page) TIFF as stored: the shape recorded by porevae (e.g. a stack
    ``(n, nx, ny, nz)``), else (pages, rows, columns) for a stack of pages, (rows, columns) for
    one page.

    tifffile recovers from some damage (a broken page chain, data past the end of the file) by
    logging a warning and returning fewer pages or zeros; such files are rejected here, and so
    are porevae's files whose data do not match the checksum in their description.
    """
    _exists(path)
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
            meta = _tiff_meta(tf)
    except (tifffile.TiffFileError, ValueError, OSError, EOFError, struct.error,
            IndexError, KeyError, TypeError) as exc:
        if isinstance(exc, VolumeFormatError):
            raise
        raise VolumeFormatError(f"{path}: truncated, corrupt or foreign TIFF file "
                                f"({exc})") from None
    finally:
        log.removeHandler(collect)
    if collect.messages:
        raise VolumeFormatError(f"{path}: truncated or corrupt TIFF file "
                                f"({'; '.join(collect.messages)})")
    _verify(arr, meta.get("sha256"), path)
    return _finish(arr, path, binary)


def write_tiff(path, volume, compression=None, stack=None, attrs=None) -> Path:
    """Write a 2-D image, a 3-D volume or a stack (one page per 2-D slice), grey-scale.

    The array's shape, the stack flag and the checksum go into the description, so
    :func:`read_tiff` returns the same shape (four 32^3 samples come back as (4, 32, 32, 32)).
    ``compression``: None or a tifffile codec name such as ``"zlib"``.
    """
    arr = _writable(volume)
    with StackWriter(path, arr.shape, arr.dtype, compression=compression, stack=stack,
                     attrs=attrs) as w:
        w.write(arr)
    return Path(path)


# ---- HDF5 ----------------------------------------------------------------------------------------
def _dataset_names(fh) -> list:
    names = []
    fh.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    return names


def _pick_dataset(fh, path, dataset):
    if dataset is None:
        names = _dataset_names(fh)
        if DATASET in fh and isinstance(fh[DATASET], h5py.Dataset):
            dataset = DATASET
        elif len(names) == 1:
            dataset = names[0]
        else:
            raise VolumeFormatError(f"{path}: no dataset {DATASET!r} and "
                                    f"{'no' if not names else 'several'} other datasets "
                                    f"{names}; name one (CLI: --dataset)")
    if dataset not in fh or not isinstance(fh[dataset], h5py.Dataset):
        raise VolumeFormatError(f"{path}: no dataset {dataset!r}; datasets: "
                                f"{_dataset_names(fh)}")
    return fh[dataset]


def _attr(ds, name):
    value = ds.attrs.get(name)
    return value.decode() if isinstance(value, bytes) else value


def read_hdf5(path, dataset=None, binary=False) -> np.ndarray:
    """Read dataset ``dataset`` (a path inside the file; default :data:`DATASET` or the only
    dataset) of an HDF5 file, verifying the checksum porevae stored with it."""
    _exists(path)
    try:
        with h5py.File(path, "r") as fh:
            ds = _pick_dataset(fh, path, dataset)
            arr = ds[()]
            stored = _attr(ds, "sha256")
    except (OSError, KeyError, RuntimeError, TypeError) as exc:
        raise VolumeFormatError(f"{path}: truncated, corrupt or foreign HDF5 file "
                                f"({exc})") from None
    if not isinstance(arr, np.ndarray):
        raise VolumeFormatError(f"{path}: dataset {dataset or DATASET!r} is a scalar, not an "
                                f"array")
    _verify(arr, stored, path)
    return _finish(arr, path, binary)


def write_hdf5(path, volume, dataset=DATASET, compression="gzip", stack=None,
               attrs=None) -> Path:
    """Write ``volume`` as dataset ``dataset`` of a new HDF5 file with attributes ``stack``,
    ``sha256`` and ``porevae`` (JSON of ``attrs``); ``compression``: h5py filter or None."""
    arr = _writable(volume)
    with StackWriter(path, arr.shape, arr.dtype, dataset=dataset, compression=compression,
                     stack=stack, attrs=attrs) as w:
        w.write(arr)
    return Path(path)


# ---- metadata and stacks -------------------------------------------------------------------------
def stored_stack(path, dataset=None) -> bool | None:
    """The stack flag recorded in a porevae file (True: axis 0 counts samples), None if the file
    records none (foreign files, ``.npy`` without a sidecar)."""
    suffix = _suffix(path)
    try:
        if suffix in RAW_SUFFIXES + NPY_SUFFIXES:
            flag = _read_sidecar(path).get("stack")
        elif suffix in TIFF_SUFFIXES:
            with tifffile.TiffFile(path) as tf:
                flag = _tiff_meta(tf).get("stack")
        elif suffix in HDF5_SUFFIXES:
            with h5py.File(path, "r") as fh:
                flag = _attr(_pick_dataset(fh, path, dataset), "stack")
        else:
            flag = None
    except (tifffile.TiffFileError, OSError, ValueError, KeyError) as exc:
        if isinstance(exc, VolumeFormatError):
            raise
        raise VolumeFormatError(f"{path}: truncated, corrupt or foreign file ({exc})") from None
    return None if flag is None else bool(flag)


def read_stack(path, ndim=None, binary=False, **kwargs) -> np.ndarray:
    """Read a file as a stack ``(n, *shape)`` of images: one image gives ``n = 1``.

    A 4-D array is always a stack of 3-D images (whatever an older writer recorded) and a 2-D
    array one image. For a 3-D array the stack flag stored by :func:`write_volume` decides;
    without one (foreign files) it is one 3-D volume unless ``ndim=2`` (the dimensionality of
    one image) says it is a stack of 2-D images. Keyword arguments go to :func:`read_volume`.
    """
    if ndim is not None and ndim not in (2, 3):
        raise ValueError(f"ndim (dimensionality of one image) must be 2 or 3, got {ndim!r}")
    arr = read_volume(path, binary=binary, **kwargs)
    flag = True if arr.ndim == 4 else stored_stack(path, kwargs.get("dataset"))
    if flag is None:
        flag = arr.ndim == 4 if ndim is None else arr.ndim == ndim + 1
    out = arr if flag else arr[None]
    if out.ndim - 1 not in (2, 3) or (ndim is not None and out.ndim - 1 != ndim):
        raise VolumeFormatError(f"{path}: holds an array of shape {arr.shape}"
                                f"{' (a stack)' if flag else ''}; expected "
                                f"{'2-D or 3-D' if ndim is None else f'{ndim}-D'} images or a "
                                f"stack of them")
    return out


class StackWriter:
    """Write an array of known ``shape`` block by block along axis 0, atomically.

    ``with StackWriter(path, (n, *shape), dtype, stack=True) as w: w.write(block)...`` writes
    consecutive blocks (each ``(k, *shape)``) straight to a temporary file beside ``path`` (HDF5
    chunked per sample, .npy through a memory map, raw bytes), so a stack larger than memory
    can be written, and moves it into place when all ``n`` rows are in; leaving the block early
    (an exception) removes the temporary. TIFF collects the blocks and writes at the end.
    ``compression``: ``"auto"`` (gzip for HDF5, none for TIFF), None, or a codec name.
    ``attrs`` (JSON-serialisable) are stored as HDF5 attribute ``porevae`` / in the sidecar of
    ``.raw`` and ``.npy`` files / in the TIFF description.
    """

    def __init__(self, path, shape, dtype, *, dataset=DATASET, compression="auto",
                 stack=True, attrs=None, byte_order="little"):
        self.path, self.suffix = check_volume_path(path, "output"), _suffix(path)
        self.shape = tuple(check_int(s, "shape entry", low=0) for s in shape)
        dt = np.dtype(dtype)
        self.dtype = np.dtype(np.uint8) if dt == np.dtype(bool) else dt
        if self.dtype.kind not in "biuf":
            raise ValueError(f"dtype must be a bool, integer or float type, got {dt}")
        if compression == "auto":  # gzip for HDF5, none for TIFF
            compression = "gzip" if self.suffix in HDF5_SUFFIXES else None
        self.dataset, self.compression = dataset, compression
        self.stack = stack_flag(stack, self.shape)
        self.attrs, self.byte_order = attrs, byte_order
        check_choice(byte_order, "byte_order", set(BYTE_ORDERS))
        if self.suffix in TIFF_SUFFIXES and len(self.shape) < 2:
            raise ValueError(f"volume must have at least 2 axes for TIFF, got shape {self.shape}")
        self._check_room()
        self.done = 0
        self._hash = hashlib.sha256(f"{DATASET}|{self.dtype.str}|{self.shape}|".encode())

    def _check_room(self) -> None:
        """Refuse up front a stack that the disk (or, for TIFF, memory) cannot hold."""
        nbytes = math.prod(self.shape) * self.dtype.itemsize
        free = shutil.disk_usage(self.path.parent).free
        if nbytes > free:
            raise ValueError(f"{self.path}: the stack {self.shape} of {self.dtype} needs "
                             f"{format_bytes(nbytes)} but its folder has {format_bytes(free)} "
                             f"free; write fewer samples or elsewhere")
        if self.suffix in TIFF_SUFFIXES and nbytes > available_memory():
            raise MemoryError(f"{self.path}: a TIFF stack is assembled in memory and "
                              f"{format_bytes(nbytes)} do not fit "
                              f"({format_bytes(available_memory())} available); use .h5 or "
                              f".npy, written block by block")

    def __enter__(self):
        self._ctx = atomic_path(self.path)
        self._tmp = self._ctx.__enter__()
        try:
            self._open()
        except BaseException:
            self._ctx.__exit__(*sys.exc_info())
            raise
        return self

    def _open(self):
        if self.suffix in HDF5_SUFFIXES:
            self._fh = h5py.File(self._tmp, "w")
            chunks = (1, *self.shape[1:]) if self.stack and len(self.shape) > 1 and \
                all(self.shape) else None
            self._ds = self._fh.create_dataset(self.dataset, shape=self.shape, dtype=self.dtype,
                                               chunks=chunks, compression=self.compression)
        elif self.suffix in NPY_SUFFIXES:
            self._fh = np.lib.format.open_memmap(self._tmp, mode="w+", dtype=self.dtype,
                                                 shape=self.shape)
        elif self.suffix in RAW_SUFFIXES:
            self._fh = open(self._tmp, "wb")  # noqa: SIM115 (closed in __exit__)
        else:
            self._fh = np.empty(self.shape, self.dtype)

    def write(self, block) -> None:
        """Append ``block`` (``(k, *shape[1:])``, or the whole array) after the rows written."""
        block = np.ascontiguousarray(_writable(block), dtype=self.dtype)
        if block.shape == self.shape and self.done == 0 and self.shape:
            k = self.shape[0]
        else:
            k = block.shape[0] if block.ndim else 0
            if block.shape[1:] != self.shape[1:] or self.done + k > self.shape[0]:
                raise ValueError(f"block of shape {block.shape} does not fit rows "
                                 f"{self.done}.. of {self.shape}")
        self._hash.update(block.reshape(-1).view(np.uint8))  # C-order bytes, no copy
        if self.suffix in RAW_SUFFIXES:
            self._fh.write(block.astype(_raw_dtype(self.dtype, self.byte_order),
                                        copy=False).tobytes())
        else:
            target = self._ds if self.suffix in HDF5_SUFFIXES else self._fh
            target[self.done:self.done + k] = block
        self.done += k

    def __exit__(self, *exc):
        expected = self.shape[0] if self.shape else 0
        ok = exc[0] is None and self.done == expected
        digest = self._hash.hexdigest()
        try:
            self._close(ok, digest)
            if exc[0] is None and not ok:
                raise ValueError(f"{self.path}: {self.done} of {expected} rows written")
        except BaseException:
            self._ctx.__exit__(*sys.exc_info())
            raise
        self._ctx.__exit__(*exc)
        if ok and self.suffix in RAW_SUFFIXES:
            _write_sidecar(self.path, self.shape, self.dtype, self.stack, digest, self.attrs,
                           byte_order=self.byte_order, order="C")
        elif ok and self.suffix in NPY_SUFFIXES:
            _write_sidecar(self.path, self.shape, self.dtype, self.stack, digest, self.attrs)
        return False

    def _close(self, ok: bool, digest: str) -> None:
        """Close the temporary file; when ``ok``, finish it (attributes, TIFF pages)."""
        if self.suffix in HDF5_SUFFIXES:
            try:
                if ok:
                    self._ds.attrs["stack"] = self.stack
                    self._ds.attrs["sha256"] = digest
                    if self.attrs:
                        self._ds.attrs["porevae"] = json.dumps(self.attrs)
            finally:
                self._fh.close()
        elif self.suffix in NPY_SUFFIXES:
            self._fh.flush()
            del self._fh
        elif self.suffix in RAW_SUFFIXES:
            self._fh.close()
        elif ok:
            meta = {"stack": self.stack, "sha256": digest}
            if self.attrs:
                meta["attrs"] = json.dumps(self.attrs)
            tifffile.imwrite(self._tmp, self._fh, photometric="minisblack",
                             compression=self.compression, metadata=meta)


# ---- dispatch by suffix --------------------------------------------------------------------------
def read_volume(path, binary=False, **kwargs) -> np.ndarray:
    """Read one array (a volume or a stack, as stored), choosing the reader from the suffix.

    ``.npy`` -> :func:`read_npy`; ``.raw``/``.bin`` -> :func:`read_raw` (sidecar, or
    ``shape``, ``dtype``, ``byte_order``, ``order``, ``offset``); ``.tif``/``.tiff`` ->
    :func:`read_tiff`; ``.h5``/``.hdf5``/``.hdf`` -> :func:`read_hdf5` (``dataset``).
    Options that do not apply to the format are ignored when None, refused otherwise;
    ``mmap=True`` is a hint, honoured by ``.npy`` (read-only memory map) and ignored by the
    formats that cannot be mapped.
    ``binary=True`` requires 0/1 values and returns bool. Raises :class:`FileNotFoundError` or
    :class:`VolumeFormatError` naming the file.
    """
    suffix = _suffix(path)
    accepted = {".npy": ("mmap",), **dict.fromkeys(RAW_SUFFIXES, ("shape", "dtype", "byte_order",
                                                                    "order", "offset")),
                **dict.fromkeys(TIFF_SUFFIXES, ()), **dict.fromkeys(HDF5_SUFFIXES, ("dataset",))}
    mmap = kwargs.pop("mmap", None)  # a hint: only .npy can be memory-mapped
    given = {k: v for k, v in kwargs.items() if v is not None}
    if suffix == ".npy" and mmap:
        given["mmap"] = True
    extra = sorted(set(given) - set(accepted[suffix]))
    if extra:
        raise ValueError(f"{path}: option(s) {extra} do not apply to {suffix} files")
    if suffix == ".npy":
        return read_npy(path, binary=binary, **given)
    if suffix in RAW_SUFFIXES:
        return read_raw(path, binary=binary, **given)
    if suffix in TIFF_SUFFIXES:
        return read_tiff(path, binary=binary)
    return read_hdf5(path, binary=binary, **given)


def write_volume(path, volume, stack=None, attrs=None, **kwargs) -> Path:
    """Write one array atomically, choosing the writer from the suffix (see :func:`read_volume`).

    ``stack=True`` records that axis 0 counts samples (``(n, *shape)``; read back with
    :func:`read_stack`); None (default) records a 4-D array as a stack of 3-D volumes and
    anything else as one image (:func:`stack_flag`); ``attrs`` (JSON-serialisable) are kept
    with the data. Extra keyword arguments go to the writer (``dataset``, ``compression``,
    ``byte_order``, ``order``). The output folder is checked before anything is written.
    """
    suffix = _suffix(path)
    check_volume_path(path, "output")
    if suffix == ".npy":
        if kwargs:
            raise ValueError(f"{path}: option(s) {sorted(kwargs)} do not apply to .npy files")
        return write_npy(path, volume, stack=stack, attrs=attrs)
    writer = write_raw if suffix in RAW_SUFFIXES else \
        write_tiff if suffix in TIFF_SUFFIXES else write_hdf5
    return writer(path, volume, stack=stack, attrs=attrs, **kwargs)


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
    if not np.isfinite(t):
        raise ValueError(f"threshold must be finite (a grey level or 'otsu'), got {threshold!r}")
    return arr <= t if pore == "dark" else arr > t


PORE_VALUES = (0, 1, 255, "dark", "bright")


def _pore_value(value):
    """``value`` as one of :data:`PORE_VALUES` (the strings "0", "1", "255" as integers)."""
    if isinstance(value, str) and value in ("0", "1", "255"):
        return int(value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and \
            int(value) in (0, 1, 255):
        return int(value)
    if value is None or value in ("dark", "bright"):
        return value
    raise ValueError(f"pore_value (--pore-value) must be one of 0, 1, 255, 'dark', 'bright', "
                     f"got {value!r}")


def _two_values(arr):
    """The sorted distinct values of ``arr`` when it has at most two, else None (two passes
    over the data, no sort)."""
    lo, hi = arr.min(), arr.max()
    if lo == hi:
        return (lo.item(),)
    if np.all((arr == lo) | (arr == hi)):
        return (lo.item(), hi.item())
    return None


def segment(volume, pore_value=None, name="volume", threshold=None):
    """Which voxels are pore: ``(bool array of volume's shape, one-line description)``.

    The one rule of porevae for turning stored voxels into a binary image (True = pore), used by
    ``train``, ``stats`` and ``compare`` (``--pore-value``):

    * two-valued data (bool, 0/1, 0/255, or any two levels): ``pore_value`` 0, 1 or 255 names
      the pore value and must occur in the data; ``"dark"`` / ``"bright"`` make the lower /
      higher value pore. Without ``pore_value``, 0/1 data follow porevae's convention
      (1 = pore); 0/255 and other pairs are ambiguous and refused (micro-CT files often mark
      pore as 0). ``threshold`` is never applied to two-valued data.
    * grey levels (more than two values): ``"dark"`` (pore at or below the cut, the usual case
      in CT) or ``"bright"`` (above); the cut is ``threshold`` (a grey level) or, by default,
      Otsu's threshold (:func:`otsu_threshold`), stated in the description. With an explicit
      ``threshold`` and no ``pore_value``, pore is dark (``volume <= threshold``), e.g. a
      Gaussian field cut at 0.

    Parameters
    ----------
    volume : array (any shape), bool, integer or float, finite
    pore_value : {0, 1, 255, "dark", "bright"} or None
    name : str
        Names the data in messages (e.g. ``"volume in rock.tif"``).
    threshold : "otsu", float or None
        The grey level separating the phases, for grey-level data only (None: Otsu).

    Raises ValueError (one line naming ``name`` and ``pore_value``) for ambiguous or
    inconsistent requests, before any large allocation beyond two boolean masks.
    """
    pore_value = _pore_value(pore_value)
    arr = check_numeric(volume, name)
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    values = _two_values(arr)
    if values is not None:
        return _segment_levels(arr, values, pore_value, name)
    lo, hi = arr.min().item(), arr.max().item()
    if pore_value in (0, 1, 255):
        raise ValueError(f"{name} holds grey levels (more than two values, in [{lo:g}, {hi:g}]), "
                         f"so pore_value {pore_value} names no phase; give --pore-value dark "
                         f"or bright (cut at Otsu's threshold)")
    if pore_value is None and threshold is None:
        raise ValueError(f"{name} holds grey levels (more than two values, in [{lo:g}, {hi:g}]): "
                         f"say which side is pore with --pore-value dark or bright (cut at "
                         f"Otsu's threshold) or give --threshold")
    side = pore_value or "dark"
    if threshold is None or (isinstance(threshold, str) and threshold == "otsu"):
        t, how = otsu_threshold(arr), "Otsu's threshold"
    else:
        t, how = float(threshold), "the threshold"
        if not math.isfinite(t):
            raise ValueError(f"threshold must be finite (a grey level or 'otsu'), got "
                             f"{threshold!r}")
    pore = arr <= t if side == "dark" else arr > t
    cmp = "<=" if side == "dark" else ">"
    phi = np.count_nonzero(pore) / pore.size
    return pore, (f"{name}: grey levels in [{lo:g}, {hi:g}] cut at {how} {t:.6g}: pore = "
                  f"{side} (value {cmp} {t:.6g}), porosity {phi:.4f}")


def _segment_levels(arr, values, pore_value, name):
    """:func:`segment` of data with one or two distinct ``values``."""
    shown = " and ".join(f"{v:g}" for v in values) if len(values) == 2 else \
        f"only {values[0]:g}"
    if pore_value is None:
        if set(values) <= {0, 1}:
            pore, rule = arr == 1, "pore = 1 (porevae's convention; --pore-value 0 if pore is 0)"
        elif set(values) <= {0, 255}:
            raise ValueError(f"{name} holds the values {shown}: say which is pore with "
                             f"--pore-value 0 or 255 (micro-CT files often mark pore as 0)")
        else:
            raise ValueError(f"{name} holds the values {shown}: say which is pore with "
                             f"--pore-value dark (the lower) or bright (the higher)")
    elif pore_value in ("dark", "bright"):
        v = values[0] if pore_value == "dark" or len(values) == 1 else values[-1]
        if len(values) == 1 and pore_value == "bright":
            pore, rule = np.zeros(arr.shape, bool), "pore = bright (no brighter value: no pore)"
        else:
            pore, rule = arr == v, f"pore = {pore_value} ({v:g})"
    else:
        if len(values) == 2 and pore_value not in values:
            raise ValueError(f"pore_value {pore_value} does not occur in {name}, which holds the "
                             f"values {shown}")
        pore, rule = arr == pore_value, f"pore = {pore_value}"
    return np.ascontiguousarray(pore), (f"{name}: binary ({shown}), {rule}, porosity "
                                        f"{np.count_nonzero(pore) / pore.size:.4f}")


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
