"""Timing helpers shared by the benchmarks: medians after warm-up, peak memory, bandwidth."""

from __future__ import annotations

import platform
import resource
import statistics
import time

import numpy as np


def median_time(fn, repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def reset_peak_rss() -> None:
    """Reset this process's peak resident set size (Linux: ``/proc/self/clear_refs``)."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def peak_rss_bytes() -> int:
    """Peak resident set size since start or the last :func:`reset_peak_rss` (``VmHWM``)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def rss_bytes() -> int:
    """Current resident set size of this process."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize()


def write_bandwidth(nbytes: int = 1 << 30, repeat: int = 5) -> dict:
    """Memory write bandwidth in bytes/s: into touched memory, and into a fresh allocation.

    The fresh figure includes the page faults that any newly allocated output pays.
    """
    touched_buf = np.zeros(nbytes // 8)
    touched = median_time(lambda: touched_buf.fill(1.0), repeat)

    def fresh():
        b = np.empty(nbytes // 8)
        b.fill(1.0)

    return {"touched": nbytes / touched, "fresh": nbytes / median_time(fresh, repeat)}


def machine() -> str:
    import os

    import torch

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, NumPy {np.__version__}, "
            f"torch {torch.__version__}")


def gb(x: float) -> str:
    return f"{x / 1e9:.2f}"
