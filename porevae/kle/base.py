"""What every KLE solver states about itself, and the one memory rule.

A solver class (registered in :mod:`porevae.kle.registry`) says

* :meth:`Solver.applies`: whether it can solve a domain (a regular ``Grid`` or a point set) with
  a covariance model, weighted or not, and if not, why (one line);
* :meth:`Solver.declines`: why ``solver="auto"`` passes it over although it applies (speed);
* :meth:`Solver.memory_bytes`: its peak allocation for ``k`` pairs (or eigenvalues only), from
  sizes alone.

The rule "fits" is ``memory_bytes(k, vectors) <= budget`` (:func:`fits`), with the budget of the
solver's device (:func:`porevae.kle._device.budget`). ``solver="auto"``
(:func:`porevae.kle.solvers.choose`), the refusal before any work (:func:`check`, also run by
each solver before it allocates) and its hint (:func:`alternatives`) all use it.
"""

from __future__ import annotations

from porevae._validation import format_bytes
from porevae.grid import Grid
from porevae.kle import _device
from porevae.kle.registry import NAMES, solver_class


class Solver:
    """Base of the solver classes: the statements above; subclasses define ``name``,
    ``full_spectrum_cheap`` (the whole spectrum of eigenvalues costs about one solve),
    ``takes_weights`` (quadrature weights: :mod:`porevae.kle.weights`), ``memory_bytes``,
    ``eigenvalues(k=None)`` and ``eigenpairs(k)``; instances have ``n`` (cells) and ``device``."""

    name = "base"
    full_spectrum_cheap = False
    takes_weights = False
    #: a regular Grid only (structure of equal cells), not a point set
    grid_only = False
    #: needs a separable model (``model.separable``)
    separable_only = False
    #: needs a model symmetric under each axis reflection (``model.reflection_symmetric``)
    reflections_only = False

    @classmethod
    def applies(cls, domain, model, weighted: bool = False) -> str | None:
        """None when this solver can solve ``domain`` (Grid or points (n, d)) with ``model``
        (and quadrature weights when ``weighted``), else the reason, one line."""
        if weighted and not cls.takes_weights:
            return (f"solver={cls.name!r} assumes the equal cells of a regular grid: weights "
                    f"need one of {weighted_solvers()}")
        if cls.grid_only and not isinstance(domain, Grid):
            return f"solver={cls.name!r} needs a regular Grid, not a point set"
        if cls.separable_only and not model.separable:
            return (f"solver={cls.name!r} needs a separable covariance (squared exponential with "
                    f"metric='euclidean', exponential with metric='l1'), got {model!r}")
        if cls.reflections_only and not model.reflection_symmetric:
            return (f"solver={cls.name!r} needs a covariance symmetric under each axis "
                    f"reflection; {model!r} is rotated: use 'dense' or 'matfree'")
        return None

    def declines(self, n_terms: int | None) -> str | None:
        """Why ``solver="auto"`` passes this solver over for ``n_terms`` leading pairs (None:
        every pair or the whole spectrum), although it applies and fits; None if it does not."""
        return None

    def memory_bytes(self, k: int, vectors: bool = True) -> int:
        """Peak bytes for ``k`` pairs (``vectors``) or ``k`` eigenvalues, from sizes alone."""
        raise NotImplementedError


def weighted_solvers() -> tuple:
    """The names of the solvers that take quadrature weights."""
    return tuple(name for name in NAMES if solver_class(name).takes_weights)


def domain_of(solver):
    """The Grid or points a solver instance was built on."""
    return getattr(solver, "grid", None) if getattr(solver, "grid", None) is not None \
        else solver.points


def fits(solver, k: int, vectors: bool, budget: int) -> bool:
    """The one memory rule: ``solver.memory_bytes(k, vectors) <= budget``."""
    return solver.memory_bytes(k, vectors) <= budget


def alternatives(solver, k: int, vectors: bool, budget: int) -> list:
    """``[(name, bytes)]`` of the other registered solvers that apply to ``solver``'s problem
    (same domain, model, weights), can give what is asked (``k`` eigenvalues of a
    leading-only solver: ``k < n``) and fit in ``budget`` bytes, in the registry's order."""
    domain = domain_of(solver)
    weighted = getattr(solver, "weights", None) is not None
    out = []
    for name in NAMES:
        cls = solver_class(name)
        if name == solver.name or cls.applies(domain, solver.model, weighted) is not None:
            continue
        other = cls(domain, solver.model, device=solver.device)
        if not vectors and not other.full_spectrum_cheap and k >= other.n:
            continue
        if fits(other, k, vectors, budget):
            out.append((name, other.memory_bytes(k, vectors)))
    return out


def hint(solver, k: int, vectors: bool, budget: int) -> str:
    """A sentence naming the first other solver that would fit, or saying that none does."""
    fitting = alternatives(solver, k, vectors, budget)
    if fitting:
        name, need = fitting[0]
        return f"solver={name!r} would need {format_bytes(need)}"
    return "no solver fits this request: use fewer terms or a smaller grid"


def check(solver, k: int, vectors: bool = True, budget: int | None = None) -> None:
    """Raise ``MemoryError`` unless :func:`fits` (``budget``: default the device's), with the
    figure and :func:`hint`."""
    limit = _device.budget(solver.device) if budget is None else int(budget)
    if not fits(solver, k, vectors, limit):
        need = solver.memory_bytes(k, vectors)
        what = (f"solver={solver.name!r} with {k} {'eigenpairs' if vectors else 'eigenvalues'} "
                f"of {solver.n} cells")
        _device.check_budget(need, what, solver.device, hint(solver, k, vectors, limit), limit)


__all__ = ["Solver", "alternatives", "check", "domain_of", "fits", "hint", "weighted_solvers"]
