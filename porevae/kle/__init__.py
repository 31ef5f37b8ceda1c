"""Karhunen-Loeve expansion: solvers, truncation by energy, sampling, projection, save/load.

Solvers (``solver=`` of :class:`KLE` and :func:`energy_table`): the names of
:mod:`porevae.kle.registry` (``kron``, ``parity``, ``fft``, ``dense``, ``matfree``), one class per
algorithm whatever the device (host NumPy or a torch device), chosen by ``"auto"`` (see
:func:`porevae.kle.solvers.choose`). Names are imported on first use (PEP 562), so that the
CLI reads the registry's names without importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from porevae._lazy import lazy_exports

if TYPE_CHECKING:  # pragma: no cover
    from porevae.kle.expansion import KLE, energy_table, n_terms_for_energy
    from porevae.kle.solvers import SOLVERS, choose

_NAMES = {"KLE": "porevae.kle.expansion", "energy_table": "porevae.kle.expansion",
          "n_terms_for_energy": "porevae.kle.expansion", "SOLVERS": "porevae.kle.solvers",
          "choose": "porevae.kle.solvers"}

__all__ = ["KLE", "SOLVERS", "choose", "energy_table", "n_terms_for_energy"]


__getattr__, __dir__ = lazy_exports(__name__, _NAMES, __all__)
