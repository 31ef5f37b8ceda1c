"""FIELD files of a corner-point grid: a small faulted grid written by resdata, read back, a
volume-weighted KLE sampled on its active cells, written as GRDECL, BGRDECL and ROFF, and read
back with kept readers (resdata, roffio) into the same cells."""

import json

import numpy as np
import pytest

pytest.importorskip("resdata")
roffio = pytest.importorskip("roffio")

import porevae as pv  # noqa: E402
from porevae.cli import main  # noqa: E402
from porevae.cornerpoint import CornerPointGrid  # noqa: E402
from porevae.export import write_bgrdecl, write_fields, write_grdecl, write_roff  # noqa: E402
from porevae.export.ensemble import folder_name, read_manifest, regenerate  # noqa: E402

NX, NY, NZ = 4, 3, 3
DX, DY, TOP, THROW = 100.0, 80.0, 2000.0, 7.0
LAYERS = (2.0, 10.0, 5.0)      # layer thicknesses [m]: unequal cell volumes
INACTIVE = (0, 2, 1)           # (i, j, k)


def faulted_grid(path):
    """Vertical pillars, layers of LAYERS thickness from TOP, a normal fault of THROW metres
    between i = 1 and i = 2 and one inactive cell; built and saved as EGRID by resdata."""
    from resdata import ResDataType
    from resdata.grid import Grid
    from resdata.resfile import ResdataKW

    coord = [v for j in range(NY + 1) for i in range(NX + 1)
             for v in (i * DX, j * DY, TOP - 100.0, i * DX, j * DY, TOP + 200.0)]
    faces = TOP + np.r_[0.0, np.cumsum(LAYERS)]
    zcorn = np.empty((2 * NZ, 2 * NY, 2 * NX))
    for kk in range(2 * NZ):
        for ii in range(2 * NX):
            zcorn[kk, :, ii] = faces[kk // 2 + kk % 2] + (THROW if ii // 2 >= 2 else 0.0)
    actnum = np.ones((NZ, NY, NX), np.int32)
    actnum[INACTIVE[::-1]] = 0

    def kw(name, values, dtype):
        k = ResdataKW(name, len(values), dtype)
        k.numpy_view()[:] = values
        return k

    grid = Grid.create((NX, NY, NZ), kw("ZCORN", zcorn.ravel(), ResDataType.RD_FLOAT),
                       kw("COORD", np.array(coord), ResDataType.RD_FLOAT),
                       kw("ACTNUM", actnum.ravel(), ResDataType.RD_INT))
    grid.save_EGRID(str(path))
    return Grid(str(path))


def active_cells(rd):
    """(active index, global index, (i, j, k)) of every active cell, from resdata's grid."""
    return [(a, rd.get_global_index(active_index=a), rd.get_ijk(active_index=a))
            for a in range(rd.get_num_active())]


@pytest.fixture
def realization(tmp_path):
    rd = faulted_grid(tmp_path / "FAULT.EGRID")
    g = CornerPointGrid.from_file(tmp_path / "FAULT.EGRID")
    kle = pv.KLE(g, pv.Exponential((250.0, 200.0, 8.0), variance=0.5), n_terms=20,
                 weights="volume", mean=4.0)
    return rd, g, kle, np.exp(kle.sample(1, seed=11)[0])


def test_field_files_are_read_back_into_the_same_cells(tmp_path, realization):
    rd, g, kle, perm = realization
    assert g.n_cells == NX * NY * NZ - 1 == rd.get_num_active()
    assert kle.solver == "dense" and np.ptp(kle.weights) > 1.0      # 2 m vs 10 m layers
    want = perm.astype(np.float32)
    cells = active_cells(rd)
    inactive = rd.get_global_index(ijk=INACTIVE)
    from cwrap import open as copen
    from resdata.resfile import FortIO, ResdataKW

    # GRDECL, read by resdata
    write_grdecl(tmp_path / "PERMX.GRDECL", {"PERMX": perm}, g)
    with copen(str(tmp_path / "PERMX.GRDECL")) as fh:
        kw = ResdataKW.read_grdecl(fh, "PERMX")   # keep it: numpy_view is a view of its memory
    text = np.array(kw.numpy_view())
    # BGRDECL (REAL), read by resdata
    write_bgrdecl(tmp_path / "PERMX.BGRDECL", {"PERMX": perm}, g)
    fio = FortIO(str(tmp_path / "PERMX.BGRDECL"), mode=FortIO.READ_MODE)
    kw = ResdataKW.fread(fio)
    fio.close()
    assert kw.get_name() == "PERMX"
    binary = np.array(kw.numpy_view())
    assert binary.dtype == np.float32
    for values in (text, binary):
        assert values.size == NX * NY * NZ and values[inactive] == 0.0
        for a, glob, _ in cells:
            assert values[glob] == want[a]
    # ROFF, read by roffio; RMS order: I slowest, K fastest from the bottom layer
    write_roff(tmp_path / "PERMX.roff", {"PERMX": perm}, g)
    roff = roffio.read(tmp_path / "PERMX.roff")
    assert roff["filedata"]["filetype"] == "parameter"
    assert [int(roff["dimensions"][k]) for k in ("nX", "nY", "nZ")] == [NX, NY, NZ]
    assert roff["parameter"]["name"] == "PERMX"
    data = roff["parameter"]["data"]
    assert data.dtype == np.float32 and data.size == NX * NY * NZ

    def at(i, j, k):
        return data[(i * NY + j) * NZ + (NZ - 1 - k)]

    assert at(*INACTIVE) == np.float32(-999.0)
    for a, _, (i, j, k) in cells:
        assert at(i, j, k) == want[a]
    # whole-grid arrays are written as given
    full = g.full_field(perm, fill=1.0)
    write_roff(tmp_path / "FULL.roff", {"PERMX": full}, g)
    np.testing.assert_array_equal(roffio.read(tmp_path / "FULL.roff")["parameter"]["data"],
                                  np.flip(full, -1).ravel())


def test_roff_of_a_regular_grid_has_distinct_values_in_their_cells(tmp_path):
    grid = pv.Grid((3, 4, 5))
    values = np.arange(60, dtype=np.float64).reshape(grid.shape, order="F")  # i + 3 (j + 4 k)
    write_roff(tmp_path / "V.roff", {"V": values}, grid)
    data = roffio.read(tmp_path / "V.roff")["parameter"]["data"]
    i, j, k = 2, 1, 3
    assert data[(i * 4 + j) * 5 + (5 - 1 - k)] == i + 3 * (j + 4 * k)
    assert (tmp_path / "V.roff").read_bytes() == (write_roff(tmp_path / "W.roff", {"V": values},
                                                             grid)).read_bytes()


def test_write_fields_formats_and_refusals_on_a_corner_point_grid(tmp_path, realization):
    _, g, _, perm = realization
    fields = {"PERMX": perm, "PORO": np.full(g.n_cells, 0.2)}
    for fmt, suffix in (("grdecl", "GRDECL"), ("bgrdecl", "BGRDECL"), ("roff", "roff")):
        (tmp_path / fmt).mkdir()
        names = write_fields(tmp_path / fmt, fields, g, fmt)
        assert names == [f"PERMX.{suffix}", f"PORO.{suffix}"]
    assert pv.export.read_grdecl(tmp_path / "grdecl" / "PORO.GRDECL")["PORO"].size == 36
    with pytest.raises(ValueError, match="format 'vti' needs a regular grid"):
        write_fields(tmp_path, fields, g, "vti")
    with pytest.raises(ValueError, match="grid_section set for a corner-point grid"):
        write_fields(tmp_path, fields, g, "grdecl", grid_section="corner")
    with pytest.raises(ValueError, match="cell_size set for a corner-point grid"):
        write_fields(tmp_path, fields, g, "grdecl", geometry={"cell_size": [10.0]})
    with pytest.raises(ValueError, match=r"the corner-point grid takes its 35 active cells"):
        write_roff(tmp_path / "X.roff", {"PERMX": perm[:-1]}, g)
    with pytest.raises(ValueError, match="integer keyword: give the whole grid's array"):
        write_grdecl(tmp_path / "X.GRDECL", {"SATNUM": np.ones(g.n_cells, int)}, g)
    with pytest.raises(ValueError, match="at most 8"):
        write_roff(tmp_path / "X.roff", {"PERMEABILITY": perm}, g)
    with pytest.raises(ValueError, match="PERMX: permeability must be >= 0"):
        write_bgrdecl(tmp_path / "X.BGRDECL", {"PERMX": -perm}, g)


def test_cli_ensemble_of_a_corner_point_kle_in_roff_regenerates_bit_for_bit(tmp_path,
                                                                            realization):
    _, g, kle, _ = realization
    kle.save(tmp_path / "kle.h5")
    out = tmp_path / "ens"
    assert main(["ensemble", "--kle", str(tmp_path / "kle.h5"), "-n", "2", "--seed", "3",
                 "--out", str(out), "--format", "roff", "--no-progress"]) == 0
    manifest = read_manifest(out)
    assert manifest["kle"]["weights"] == "volume"
    assert set(manifest["realizations"]["1"]) == {"PERMX.roff", "PERMY.roff"}  # ky/kx = 1
    data = roffio.read(out / folder_name(1) / "PERMX.roff")["parameter"]["data"]
    want = np.exp(kle.sample(1, seed=3, start=1)[0]).astype(np.float32)
    np.testing.assert_array_equal(data[data != -999.0],
                                  np.flip(g.full_field(want, -999.0), -1).ravel()[data != -999.0])
    assert regenerate(out, 1, tmp_path / "again") == manifest["realizations"]["1"]
    # the ERT forward-model step writes the FIELD file of given coefficients
    xi = np.random.default_rng(0).normal(size=kle.n_terms)
    params = tmp_path / "parameters.json"
    params.write_text(json.dumps({"KLE": {f"XI_{i:04d}": float(v) for i, v in enumerate(xi)}}))
    run = tmp_path / "run"
    assert main(["field", "--kle", str(tmp_path / "kle.h5"), "--parameters", str(params),
                 "--out", str(run), "--format", "roff", "--ky-kx", "0.5"]) == 0
    roff = roffio.read(run / "PERMY.roff")["parameter"]
    assert roff["name"] == "PERMY"
    np.testing.assert_allclose(roff["data"], np.flip(g.full_field(
        0.5 * np.exp(kle.field(xi)), -999.0), -1).ravel(), rtol=1e-6)
