"""Atomic file writes: a reader never sees a half-written file.

Writers write to a hidden temporary name in the destination folder and ``os.replace`` it onto the
final name, so the destination holds either its old content or the complete new file. Temporary
names start with a dot and contain ``.tmp-`` (:data:`TMP_MARK`), so stale ones left by a killed
process are easy to recognise.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path

TMP_MARK = ".tmp-"


@contextmanager
def atomic_path(path, suffix: str = ""):
    """Yield a temporary path next to ``path``; on success fsync it and move it onto ``path``.

    The body writes the complete file at the yielded path (``suffix`` is appended for libraries
    that add their own extension, e.g. ``numpy.save`` adds ``.npy``). On any exception the
    temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"folder {str(path.parent)!r} does not exist")
    tmp = path.parent / f".{path.name}{TMP_MARK}{uuid.uuid4().hex[:12]}"
    written = Path(f"{tmp}{suffix}")
    try:
        yield tmp
        with open(written, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(written, path)
    finally:
        written.unlink(missing_ok=True)
