"""The one way the export writers put bytes on disk: large writes into an atomic file.

A writer hands :func:`write_parts` the file as a sequence of parts (``bytes`` or contiguous
NumPy arrays, viewed as bytes without a copy); each is written with ``write`` calls on an
unbuffered file, so a 17 MB keyword is one system call, not thousands of 8 KiB ones. With
``overlap`` the parts are made in the calling thread (compiled code that releases the GIL: the
GRDECL formatter) while a second thread writes the ones before, so that a file takes about the
longer of making and writing it where a core is free for each; without it (conversions that cost
less than a thread's hand-overs: binary GRDECL, ROFF) each part is written as it is made. The
file is written to a temporary name, fsynced and renamed (:func:`porevae._files.atomic_path`), so
that a reader sees the old file or the complete new one.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from porevae._files import atomic_path


def _write_all(fh, part) -> None:
    view = (np.ascontiguousarray(part).data if isinstance(part, np.ndarray)
            else memoryview(part)).cast("B")
    while view:
        view = view[fh.write(view):]


def write_parts(path, parts: Iterable, *, overlap: bool = False) -> Path:
    """Write the concatenation of ``parts`` (bytes or contiguous arrays) to ``path``
    atomically; returns ``Path(path)``. ``parts`` may be a generator.

    Without ``overlap`` each part is written before the next is made. With ``overlap`` the
    generator runs in the calling thread while a writer thread writes the parts already made,
    one handed over at a time: part ``j`` has been written when part ``j + 2`` is handed over,
    so a generator may reuse the memory of part ``j`` from then on
    (:func:`porevae.export._text.format_chunks` rotates three buffers). An error in either
    thread stops both; it is raised here and the temporary file is removed.
    """
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb", buffering=0) as fh:
        if not overlap:
            for part in parts:
                _write_all(fh, part)
            return path
        handed: queue.Queue = queue.Queue(maxsize=1)
        failed: list = []

        def writer():
            try:
                while (part := handed.get()) is not None:
                    _write_all(fh, part)
            except BaseException as exc:  # noqa: BLE001 - raised again in the caller
                failed.append(exc)
                while handed.get() is not None:   # let the maker finish its hand-overs
                    pass

        thread = threading.Thread(target=writer, name="porevae-write", daemon=True)
        thread.start()
        try:
            for part in parts:
                if failed:
                    break
                handed.put(part)
        finally:
            handed.put(None)
            thread.join()
        if failed:
            raise failed[0]
    return path
