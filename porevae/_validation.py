"""Parameter checks shared by the package: clear errors naming the parameter and allowed range."""

from __future__ import annotations

import math

import numpy as np


def check_positive_finite(value, name):
    """Raise ValueError unless every entry of ``value`` is finite and > 0."""
    arr = np.atleast_1d(np.asarray(value, dtype=float))
    if arr.size == 0 or not np.all(np.isfinite(arr)) or not np.all(arr > 0):
        raise ValueError(f"{name} must be finite and > 0, got {np.asarray(value).tolist()}")


def check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def check_int(value, name, low=None, high=None):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value}")
    return int(value)


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


def format_bytes(n: int) -> str:
    if n <= 0:
        return "0 B"
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    k = min(int(math.log(n, 1024)), len(units) - 1)
    return f"{n / 1024**k:.1f} {units[k]}"
