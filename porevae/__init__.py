"""porevae: Karhunen-Loeve random fields and variational auto-encoders for porous media.

Public API: :class:`Grid`, :class:`CornerPointGrid`, the covariance models, :class:`KLE`,
:func:`energy_table`, and the subpackages ``ops``, ``kle``, ``vae``, ``media``, ``export``.
Every name is imported on first use (PEP 562), so ``import porevae`` and ``porevae --version``
do not import torch or Numba.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from porevae._lazy import lazy_exports
from porevae._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from porevae import export, kle, media, ops, vae
    from porevae.cornerpoint import CornerPointGrid
    from porevae.covariance import CovarianceModel, Exponential, Matern, SquaredExponential
    from porevae.grid import Grid
    from porevae.kle import KLE, energy_table

# public name -> the module that defines it
_NAMES = {"Grid": "porevae.grid", "CornerPointGrid": "porevae.cornerpoint",
          "CovarianceModel": "porevae.covariance", "Exponential": "porevae.covariance",
          "SquaredExponential": "porevae.covariance", "Matern": "porevae.covariance",
          "KLE": "porevae.kle", "energy_table": "porevae.kle"}
_SUBPACKAGES = ("ops", "kle", "vae", "media", "export")

__all__ = ["Grid", "CornerPointGrid", "CovarianceModel", "Exponential", "SquaredExponential",
           "Matern", "KLE", "energy_table", "ops", "kle", "vae", "media", "export", "__version__"]


__getattr__, __dir__ = lazy_exports(__name__, _NAMES, __all__, modules=_SUBPACKAGES)
