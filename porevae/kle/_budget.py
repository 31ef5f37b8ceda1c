"""Memory refusals of the solvers: the figure, the budget, and a solver that would fit.

Every solver has ``memory_bytes(k, vectors)`` (an estimate of its peak allocation for ``k``
pairs, from sizes only) and calls :func:`check` before it allocates anything large.
"""

from __future__ import annotations

from porevae._validation import format_bytes
from porevae.kle import _device
from porevae.kle.weights import WEIGHTED_SOLVERS

#: the order in which other solvers are suggested when a request does not fit
PREFERENCE = ("kron", "parity", "fft", "dense", "matfree")


def alternatives(solver, k: int, vectors: bool, limit: int) -> list:
    """``[(name, bytes)]`` of the other solvers that apply to the solver's problem (weighted
    problems: the point-set solvers only) and whose estimate for ``k`` pairs fits in ``limit``
    bytes (the weights do not change an estimate)."""
    from porevae.kle.solvers import SOLVERS  # the registry imports every solver module

    domain = getattr(solver, "grid", None) or getattr(solver, "points", None)
    weighted = getattr(solver, "weights", None) is not None
    out = []
    for name in PREFERENCE:
        if name == solver.name or (weighted and name not in WEIGHTED_SOLVERS):
            continue
        try:
            other = SOLVERS[name](domain, solver.model, device=solver.device)
        except (TypeError, ValueError):  # does not apply (point set, not separable, ...)
            continue
        if not vectors and not other.full_spectrum_cheap and k >= other.n:
            continue
        need = other.memory_bytes(k, vectors)
        if need <= limit:
            out.append((name, need))
    return out


def hint(solver, k: int, vectors: bool, limit: int) -> str:
    """A sentence naming the first solver that would fit, or saying that none does."""
    fits = alternatives(solver, k, vectors, limit)
    if fits:
        name, need = fits[0]
        return f"solver={name!r} would need {format_bytes(need)}"
    return "no solver fits this request: use fewer terms or a smaller grid"


def check(solver, k: int, vectors: bool = True) -> None:
    """Raise ``MemoryError`` if ``solver.memory_bytes(k, vectors)`` exceeds the budget of its
    device (:func:`porevae.kle._device.budget`), with the figure and :func:`hint`."""
    need = solver.memory_bytes(k, vectors)
    limit = _device.budget(solver.device)
    if need > limit:
        what = (f"solver={solver.name!r} with {k} {'eigenpairs' if vectors else 'eigenvalues'} "
                f"of {solver.n} cells")
        _device.check_budget(need, what, solver.device, hint(solver, k, vectors, limit), limit)
