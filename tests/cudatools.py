"""Helpers of the CPU-side CUDA tests: finding nvcc, running kernels in Numba's CUDA simulator."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def nvcc():
    """Path of nvcc (PATH, then /usr/local/cuda), or None."""
    found = shutil.which("nvcc")
    if found:
        return found
    default = Path("/usr/local/cuda/bin/nvcc")
    return str(default) if default.exists() else None


def run_in_cudasim(script: str, done_marker: str, timeout: int = 600) -> None:
    """Run ``script`` in a fresh interpreter with ``NUMBA_ENABLE_CUDASIM=1`` (the variable only
    takes effect before numba is imported); assert it exits 0 and prints ``done_marker``."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True,
                         text=True, env=env, cwd=ROOT, timeout=timeout)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    assert done_marker in res.stdout
