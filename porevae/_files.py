"""Atomic file writes: a reader never sees a half-written file.

Writers write to a hidden temporary name in the destination folder and ``os.replace`` it onto the
final name, so the destination holds either its old content or the complete new file. Temporary
names start with a dot and contain ``.tmp-`` (:data:`TMP_MARK`), so stale ones left by a killed
process are easy to recognise.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from contextlib import contextmanager
from pathlib import Path

TMP_MARK = ".tmp-"


class FileIntegrityError(ValueError):
    """A file is truncated, corrupt, foreign or does not match its stored checksum.

    The message names the file and what failed; the CLI prints it as one line (exit status 2).
    """


def sha256(path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def digest_arrays(arrays: dict) -> str:
    """Hex SHA-256 over named arrays: each name, dtype, shape and C-order bytes, in name order.

    Stored beside the arrays when saving (KLE files, checkpoints) and recomputed on load, so
    that a flipped or zeroed byte anywhere in the payload is detected.
    """
    import numpy as np

    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


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
