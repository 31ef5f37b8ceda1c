"""Writers of porevae.export: GRDECL text (own reader and resdata's parser), bgrdecl (the same
bytes as resfo), ROFF (the same bytes as roffio), VTK image data, .npy/.h5; cell ordering;
validation before anything is written; atomic writes."""

import io
import re
import threading
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import resfo

import porevae as pv
from porevae.export import (
    binary,
    grdecl_text,
    read_bgrdecl,
    read_grdecl,
    read_h5,
    roff,
    write_bgrdecl,
    write_fields,
    write_grdecl,
    write_h5,
    write_roff,
    write_vti,
)
from porevae.export.formats import file_names
from porevae.media.io import read_volume

GRID3 = pv.Grid((4, 3, 2), spacing=(10.0, 20.0, 5.0), origin=(100.0, 200.0, 1000.0))


def ijk_field(grid=GRID3):
    """Distinct value per cell: 1 + i + 10 j + 100 k (axes x, y[, z])."""
    idx = np.meshgrid(*[np.arange(n) for n in grid.shape], indexing="ij")
    return 1.0 + sum(10.0**a * ix for a, ix in enumerate(idx))


def resdata_kw(path, name):
    cwrap = pytest.importorskip("cwrap")
    resfile = pytest.importorskip("resdata.resfile")
    with cwrap.open(str(path)) as fh:
        kw = resfile.ResdataKW.read_grdecl(fh, name)
    assert kw is not None, f"resdata found no {name} in {path}"
    with warnings.catch_warnings():                 # resdata's own deprecated internal call
        warnings.simplefilter("ignore", DeprecationWarning)
        return np.array(kw.numpy_copy())


def test_ordering_i_fastest_then_j_then_k(tmp_path):
    path = write_grdecl(tmp_path / "P.GRDECL", {"PERMX": ijk_field()}, GRID3, repeat=False)
    lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("--")]
    tokens = " ".join(lines[1:-1]).split()
    assert lines[0] == "PERMX" and lines[-1] == "/"
    expected = [1 + i + 10 * j + 100 * k for k in range(2) for j in range(3) for i in range(4)]
    assert [float(t) for t in tokens] == expected
    flat = read_grdecl(path)["PERMX"]
    np.testing.assert_array_equal(GRID3.unflatten(flat), ijk_field())
    np.testing.assert_array_equal(resdata_kw(path, "PERMX"), np.array(expected, np.float32))


def test_round_trip_exact_float64_and_float32(tmp_path):
    rng = np.random.default_rng(0)
    k64 = np.exp(rng.normal(size=GRID3.shape) * 3)
    k64.flat[:5] = 7.25                                   # a run for the repeat syntax
    k32 = (k64 / 3).astype(np.float32)
    path = write_grdecl(tmp_path / "P.GRDECL", {"PERMX": k64, "PERMY": k32}, GRID3)
    back = read_grdecl(path)
    assert np.array_equal(GRID3.unflatten(back["PERMX"]), k64)          # bit for bit
    assert np.array_equal(GRID3.unflatten(back["PERMY"]).astype(np.float32), k32)
    np.testing.assert_array_equal(resdata_kw(path, "PERMY"), GRID3.flatten(k32))
    np.testing.assert_allclose(resdata_kw(path, "PERMX"), GRID3.flatten(k64), rtol=1e-7)


def test_text_rules_repeats_line_length_header(tmp_path):
    k = np.full(GRID3.shape, 3.5)
    k[0, 0, 0] = 0.1
    text = grdecl_text({"PERMX": k, "ACTNUM": np.ones(GRID3.shape, int)}, GRID3,
                       header={"seed": 7, "realization": 137})
    assert "0.1 23*3.5" in text and "24*1" in text
    assert not re.search(r"\d \*|\* \d", text)               # no spaces around '*'
    assert max(len(line) for line in text.splitlines()) <= 132
    head = [ln for ln in text.splitlines() if ln.startswith("--")]
    assert head[0].startswith(f"-- porevae {pv.__version__}") and "NX NY NZ = 4 3 2" in head[0]
    assert "-- seed: 7" in head and "-- realization: 137" in head
    path = tmp_path / "A.GRDECL"
    path.write_text(text)
    np.testing.assert_array_equal(resdata_kw(path, "PERMX"), GRID3.flatten(k).astype(np.float32))
    assert read_grdecl(path)["ACTNUM"].dtype == np.int64


