"""Numba's parallel threads beside torch's, in one process.

Both use OpenMP here (Numba's default threading layer without TBB is ``omp``, the same runtime
as torch's CPU build), and starting Numba's layer sets the process's OpenMP thread count to
Numba's default (``NUMBA_NUM_THREADS``, the machine's core count): a ``torch.set_num_threads(1)``
or ``OMP_NUM_THREADS=1`` made before the first parallel Numba kernel was silently undone, and
torch ran on every core afterwards (measured: 1 -> 2 on the 2-core machine). Every module with
``prange`` kernels calls :func:`start_numba_threads` when imported.
"""

from __future__ import annotations

import contextlib

import numba as nb
import torch


def start_numba_threads() -> None:
    """Start Numba's threading layer now, keeping torch's intra-op thread count."""
    keep = torch.get_num_threads()
    nb.get_num_threads()  # launches the layer (a no-op once it runs)
    if torch.get_num_threads() != keep:
        torch.set_num_threads(keep)


@contextlib.contextmanager
def numba_threads(limit: int):
    """Run the enclosed Numba kernels on ``max(1, min(numba threads, limit))`` threads."""
    start_numba_threads()
    before = nb.get_num_threads()
    nb.set_num_threads(max(1, min(before, int(limit))))
    try:
        yield
    finally:
        nb.set_num_threads(before)
