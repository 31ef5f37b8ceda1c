"""Corner-point grids of real reservoir models (Eclipse / OPM): the active cells as points.

A corner-point grid (SPECGRID, COORD pillars, ZCORN corner depths, ACTNUM) is read by a kept
library, ``resdata`` (Equinor's reader of EGRID and GRDECL files, C core), which also gives each
cell's centre (the mean of its 8 corners) and bulk volume. The KLE works on the ``n_active``
active cells as collocation points (``porevae.KLE(grid, ..., weights="volume")`` weights them by
their bulk volumes); fields go back out in the simulator's order (I fastest, then J, then K over
all ``nx ny nz`` cells) with inactive cells filled, which is how ERT's ``FIELD`` keyword and the
simulator read them (``porevae.export.write_grdecl`` / ``write_bgrdecl`` / ``write_roff`` with
this grid).

Coordinates are the file's (metres in most models; z is depth, increasing downward).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from porevae._files import FileIntegrityError, sha256


def _resdata_grid():
    try:
        from resdata.grid import Grid as ResdataGrid
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("corner-point grids need the optional 'resdata' package: "
                          "pip install 'porevae[reservoir]'") from exc
    return ResdataGrid


class CornerPointGrid:
    """The active cells of a corner-point grid.

    Attributes
    ----------
    shape : (nx, ny, nz)
        Cells per axis of the whole grid.
    actnum : bool array (nx, ny, nz)
        Active cells.
    centers : (n_active, 3) float64
        Cell centres of the active cells in I-fastest order (the mean of each cell's corners).
    volumes : (n_active,) float64
        Bulk volumes of the active cells (length units cubed).
    source : dict
        Where the grid came from (file path and SHA-256), kept in KLE files and manifests.
    """

    ndim = 3

    def __init__(self, shape, actnum, centers, volumes, source=None):
        self.shape = tuple(int(s) for s in shape)
        if len(self.shape) != 3 or min(self.shape) < 1:
            raise ValueError(f"shape must be three integers >= 1, got {shape}")
        self.actnum = np.asarray(actnum, dtype=bool).reshape(self.shape)
        self.centers = np.ascontiguousarray(centers, dtype=np.float64)
        self.volumes = np.ascontiguousarray(volumes, dtype=np.float64)
        n = int(self.actnum.sum())
        if n == 0:
            raise ValueError("the grid has no active cell")
        if self.centers.shape != (n, 3) or self.volumes.shape != (n,):
            raise ValueError(f"centers must be ({n}, 3) and volumes ({n},) for {n} active "
                             f"cells, got {self.centers.shape} and {self.volumes.shape}")
        if not (np.all(np.isfinite(self.centers)) and np.all(self.volumes > 0)):
            raise ValueError("active cells need finite centres and positive bulk volumes")
        self.source = dict(source or {})

    # ---- reading ---------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path) -> CornerPointGrid:
        """Read an ``.EGRID`` (binary) or ``.GRDECL`` (text: SPECGRID, COORD, ZCORN, [ACTNUM])
        file. Refuses a missing, truncated or foreign file with one line naming it."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"grid file {str(path)!r} does not exist")
        rd = _resdata_grid()
        suffix = path.suffix.lower()
        try:
            if suffix == ".egrid":
                grid = rd(str(path))
            elif suffix in (".grdecl", ".inc", ".data"):
                grid = rd.load_from_grdecl(str(path))
            else:
                raise FileIntegrityError(f"{path}: a grid file must end in .EGRID or .GRDECL")
        except FileIntegrityError:
            raise
        except Exception as exc:  # noqa: BLE001 - resdata raises many types on bad files
            raise FileIntegrityError(f"{path}: not a readable corner-point grid ({exc})") \
                from None
        return cls._from_resdata(grid, {"file": str(path.resolve()), "sha256": sha256(path)})

    @classmethod
    def from_arrays(cls, shape, coord, zcorn, actnum=None) -> CornerPointGrid:
        """Build from the keyword arrays: COORD (6 (nx+1)(ny+1) values: top and bottom point of
        each pillar), ZCORN (8 nx ny nz corner depths, Eclipse order), ACTNUM (nx ny nz, 1 =
        active; default all), each in the GRDECL order (I fastest)."""
        from resdata import ResDataType
        from resdata.resfile import ResdataKW

        nx, ny, nz = (int(s) for s in shape)
        coord = np.asarray(coord, dtype=np.float64).ravel()
        zcorn = np.asarray(zcorn, dtype=np.float64).ravel()
        if coord.size != 6 * (nx + 1) * (ny + 1) or zcorn.size != 8 * nx * ny * nz:
            raise ValueError(f"COORD needs {6 * (nx + 1) * (ny + 1)} and ZCORN "
                             f"{8 * nx * ny * nz} values for shape {shape}, got {coord.size} "
                             f"and {zcorn.size}")
        act = np.ones(nx * ny * nz, np.int32) if actnum is None else \
            np.asarray(actnum, dtype=np.int32).ravel()

        def kw(name, values, dtype):
            k = ResdataKW(name, len(values), dtype)
            k.numpy_view()[:] = values
            return k

        grid = _resdata_grid().create(
            (nx, ny, nz), kw("ZCORN", zcorn, ResDataType.RD_FLOAT),
            kw("COORD", coord, ResDataType.RD_FLOAT), kw("ACTNUM", act, ResDataType.RD_INT))
        return cls._from_resdata(grid, {"arrays": True})

    @classmethod
    def _from_resdata(cls, grid, source) -> CornerPointGrid:
        shape = (grid.get_nx(), grid.get_ny(), grid.get_nz())
        frame = grid.export_index(active_only=True)
        actnum = np.zeros(math.prod(shape), bool)
        ijk = frame.iloc[:, :3].to_numpy()
        actnum[ijk[:, 0] + shape[0] * (ijk[:, 1] + shape[1] * ijk[:, 2])] = True
        order = np.lexsort((ijk[:, 0], ijk[:, 1], ijk[:, 2]))  # I fastest
        frame = frame.iloc[order]
        centers = np.asarray(grid.export_position(frame), dtype=np.float64)
        volumes = np.asarray(grid.export_volume(frame), dtype=np.float64)
        return cls(shape, actnum.reshape(shape, order="F"), centers, volumes, source)

    # ---- the point set the KLE uses --------------------------------------------------------
    @property
    def n_cells(self) -> int:
        """Number of active cells: the KLE's unknowns."""
        return len(self.volumes)

    @property
    def n_total(self) -> int:
        """Number of cells of the whole grid, ``nx ny nz`` (active or not)."""
        return math.prod(self.shape)

    @property
    def shape3(self) -> tuple:
        """``(nx, ny, nz)``: the dimensions a simulator file states (as ``Grid.shape3``)."""
        return self.shape

    @property
    def field_shape(self) -> tuple:
        """Shape of one field: ``(n_active,)``, the active cells in I-fastest order
        (:meth:`scatter` puts them back into the whole grid)."""
        return (self.n_cells,)

    def flatten(self, field):
        """``(..., n_active)`` fields as they are (the Grid API: fields are already flat)."""
        if field.shape[-1] != self.n_cells:
            raise ValueError(f"field shape {tuple(field.shape)} does not end with the "
                             f"{self.n_cells} active cells")
        return field

    unflatten = flatten

    def cell_centers(self, dtype=np.float64) -> np.ndarray:
        """Centres of the active cells (n_active, 3), I-fastest."""
        return self.centers.astype(dtype, copy=False)

    def active_index(self) -> np.ndarray:
        """Flat indices (I fastest over all cells) of the active cells, (n_active,)."""
        return np.flatnonzero(self.actnum.ravel(order="F"))

    def scatter(self, values, fill=np.nan) -> np.ndarray:
        """Active-cell values (..., n_active) -> all cells (..., nx ny nz) in I-fastest flat
        order, ``fill`` in inactive cells (what GRDECL / ERT FIELD files hold)."""
        values = np.asarray(values)
        if values.shape[-1] != self.n_cells:
            raise ValueError(f"last axis has {values.shape[-1]} values, the grid has "
                             f"{self.n_cells} active cells")
        out = np.full(values.shape[:-1] + (self.n_total,), fill,
                      dtype=np.result_type(values.dtype, np.asarray(fill).dtype))
        out[..., self.active_index()] = values
        return out

    def full_field(self, values, fill: float = 0.0) -> np.ndarray:
        """Active-cell values (n_active,) as the whole grid's array (nx, ny, nz) of float32 with
        ``fill`` in inactive cells, which simulators and ERT read over all cells, I fastest,
        ignoring inactive ones. The writers of :mod:`porevae.export` take this grid and the
        active-cell values directly (and fill inactive cells as ERT does)."""
        flat = self.scatter(np.asarray(values, dtype=np.float32), fill=np.float32(fill))
        return flat.reshape(self.shape, order="F")

    def gather(self, values) -> np.ndarray:
        """All-cell values (..., nx ny nz) in I-fastest flat order -> active cells."""
        values = np.asarray(values)
        if values.shape[-1] != self.n_total:
            raise ValueError(f"last axis has {values.shape[-1]} values, the grid has "
                             f"{self.n_total} cells")
        return values[..., self.active_index()]

    def to_dict(self) -> dict:
        """Parameters (JSON); the arrays are :meth:`arrays` (a KLE file keeps both)."""
        return {"corner_point": True, "shape": list(self.shape), "n_active": self.n_cells,
                "source": self.source}

    def arrays(self) -> dict:
        """``{"actnum", "centers", "volumes"}``: what rebuilds the grid (:meth:`from_dict`)."""
        return {"actnum": self.actnum.ravel(order="F").astype(np.uint8),
                "centers": self.centers, "volumes": self.volumes}

    @classmethod
    def from_dict(cls, params: dict, arrays: dict) -> CornerPointGrid:
        """Inverse of :meth:`to_dict` and :meth:`arrays`."""
        shape = tuple(params["shape"])
        actnum = np.asarray(arrays["actnum"], dtype=bool).reshape(shape, order="F")
        return cls(shape, actnum, arrays["centers"], arrays["volumes"], params.get("source"))

    def __repr__(self):
        return (f"CornerPointGrid(shape={self.shape}, active={self.n_cells}, "
                f"bulk volume={self.volumes.sum():.4g})")