def test_reader_comments_repeats_several_keywords(tmp_path):
    path = tmp_path / "user.inc"
    path.write_text("-- a user's file\nECHO\nPORO  -- porosity\n 2*0.25 0.1D0\n"
                    "   1.5E-1 / trailing comment\nNOECHO\n\nPERMX\n3*100 -- mD\n 50/\n"
                    "INCLUDE\n 'other.inc' /\nPORO\n4*0.3 /\n")
    out = read_grdecl(path)
    np.testing.assert_array_equal(out["PERMX"], [100, 100, 100, 50])
    np.testing.assert_array_equal(out["PORO"], [0.3] * 4)         # the later PORO wins
    assert "INCLUDE" not in out and "ECHO" not in out
    bad = tmp_path / "bad.inc"
    bad.write_text("PERMX\n1 2 3\nPORO\n1 /\n")
    with pytest.raises(ValueError, match="terminator"):
        read_grdecl(bad)
    bad.write_text("PERMX\n2* 3 /\n")
    with pytest.raises(ValueError, match="default values"):
        read_grdecl(bad)


@pytest.mark.parametrize("section", ["dxdytops", "corner"])
def test_grid_section(tmp_path, section):
    path = write_grdecl(tmp_path / "G.GRDECL", {"PERMX": ijk_field()}, GRID3,
                        grid_section=section)
    out = read_grdecl(path)
    if section == "dxdytops":
        np.testing.assert_array_equal(out["DX"], 10.0)
        np.testing.assert_array_equal(out["TOPS"], np.repeat([1000.0, 1005.0], 12))
        return
    np.testing.assert_array_equal(out["SPECGRID"], [4, 3, 2, 1])
    assert out["COORD"].size == 5 * 4 * 6 and out["ZCORN"].size == 8 * 24
    rg = pytest.importorskip("resdata.grid")
    grid = rg.Grid.load_from_grdecl(str(path))
    assert (grid.get_nx(), grid.get_ny(), grid.get_nz()) == (4, 3, 2)
    centres = GRID3.cell_centers()
    for i, j, k in [(0, 0, 0), (3, 1, 0), (1, 2, 1)]:
        np.testing.assert_allclose(grid.get_xyz(ijk=(i, j, k)), centres[i + 4 * (j + 3 * k)])
        assert grid.cell_volume(ijk=(i, j, k)) == pytest.approx(1000.0)


def test_bgrdecl_through_resfo(tmp_path):
    k = ijk_field()
    path = write_bgrdecl(tmp_path / "P.BGRDECL", {"PERMX": k, "ACTNUM": np.ones(GRID3.shape,
                                                                                   int)}, GRID3)
    raw = resfo.read(path, fileformat=resfo.Format.UNFORMATTED)
    assert [name for name, _ in raw] == ["PERMX   ", "ACTNUM  "]
    back = read_bgrdecl(path)
    assert back["PERMX"].dtype == np.float32 and back["ACTNUM"].dtype == np.int32
    np.testing.assert_array_equal(GRID3.unflatten(back["PERMX"]), k)


