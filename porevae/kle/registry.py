"""The names of the KLE solvers and where each class lives: the one list of solvers.

Light on purpose (no torch, no Numba): the CLI builds ``--solver``'s choices from it without
importing the solvers. :data:`SOLVER_CLASSES` is in the order in which ``solver="auto"``
considers them (:func:`porevae.kle.solvers.choose`) and in which a refusal suggests another;
:mod:`porevae.kle.solvers` imports each class from here. A new solver is a class with the
interface of :class:`porevae.kle.base.Solver` and one line here.
"""

from __future__ import annotations

import importlib

#: solver name -> "module:Class", in the order of preference of ``solver="auto"``
SOLVER_CLASSES = {
    "kron": "porevae.kle.kron:KronSolver",
    "parity": "porevae.kle.parity:ParitySolver",
    "fft": "porevae.kle.fft:FFTSolver",
    "dense": "porevae.kle.dense:DenseSolver",
    "matfree": "porevae.kle.iterative:MatfreeSolver",
}
NAMES = tuple(SOLVER_CLASSES)


def solver_class(name: str) -> type:
    """The class registered as ``name`` (its module imported on first use)."""
    module, cls = SOLVER_CLASSES[name].split(":")
    return getattr(importlib.import_module(module), cls)


__all__ = ["NAMES", "SOLVER_CLASSES", "solver_class"]
