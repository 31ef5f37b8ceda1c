"""Porous media: synthetic binary media, volume I/O, morphology statistics and comparison.

Images are NumPy arrays with 1/True = pore, 0/False = solid, axes (x, y[, z]); lengths are in
voxels. Public functions:

* synthetic media: :func:`gaussian_field`, :func:`thresholded_gaussian`, :func:`thresholded_kle`,
  :func:`layered`, :func:`overlapping_spheres` (+ closed forms :func:`boolean_s2`,
  :func:`boolean_intensity`, :func:`field_correlation`);
* I/O: :func:`read_volume` / :func:`write_volume` (.npy, .raw/.bin, .tif, .h5),
  :func:`segment` (which voxels are pore: ``--pore-value``), :func:`binarize`,
  :func:`otsu_threshold`, :func:`crop`, :func:`subsample`;
* statistics: :func:`porosity`, :func:`two_point_correlation`, :func:`lineal_path`,
  :func:`chord_lengths`, :func:`pore_size_distribution` (:func:`local_thickness`,
  :func:`distance_transform`), :func:`specific_surface`, :func:`euler_characteristic`,
  :func:`connected_fraction`, :func:`isolated_fraction`, :func:`permeability` (Stokes flow
  through the voxels) and :func:`permeability_sensitivity` (how k changes voxel by voxel);
* :func:`compare`: a reference against samples (table, plots, Markdown summary).

Every name is imported on first use (PEP 562), so that ``import porevae.media.io`` (the
volume files of every command) does not import the statistics' SciPy and Numba code. A public
function keeps its name when its module has the same one (``porevae.media.permeability`` is the
function, also after ``porevae.media.permeability``, the module, is loaded).
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING

from porevae._lazy import lazy_exports

if TYPE_CHECKING:  # pragma: no cover
    from porevae.media.connectivity import connected_fraction, isolated_fraction
    from porevae.media.correlation import (
        chord_lengths,
        lineal_path,
        porosity,
        two_point_correlation,
    )
    from porevae.media.io import (
        VolumeFormatError,
        binarize,
        crop,
        otsu_threshold,
        read_hdf5,
        read_npy,
        read_raw,
        read_tiff,
        read_volume,
        segment,
        subsample,
        write_hdf5,
        write_npy,
        write_raw,
        write_tiff,
        write_volume,
    )
    from porevae.media.morphology import euler_characteristic, specific_surface
    from porevae.media.permeability import permeability, permeability_sensitivity
    from porevae.media.poresize import distance_transform, local_thickness, pore_size_distribution
    from porevae.media.report import compare, scalar_statistics
    from porevae.media.synthetic import (
        boolean_intensity,
        boolean_s2,
        field_correlation,
        gaussian_field,
        layered,
        overlapping_spheres,
        thresholded_gaussian,
        thresholded_kle,
    )

# module -> the public names it defines
_MODULES = {
    "connectivity": ("connected_fraction", "isolated_fraction"),
    "correlation": ("chord_lengths", "lineal_path", "porosity", "two_point_correlation"),
    "io": ("VolumeFormatError", "binarize", "crop", "otsu_threshold", "read_hdf5", "read_npy",
           "read_raw", "read_tiff", "read_volume", "segment", "subsample", "write_hdf5",
           "write_npy", "write_raw", "write_tiff", "write_volume"),
    "morphology": ("euler_characteristic", "specific_surface"),
    "permeability": ("permeability", "permeability_sensitivity"),
    "poresize": ("distance_transform", "local_thickness", "pore_size_distribution"),
    "report": ("compare", "scalar_statistics"),
    "synthetic": ("boolean_intensity", "boolean_s2", "field_correlation", "gaussian_field",
                  "layered", "overlapping_spheres", "thresholded_gaussian", "thresholded_kle"),
}
_NAMES = {name: module for module, names in _MODULES.items() for name in names}

__all__ = ["VolumeFormatError", "binarize", "boolean_intensity", "boolean_s2", "chord_lengths",
           "compare", "connected_fraction", "crop", "distance_transform", "euler_characteristic",
           "field_correlation", "gaussian_field", "isolated_fraction", "layered", "lineal_path",
           "local_thickness", "otsu_threshold", "overlapping_spheres", "permeability",
           "permeability_sensitivity", "pore_size_distribution", "porosity",
           "read_hdf5", "read_npy", "read_raw", "read_tiff", "read_volume", "scalar_statistics",
           "segment", "specific_surface", "subsample", "thresholded_gaussian", "thresholded_kle",
           "two_point_correlation", "write_hdf5", "write_npy", "write_raw", "write_tiff",
           "write_volume"]


__getattr__, __dir__ = lazy_exports(
    __name__, {name: f"porevae.media.{module}" for name, module in _NAMES.items()}, __all__)


class _Package(types.ModuleType):
    def __setattr__(self, name, value):
        # the import system binds each loaded submodule on its package: not over a public name
        if not (name in _NAMES and isinstance(value, types.ModuleType)):
            super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