@pytest.mark.parametrize("n", [0, 1, 999, 1000, 1001, 2500])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_bgrdecl_records_are_resfos_bytes(rng, n, dtype, monkeypatch):
    values = (rng.standard_normal(n) * 100).astype(dtype)
    want = io.BytesIO()
    resfo.write(want, [("PERMX   ", values)], fileformat=resfo.Format.UNFORMATTED)
    for per_part in (binary.PART_RECORDS, 1, 2):    # records made in parts of any size
        monkeypatch.setattr(binary, "PART_RECORDS", per_part)
        got = b"".join(p.tobytes() for p in binary.keyword_parts("PERMX", values))
        assert got == want.getvalue()


@pytest.mark.parametrize("shape", [(2500,), (37, 41), (4, 3, 2), (23, 29, 3), (10, 10, 10)])
def test_bgrdecl_regular_grid_files_are_resfos_bytes(tmp_path, rng, shape, monkeypatch):
    """The regular-grid path (validation on the (x, y, z) array, the compiled reordering and
    cast, the byte swap into records, buffers kept per thread) against resfo on the arrays
    flattened by Grid.flatten: float32 / float64 in and out, non-contiguous inputs, two
    keywords in one file and files of other sizes in between (kept buffers reused and grown,
    and a size over KEEP_BYTES not kept)."""
    grid = pv.Grid(shape)
    k = 100.0 * np.exp(rng.standard_normal(shape))
    strided = np.asfortranarray(k)[..., ::-1][..., ::-1]          # same values, F-ordered
    small = pv.Grid((3, 2, 1))
    for i, (src, dtype) in enumerate([(k, np.float32), (k.astype(np.float32), np.float64),
                                      (strided, np.float64), (strided, np.float32)]):
        if i == 3:                              # fresh buffers, none kept
            monkeypatch.setattr(binary, "KEEP_BYTES", 16)
            monkeypatch.setattr(binary, "_BUFFERS", threading.local())
        got = write_bgrdecl(tmp_path / f"{i}.BGRDECL", {"PERMX": src, "PERMZ": src / 10},
                            grid, float_dtype=dtype)
        write_bgrdecl(tmp_path / "small.BGRDECL", {"PERMX": np.ones(small.shape)}, small)
        want = io.BytesIO()
        resfo.write(want, [("PERMX   ", grid.flatten(src).astype(dtype)),
                           ("PERMZ   ", grid.flatten(src / 10).astype(dtype))],
                    fileformat=resfo.Format.UNFORMATTED)
        assert got.read_bytes() == want.getvalue()
    back = read_bgrdecl(tmp_path / "small.BGRDECL")["PERMX"]
    np.testing.assert_array_equal(back, np.ones(6, np.float32))


@pytest.mark.parametrize("shape, part_bytes", [((4, 3, 2), 1 << 20), ((7, 1, 5), 20),
                                               ((30, 20, 10), 1 << 20), ((30, 20, 10), 7000)])
def test_roff_is_roffios_bytes(tmp_path, rng, shape, part_bytes, monkeypatch):
    roffio = pytest.importorskip("roffio")
    monkeypatch.setattr(roff, "PART_BYTES", part_bytes)     # data in slabs of I of any size
    grid = pv.Grid(shape)
    k = np.exp(rng.standard_normal(shape))
    act = (rng.random(shape) > 0.2).astype(int)
    path = write_roff(tmp_path / "mine.roff", {"PERMX": k, "ACTNUM": act}, grid)
    tags = [("filedata", {"filetype": "parameter", "creationDate": roff.CREATION_DATE}),
            ("dimensions", dict(zip(("nX", "nY", "nZ"), map(np.int32, shape))))]
    for name, v in (("PERMX", grid.flatten(k).astype(np.float32)),
                    ("ACTNUM", grid.flatten(act).astype(np.int32))):
        tags.append(("parameter", [("name", name), ("data", roff.roff_order(v, shape))]))
    roffio.write(tmp_path / "ref.roff", tags)
    mine = path.read_bytes().replace(f"#Creator: porevae {pv.__version__}#".encode(),
                                     f"#Creator: roffio, version {roffio.__version__}#".encode())
    assert mine == (tmp_path / "ref.roff").read_bytes()


