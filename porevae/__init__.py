"""porevae: Karhunen-Loeve random fields and variational auto-encoders for porous media.

Public API: :class:`Grid`, :class:`CornerPointGrid`, the covariance models, :class:`KLE`,
:func:`energy_table`, and the subpackages ``ops``, ``kle``, ``vae``, ``media``, ``export``
(the last three are imported on first use).
"""

import importlib

from porevae import ops
from porevae.cornerpoint import CornerPointGrid
from porevae.covariance import CovarianceModel, Exponential, Matern, SquaredExponential
from porevae.grid import Grid
from porevae.kle import KLE, energy_table

__version__ = "0.1.0"

__all__ = ["Grid", "CornerPointGrid", "CovarianceModel", "Exponential", "SquaredExponential",
           "Matern", "KLE", "energy_table", "ops", "__version__"]

_LAZY = ("vae", "media", "export")


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f"porevae.{name}")
    raise AttributeError(f"module 'porevae' has no attribute {name!r}")
