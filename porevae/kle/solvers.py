"""Solver registry and the ``solver="auto"`` choice.

Each solver is one class per algorithm, ``SOLVERS[name](grid_or_points, model, device=None)``
(``dense`` and ``matfree`` also take ``weights=``, :mod:`porevae.kle.weights`), whatever the
device (:mod:`porevae.kle._device`): ``eigenvalues(k=None)`` (descending, NumPy),
``eigenpairs(k)`` (``w`` NumPy, ``v`` (n, k) on the device), ``memory_bytes(k, vectors)``
(checked against the device's budget before anything large is allocated).
"""

from __future__ import annotations

from porevae._validation import check_choice
from porevae.grid import Grid
from porevae.kle import _device
from porevae.kle.dense import DenseSolver
from porevae.kle.iterative import FFTSolver, MatfreeSolver
from porevae.kle.kron import KronSolver
from porevae.kle.parity import ParitySolver
from porevae.kle.weights import WEIGHTED_SOLVERS

SOLVERS = {cls.name: cls for cls in (DenseSolver, ParitySolver, KronSolver, FFTSolver,
                                     MatfreeSolver)}

#: largest parity block (rows) that ``auto`` assembles: beyond it the ``fft`` solver's sector
#: Lanczos is faster for leading pairs, and the whole spectrum would take hours anyway
PARITY_MAX_ROWS = 40_000
#: on 3-D grids, ``auto`` prefers ``fft`` for leading pairs once blocks have this many rows
#: (64 x 64 x 32, 500 pairs: fft 6.5x faster than parity; bench/bench_kle.py ``3d``)
PARITY_3D_LEADING_ROWS = 4_000


def choose(grid, model, device=None, budget=None, n_terms=None, weighted=False) -> str:
    """The solver ``"auto"`` picks for ``grid`` (a Grid or points) and ``model``.

    * ``kron`` for separable models on a Grid (exact, near-instant);
    * ``parity`` (exact, the whole spectrum at ``1/4^d`` of dense cost) while its largest block,
      float64 and three copies (``24 m^2`` bytes, ``m = ceil(n / 2^d)``), fits in half the
      ``budget`` and has at most :data:`PARITY_MAX_ROWS` rows, except on 3-D grids when only
      ``n_terms`` leading pairs are asked for and blocks have more than
      :data:`PARITY_3D_LEADING_ROWS` rows;
    * else ``fft`` (leading pairs, sector Lanczos with ``O(n log n)`` products);
    * for point sets, for grids with a rotated model (no axis-reflection symmetry, so no
      parity sectors) and for ``weighted`` problems (quadrature weights: only the point-set
      solvers take them): ``dense`` while ``16 n^2`` bytes fit in half the budget, else
      ``matfree``.

    ``budget``: bytes; default the memory of ``device`` (:func:`porevae.kle._device.budget`: the
    host's available memory for ``None`` or a CPU device, free CUDA memory for a GPU).
    """
    device = _device.resolve(device)
    budget = _device.budget(device) if budget is None else int(budget)
    if weighted or not isinstance(grid, Grid) or not model.reflection_symmetric:
        n = grid.n_cells if isinstance(grid, Grid) else len(grid)
        return "dense" if 16 * n**2 <= budget // 2 else "matfree"
    if model.separable:
        return "kron"
    largest = -(-grid.n_cells // 2**grid.ndim)
    fits = 3 * 8 * largest**2 <= budget // 2 and largest <= PARITY_MAX_ROWS
    leading_3d = grid.ndim == 3 and n_terms is not None and largest > PARITY_3D_LEADING_ROWS \
        and n_terms < grid.n_cells // 4
    return "parity" if fits and not leading_3d else "fft"


def make_solver(name, grid, model, device=None, n_terms=None, weights=None):
    """The solver ``name`` (or the ``"auto"`` choice for ``n_terms`` pairs) on ``device``;
    ``weights``: normalised quadrature weights (n,) or None (:func:`porevae.kle.weights.resolve`),
    refused by the regular-grid solvers."""
    check_choice(name, "solver", ("auto", *SOLVERS))
    if name == "auto":
        name = choose(grid, model, device, n_terms=n_terms, weighted=weights is not None)
    if weights is None:
        return SOLVERS[name](grid, model, device=device)
    if name not in WEIGHTED_SOLVERS:
        raise ValueError(f"solver={name!r} assumes the equal cells of a regular grid: weights "
                         f"need solver in {WEIGHTED_SOLVERS} (or 'auto')")
    return SOLVERS[name](grid, model, device=device, weights=weights)


__all__ = ["PARITY_3D_LEADING_ROWS", "PARITY_MAX_ROWS", "SOLVERS", "choose", "make_solver"]