def read_vti_cells(path):
    """Cell arrays of a raw-appended .vti (the VTK XML layout: UInt64 byte count, then data)."""
    data = path.read_bytes()
    head, _, appended = data.partition(b'<AppendedData encoding="raw">')
    root = ET.fromstring(head.decode() + "</VTKFile>" if b"</VTKFile>" not in head else head)
    blob = appended[appended.index(b"_") + 1:]
    image = root.find("ImageData")
    out = {}
    for arr in root.iter("DataArray"):
        off = int(arr.get("offset"))
        n = int(np.frombuffer(blob[off:off + 8], "<u8")[0])
        dt = {"Float64": "<f8", "Float32": "<f4", "Int64": "<i8"}[arr.get("type")]
        out[arr.get("Name")] = np.frombuffer(blob[off + 8:off + 8 + n], dt)
    return image.attrib, out


def test_vti(tmp_path):
    grid = pv.Grid((4, 3), spacing=(10.0, 20.0), origin=(5.0, 6.0))
    k = ijk_field(grid)
    path = write_vti(tmp_path / "f.vti", {"PERMX": k, "PORO": k / 1000}, grid)
    attrs, cells = read_vti_cells(path)
    assert attrs["WholeExtent"].split() == ["0", "4", "0", "3", "0", "0"]
    assert [float(s) for s in attrs["Origin"].split()] == [5.0, 6.0, 0.0]
    np.testing.assert_array_equal(cells["PERMX"], grid.flatten(k))   # VTK: x fastest too
    with pytest.raises(ValueError, match=r"\.vti"):
        write_vti(tmp_path / "f.vtk", {"PERMX": k}, grid)


def test_npy_h5(tmp_path):
    k = ijk_field()
    names = write_fields(tmp_path, {"PERMX": k, "PORO": k / 1e4}, GRID3, "npy")
    assert names == ["PERMX.npy", "PORO.npy"] == file_names(["PERMX", "PORO"], "npy")
    np.testing.assert_array_equal(np.load(tmp_path / "PERMX.npy"), k)   # axes (x, y, z)
    np.testing.assert_array_equal(read_volume(tmp_path / "PORO.npy"), k / 1e4)
    path = write_h5(tmp_path / "f.h5", {"PERMX": k, "PORO": k / 1000}, GRID3,
                    header={"seed": 3})
    back = read_h5(path)
    assert list(back) == ["PERMX", "PORO"]
    np.testing.assert_array_equal(back["PORO"], k / 1000)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", ["PERMX", "PORO", "SATNUM"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_non_finite_value_refused(tmp_path, rng, bad, name, dtype):
    """One NaN or infinity among valid values (found through the field's range, on the array
    as given) is refused, counted, before anything is written; so is one negative PERM or
    out-of-range fraction value."""
    grid = pv.Grid((23, 29, 3))
    values = rng.uniform(0.1, 0.9, grid.shape) if name != "SATNUM" else \
        rng.integers(1, 4, grid.shape).astype(float)
    values = values.astype(dtype)[:, ::-1]                   # strided, as a view may be
    at = tuple(int(rng.integers(0, n)) for n in grid.shape)
    values[at] = bad
    for write in (write_bgrdecl, write_grdecl, write_roff):
        with pytest.raises(ValueError, match=rf"{name} holds 1 NaN or infinite value\(s\)"):
            write(tmp_path / "out", {name: values}, grid)
        if name != "SATNUM":
            values[at] = -0.5 if name == "PERMX" else 1.5
            with pytest.raises(ValueError, match="negative" if name == "PERMX" else r"\[0, 1\]"):
                write(tmp_path / "out", {name: values}, grid)
            values[at] = bad
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad, match", [
    ({"PERMX": np.full(GRID3.shape, np.nan)}, "NaN"),
    ({"PERMX": -ijk_field()}, "negative"),
    ({"PERMX": np.ones((4, 3))}, "shape"),
    ({"PORO": ijk_field()}, r"\[0, 1\]"),
    ({"permx": ijk_field()}, "upper case"),
    ({"ACTNUM": np.full(GRID3.shape, 2)}, "0 or 1"),
    ({"PERMX": ijk_field(), "PORO": np.full(GRID3.shape, np.inf)}, "PORO"),
])
@pytest.mark.parametrize("writer", ["grdecl", "bgrdecl", "vti", "h5"])
def test_bad_input_refused_before_writing(tmp_path, bad, match, writer):
    path = tmp_path / f"out.{writer}"
    write = {"grdecl": write_grdecl, "bgrdecl": write_bgrdecl, "vti": write_vti,
             "h5": write_h5}[writer]
    with pytest.raises(ValueError, match=match):
        write(path, bad, GRID3)
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = write_grdecl(tmp_path / "P.GRDECL", {"PERMX": ijk_field()}, GRID3)
    before = path.read_bytes()
    calls = []
    real = binary.keyword_buffer

    def boom(name, values, float_dtype):      # the disk fills after the first keyword
        calls.append(name)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(name, values, float_dtype)

    monkeypatch.setattr(binary, "keyword_buffer", boom)
    with pytest.raises(OSError, match="disk full"):
        write_bgrdecl(tmp_path / "P.GRDECL", {"PERMX": ijk_field(), "PORO": ijk_field() / 1e4},
                      GRID3)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["P.GRDECL"]


