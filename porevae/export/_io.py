"""The one way the export writers put bytes on disk: large writes into an atomic file.

A writer hands :func:`write_parts` the file as a sequence of parts (``bytes`` or contiguous
NumPy arrays, viewed as bytes without a copy); each is written with ``write`` calls on an
unbuffered file, so a 17 MB keyword is one system call, not thousands of 8 KiB ones. The file is
written to a temporary name, fsynced and renamed (:func:`porevae._files.atomic_path`), so that a
reader sees the old file or the complete new one.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from porevae._files import atomic_path


def write_parts(path, parts: Iterable) -> Path:
    """Write the concatenation of ``parts`` (bytes or contiguous arrays) to ``path``
    atomically; ``parts`` may be a generator (each part is written before the next is made).
    Returns ``Path(path)``."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb", buffering=0) as fh:
        for part in parts:
            view = memoryview(np.ascontiguousarray(part) if isinstance(part, np.ndarray)
                              else part).cast("B")
            while view:
                view = view[fh.write(view):]
    return path
