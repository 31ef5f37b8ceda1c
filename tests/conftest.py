"""Shared test fixtures and markers.

* ``needs_cuda`` / ``needs_nvcc``: skip markers for tests that need a CUDA device or the CUDA
  compiler (the GPU tests are also marked ``gpu``, so ``pytest -m gpu`` selects them).
* ``rng``: a NumPy Generator seeded per test from the test's node id, so every test draws fresh
  inputs that differ between tests but are the same on every run (a failure reproduces).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from cudatools import nvcc

CUDA = torch.cuda.is_available()

needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device (torch.cuda.is_available())")
needs_nvcc = pytest.mark.skipif(nvcc() is None, reason="nvcc not found")


def seed_of(name: str) -> int:
    """A stable 63-bit seed from a string (the test's node id)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little") >> 1


@pytest.fixture
def rng(request) -> np.random.Generator:
    """NumPy Generator seeded from the test's node id (fresh per test, reproducible per run)."""
    return np.random.default_rng(seed_of(request.node.nodeid))
