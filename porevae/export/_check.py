"""Validation of property fields before anything is written.

:func:`check_fields` turns ``{"PERMX": k, ...}`` (arrays of ``grid.shape``, axes (x, y[, z])) into
flat arrays in the Eclipse cell order (I fastest, then J, then K) and refuses, with a message naming
the keyword, what a simulator would reject or misread:

- keyword names that are not 1 to 8 characters ``[A-Z][A-Z0-9_]*`` (Eclipse keywords are upper case
  and at most 8 characters long);
- arrays whose shape is not ``grid.shape``, complex or non-numeric arrays, NaN or infinite values;
- negative permeability (``PERM*``), porosity / net-to-gross outside [0, 1];
- integer keywords (``ACTNUM``, region numbers ``*NUM``) with non-integer values, ``ACTNUM`` other
  than 0/1, region numbers below 1.

On a :class:`~porevae.cornerpoint.CornerPointGrid` a field is either its ``n_active`` active-cell
values (what the KLE gives: checked, then written over all ``nx ny nz`` cells with ``fill`` in the
inactive ones) or the whole grid's array ``(nx, ny, nz)`` (written as it is); float fields are
written as float32, as ERT's ``FIELD`` keyword and the simulators read them. ERT reads every cell
of a FIELD file and ignores the inactive ones, so the fill is a placeholder: the writers use the
one ERT itself writes (0.0 in GRDECL / BGRDECL, RMS's undefined value -999.0 in ROFF).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from porevae.cornerpoint import CornerPointGrid

#: the output formats of porevae.export.formats.write_fields (ensembles, `porevae field`)
FORMATS = ("grdecl", "bgrdecl", "roff", "vti", "npy", "h5")
#: the formats of fields on a corner-point grid (what ERT's FIELD and the simulators read)
CORNER_POINT_FORMATS = ("grdecl", "bgrdecl", "roff")
KEYWORD_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,7}$")
FRACTION_KEYWORDS = frozenset({"PORO", "NTG", "SWL", "SWCR", "SWU", "SGL", "SGCR", "SGU", "SOWCR",
                               "SOGCR"})


def check_format(fmt: str) -> str:
    """Return ``fmt`` if it is one of :data:`FORMATS`."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {FORMATS}")
    return fmt


def check_keyword(name) -> str:
    """Return ``name`` if it is a valid Eclipse keyword (1-8 chars, ``[A-Z][A-Z0-9_]*``)."""
    if not isinstance(name, str) or not KEYWORD_RE.match(name):
        hint = ""
        if isinstance(name, str) and KEYWORD_RE.match(name.upper()):
            hint = f" (write {name.upper()!r}: keywords are upper case)"
        elif isinstance(name, str) and len(name) > 8:
            hint = f" ({len(name)} characters; Eclipse keywords have at most 8)"
        raise ValueError(f"invalid keyword name {name!r}: expected 1 to 8 characters, a capital "
                         f"letter then capitals, digits or '_'{hint}")
    return name


def is_integer_keyword(name: str) -> bool:
    """ACTNUM and region numbers (SATNUM, PVTNUM, FIPNUM, ...) hold integers."""
    return name == "ACTNUM" or name.endswith("NUM")


def as_numpy(value) -> np.ndarray:
    """NumPy view of an array-like or a torch tensor (detached, on the host)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def check_fields(fields: Mapping, grid, fill: float = 0.0,
                 flat: bool = True) -> dict[str, np.ndarray]:
    """Validate ``{keyword: array of grid.shape}`` and flatten to the Eclipse cell order.

    ``grid``: a :class:`~porevae.grid.Grid`, or a :class:`~porevae.cornerpoint.CornerPointGrid`
    with arrays of its ``n_active`` active cells (inactive cells get ``fill``) or of its whole
    shape ``(nx, ny, nz)`` (see the module docstring). ``flat=False`` (regular grids only):
    the validated arrays keep ``grid.shape`` (no reordering copy, for writers whose own order
    is not I-fastest).

    Returns
    -------
    dict
        ``{keyword: array (n_cells,)}`` in I-fastest order (all ``nx ny nz`` cells of a
        corner-point grid), in the order given. Integer keywords come back as int64, others as
        float32 (kept, and always on a corner-point grid) or float64 (everything else).
    """
    if not isinstance(fields, Mapping) or not fields:
        raise ValueError("fields must be a non-empty mapping {keyword: array}")
    corner = isinstance(grid, CornerPointGrid)
    if corner and not flat:
        raise ValueError("flat=False is for regular grids")
    out = {}
    for name, value in fields.items():
        check_keyword(name)
        arr = as_numpy(value)
        active = corner and arr.shape == grid.field_shape
        if not active and arr.shape != grid.shape:
            what = (f"the corner-point grid takes its {grid.n_cells} active cells "
                    f"{grid.field_shape} or the whole grid {grid.shape}") if corner else \
                f"the grid has shape {grid.shape} (axes x, y[, z])"
            raise ValueError(f"{name} has shape {arr.shape}, {what}")
        if arr.dtype == bool:
            arr = arr.astype(np.int64)
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        # the range, one pass each, on the array as given (no copy): a NaN or an infinity
        # shows in it (min and max propagate NaN), and the value checks below use it
        lo, hi = (arr.min(), arr.max()) if arr.size else (0, 0)
        if not (np.isfinite(lo) and np.isfinite(hi)):
            bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
            raise ValueError(f"{name} holds {bad} NaN or infinite value(s)")
        if active and is_integer_keyword(name):
            raise ValueError(f"{name} is an integer keyword: give the whole grid's array "
                             f"{grid.shape}, not the active cells only")
        if not corner:
            out[name] = _check_values(name, grid.flatten(arr) if flat else arr, lo, hi)
            continue
        flat = _check_values(name, arr if active else arr.ravel(order="F"), lo, hi)
        if flat.dtype.kind == "f":
            flat = flat.astype(np.float32)
        out[name] = grid.scatter(flat, fill=flat.dtype.type(fill)) if active else flat
    return out


def _check_values(name: str, flat: np.ndarray, lo, hi) -> np.ndarray:
    """``flat``'s checked values (int64 for integer keywords, else float32 or float64);
    ``lo``, ``hi``: its minimum and maximum."""
    if is_integer_keyword(name):
        as_int = flat.astype(np.int64)
        if not np.array_equal(as_int, flat):
            raise ValueError(f"{name} is an integer keyword but holds non-integer values")
        lowest = 0 if name == "ACTNUM" else 1
        if as_int.min() < lowest or (name == "ACTNUM" and as_int.max() > 1):
            raise ValueError(f"{name} values must be {'0 or 1' if name == 'ACTNUM' else '>= 1'}, "
                             f"got range [{as_int.min()}, {as_int.max()}]")
        return as_int
    if flat.dtype != np.float32:
        flat = flat.astype(np.float64, copy=False)
    if name.startswith("PERM") and lo < 0:
        raise ValueError(f"{name}: permeability must be >= 0, found {int((flat < 0).sum())} "
                         f"negative value(s) (min {flat.min()})")
    if name in FRACTION_KEYWORDS and (lo < 0 or hi > 1):
        raise ValueError(f"{name} must lie in [0, 1], got range [{flat.min()}, {flat.max()}]")
    return flat
