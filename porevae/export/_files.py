"""Checksums of written files; atomic writes come from :mod:`porevae._files`.

Every writer in :mod:`porevae.export` writes to a hidden temporary name in the destination folder
and ``os.replace``-s it onto the final name (:func:`porevae._files.atomic_path`), so a reader or a
resumed ensemble never sees a half-written file.
"""

from __future__ import annotations

import hashlib

from porevae._files import TMP_MARK, atomic_path

__all__ = ["TMP_MARK", "atomic_path", "sha256"]


def sha256(path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
