"""Corner-point grids: a small faulted grid written as GRDECL, read back by porevae (through
resdata); centres and bulk volumes against the geometry computed by hand; inactive cells; the
grid file of the OPM Flow deck (tests/data/cornerpoint) is resdata's output for its arrays."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("resdata")

import porevae as pv  # noqa: E402
from porevae._files import FileIntegrityError  # noqa: E402
from porevae.cornerpoint import CornerPointGrid  # noqa: E402

DATA = Path(__file__).parent / "data"
NX, NY, NZ = 4, 3, 2
DX, DY, DZ, TOP, THROW = 100.0, 80.0, 10.0, 2000.0, 7.0


def faulted_arrays():
    """Vertical pillars on a regular 100 x 80 m mesh, 10 m layers from 2000 m depth, and a
    normal fault between i = 1 and i = 2: the cells east of it are THROW metres deeper."""
    coord = []
    for j in range(NY + 1):
        for i in range(NX + 1):
            coord += [i * DX, j * DY, TOP - 100.0, i * DX, j * DY, TOP + 200.0]
    zcorn = np.empty((2 * NZ, 2 * NY, 2 * NX))  # (k corner, j corner, i corner), Eclipse order
    for kk in range(2 * NZ):
        k, top = divmod(kk, 2)
        for ii in range(2 * NX):
            i = ii // 2
            zcorn[kk, :, ii] = TOP + (k + top) * DZ + (THROW if i >= 2 else 0.0)
    actnum = np.ones((NZ, NY, NX), int)
    actnum[1, 2, 0] = 0  # one inactive cell: (i, j, k) = (0, 2, 1)
    return np.array(coord), zcorn.ravel(), actnum.ravel()


def write_grdecl(path, coord, zcorn, actnum):
    def block(name, values, fmt):
        rows = [" ".join(fmt % v for v in values[s:s + 6]) for s in range(0, len(values), 6)]
        return f"{name}\n" + "\n".join(rows) + "\n/\n"

    path.write_text(f"SPECGRID\n{NX} {NY} {NZ} 1 F /\n" + block("COORD", coord, "%.3f")
                    + block("ZCORN", zcorn, "%.3f") + block("ACTNUM", actnum, "%d"))


def test_faulted_grid_read_back_with_its_geometry(tmp_path):
    coord, zcorn, actnum = faulted_arrays()
    path = tmp_path / "FAULT.GRDECL"
    write_grdecl(path, coord, zcorn, actnum)
    g = CornerPointGrid.from_file(path)
    assert g.shape == (NX, NY, NZ) and g.n_cells == NX * NY * NZ - 1 and g.n_total == 24
    i, j, k = np.meshgrid(np.arange(NX), np.arange(NY), np.arange(NZ), indexing="ij")
    i, j, k = (a.ravel(order="F") for a in (i, j, k))       # I fastest
    keep = ~((i == 0) & (j == 2) & (k == 1))
    want = np.stack([(i + 0.5) * DX, (j + 0.5) * DY,
                     TOP + (k + 0.5) * DZ + np.where(i >= 2, THROW, 0.0)], axis=1)[keep]
    np.testing.assert_allclose(g.cell_centers(), want, rtol=1e-6)
    np.testing.assert_allclose(g.volumes, DX * DY * DZ, rtol=1e-5)
    assert g.source["sha256"] and not g.actnum[0, 2, 1] and g.actnum.sum() == g.n_cells
    # the same grid from its arrays
    h = CornerPointGrid.from_arrays((NX, NY, NZ), coord, zcorn, actnum)
    np.testing.assert_allclose(h.cell_centers(), g.cell_centers(), rtol=1e-6)


def test_scatter_gather_round_trip_and_covariance_on_active_cells(tmp_path, rng):
    g = CornerPointGrid.from_arrays((NX, NY, NZ), *faulted_arrays())
    v = rng.normal(size=(2, g.n_cells))
    full = g.scatter(v)
    assert full.shape == (2, 24) and np.isnan(full[:, 0 + NX * (2 + NY * 1)]).all()
    np.testing.assert_array_equal(g.gather(full), v)
    model = pv.Exponential((300.0, 300.0, 20.0))
    c = pv.ops.covariance_matrix(g.cell_centers(), model)
    pts = g.cell_centers()
    np.testing.assert_allclose(c, model(pts[:, None] - pts[None]), rtol=1e-12)


def test_bad_grid_files_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        CornerPointGrid.from_file(tmp_path / "none.EGRID")
    bad = tmp_path / "BAD.GRDECL"
    bad.write_text("SPECGRID\n2 2 1 1 F /\nCOORD\n1 2 3\n/\n")
    with pytest.raises(FileIntegrityError, match="BAD.GRDECL"):
        CornerPointGrid.from_file(bad)
    junk = tmp_path / "JUNK.EGRID"
    junk.write_bytes(b"\x00\x01garbage" * 50)
    with pytest.raises(FileIntegrityError, match="JUNK.EGRID"):
        CornerPointGrid.from_file(junk)
    with pytest.raises(ValueError, match="COORD needs"):
        CornerPointGrid.from_arrays((2, 2, 1), np.zeros(54), np.zeros(3))


def test_parameters_and_arrays_rebuild_the_grid():
    g = CornerPointGrid.from_arrays((NX, NY, NZ), *faulted_arrays())
    h = CornerPointGrid.from_dict(g.to_dict(), g.arrays())
    np.testing.assert_array_equal(h.actnum, g.actnum)
    np.testing.assert_array_equal(h.cell_centers(), g.cell_centers())
    assert h.field_shape == (23,) and h.unflatten(np.zeros((2, 23))).shape == (2, 23)
    with pytest.raises(ValueError, match="23 active cells"):
        h.flatten(np.zeros(24))


def test_kle_on_active_cells_saved_sampled_conditioned_and_written_for_ert(tmp_path, rng):
    coord, zcorn, actnum = faulted_arrays()
    path = tmp_path / "FAULT.GRDECL"
    write_grdecl(path, coord, zcorn, actnum)
    g = CornerPointGrid.from_file(path)
    model = pv.Exponential((250.0, 200.0, 15.0), variance=0.5)
    kle = pv.KLE(g, model, n_terms=g.n_cells, mean=4.0)
    pts = g.cell_centers()
    ref = np.linalg.eigvalsh(model(pts[:, None] - pts[None]))[::-1]
    np.testing.assert_allclose(kle.eigenvalues, ref, rtol=1e-10, atol=1e-12)
    y = kle.sample(5, seed=3)
    assert y.shape == (5, g.n_cells) and kle.solver == "dense"
    np.testing.assert_allclose(kle.field(kle.project(y)), y, atol=1e-10)
    kle.save(tmp_path / "kle.h5")
    back = pv.KLE.load(tmp_path / "kle.h5")
    assert isinstance(back.grid, CornerPointGrid) and back.grid.n_cells == g.n_cells
    np.testing.assert_array_equal(back.sample(5, seed=3), y)
    # wells: (i, j, k) of the whole grid; an inactive cell is refused
    post = kle.condition(None, [3.5, 4.4], cells=[[0, 0, 0], [3, 2, 1]])
    assert np.all(np.abs(post.sample(3, seed=1)[:, [0, g.n_cells - 1]] - [3.5, 4.4]) < 1e-8)
    with pytest.raises(ValueError, match="inactive cell"):
        kle.condition(None, [1.0], cells=[[0, 2, 1]])
    # the field as ERT's FIELD / the simulator read it: all cells, I fastest, float32
    perm = np.exp(y[0])
    out = tmp_path / "PERMX.GRDECL"
    pv.export.write_grdecl(out, {"PERMX": g.full_field(perm)}, pv.Grid(g.shape))
    from cwrap import open as copen
    from resdata.grid import Grid as ResdataGrid
    from resdata.resfile import ResdataKW

    with copen(str(out)) as fh:
        kw = ResdataKW.read_grdecl(fh, "PERMX")
    values = np.array(kw.numpy_view(), dtype=np.float32)
    assert values.size == g.n_total
    np.testing.assert_array_equal(values[g.active_index()], perm.astype(np.float32))
    rd = ResdataGrid.load_from_grdecl(str(path))
    assert rd.get_num_active() == g.n_cells


def deck_grid():
    """The resdata grid of tests/data/cornerpoint/GRID.GRDECL: 10 x 10 x 3 cells of 30 m x 30 m,
    layers 4, 6 and 5 m thick from 2000 m, the cells with i >= 5 (0-based) 3 m deeper (a normal
    fault), cell (i, j, k) = (2, 7, 1) inactive."""
    from resdata import ResDataType
    from resdata.grid import Grid as ResdataGrid
    from resdata.resfile import ResdataKW

    nx, ny, nz, d, top, throw = 10, 10, 3, 30.0, 2000.0, 3.0
    coord = [v for j in range(ny + 1) for i in range(nx + 1)
             for v in (i * d, j * d, top - 50.0, i * d, j * d, top + 100.0)]
    faces = top + np.r_[0.0, np.cumsum([4.0, 6.0, 5.0])]
    zcorn = np.empty((2 * nz, 2 * ny, 2 * nx))
    for kk in range(2 * nz):
        for ii in range(2 * nx):
            zcorn[kk, :, ii] = faces[kk // 2 + kk % 2] + (throw if ii // 2 >= 5 else 0.0)
    actnum = np.ones((nz, ny, nx), np.int32)
    actnum[1, 7, 2] = 0

    def kw(name, values, dtype):
        k = ResdataKW(name, len(values), dtype)
        k.numpy_view()[:] = values
        return k

    return ResdataGrid.create((nx, ny, nz), kw("ZCORN", zcorn.ravel(), ResDataType.RD_FLOAT),
                              kw("COORD", np.array(coord), ResDataType.RD_FLOAT),
                              kw("ACTNUM", actnum.ravel(), ResDataType.RD_INT))


def test_the_flow_deck_grid_file_is_resdatas_faulted_grid(tmp_path):
    from cwrap import open as copen

    with copen(str(tmp_path / "GRID.GRDECL"), "w") as fh:
        deck_grid().save_grdecl(fh)
    committed = DATA / "cornerpoint" / "GRID.GRDECL"
    assert (tmp_path / "GRID.GRDECL").read_bytes() == committed.read_bytes()
    g = CornerPointGrid.from_file(committed)
    assert g.n_cells == 299 and not g.actnum[2, 7, 1]
    np.testing.assert_allclose(np.unique(g.volumes.round(6)), [3600.0, 4500.0, 5400.0])
