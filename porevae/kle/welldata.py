"""Tables of well data (CSV) to condition a KLE on: :func:`read_wells` -> :class:`WellTable`.

Format: UTF-8 text (a byte-order mark is allowed), comma-separated (fields may be quoted), one
header line naming the columns (case and surrounding spaces ignored), then one datum per line;
blank lines and lines starting with ``#`` are skipped. Columns, in any order:

- the position, either
  - ``x, y[, z]``: coordinates in the grid's length units, one per grid axis (a corner-point
    grid: x, y, z in its file's units, z the depth), or
  - ``i, j[, k]``: cell indices, counted from 0 (porevae's and NumPy's convention), or from 1
    with ``one_based=True`` (``--one-based``: Eclipse / OPM decks and ResInsight count from 1);
    on a corner-point grid, (i, j, k) of the whole grid, and the cell must be active;
- ``value`` (required): the datum, in the units of the field being conditioned: the Gaussian
  field ``Y`` of the KLE (mean ``kle.mean``, variance ``cov.variance``, what ``porevae sample``
  writes). Permeability in mD is mapped to ``Y`` by :mod:`porevae.export.wells` (the CLI's
  ``--data-space perm``) through the inverse of the run's transform;
- ``noise`` (optional): the standard deviation (>= 0, units of ``Y``) of that datum's error;
  0 means the realizations honour the datum exactly;
- ``well`` (optional): a name, used in messages only.

Example (a 2-D grid on the unit square)::

    well,x,y,value
    P1,0.20,0.30,1.3
    P2,0.75,0.60,-0.4

Any other column is refused (a misspelt ``value`` would otherwise be read as nothing). A bad
table is refused with one line naming the file, the line and the column: a missing, unknown or
repeated column, both coordinates and indices, a line with the wrong number of fields, an empty,
non-numeric, NaN or infinite number, a non-integer index, an index outside the grid or in an
inactive cell, a negative noise. Coordinates outside the grid (or the active cells) and a
noise-free datum sharing its cell with another datum are refused by
:meth:`WellTable.condition`, naming the lines (two noisy data of one cell are allowed: they
average, as repeated measurements should).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from porevae.cornerpoint import CornerPointGrid
from porevae.kle.conditioning import AXES, ConditionalKLE, condition

INDICES = "ijk"
OPTIONAL = ("noise", "well")


@dataclass(frozen=True, eq=False)
class WellTable:
    """A well table read by :func:`read_wells` for one grid.

    Attributes
    ----------
    path : str
        The file as given (messages name it so).
    sha256 : str
        Hex SHA-256 of the file's bytes (what was parsed).
    columns : tuple of str
        The header, lower case.
    locations : (m, ndim) float64 or None
        Coordinates (grid length units), for a table with x, y[, z].
    cells : (m, ndim) int64 or None
        Cell indices counted from 0 (``one_based`` tables are converted), for i, j[, k].
    values : (m,) float64
        The ``value`` column.
    noise : (m,) float64 or None
        The ``noise`` column (standard deviations >= 0), None without one.
    labels : tuple of str
        ``"wells.csv line 4 (well P1)"`` per datum: how messages name it.
    one_based : bool
        The indices were counted from 1 in the file.
    """

    path: str
    sha256: str
    columns: tuple
    locations: np.ndarray | None
    cells: np.ndarray | None
    values: np.ndarray
    noise: np.ndarray | None
    labels: tuple
    one_based: bool

    def __len__(self) -> int:
        return len(self.values)

    def condition(self, kle, values=None, noise=None) -> ConditionalKLE:
        """``kle`` conditioned on this table (:func:`porevae.kle.conditioning.condition`).

        ``values`` (m,) replaces the ``value`` column (e.g. permeability mapped to the field);
        ``noise`` (one standard deviation for all data, units of the field) is for a table
        without a ``noise`` column: both at once are refused. Default noise: the column, else 0.
        """
        if noise is not None and self.noise is not None:
            raise ValueError(f"{self.path} has a noise column: give no other noise (or remove "
                             f"the column)")
        r = self.noise if self.noise is not None else (0.0 if noise is None else noise)
        return condition(kle, self.locations, self.values if values is None else values, r,
                         cells=self.cells, labels=self.labels)


def read_wells(path, grid, *, one_based: bool = False) -> WellTable:
    """Read and check the well table ``path`` (the format of the module docstring) for ``grid``
    (a :class:`porevae.Grid` or :class:`porevae.cornerpoint.CornerPointGrid`): its axes decide
    the position columns, its shape the index ranges, its active cells the allowed ones.
    ``one_based``: the i, j, k columns count from 1 (refused for a table of coordinates).
    """
    raw = _read(path)
    rows, header_line, names = _parse(path, raw)
    d = grid.ndim
    kind = _check_header(path, header_line, names, d)
    if one_based and kind == "locations":
        raise ValueError(f"{path}: one_based (--one-based) is for cell indices i, j, k; the "
                         f"table has coordinates")
    col = {n: k for k, n in enumerate(names)}
    labels = tuple(f"{path} line {line}" + (f" (well {fields[col['well']]})" if "well" in col
                                            and fields[col["well"]] else "")
                   for line, fields in rows)
    pos_names = (AXES if kind == "locations" else INDICES)[:d]

    def column(name):
        return [(label, fields[col[name]]) for label, (_, fields) in zip(labels, rows)]

    values = np.array([_number(lab, "value", t) for lab, t in column("value")])
    noise = None
    if "noise" in col:
        noise = np.array([_number(lab, "noise", t) for lab, t in column("noise")])
        bad = np.flatnonzero(noise < 0)
        if bad.size:
            raise ValueError(f"{labels[bad[0]]}, column 'noise': {noise[bad[0]]:g} must be >= 0 "
                             f"(a standard deviation)")
    if kind == "locations":
        locations = np.array([[_number(lab, a, t) for lab, t in column(a)]
                              for a in pos_names]).T
        cells = None
    else:
        locations = None
        cells = np.array([_indices(column(a), a, n, one_based)
                          for a, n in zip(pos_names, grid.shape)]).T
        if isinstance(grid, CornerPointGrid):
            inactive = np.flatnonzero(~grid.actnum[tuple(cells.T)])
            if inactive.size:
                k = inactive[0]
                ijk = ", ".join(str(v) for v in cells[k] + int(one_based))
                raise ValueError(f"{labels[k]}, columns i, j, k: cell ({ijk}) (counted from "
                                 f"{int(one_based)}) is inactive: the KLE has no value there")
    return WellTable(str(path), hashlib.sha256(raw).hexdigest(), tuple(names), locations, cells,
                     values, noise, labels, bool(one_based))


def _read(path) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"well table {str(path)!r} does not exist")
    return p.read_bytes()


def _parse(path, raw: bytes):
    """``(rows, header_line, names)``: the data lines ``(line number, stripped fields)`` below
    the header, the header's line number and its lower-case names."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 text table (undecodable byte at offset "
                         f"{exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header, rows = None, []
    try:
        for fields in reader:
            fields = [f.strip() for f in fields]
            if not any(fields) or fields[0].startswith("#"):
                continue
            if header is None:
                header = (reader.line_num, [f.lower() for f in fields])
            else:
                rows.append((reader.line_num, fields))
    except csv.Error as exc:
        raise ValueError(f"{path} line {reader.line_num}: not a CSV line ({exc})") from None
    if header is None:
        raise ValueError(f"{path}: empty table; a header line (e.g. 'well,x,y,value') and one "
                         f"line per datum expected")
    line, names = header
    for line_no, fields in rows:
        if len(fields) != len(names):
            raise ValueError(f"{path} line {line_no}: {len(fields)} fields, the header (line "
                             f"{line}) names {len(names)} columns")
    if not rows:
        raise ValueError(f"{path}: no data below the header (line {line})")
    return rows, line, names