def test_reader_reads_a_file_written_by_resdata(tmp_path):
    cwrap = pytest.importorskip("cwrap")
    resfile = pytest.importorskip("resdata.resfile")
    values = np.arange(24, dtype=np.float32) * 0.5 + 1.0
    rd_type = pytest.importorskip("resdata").ResDataType.RD_FLOAT
    kw = resfile.ResdataKW("PORO", 24, rd_type)
    for n, v in enumerate(values):
        kw[n] = float(v)
    path = tmp_path / "resdata.GRDECL"
    with cwrap.open(str(path), "w") as fh:
        kw.write_grdecl(fh)
    np.testing.assert_array_equal(read_grdecl(path)["PORO"], values)


@pytest.mark.parametrize("kind", ["h5", "bgrdecl", "parameters"])
def test_readers_refuse_truncated_corrupt_and_foreign_files(tmp_path, kind):
    from porevae._files import FileIntegrityError
    from porevae.export.ert import read_coefficients

    fields = {"PERMX": ijk_field()}
    good = tmp_path / f"good.{kind}"
    if kind == "h5":
        write_h5(good, fields, GRID3)
        read = read_h5
    elif kind == "bgrdecl":
        write_bgrdecl(good, fields, GRID3)
        read = read_bgrdecl
    else:
        good.write_text('{"KLE": {"XI_0000": 0.5, "XI_0001": -1.0}}')

        def read(p):
            return read_coefficients(p, 4)
    read(good)
    blob = good.read_bytes()
    bad = tmp_path / f"bad.{kind}"
    for damaged in (blob[: len(blob) // 2], b"\x00garbage, not a porevae file" * 20):
        bad.write_bytes(damaged)
        with pytest.raises(ValueError, match=f"bad.{kind}") as exc:
            read(bad)
        assert "\n" not in str(exc.value)
        if kind != "parameters":
            assert isinstance(exc.value, FileIntegrityError)
    if kind == "h5":  # a flipped byte in the payload is caught by the stored checksum
        data = bytearray(blob)
        offset = blob.find(np.ascontiguousarray(ijk_field(), dtype=np.float64).tobytes()[:16])
        assert offset > 0
        data[offset:offset + 8] = bytes(8)
        bad.write_bytes(bytes(data))
        with pytest.raises(FileIntegrityError, match="bad.h5.*checksum|bad.h5.*corrupt"):
            read_h5(bad)
