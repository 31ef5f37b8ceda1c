"""Eclipse / OPM Flow GRDECL include files: writer and reader.

A GRDECL file is a sequence of keywords, each followed by its values and a ``/`` terminator::

    -- porevae 0.1.0: NX NY NZ = 20 20 1, I fastest, then J, then K
    -- seed: 7
    PERMX
    12.5 3*40.25 0.5 ...
    /

Values run over the cells I fastest, then J, then K (K downwards), exactly ``NX*NY*NZ`` of them for
a property. ``n*value`` stands for ``n`` copies of ``value`` (no spaces around ``*``). Lines stay
within 80 characters (Eclipse reads at most 132). Floats are written in the shortest form that reads
back to the same number: Python's ``repr`` for float64, NumPy's shortest float32 form for float32
arrays (so ``0.1`` in float32 is written ``0.1``, not ``0.100000001``); integer keywords
(``ACTNUM``, ``*NUM``) as integers. A 2D grid (x, y) is one layer (NZ = 1), a 1D grid one row.
The values are formatted by compiled code (:mod:`porevae.export._text`, the same text as the
plain Python :func:`keyword_block`, at a few hundred MB/s) and written in a few large writes.

With ``grid_section`` the same file also carries the geometry, so a deck needs one INCLUDE in its
GRID section (its RUNSPEC still needs ``DIMENS NX NY NZ /``). Depth increases with K: the top of
layer ``k`` lies at ``top + k * dz``.

- ``"dxdytops"``: ``DX``, ``DY``, ``DZ`` and ``TOPS`` for every cell (block-centred geometry);
- ``"corner"``: ``SPECGRID``, ``COORD`` (one vertical pillar per grid node, I fastest) and ``ZCORN``
  (eight corner depths per cell) describing the same Cartesian grid as corner-point geometry.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from porevae._validation import check_choice, check_real
from porevae.cornerpoint import CornerPointGrid
from porevae.export._check import check_fields, is_integer_keyword
from porevae.export._io import write_parts
from porevae.export._text import format_chunks

LINE_WIDTH = 80
MAX_LINE = 132
GRID_SECTIONS = (None, "dxdytops", "corner")
# Keywords that take no data: the reader skips them (any other keyword standing alone on its line
# and followed directly by another keyword is skipped as well).
NO_DATA = frozenset({"ECHO", "NOECHO", "RUNSPEC", "GRID", "EDIT", "PROPS", "REGIONS", "SOLUTION",
                     "SUMMARY", "SCHEDULE", "END", "ENDBOX", "NOGGF", "NEWTRAN", "OLDTRAN",
                     "NOINSPEC", "NORSSPEC", "SKIP", "SKIP100", "SKIP300", "ENDSKIP"})


def dims(grid) -> tuple[int, int, int]:
    """``(NX, NY, NZ)`` of a 1D/2D/3D grid (missing axes count one cell)."""
    return grid.shape3


def write_grdecl(path, fields: Mapping, grid, *, repeat: bool = True, header: Mapping | None = None,
                 grid_section: str | None = None, float_format: str | None = None,
                 top: float | None = None, thickness: float = 1.0) -> Path:
    """Write property arrays as one GRDECL include file, atomically.

    Parameters
    ----------
    path : str or Path
        Destination file (its folder must exist). Written to a temporary file in the same folder
        and moved into place, so it is never seen half-written.
    fields : mapping
        ``{keyword: array of grid.shape}`` with axes (x, y[, z]), e.g. ``{"PERMX": k, "PORO": phi}``
        (permeability in mD, porosity as a fraction). Written in the given order. Torch tensors
        are accepted. Validated before anything is written (see :mod:`porevae.export._check`).
    grid : porevae.Grid or porevae.CornerPointGrid
        The grid the arrays live on. On a corner-point grid the arrays are its active cells'
        values (n_active,) (e.g. a KLE realization) or whole-grid arrays (nx, ny, nz); the file
        holds all ``nx ny nz`` cells as float32, I fastest, 0.0 in inactive cells (what ERT
        writes there; ERT's ``FIELD`` and the simulator ignore them), each keyword under its
        own name (the ``FIELD`` ID for ERT).
    repeat : bool
        Compress runs of equal values as ``n*value``.
    header : mapping, optional
        Extra ``-- key: value`` comment lines (e.g. ``{"seed": 7, "realization": 137}``), after
        a first line naming the porevae version and the grid dimensions.
    grid_section : None, "dxdytops" or "corner"
        Also write the geometry of a regular grid (see the module docstring); lengths in the
        grid's units. A corner-point grid's geometry is its own grid file (INCLUDE it).
    float_format : str, optional
        A ``%`` format (e.g. ``"%.4g"``) instead of the exact shortest form: smaller files that
        no longer read back bit for bit.
    top : float, optional
        Depth of the top of the grid for ``grid_section``; default ``grid.origin[2]`` for a 3D
        grid, 0 otherwise.
    thickness : float
        Layer thickness of a 2D grid for ``grid_section`` (a 3D grid uses ``grid.spacing[2]``).

    Returns
    -------
    Path
        The written file.
    """
    parts = _parts(fields, grid, repeat=repeat, header=header, grid_section=grid_section,
                   float_format=float_format, top=top, thickness=thickness)
    return write_parts(path, parts)


def grdecl_text(fields: Mapping, grid, *, repeat: bool = True, header: Mapping | None = None,
                grid_section: str | None = None, float_format: str | None = None,
                top: float | None = None, thickness: float = 1.0) -> str:
    """The text :func:`write_grdecl` writes (same parameters, all validated here)."""
    parts = _parts(fields, grid, repeat=repeat, header=header, grid_section=grid_section,
                   float_format=float_format, top=top, thickness=thickness)
    return b"".join(bytes(p) for p in parts).decode("ascii")


def _parts(fields: Mapping, grid, *, repeat, header, grid_section, float_format, top,
           thickness) -> Iterator:
    """The file as byte strings / uint8 arrays: the header, the geometry keywords and each
    keyword, separated by blank lines. Everything is validated here; the returned iterator
    formats one part at a time (a formatted block is valid until the next one is made)."""
    flat = check_fields(fields, grid)
    check_choice(grid_section, "grid_section", GRID_SECTIONS)
    if grid_section is not None and isinstance(grid, CornerPointGrid):
        raise ValueError("grid_section is for regular grids: a corner-point grid's geometry "
                         "is its grid file (INCLUDE it in the deck's GRID section)")
    if float_format is not None:
        _check_float_format(float_format)
    head = _header_lines(grid, header).encode("ascii")
    arrays = {} if grid_section is None else geometry(grid, grid_section, top, thickness)

    def parts():
        yield head
        if grid_section == "corner":
            nx, ny, nz = dims(grid)
            yield f"\nSPECGRID\n{nx} {ny} {nz} 1 F\n/\n".encode("ascii")
        for name, values in arrays.items():
            yield from _keyword_parts(name, values, repeat=repeat, float_format=None)
        for name, values in flat.items():
            yield from _keyword_parts(name, values, repeat=repeat, float_format=float_format)

    return parts()


def _keyword_parts(name: str, values: np.ndarray, *, repeat: bool,
                   float_format: str | None) -> Iterator:
    """A blank line, ``NAME``, the value lines and ``/``: the compiled formatter
    (:func:`porevae.export._text.format_chunks`), or the Python one for a ``float_format``."""
    yield f"\n{name}\n".encode("ascii")
    if float_format is None:
        yield from format_chunks(values, repeat=repeat)
    else:
        lines = wrap(format_values(values, repeat=repeat, float_format=float_format))
        yield "".join(line + "\n" for line in lines).encode("ascii")
    yield b"/\n"


def keyword_block(name: str, values: np.ndarray, *, repeat: bool = True,
                  float_format: str | None = None) -> str:
    """``NAME``, the values wrapped to :data:`LINE_WIDTH` characters, and ``/`` (with newlines).

    This is the plain Python formatting (:func:`format_values`, :func:`wrap`): the reference of
    the compiled one that :func:`write_grdecl` uses, which writes the same text."""
    tokens = format_values(values, repeat=repeat, float_format=float_format)
    return "\n".join([name, *wrap(tokens), "/", ""])


def format_values(values: np.ndarray, *, repeat: bool = True,
                  float_format: str | None = None) -> list[str]:
    """Tokens for a flat array (n,): exact shortest numbers, runs as ``n*value`` if ``repeat``.

    Runs are found on the bit patterns, so values that print the same are the same numbers.
    """
    values = np.ascontiguousarray(values)
    if repeat and values.size:
        bits = values.view(f"u{values.dtype.itemsize}")
        starts = np.flatnonzero(np.r_[True, bits[1:] != bits[:-1]])
        counts = np.diff(np.r_[starts, values.size])
        heads = _format(values[starts], float_format)
        return [h if c == 1 else f"{c}*{h}" for c, h in zip(counts.tolist(), heads)]
    return _format(values, float_format)


def _format(values: np.ndarray, float_format: str | None) -> list[str]:
    if np.issubdtype(values.dtype, np.integer):
        return [str(v) for v in values.tolist()]
    if float_format is not None:
        return [(float_format % v).strip() for v in values.tolist()]
    if values.dtype == np.float32:
        return [str(v) for v in values]          # NumPy's shortest float32 repr
    return [repr(v) for v in values.astype(np.float64).tolist()]


def wrap(tokens: list[str], width: int = LINE_WIDTH) -> list[str]:
    """Pack tokens, separated by single spaces, into lines of at most ``width`` characters."""
    lines, line, size = [], [], 0
    for tok in tokens:
        if line and size + 1 + len(tok) > width:
            lines.append(" ".join(line))
            line, size = [], 0
        size += len(tok) + (1 if line else 0)
        line.append(tok)
    if line:
        lines.append(" ".join(line))
    return lines


def _check_float_format(float_format: str) -> None:
    try:
        sample = float_format % 1.0
    except (TypeError, ValueError) as exc:
        raise ValueError(f"float_format {float_format!r} is not a %-format for one float") from exc
    if not sample.strip() or " " in sample.strip():
        raise ValueError(f"float_format {float_format!r} must give one token, got {sample!r}")


def _header_lines(grid, header: Mapping | None) -> str:
    from porevae._version import __version__

    nx, ny, nz = dims(grid)
    lines = [f"-- porevae {__version__}: NX NY NZ = {nx} {ny} {nz}, I fastest, then J, then K"]
    for key, value in (header or {}).items():
        line = f"-- {key}: {value}"
        if "\n" in line or "\r" in line or len(line) > MAX_LINE:
            raise ValueError(f"header entry {key!r} must fit on one line of at most {MAX_LINE} "
                             f"characters, got {line[:60]!r}...")
        lines.append(line)
    return "\n".join(lines) + "\n"


def geometry(grid, grid_section: str, top: float | None = None,
             thickness: float = 1.0) -> dict[str, np.ndarray]:
    """Geometry arrays of the Cartesian grid for a GRDECL GRID section.

    Returns ``{"DX", "DY", "DZ", "TOPS"}`` (each (n_cells,), I-fastest) for ``"dxdytops"`` or
    ``{"COORD": ((NX+1)*(NY+1)*6,), "ZCORN": (8*n_cells,)}`` for ``"corner"``; lengths in the
    grid's units, depths increasing downwards from ``top``.
    """
    if grid.ndim < 2:
        raise ValueError("a grid section needs a 2D or 3D grid (a 1D grid has no DY, DZ)")
    if grid.ndim == 3 and thickness != 1.0:
        raise ValueError("thickness is for 2D grids; a 3D grid uses grid.spacing[2]")
    check_real(thickness, "thickness", 0.0, low_open=True)
    nx, ny, nz = dims(grid)
    hx, hy = grid.spacing[:2]
    hz = grid.spacing[2] if grid.ndim == 3 else float(thickness)
    z0 = float(top) if top is not None else (grid.origin[2] if grid.ndim == 3 else 0.0)
    check_real(z0, "top")
    layer_tops = z0 + hz * np.arange(nz)
    n = nx * ny * nz
    if grid_section == "dxdytops":
        return {"DX": np.full(n, hx), "DY": np.full(n, hy), "DZ": np.full(n, hz),
                "TOPS": np.repeat(layer_tops, nx * ny)}
    x = grid.origin[0] + hx * np.arange(nx + 1)
    y = grid.origin[1] + hy * np.arange(ny + 1)
    xx, yy = np.meshgrid(x, y, indexing="xy")               # (ny+1, nx+1): I fastest when raveled
    zb = z0 + hz * nz
    coord = np.stack([xx.ravel(), yy.ravel(), np.full(xx.size, z0),
                      xx.ravel(), yy.ravel(), np.full(xx.size, zb)], axis=1).ravel()
    faces = np.stack([layer_tops, layer_tops + hz], axis=1)  # (nz, 2): top and bottom of layer k
    zcorn = np.repeat(faces.ravel(), 4 * nx * ny)
    return {"COORD": coord, "ZCORN": zcorn}


def read_grdecl(path) -> dict[str, np.ndarray]:
    """Read the keywords of a GRDECL file into flat arrays.

    Handles ``--`` comments, ``n*value`` repeats, Fortran ``D`` exponents, several keywords per
    file and keywords without data (``ECHO``, ``NOECHO``, section names ...), which are skipped.
    Keywords whose data are not all numbers (``INCLUDE 'file' /``, ``COPY``) are skipped too;
    ``SPECGRID`` gives its numbers ``[NX, NY, NZ(, NUMRES)]``. A keyword given twice keeps the
    later values, as a simulator would.

    Returns
    -------
    dict
        ``{keyword: array (n,)}`` in file order (I fastest for properties; use
        ``grid.unflatten`` for arrays of ``grid.shape``); int64 for ``ACTNUM``, ``*NUM`` and
        ``SPECGRID``, float64 otherwise.

    Raises
    ------
    ValueError
        On a keyword without its ``/`` terminator, a bare ``n*`` (default values: the reader does
        not know the simulator's defaults), or text where a keyword is expected.
    """
    out = {}
    name, data, start = None, [], 0
    with open(path, encoding="ascii", errors="replace") as fh:
        for lineno, raw in enumerate(fh, 1):
            tokens = raw.split("--", 1)[0].split()
            if not tokens:
                continue
            if name is not None and len(tokens) == 1 and _is_keyword(tokens[0]):
                if data:
                    raise ValueError(f"{path}:{lineno}: keyword {name} (line {start}) has no "
                                     f"'/' terminator before {tokens[0]}")
                name = None                       # the previous keyword had no data: skip it
            if name is None:
                if tokens == ["/"]:
                    continue                      # end of a multi-record keyword
                if not _is_keyword(tokens[0]):
                    raise ValueError(f"{path}:{lineno}: expected a keyword, found {tokens[0]!r}")
                if tokens[0] not in NO_DATA:
                    name, data, start = tokens[0], [], lineno
                continue
            for tok in tokens:
                if tok.startswith("/"):
                    break
                data.append(tok.rstrip("/"))
                if tok.endswith("/"):
                    break
            else:
                continue
            values = _parse_values(name, data, path, start)
            if values is not None:
                out[name] = values
            name = None
    if name is not None and data:
        raise ValueError(f"{path}:{start}: keyword {name} has no '/' terminator")
    return out


def _is_keyword(token: str) -> bool:
    return token[0].isalpha() and token.isupper() and len(token) <= 8 and \
        token.replace("_", "").isalnum()


def _parse_values(name, tokens, path, lineno):
    data = [t for t in tokens if t]
    if name == "SPECGRID":
        nums = [t for t in data if t.lstrip("-").isdigit()]
        return np.array(nums[:4], dtype=np.int64)
    counts, values = [], []
    for tok in data:
        count, star, value = tok.partition("*")
        if not star:
            count, value = "1", tok
        elif not value:
            raise ValueError(f"{path}:{lineno}: {name} uses default values {tok!r}, which this "
                             f"reader cannot fill in")
        if not count.isdigit():
            return None
        counts.append(int(count))
        values.append(value.replace("D", "E").replace("d", "e"))
    try:
        nums = np.array(values, dtype=np.float64)
    except ValueError:
        return None                               # not a numeric keyword (strings, records)
    flat = np.repeat(nums, counts)
    return flat.astype(np.int64) if is_integer_keyword(name) else flat
