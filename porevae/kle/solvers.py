"""Solver registry and the ``solver="auto"`` choice."""

from __future__ import annotations

import torch

from porevae._validation import available_memory, check_choice
from porevae.kle.dense import DenseSolver
from porevae.kle.iterative import FFTSolver, MatfreeSolver
from porevae.kle.kron import KronSolver
from porevae.kle.parity import ParitySolver

SOLVERS = {cls.name: cls for cls in (DenseSolver, ParitySolver, KronSolver, FFTSolver,
                                     MatfreeSolver)}


def choose(grid, model) -> str:
    """The solver ``"auto"`` picks for a grid and model.

    ``kron`` for separable models (exact, near-instant); else ``parity`` (exact, the whole
    spectrum at ``1/4^d`` of dense cost) while its largest block fits comfortably in memory;
    else ``fft`` (leading eigenpairs with ``O(n log n)`` products).
    """
    if model.separable:
        return "kron"
    largest = -(-grid.n_cells // 2**grid.ndim)
    if 3 * 8 * largest**2 < available_memory() // 2 and largest <= 40_000:
        return "parity"
    return "fft"


def make_solver(name, grid, model, device="cpu"):
    """The solver ``name`` (or the ``"auto"`` choice); on a CUDA device, its device version."""
    check_choice(name, "solver", ("auto", *SOLVERS))
    if torch.device(device).type == "cuda":
        from porevae.kle.gpu import make_device_solver

        return make_device_solver(name, grid, model, device)
    if name == "auto":
        name = choose(grid, model)
    return SOLVERS[name](grid, model)
