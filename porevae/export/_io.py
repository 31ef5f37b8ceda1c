"""The one way the export writers put bytes on disk: large writes into an atomic file.

A writer hands :func:`write_parts` the file as a sequence of parts (``bytes`` or contiguous
NumPy arrays, viewed as bytes without a copy); each is written with ``write`` calls on an
unbuffered file, so a 17 MB keyword is one system call, not thousands of 8 KiB ones; each part
is written before the next is made (it is still in the cache). A writer thread that wrote part
j while part j + 1 was formatted was measured 15-19 % slower for GRDECL on this 2-core machine
(10 Drogon-size files, 0.48 s against 0.40 s, quiet, 2026-12-07) and is not used. The
file is written to a temporary name, fsynced and renamed (:func:`porevae._files.atomic_path`), so
that a reader sees the old file or the complete new one.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from porevae._files import atomic_path


def _write_all(fh, part) -> None:
    view = (np.ascontiguousarray(part).data if isinstance(part, np.ndarray)
            else memoryview(part)).cast("B")
    while view:
        view = view[fh.write(view):]


def write_parts(path, parts: Iterable) -> Path:
    """Write the concatenation of ``parts`` (bytes or contiguous arrays) to ``path``
    atomically; returns ``Path(path)``. ``parts`` may be a generator; each part is written
    before the next is asked for, so a generator may reuse its memory. An error (making or
    writing a part) is raised here and the temporary file is removed."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb", buffering=0) as fh:
        for part in parts:
            _write_all(fh, part)
    return path
