"""Ensembles: manifest, bit-for-bit regeneration, resume after interruption, process pool and
Dask sharding, the CLI (`porevae ensemble`, `porevae field`) end to end."""

import json

import numpy as np
import pytest

import porevae as pv
from porevae.cli import main
from porevae.export import ensemble as E
from porevae.export import read_bgrdecl, read_grdecl
from porevae.export.transforms import Transform

TR = Transform(perm="geometric", perm_mean=100.0, perm_std=1.0, kv_kh=0.1, poro="power-law",
               poro_params={"a": 0.1, "b": 0.15})


@pytest.fixture(scope="module")
def kle_file(tmp_path_factory):
    grid = pv.Grid((12, 10), spacing=(10.0, 10.0))
    kle = pv.KLE(grid, pv.SquaredExponential(40.0), n_terms=20)
    path = tmp_path_factory.mktemp("kle") / "kle.h5"
    kle.save(path)
    return path


def files_of(out):
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


def test_manifest_and_fields(kle_file, tmp_path):
    out = tmp_path / "ens"
    m = E.write_ensemble(kle_file, out, 5, seed=7, transform=TR, chunk=2)
    assert m["written"] == [0, 1, 2, 3, 4]
    disk = E.read_manifest(out)
    assert disk["seed"] == 7 and disk["n"] == 5 and disk["format"] == "grdecl"
    assert disk["porevae_version"] == pv.__version__
    assert disk["kle_sha256"] == E.sha256(kle_file) and disk["kle"]["n_terms"] == 20
    assert Transform.from_dict(disk["transform"]) == TR
    assert sorted(disk["realizations"], key=int) == ["0", "1", "2", "3", "4"]
    assert sorted(disk["realizations"]["3"]) == ["PERMX.GRDECL", "PERMZ.GRDECL", "PORO.GRDECL"]
    # realization 3 is the KLE's sample 3 of seed 7, transformed
    kle = pv.KLE.load(kle_file)
    want = TR.apply_kle(kle.sample(1, seed=7, start=3)[0], kle)["PERMX"]
    got = read_grdecl(out / "real-0003" / "PERMX.GRDECL")["PERMX"]
    np.testing.assert_array_equal(kle.grid.unflatten(got), want)
    text = (out / "real-0003" / "PERMX.GRDECL").read_text()
    assert "-- seed: 7" in text and "-- realization: 3" in text
    assert E.verify(out) == []


@pytest.mark.parametrize("fmt", ["grdecl", "h5", "vti", "bgrdecl", "npy"])
def test_regenerate_realization_bit_for_bit(kle_file, tmp_path, fmt):
    out = tmp_path / "ens"
    m = E.write_ensemble(kle_file, out, 4, seed=11, fmt=fmt, transform=TR)
    for k in (0, 3):
        assert E.regenerate(out, k, tmp_path / f"again{k}") == m["realizations"][str(k)]
    copy = tmp_path / "moved.h5"
    copy.write_bytes(kle_file.read_bytes())
    assert E.regenerate(out, 1, tmp_path / "moved", kle_path=copy) == m["realizations"]["1"]
    copy.write_bytes(kle_file.read_bytes() + b"\0")
    with pytest.raises(ValueError, match="SHA-256"):
        E.regenerate(out, 1, tmp_path / "moved2", kle_path=copy)
    # --only rewrites one realization in place; its bytes do not change
    again = E.write_ensemble(kle_file, out, 4, seed=11, fmt=fmt, transform=TR, only=2)
    assert again["written"] == [2] and again["changed"] == []


