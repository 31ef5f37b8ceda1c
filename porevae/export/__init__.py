"""Fields out of porevae and into simulators, viewers and ensemble workflows.

Writers (all validate before writing and write atomically: temporary file, then rename; the
GRDECL, BGRDECL and ROFF writers also take a :class:`~porevae.cornerpoint.CornerPointGrid` and
its active cells' values, written as ERT's ``FIELD`` keyword reads them):

- :func:`write_grdecl` / :func:`read_grdecl`: Eclipse / OPM Flow GRDECL include files (text);
- :func:`write_bgrdecl` / :func:`read_bgrdecl`: binary GRDECL for ``IMPORT`` (through resfo);
- :func:`write_roff`: ROFF parameter files for RMS and ERT (through roffio);
- :func:`write_vti`: VTK image data for ParaView (through pyevtk);
- :func:`write_h5` / :func:`read_h5`: HDF5 arrays (``.npy``: :func:`porevae.media.io.write_npy`).

Stacks of realizations (:func:`write_samples`, what ``porevae sample`` writes) go through the
volume-I/O layer :mod:`porevae.media.io`; :func:`load_kle` is :meth:`porevae.KLE.load` with
one-line errors naming a bad file.

Ensembles (:func:`write_ensemble`, :func:`regenerate`, :func:`read_manifest`) write one folder
per realization and a manifest from which any realization is regenerated bit for bit; property
transforms (log-normal permeability, porosity, bounds, anisotropy) live in
:mod:`porevae.export.transforms`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from porevae.export._check import FORMATS
    from porevae.export.arrays import read_h5, write_h5
    from porevae.export.binary import read_bgrdecl, write_bgrdecl
    from porevae.export.ensemble import read_manifest, regenerate, write_ensemble
    from porevae.export.formats import write_fields
    from porevae.export.grdecl import grdecl_text, read_grdecl, write_grdecl
    from porevae.export.roff import write_roff
    from porevae.export.samples import load_kle, write_samples
    from porevae.export.transforms import Transform
    from porevae.export.vtk import write_vti

# public name -> the module that defines it; imported on first use (PEP 562), so that
# `porevae --help` does not compile the writers or import the samplers
_NAMES = {"read_h5": "arrays", "write_h5": "arrays", "read_bgrdecl": "binary",
          "write_bgrdecl": "binary", "read_manifest": "ensemble", "regenerate": "ensemble",
          "write_ensemble": "ensemble", "FORMATS": "_check", "write_fields": "formats",
          "grdecl_text": "grdecl", "read_grdecl": "grdecl", "write_grdecl": "grdecl",
          "write_roff": "roff", "load_kle": "samples", "write_samples": "samples",
          "Transform": "transforms", "write_vti": "vtk"}

__all__ = ["FORMATS", "Transform", "grdecl_text", "load_kle", "read_bgrdecl", "read_grdecl",
           "read_h5", "read_manifest", "regenerate", "write_bgrdecl", "write_ensemble",
           "write_fields", "write_grdecl", "write_h5", "write_roff", "write_samples",
           "write_vti"]


def __getattr__(name):
    if name in _NAMES:
        value = getattr(importlib.import_module(f"porevae.export.{_NAMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'porevae.export' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
