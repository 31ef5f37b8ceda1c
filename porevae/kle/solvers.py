"""Solver registry, the ``solver="auto"`` choice and the plan of a solve.

Each solver is one class per algorithm, ``SOLVERS[name](grid_or_points, model, device=None)``
(``dense`` and ``matfree`` also take ``weights=``, :mod:`porevae.kle.weights`), whatever the
device (:mod:`porevae.kle._device`): ``eigenvalues(k=None)`` (descending, NumPy),
``eigenpairs(k)`` (``w`` NumPy, ``v`` (n, k) on the device), and the statements of
:class:`porevae.kle.base.Solver` (``applies``, ``declines``, ``memory_bytes``). The names and
their order come from :mod:`porevae.kle.registry`; one rule, :func:`porevae.kle.base.fits`,
decides what fits, for :func:`choose`, for :func:`plan` (the refusal before any work) and for
the solvers' own checks.
"""

from __future__ import annotations

import dataclasses

from porevae._validation import check_choice, format_bytes
from porevae.kle import _device, base
from porevae.kle.parity import PARITY_3D_LEADING_ROWS, PARITY_MAX_ROWS
from porevae.kle.registry import NAMES, solver_class

SOLVERS = {name: solver_class(name) for name in NAMES}


def _applicable(grid, model, weighted):
    """``[(name, class)]`` of the solvers that apply, in the registry's order."""
    return [(name, cls) for name, cls in SOLVERS.items()
            if cls.applies(grid, model, weighted) is None]


def choose(grid, model, device=None, budget=None, n_terms=None, weighted=False) -> str:
    """The solver ``"auto"`` picks for ``grid`` (a Grid or points (n, d)) and ``model``.

    In the registry's order (``kron``, ``parity``, ``fft``, ``dense``, ``matfree``): the first
    that applies (:meth:`~porevae.kle.base.Solver.applies`: ``kron`` needs a separable model on
    a Grid; ``parity`` and ``fft`` a Grid and a model symmetric under the axis reflections;
    weights only ``dense`` and ``matfree``), that ``auto`` does not pass over for speed
    (:meth:`~porevae.kle.base.Solver.declines`: ``parity`` beyond
    :data:`~porevae.kle.parity.PARITY_MAX_ROWS` rows per block, or for leading pairs on 3-D
    grids with blocks beyond :data:`~porevae.kle.parity.PARITY_3D_LEADING_ROWS` rows) and
    that fits (:func:`porevae.kle.base.fits`: ``n_terms`` pairs, or with ``n_terms=None``
    the eigenvalues a solve starts from). If none fits, the applicable one that needs least
    (its refusal then says that no solver fits).

    ``budget``: bytes; default the memory of ``device`` (:func:`porevae.kle._device.budget`: the
    host's available memory for ``None`` or a CPU device, free CUDA memory for a GPU).
    """
    device = _device.resolve(device)
    budget = _device.budget(device) if budget is None else int(budget)
    k, vectors = (0, False) if n_terms is None else (int(n_terms), True)
    smallest = None
    for name, cls in _applicable(grid, model, weighted):
        s = cls(grid, model, device=device)
        if s.declines(n_terms) is not None:
            continue
        if base.fits(s, k, vectors, budget):
            return name
        need = s.memory_bytes(k, vectors)
        if smallest is None or need < smallest[1]:
            smallest = (name, need)
    return smallest[0]  # (``matfree`` applies to everything and declines nothing)


def make_solver(name, grid, model, device=None, n_terms=None, weights=None):
    """The solver ``name`` (or the ``"auto"`` choice for ``n_terms`` pairs) on ``device``;
    ``weights``: normalised quadrature weights (n,) or None (:func:`porevae.kle.weights.resolve`),
    taken by the solvers that say so (``takes_weights``)."""
    check_choice(name, "solver", ("auto", *SOLVERS))
    weighted = weights is not None
    if name == "auto":
        name = choose(grid, model, device, n_terms=n_terms, weighted=weighted)
    reason = SOLVERS[name].applies(grid, model, weighted)
    if reason:
        raise ValueError(reason)
    if not weighted:
        return SOLVERS[name](grid, model, device=device)
    return SOLVERS[name](grid, model, device=device, weights=weights)


@dataclasses.dataclass
class Plan:
    """What a KLE solve will do, decided and checked before any work.

    ``solver`` (an instance), ``k`` the pairs (``vectors``) or eigenvalues computed first:
    ``n_terms``, or for an ``energy`` level the solver's first guess (``fft``: from its
    estimated spectrum; solvers with a cheap whole spectrum: every eigenvalue, then the pairs
    the level needs), ``need`` the peak bytes of that step by the solver's
    ``memory_bytes``, ``budget`` the bytes available on its device.
    """

    solver: object
    k: int
    vectors: bool
    need: int
    budget: int
    energy: float | None = None
    estimate: int | None = None

    def __str__(self):
        s = self.solver
        where = _device.name(s.device)
        mem = f"peak about {format_bytes(self.need)} of {format_bytes(self.budget)} " \
              f"available on {where}"
        if self.energy is None:
            return f"plan: solver {s.name!r}, {self.k} leading pairs of {s.n} cells; {mem}"
        if s.full_spectrum_cheap:
            return (f"plan: solver {s.name!r}, every eigenvalue of {s.n} cells, then the pairs "
                    f"for {self.energy:.1%} of the energy; {mem} for the eigenvalues")
        est = "" if self.estimate is None else f", about {self.estimate} by the estimated " \
            f"spectrum"
        return (f"plan: solver {s.name!r}, the leading pairs of {s.n} cells for "
                f"{self.energy:.1%} of the energy{est}: {self.k} computed first (more only if "
                f"short, each growth checked first); {mem}")


def plan(grid, model, *, n_terms=None, energy=None, solver="auto", device=None,
         weights=None) -> Plan:
    """The :class:`Plan` of a solve, refused (``MemoryError`` with the figure and a solver that
    would fit, :func:`porevae.kle.base.check`) before any work if its first step does not fit.
    ``grid``: a Grid or points (n, d); ``weights``: normalised (n,) or None."""
    device = _device.resolve(device)
    s = make_solver(solver, grid, model, device, n_terms=n_terms, weights=weights)
    estimate = None
    if energy is None:
        k, vectors = int(n_terms), True
    elif s.full_spectrum_cheap:
        k, vectors = 0, False
    elif hasattr(s, "first_guess"):
        k, vectors, estimate = s.first_guess(energy), True, s.estimated_count(energy)
    else:  # no estimate of the spectrum: a first batch of eigenpairs, grown by half
        k, vectors = min(s.n, 64), True
    budget = _device.budget(device)
    base.check(s, k, vectors, budget)
    return Plan(s, k, vectors, s.memory_bytes(k, vectors), budget, energy, estimate)


__all__ = ["PARITY_3D_LEADING_ROWS", "PARITY_MAX_ROWS", "SOLVERS", "Plan", "choose",
           "make_solver", "plan"]