def test_resume_after_interruption(kle_file, tmp_path, monkeypatch):
    ref = tmp_path / "ref"
    full = E.write_ensemble(kle_file, ref, 8, seed=3, transform=TR, chunk=3)

    out = tmp_path / "ens"
    real_write = E.write_fields
    calls = []

    def dying(folder, fields, *args, **kwargs):
        if len(calls) == 5:                       # killed while writing realization 5
            (folder / ".PERMX.GRDECL.tmp-deadbeef0000").write_text("half a file")
            raise KeyboardInterrupt
        calls.append(folder.name)
        return real_write(folder, fields, *args, **kwargs)

    monkeypatch.setattr(E, "write_fields", dying)
    with pytest.raises(KeyboardInterrupt):
        E.write_ensemble(kle_file, out, 8, seed=3, transform=TR, chunk=3)
    monkeypatch.setattr(E, "write_fields", real_write)
    assert not (out / "real-0005" / E.DONE).exists()
    # a finished realization whose file was damaged afterwards is redone too
    (out / "real-0001" / "PORO.GRDECL").write_text("PORO\n1 /\n")

    m = E.write_ensemble(kle_file, out, 8, seed=3, transform=TR, chunk=3)
    assert m["skipped"] == [0, 2, 3, 4] and m["written"] == [1, 5, 6, 7]
    assert m["realizations"] == full["realizations"]
    assert files_of(out) == files_of(ref)          # no duplicates, no holes, no temporary files
    assert E.verify(out) == []
    # and a third run has nothing left to do
    assert E.write_ensemble(kle_file, out, 8, seed=3, transform=TR)["written"] == []


def test_refuses_a_different_ensemble_in_the_same_folder(kle_file, tmp_path):
    out = tmp_path / "ens"
    first = E.write_ensemble(kle_file, out, 3, seed=1)
    with pytest.raises(FileExistsError, match="different seed.*pass --overwrite"):
        E.write_ensemble(kle_file, out, 2, seed=2)
    with pytest.raises(FileExistsError, match="different transform"):
        E.write_ensemble(kle_file, out, 2, seed=1, transform=TR)
    assert E.read_manifest(out)["realizations"] == first["realizations"]   # nothing touched
    # overwrite: the old manifest and realization folders go, other files stay
    (out / "notes.txt").write_text("mine")
    again = E.write_ensemble(kle_file, out, 2, seed=2, overwrite=True)
    assert again["written"] == [0, 1] and E.read_manifest(out)["seed"] == 2
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "notes.txt", "real-0000",
                                                     "real-0001"]
    assert E.verify(out) == []
    # a folder with other files and no manifest is not an ensemble to resume
    other = tmp_path / "other"
    other.mkdir()
    (other / "data.csv").write_text("x")
    with pytest.raises(FileExistsError, match="not empty and holds no ensemble"):
        E.write_ensemble(kle_file, other, 1, seed=1)
    assert E.write_ensemble(kle_file, tmp_path / "empty", 1, seed=1)["written"] == [0]


def test_bad_field_refused_before_anything_is_written(kle_file, tmp_path):
    out = tmp_path / "ens"
    with pytest.raises(ValueError, match="PERMX.*negative"):
        E.write_ensemble(kle_file, out, 3, seed=1,
                         transform=Transform(perm="gaussian", keyword="PERMX"))
    assert not out.exists()


@pytest.mark.slow
def test_process_pool_gives_the_same_files(kle_file, tmp_path):
    one = E.write_ensemble(kle_file, tmp_path / "one", 6, seed=5, transform=TR)
    two = E.write_ensemble(kle_file, tmp_path / "two", 6, seed=5, transform=TR, jobs=2, chunk=3)
    assert two["realizations"] == one["realizations"]


def test_dask_local_cluster_gives_the_same_files(kle_file, tmp_path):
    distributed = pytest.importorskip("distributed", reason="optional 'dask' extra")
    one = E.write_ensemble(kle_file, tmp_path / "one", 6, seed=5, transform=TR)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        two = E.write_ensemble(kle_file, tmp_path / "two", 6, seed=5, transform=TR,
                               dask=client, chunk=2)
    assert two["realizations"] == one["realizations"]


