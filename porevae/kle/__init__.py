"""Karhunen-Loeve expansion: solvers, truncation by energy, sampling, projection, save/load.

Solvers (``solver=`` of :class:`KLE` and :func:`energy_table`): ``dense``, ``parity``, ``kron``,
``fft``, ``matfree``, one class per algorithm whatever the device (host NumPy or a torch
device), chosen by ``"auto"`` (see :func:`porevae.kle.solvers.choose`).
"""

from porevae.kle.expansion import KLE, energy_table, n_terms_for_energy
from porevae.kle.solvers import SOLVERS, choose

__all__ = ["KLE", "SOLVERS", "choose", "energy_table", "n_terms_for_energy"]
