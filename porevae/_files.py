"""Atomic file writes: a reader never sees a half-written file.

Writers write to a hidden temporary name in the destination folder and ``os.replace`` it onto the
final name, so the destination holds either its old content or the complete new file. Temporary
names are ``.NAME.tmp-PID-RANDOM`` (:data:`TMP_MARK`): the writer's process id is part of the
name, so the next writer of the same target removes the temporaries that a killed process left
behind (its pid no longer runs) without touching those of a writer still at work.
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
        digest.update(a.reshape(-1).view(np.uint8).data)  # the C-order bytes, without a copy
    return digest.hexdigest()


def check_writable(path, what: str = "output") -> Path:
    """Refuse, before any work, an output ``path`` whose folder is missing or not writable.

    ``what`` names the parameter in the message (e.g. ``"--out"``). Returns ``Path(path)``.
    Raises :class:`FileNotFoundError` (no folder) or :class:`PermissionError` (read-only folder,
    or ``path`` is a folder).
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"{what} folder {str(folder)!r} does not exist")
    if path.is_dir():
        raise PermissionError(f"{what} {str(path)!r} is a folder, not a file")
    if not os.access(folder, os.W_OK | os.X_OK) or _read_only_mount(folder):
        raise PermissionError(f"{what} folder {str(folder)!r} is not writable")
    return path


def check_output_folder(folder, what: str = "--out") -> Path:
    """Refuse, before any work, an output folder that cannot be written: if it exists it must be
    a writable folder, otherwise its parent must exist and be writable (it will be created)."""
    folder = Path(folder)
    if folder.exists():
        if not folder.is_dir():
            raise FileExistsError(f"{what} {str(folder)!r} exists and is not a folder")
        check_writable(folder / ".probe", what)
    else:
        check_writable(folder, what)
    return folder


def check_output(path, *, overwrite: bool = False, inputs=(), what: str = "--out",
                 folder: bool = False) -> Path:
    """The one output check of every command, run before any work.

    Refuses ``path`` when it is one of ``inputs`` (an input is never an output, even with
    ``overwrite``), when it exists and ``overwrite`` is false (``FileExistsError`` naming
    ``what`` and ``--overwrite``), and when it cannot be written (:func:`check_writable`, or
    :func:`check_output_folder` for a ``folder`` output). ``inputs`` are paths (or ``None``,
    skipped); they are compared after resolving links. Returns ``Path(path)``.
    """
    path = Path(path)
    target = path.resolve()
    for src in inputs:
        if src is not None and Path(src).resolve() == target:
            raise ValueError(f"{what} {str(path)!r} is also an input; write to another path")
    if path.exists() and not overwrite:
        kind = "folder" if path.is_dir() else "file"
        raise FileExistsError(f"{what} {str(path)!r}: the {kind} exists; pass --overwrite to "
                              f"replace it")
    return check_output_folder(path, what) if folder else check_writable(path, what)


def _read_only_mount(folder: Path) -> bool:
    """True if ``folder`` lies on a file system mounted read-only (which even root cannot write)."""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(path) -> list[Path]:
    """Remove the temporaries of target ``path`` left by writers that no longer run.

    Only names ``.NAME.tmp-PID-...`` whose PID is not a live process are removed (and names of
    the older ``.NAME.tmp-RANDOM`` form, which carry no pid). Returns the removed paths.
    """
    path = Path(path)
    removed: list[Path] = []
    prefix = f".{path.name}{TMP_MARK}"
    try:
        candidates = [p for p in path.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return removed
    for p in candidates:
        pid = p.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and "-" in p.name[len(prefix):] and _pid_alive(int(pid)):
            continue
        try:
            if p.is_dir():
                continue
            p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


@contextmanager
def atomic_path(path, suffix: str = ""):
    """Yield a temporary path next to ``path``; on success fsync it and move it onto ``path``.

    The body writes the complete file at the yielded path (``suffix`` is appended for libraries
    that add their own extension, e.g. ``numpy.save`` adds ``.npy``). On any exception the
    temporary file is removed and ``path`` is left untouched. Before starting, the folder is
    checked (:func:`check_writable`: one clear error for a missing or read-only folder) and
    stale temporaries of the same target from killed writers are removed.
    """
    path = check_writable(path)
    remove_stale_temporaries(path)
    tmp = path.parent / f".{path.name}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:12]}"
    written = Path(f"{tmp}{suffix}")
    try:
        yield tmp
        with open(written, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(written, path)
    finally:
        _discard(written)
        if written != tmp:
            _discard(tmp)


def _discard(path: Path) -> None:
    """Remove ``path`` if it exists; never raises (the original error is the one to report)."""
    try:
        os.unlink(path)
    except OSError:
        pass
