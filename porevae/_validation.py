"""The parameter checks of the package: one style for every check, before any work.

Each check raises with one line that names the parameter (``name``: the API argument or the
CLI flag, e.g. ``"--rock-n"``) and its allowed range or choices, and returns the value
normalised (Python int / float / tuple): ``TypeError`` for a value of the wrong type,
``ValueError`` for one out of range. Ranges read ``[low, high]`` (closed), ``(low, high]``
(open at low), with ``inf`` for no bound. Every module (and the CLI) uses these instead of its
own; :mod:`porevae.media._checks` holds only what is specific to binary images.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def check_positive_finite(value, name):
    """``value`` (a number or an array of them) when every entry is finite and > 0; ValueError
    otherwise."""
    arr = np.atleast_1d(np.asarray(value, dtype=float))
    if arr.size == 0 or not np.all(np.isfinite(arr)) or not np.all(arr > 0):
        raise ValueError(f"{name} must be finite and > 0, got {np.asarray(value).tolist()}")
    return value


def check_choice(value, name, choices):
    """``value`` when it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices, key=str)}, got {value!r}")
    return value


def check_int(value, name, low=None, high=None) -> int:
    """An integer (not bool) in ``[low, high]`` (None: no bound), as a Python int."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value}")
    return int(value)


def check_real(value, name, low=-math.inf, high=math.inf, low_open=False) -> float:
    """A finite number (not bool) in ``[low, high]`` (``(low, high]`` when ``low_open``), as a
    Python float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value < low or value > high or (low_open and value == low):
        raise ValueError(f"{name} must be in {'(' if low_open else '['}{low}, {high}], "
                         f"got {value!r}")
    return float(value)


def check_fraction(value, name) -> float:
    """A number strictly inside (0, 1), e.g. a target porosity."""
    v = float(value)
    if not 0.0 < v < 1.0:
        raise ValueError(f"{name} must be in the open interval (0, 1), got {value!r}")
    return v


def check_shape(shape, name="shape") -> tuple[int, ...]:
    """A 2D or 3D shape of positive integers, returned as a tuple."""
    try:
        out = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of 2 or 3 positive integers, got {shape!r}") \
            from None
    if len(out) not in (2, 3) or any(s < 1 for s in out) or \
            any(int(s) != s for s in np.asarray(shape, dtype=float)):
        raise ValueError(f"{name} must be 2 or 3 positive integers, got {shape!r}")
    return out


def check_axis(axis, ndim, name="axis") -> int:
    """An integer axis in [-ndim, ndim), returned non-negative."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name} must be in [{-ndim}, {ndim - 1}] for a {ndim}D image, got {axis}")
    return int(axis) % ndim


def check_numeric(volume, name="volume") -> np.ndarray:
    """A bool/integer/float array without NaN or inf (other dtypes are rejected)."""
    arr = np.asarray(volume)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must have a bool, integer or float dtype, got {arr.dtype}")
    if arr.dtype.kind == "f":
        bad = np.count_nonzero(~np.isfinite(arr))
        if bad:
            raise ValueError(f"{name} contains {bad} NaN or infinite values")
    return arr


def check_levels(levels, name="levels"):
    """Energy levels: a non-empty sequence of floats in (0, 1]."""
    arr = np.atleast_1d(np.asarray(levels, dtype=float))
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0) or np.any(arr > 1):
        raise ValueError(f"{name} must be numbers in (0, 1], got {np.asarray(levels).tolist()}")
    return arr


def available_memory() -> int:
    """Bytes of memory available to this process (MemAvailable, or a cgroup limit if lower)."""
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
    except OSError:
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as fh:
                raw = fh.read().strip()
            if raw.isdigit():
                limit = int(raw)
                avail = limit if avail is None else min(avail, limit)
        except OSError:
            pass
    return avail if avail is not None else 2**62


def check_memory(nbytes: int, what: str):
    """Refuse up front a request of ``nbytes`` that would not fit in available memory."""
    avail = available_memory()
    if nbytes > avail:
        raise MemoryError(f"{what} needs {format_bytes(nbytes)} ({nbytes} bytes) but only "
                          f"{format_bytes(avail)} is available; use a smaller grid, fewer terms "
                          f"or a matrix-free solver ('fft', 'kron', 'matfree')")


def check_disk(nbytes: int, path, what: str):
    """Refuse up front writing ``nbytes`` to ``path`` (a file to be created) when its folder's
    file system has less free space (``what`` names the output in the message)."""
    import shutil

    folder = Path(path).resolve().parent
    free = shutil.disk_usage(folder).free
    if nbytes > free:
        raise OSError(f"{what} needs {format_bytes(nbytes)} ({nbytes} bytes) on disk but only "
                      f"{format_bytes(free)} is free in {str(folder)!r}; ask for fewer or "
                      f"smaller samples, or write elsewhere")


def format_bytes(n: int) -> str:
    if n <= 0:
        return "0 B"
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    k = min(int(math.log(n, 1024)), len(units) - 1)
    return f"{n / 1024**k:.1f} {units[k]}"
