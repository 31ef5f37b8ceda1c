"""Host memory for large outputs, kept for reuse after the arrays on it are freed.

The first write to a fresh page makes the operating system supply and zero it, and on a
virtual machine the hypervisor back it too: for the 7.33 GB covariance of 30,276 points that
first touch costs 2-9 s on the 2-core CI machine, against 0.3 s to write memory the process
already holds (bench/RESULTS.md, fifth and sixth stops). The C allocator returns a freed large
block to the system at once, so every assembly would pay the first touch again.

Here a large request (at least :data:`MIN_BYTES`) gets its own anonymous mapping, 2 MiB aligned
and advised for transparent huge pages. When the last array on it is freed, the mapping is kept
and its pages are handed back with ``madvise(MADV_FREE)``: the kernel may take them whenever it
needs memory (they count as available in ``/proc/meminfo``, so the up-front memory checks see
them), and until it does, the next request of the same size (rounded up to 2 MiB) reuses them
without a page fault. A request of another size first unmaps what is kept, so at most the
mappings of one size are held beyond what is in use. ``release_host_memory()`` unmaps them now;
``POREVAE_KEEP_HOST_MEMORY=0`` turns keeping off (freed mappings are unmapped at once).
Elsewhere than Linux, and below :data:`MIN_BYTES`, requests go to ``np.empty``.
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import os
import sys
import threading

import numpy as np

MIN_BYTES = 64 << 20  # smaller requests go to np.empty: the first touch is cheap next to the work
ALIGN = 2 << 20  # the huge-page size: mappings are aligned and sized in whole huge pages

_PROT_RW, _MAP_PRIVATE_ANONYMOUS = 0x3, 0x22
_MADV_FREE, _MADV_HUGEPAGE = 8, 14


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return libc


_LIBC = _libc()
_lock = threading.Lock()
_kept: list[tuple[int, int]] = []  # (address, size) of freed mappings, pages handed back
_returned: collections.deque = collections.deque()  # freed by _Mapping.__del__, not yet sorted


def keeping() -> bool:
    """Whether freed mappings are kept (``POREVAE_KEEP_HOST_MEMORY``, default on)."""
    return os.environ.get("POREVAE_KEEP_HOST_MEMORY", "1").strip() not in ("0", "false", "no")


class _Mapping:
    """One anonymous mapping of ``size`` bytes at ``address``; NumPy arrays are made on it
    through ``__array_interface__``, so every view holds this object and it dies with the last
    one. Its death returns the mapping (to the kept list, or to the system)."""

    def __init__(self, address: int, size: int):
        self.address, self.size = address, size
        self.__array_interface__ = {"shape": (size,), "typestr": "|u1", "version": 3,
                                    "data": (address, False)}

    def __del__(self):
        try:
            if keeping():
                _LIBC.madvise(self.address, self.size, _MADV_FREE)
                _returned.append((self.address, self.size))
            else:
                _LIBC.munmap(self.address, self.size)
        except Exception:  # interpreter shutdown: the process's memory goes with it
            pass


def _map(size: int) -> int:
    """A fresh anonymous mapping of ``size`` bytes (a multiple of ALIGN), ALIGN-aligned."""
    raw = _LIBC.mmap(None, size + ALIGN, _PROT_RW, _MAP_PRIVATE_ANONYMOUS, -1, 0)
    if raw in (None, ctypes.c_void_p(-1).value):
        raise MemoryError(f"the host could not map {size} bytes "
                          f"({os.strerror(ctypes.get_errno())})")
    start = -(-raw // ALIGN) * ALIGN
    if start > raw:
        _LIBC.munmap(raw, start - raw)
    _LIBC.munmap(start + size, raw + ALIGN - start)  # the tail: at least one page
    _LIBC.madvise(start, size, _MADV_HUGEPAGE)
    return start


def _sort_returned() -> None:
    while _returned:
        _kept.append(_returned.popleft())


def release_host_memory() -> int:
    """Unmap every kept mapping now; returns the bytes released."""
    with _lock:
        _sort_returned()
        freed = sum(size for _, size in _kept)
        for address, size in _kept:
            _LIBC.munmap(address, size)
        _kept.clear()
    return freed


def kept_bytes() -> int:
    """Bytes of freed mappings kept for reuse (their pages reclaimable by the kernel)."""
    with _lock:
        _sort_returned()
        return sum(size for _, size in _kept)


def empty(shape, dtype) -> np.ndarray:
    """An uninitialised C-contiguous host array of ``shape`` and NumPy ``dtype``: from a kept
    mapping of the same rounded size when there is one, else a fresh mapping (large requests
    on Linux), else ``np.empty``."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if _LIBC is None or nbytes < MIN_BYTES:
        return np.empty(shape, dtype)
    size = -(-nbytes // ALIGN) * ALIGN
    with _lock:
        _sort_returned()
        hit = next((k for k, (_, s) in enumerate(_kept) if s == size), None)
        if hit is not None:
            address, _ = _kept.pop(hit)
        else:
            for a, s in _kept:
                _LIBC.munmap(a, s)
            _kept.clear()
    if hit is None:
        address = _map(size)
    raw = np.asarray(_Mapping(address, size))
    return raw[:nbytes].view(dtype).reshape(shape)