def _check_header(path, line: int, names: list, d: int) -> str:
    """The kind of position (``"locations"`` or ``"cells"``) the header gives for a ``d``-D grid,
    refusing a header that is not a well table's."""
    where = f"{path} line {line}"
    xyz, ijk = list(AXES[:d]), list(INDICES[:d])
    for k, n in enumerate(names):
        if not n:
            raise ValueError(f"{where}: column {k + 1} has no name")
        if names.index(n) != k:
            raise ValueError(f"{where}: column {n!r} appears twice")
        if n not in ("value", *OPTIONAL, *AXES, *INDICES):
            raise ValueError(f"{where}: unknown column {n!r}; the columns are "
                             f"{', '.join(xyz)} (coordinates) or {', '.join(ijk)} (cell "
                             f"indices), value, and optionally noise and well")
    coords = [n for n in names if n in AXES]
    index = [n for n in names if n in INDICES]
    if coords and index:
        raise ValueError(f"{where}: columns {', '.join(coords + index)}: give the position as "
                         f"{', '.join(xyz)} or as {', '.join(ijk)}, not both")
    if not coords and not index:
        raise ValueError(f"{where}: no position: columns {', '.join(xyz)} (coordinates) or "
                         f"{', '.join(ijk)} (cell indices) needed")
    want = xyz if coords else ijk
    for n in coords or index:
        if n not in want:
            raise ValueError(f"{where}: column {n!r} for a {d}-D grid, whose position columns "
                             f"are {', '.join(want)}")
    for n in [*want, "value"]:
        if n not in names:
            raise ValueError(f"{where}: missing column {n!r} (the columns are "
                             f"{', '.join(want)}, value, and optionally noise and well)")
    return "locations" if coords else "cells"


def _number(label: str, name: str, text: str) -> float:
    """The finite number in field ``text`` of column ``name``."""
    if not text:
        raise ValueError(f"{label}, column {name!r}: empty")
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"{label}, column {name!r}: {text!r} is not a number") from None
    if not math.isfinite(v):
        raise ValueError(f"{label}, column {name!r}: {text} is not a finite number")
    return v


def _indices(column, name: str, n: int, one_based: bool) -> list[int]:
    """Integer cell indices of one axis of ``n`` cells, counted from 0 on return."""
    base = int(one_based)
    out = []
    for label, text in column:
        v = _number(label, name, text)
        if v != int(v):
            raise ValueError(f"{label}, column {name!r}: {text} is not an integer cell index")
        if not base <= v <= n - 1 + base:
            raise ValueError(f"{label}, column {name!r}: {text} is outside {base}..{n - 1 + base}"
                             f" (the grid's {n} cells along {name}, counted from {base}"
                             f"{'' if one_based else '; one_based=True, --one-based: from 1'})")
        out.append(int(v) - base)
    return out