def test_cli_ensemble_and_only(kle_file, tmp_path, capsys):
    out = tmp_path / "ens"
    args = ["ensemble", "--kle", str(kle_file), "-n", "3", "--seed", "7", "--out", str(out),
            "--perm", "arithmetic", "--perm-mean", "150", "--perm-std", "100",
            "--poro", "kozeny-carman", "--kc-constant", "4000", "--poro-max", "0.4",
            "--no-progress"]
    assert main(args) == 0
    m = E.read_manifest(out)
    assert m["transform"]["perm"] == "arithmetic" and m["transform"]["poro_bounds"] == [None, 0.4]
    assert main([*args, "--only", "1"]) == 0
    assert "written as recorded in the manifest" in capsys.readouterr().out
    # the same folder, another format
    assert main([*args[:-1], "--format", "vti", "--no-progress"]) == 2
    assert "different format" in capsys.readouterr().err


def test_cli_field_reads_ert_parameters(kle_file, tmp_path, capsys, rng):
    kle = pv.KLE.load(kle_file)
    xi = rng.standard_normal(12)                               # fewer than n_terms: rest are 0
    layouts = {
        "grouped": {"KLE": {f"XI_{i:04d}": v for i, v in enumerate(xi)}, "OTHER": {"A": 1.0}},
        "flat": {f"XI_{i:04d}": {"value": v} for i, v in enumerate(xi)},
    }
    full = np.r_[xi, np.zeros(kle.n_terms - 12)]
    for name, content in layouts.items():
        run = tmp_path / name
        run.mkdir()
        (run / "parameters.json").write_text(json.dumps(content))
        assert main(["field", "--kle", str(kle_file), "--parameters",
                     str(run / "parameters.json"), "--out", str(run), "--perm", "geometric",
                     "--perm-mean", "100", "--perm-std", "1"]) == 0
        got = read_grdecl(run / "PERMX.GRDECL")["PERMX"]
        want = Transform(perm="geometric").apply_kle(kle.field(full), kle)["PERMX"]
        np.testing.assert_array_equal(kle.grid.unflatten(got), want)
    priors = tmp_path / "priors.txt"
    assert main(["field", "--kle", str(kle_file), "--write-priors", str(priors)]) == 0
    lines = priors.read_text().splitlines()
    assert len(lines) == kle.n_terms and lines[0] == "XI_0000 NORMAL 0 1"
    (tmp_path / "bad.json").write_text(json.dumps({"KLE": {"XI_0000": 1.0, "XI_0002": 1.0}}))
    assert main(["field", "--kle", str(kle_file), "--parameters",
                 str(tmp_path / "bad.json"), "--out", str(tmp_path)]) == 2
    assert "missing" in capsys.readouterr().err


def test_cli_perm_mean_is_honoured_and_permy_written(kle_file, tmp_path, capsys):
    """`--perm-mean 500` under the default transform gives a median of 500 mD, says so in the
    manifest, and PERMY comes with PERMX; --perm exp with a mean is refused."""
    out = tmp_path / "ens"
    assert main(["ensemble", "--kle", str(kle_file), "-n", "8", "--seed", "1", "--out",
                 str(out), "--perm-mean", "500", "--no-progress"]) == 0
    assert "median 500 mD" in capsys.readouterr().out
    m = E.read_manifest(out)
    assert m["transform"]["perm"] == "geometric" and m["transform"]["perm_mean"] == 500.0
    assert m["geometry"] == {"cell_size": [10.0, 10.0, 5.0], "top": 2000.0}  # the KLE's 10 m
    assert sorted(m["realizations"]["0"]) == ["PERMX.GRDECL", "PERMY.GRDECL"]
    k = np.concatenate([read_grdecl(out / E.folder_name(i) / "PERMX.GRDECL")["PERMX"]
                        for i in range(8)])
    assert 350 < np.median(k) < 700          # log-median 500 mD, +-0.36 sigma over 8 fields
    assert main(["ensemble", "--kle", str(kle_file), "-n", "2", "--seed", "1", "--out",
                 str(tmp_path / "e2"), "--perm", "exp", "--perm-mean", "500"]) == 2
    err = capsys.readouterr().err
    assert "perm_mean set, but perm='exp' takes none" in err and "\n" not in err.strip()
    assert not (tmp_path / "e2").exists()


def test_cli_geometry_in_metres(kle_file, tmp_path):
    from porevae.export.formats import default_cell_size

    assert default_cell_size(pv.Grid((20, 10))) == [50.0, 50.0, 5.0]     # unit square
    assert default_cell_size(pv.Grid((4, 4, 2), spacing=(2.0, 3.0, 1.0))) == [2.0, 3.0, 1.0]
    out = tmp_path / "ens"
    assert main(["ensemble", "--kle", str(kle_file), "-n", "1", "--seed", "1", "--out",
                 str(out), "--grid-section", "dxdytops", "--cell-size", "25", "30", "4",
                 "--top", "1500", "--no-progress"]) == 0
    geo = read_grdecl(out / "real-0000" / "PERMX.GRDECL")
    assert set(geo["DX"]) == {25.0} and set(geo["DY"]) == {30.0} and set(geo["DZ"]) == {4.0}
    assert set(geo["TOPS"]) == {1500.0}


def test_cli_field_refusals(kle_file, tmp_path, capsys):
    n_terms = pv.KLE.load(kle_file).n_terms
    for bad in ("0", str(n_terms + 1)):
        assert main(["field", "--kle", str(kle_file), "--write-priors",
                     str(tmp_path / "p.txt"), "--n-coefficients", bad]) == 2
        assert f"--n-coefficients must be in [1, {n_terms}], got {bad}" in capsys.readouterr().err
    assert not (tmp_path / "p.txt").exists()
    assert main(["field", "--kle", str(kle_file), "--write-priors", str(tmp_path / "p.txt"),
                 "--n-coefficients", "5"]) == 0
    assert len((tmp_path / "p.txt").read_text().splitlines()) == 5


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_bad_kle_file_is_one_line_and_no_manifest(kle_file, tmp_path, capsys, damage):
    bad = tmp_path / "bad.h5"
    blob = kle_file.read_bytes()
    bad.write_bytes(blob[: len(blob) // 3] if damage == "truncated" else b"\x89HDF junk" * 50)
    for cmd in (["ensemble", "-n", "2", "--seed", "0", "--out", str(tmp_path / "ens")],
                ["sample", "-n", "2", "--out", str(tmp_path / "s.h5")],
                ["field", "--write-priors", str(tmp_path / "p.txt")]):
        assert main([cmd[0], "--kle", str(bad), *cmd[1:]]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"porevae {cmd[0]}: error: {bad}") and "\n" not in err
    assert not (tmp_path / "ens" / "manifest.json").exists()
    assert not (tmp_path / "s.h5").exists() and not (tmp_path / "p.txt").exists()


# ---- ensembles conditioned on well data -------------------------------------------------------

WELLS_MD = {(1, 2): 250.0, (8, 6): 40.0, (5, 8): 120.0}    # cell (i, j) of the 12 x 10 grid: mD


@pytest.fixture
def wells_csv(tmp_path):
    """Three wells given by coordinates (metres; the cells are 10 m) and permeability in mD."""
    path = tmp_path / "wells.csv"
    path.write_text("well,x,y,value\n" + "".join(
        f"W{k},{10 * i + 3.5},{10 * j + 6.0},{v}\n" for k, ((i, j), v) in
        enumerate(WELLS_MD.items())))
    return path


WELL_FLAT = [i + 12 * j for i, j in WELLS_MD]


def test_conditioned_ensemble_honours_the_wells_in_md_and_records_the_table(kle_file, wells_csv,
                                                                           tmp_path):
    out = tmp_path / "ens"
    m = E.write_ensemble(kle_file, out, 4, seed=7, transform=TR, wells=wells_csv,
                         data_space="perm", chunk=3)
    disk = E.read_manifest(out)
    w = disk["wells"]
    assert w["sha256"] == E.sha256(wells_csv) and w["file"] == str(wells_csv.resolve())
    assert (w["noise"], w["data_space"], w["one_based"], w["n_data"]) == (0.0, "perm", False, 3)
    assert w["data"]["cells"] == [list(c) for c in WELLS_MD] and w["data"]["noise"] == [0.0] * 3
    want = list(WELLS_MD.values())
    kle = pv.KLE.load(kle_file)
    for i in range(4):
        k = read_grdecl(out / E.folder_name(i) / "PERMX.GRDECL")["PERMX"]
        np.testing.assert_allclose(k[WELL_FLAT], want, rtol=1e-8)
        prior = TR.apply_kle(kle.sample(1, seed=7, start=i)[0], kle)["PERMX"]
        assert np.all(np.abs(kle.grid.flatten(prior)[WELL_FLAT] / want - 1) > 1e-3)
    assert E.verify(out) == [] and m["written"] == [0, 1, 2, 3]
    # the data as field values: the same ensemble from a table of Y = mean + s * ln(K / K_g)
    y = TR.field_from_perm(np.array(want), kle.mean, kle.cov.variance)
    field_csv = tmp_path / "y.csv"
    field_csv.write_text("i,j,value\n" + "".join(f"{i},{j},{v!r}\n" for (i, j), v in
                                                 zip(WELLS_MD, y.tolist())))
    same = E.write_ensemble(kle_file, tmp_path / "y", 4, seed=7, transform=TR, wells=field_csv)
    assert same["realizations"] == m["realizations"]


@pytest.mark.slow
def test_conditioned_ensemble_resumes_regenerates_and_shards_bit_for_bit(kle_file, wells_csv,
                                                                         tmp_path):
    kw = dict(transform=TR, wells=wells_csv, noise=0.2, data_space="perm", fmt="h5")
    full = E.write_ensemble(kle_file, tmp_path / "full", 6, seed=3, chunk=4, **kw)
    part = tmp_path / "part"
    E.write_ensemble(kle_file, part, 2, seed=3, **kw)
    m = E.write_ensemble(kle_file, part, 6, seed=3, chunk=3, **kw)
    assert m["skipped"] == [0, 1] and m["written"] == [2, 3, 4, 5]
    assert m["realizations"] == full["realizations"]
    assert E.regenerate(part, 4, tmp_path / "again") == full["realizations"]["4"]
    assert E.write_ensemble(kle_file, part, 6, seed=3, only=5, **kw)["changed"] == []
    pool = E.write_ensemble(kle_file, tmp_path / "pool", 6, seed=3, jobs=2, chunk=3, **kw)
    assert pool["realizations"] == full["realizations"]
    # with noise the wells are honoured within it, not exactly
    from porevae.export import read_h5

    k = np.stack([read_h5(tmp_path / "full" / E.folder_name(i) / "fields.h5")["PERMX"]
                  for i in range(6)]).reshape(6, -1, order="F")[:, WELL_FLAT]
    ratio = np.log(k / list(WELLS_MD.values()))       # = the error of Y (s = 1, sigma = 1)
    assert np.all(np.abs(ratio) > 1e-6) and np.all(np.abs(ratio) < 5 * 0.2)


def test_resume_refuses_a_changed_table_or_other_conditioning(kle_file, wells_csv, tmp_path):
    out = tmp_path / "ens"
    E.write_ensemble(kle_file, out, 2, seed=1, wells=wells_csv)
    text = wells_csv.read_text()
    wells_csv.write_text(text.replace(",250.0", ",251.0"))
    with pytest.raises(FileExistsError, match=r"conditioned on a well table of SHA-256 "
                                         r"[0-9a-f]{12}\.\.\. .*: the well data changed"):
        E.write_ensemble(kle_file, out, 2, seed=1, wells=wells_csv)
    wells_csv.write_text(text)
    with pytest.raises(FileExistsError, match="conditioned with noise=0.0, asked 0.1"):
        E.write_ensemble(kle_file, out, 2, seed=1, wells=wells_csv, noise=0.1)
    with pytest.raises(FileExistsError,
                       match=r"conditioned on wells \(.*wells.csv\), asked without"):
        E.write_ensemble(kle_file, out, 2, seed=1)
    assert E.write_ensemble(kle_file, out, 3, seed=1, wells=wells_csv)["written"] == [2]
    E.write_ensemble(kle_file, tmp_path / "plain", 1, seed=1)
    with pytest.raises(FileExistsError, match="holds an ensemble without wells, asked on"):
        E.write_ensemble(kle_file, tmp_path / "plain", 1, seed=1, wells=wells_csv)
    with pytest.raises(ValueError, match="noise, data_space and one_based are for conditioning"):
        E.write_ensemble(kle_file, tmp_path / "x", 1, seed=1, noise=0.1)
    with pytest.raises(ValueError, match=r"line 2 \(well W0\), column 'value': 250 mD is not a "
                                         r"permeability the transform gives"):
        E.write_ensemble(kle_file, tmp_path / "x", 1, seed=1, wells=wells_csv, data_space="perm",
                         transform=Transform(perm="exp", perm_bounds=(None, 200.0)))
    assert not (tmp_path / "x").exists()


def test_cli_ensemble_resumes_refuses_another_and_overwrites(kle_file, tmp_path, capsys):
    out = tmp_path / "ens"
    args = ["ensemble", "--kle", str(kle_file), "-n", "3", "--seed", "7", "--out", str(out),
            "--no-progress"]
    assert main(args) == 0
    done = E.read_manifest(out)["realizations"]
    (out / E.folder_name(2) / E.DONE).unlink()         # an interrupted run: resumed, no flag
    capsys.readouterr()
    assert main([*args[:4], "4", *args[5:]]) == 0
    assert "wrote 2 realization(s), skipped 2 finished" in capsys.readouterr().out
    assert {k: v for k, v in E.read_manifest(out)["realizations"].items() if k != "3"} == done
    assert main([*args[:6], "8", *args[7:]]) == 2     # another seed: refused, nothing touched
    err = capsys.readouterr().err
    assert err.startswith("porevae ensemble: error:") and "different seed" in err
    assert "--overwrite" in err and E.read_manifest(out)["seed"] == 7
    assert main([*args[:6], "8", *args[7:], "--overwrite"]) == 0
    assert E.read_manifest(out)["seed"] == 8 and E.verify(out) == []
    assert main(["ensemble", "--kle", str(kle_file), "-n", "1", "--seed", "1", "--out",
                 str(kle_file), "--no-progress"]) == 2             # the input as output
    assert "input" in capsys.readouterr().err


def test_cli_field_refuses_existing_files_without_overwrite(kle_file, tmp_path, capsys):
    params = tmp_path / "parameters.json"
    params.write_text(json.dumps({"KLE": {"XI_0000": 0.5}}))
    run = tmp_path / "run"
    run.mkdir()
    args = ["field", "--kle", str(kle_file), "--parameters", str(params), "--out", str(run),
            "--kv-kh", "0.1"]
    assert main(args) == 0
    before = (run / "PERMZ.GRDECL").read_bytes()
    (run / "PERMZ.GRDECL").write_text("old")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "PERMX.GRDECL': the file exists; pass --overwrite" in err      # the first one
    assert (run / "PERMZ.GRDECL").read_text() == "old"
    assert main([*args, "--overwrite"]) == 0
    assert (run / "PERMZ.GRDECL").read_bytes() == before
    priors = tmp_path / "p.txt"
    base = ["field", "--kle", str(kle_file), "--write-priors", str(priors)]
    assert main(base) == 0 and main(base) == 2 and main([*base, "--overwrite"]) == 0


# ---- ensembles of exact fields (circulant embedding) ------------------------------------------

@pytest.fixture(scope="module")
def exact():
    from porevae.kle.exact import ExactSampler

    return ExactSampler(pv.Grid((12, 10), spacing=(10.0, 10.0)), pv.Exponential(30.0), mean=4.0)


@pytest.mark.slow
def test_exact_ensemble_is_the_samplers_fields_bit_for_bit_anywhere(exact, kle_file, tmp_path):
    out = tmp_path / "ens"
    m = E.write_ensemble(exact, out, 5, seed=9, transform=TR, fmt="bgrdecl", chunk=2)
    disk = E.read_manifest(out)
    assert disk["method"] == "exact" and disk["kle_file"] is None
    assert disk["sampler"] == {"grid": exact.grid.to_dict(), "cov": exact.cov.to_dict(),
                               "mean": 4.0, "dtype": "float64", "tol": exact.tol}
    for i in (0, 4):                               # realization i = the sampler's draw i
        y = exact.sample(1, seed=9, start=i)[0]
        got = read_bgrdecl(out / E.folder_name(i) / "PORO.BGRDECL")["PORO"]
        np.testing.assert_array_equal(got, exact.grid.flatten(
            TR.apply_kle(y, exact)["PORO"]).astype(np.float32))
        assert E.regenerate(out, i, tmp_path / f"again{i}") == m["realizations"][str(i)]
    pool = E.write_ensemble(exact, tmp_path / "pool", 5, seed=9, transform=TR, fmt="bgrdecl",
                            jobs=2, chunk=2)
    assert pool["realizations"] == m["realizations"]
    with pytest.raises(FileExistsError, match="different method"):
        E.write_ensemble(kle_file, out, 5, seed=9, transform=TR, fmt="bgrdecl")


def test_exact_ensemble_honours_the_wells_and_regenerates(exact, wells_csv, tmp_path):
    out = tmp_path / "ens"
    m = E.write_ensemble(exact, out, 3, seed=2, transform=TR, wells=wells_csv,
                         data_space="perm")
    for i in range(3):
        k = read_grdecl(out / E.folder_name(i) / "PERMX.GRDECL")["PERMX"]
        np.testing.assert_allclose(k[WELL_FLAT], list(WELLS_MD.values()), rtol=1e-8)
    assert E.regenerate(out, 1, tmp_path / "again") == m["realizations"]["1"]


def test_a_manifest_from_before_the_method_key_resumes(kle_file, tmp_path):
    out = tmp_path / "ens"
    E.write_ensemble(kle_file, out, 2, seed=1)
    m = E.read_manifest(out)
    for key in ("method", "sampler"):
        del m[key]
    E._write_manifest(out, m)
    assert E.write_ensemble(kle_file, out, 3, seed=1)["written"] == [2]


def test_cli_ensemble_method_exact(tmp_path, capsys):
    out = tmp_path / "ens"
    args = ["ensemble", "--method", "exact", "--shape", "12", "10", "--spacing", "10", "10",
            "--length-scale", "30", "--mean", "4", "-n", "3", "--seed", "9", "--out", str(out),
            "--no-progress"]
    assert main(args) == 0
    assert "exact fields (embedding" in capsys.readouterr().out
    m = E.read_manifest(out)
    assert m["sampler"]["cov"]["length_scale"] == 30.0 and m["sampler"]["mean"] == 4.0
    assert E.regenerate(out, 2, tmp_path / "again") == m["realizations"]["2"]
    assert main([*args, "--kle", "k.h5"]) == 2
    assert "--kle is for --method kle" in capsys.readouterr().err
    assert main(["ensemble", "-n", "1", "--seed", "1", "--out", str(tmp_path / "x"),
                 "--shape", "4", "4"]) == 2
    assert "--method kle needs --kle" in capsys.readouterr().err
