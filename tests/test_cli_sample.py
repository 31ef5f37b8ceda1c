"""`porevae sample --method kle|exact`: the exact method writes the sampler's realizations (any
blocking), honours well data (Gaussian or mD), records its parameters; each method refuses the
other's flags; --out is refused when it exists (unless --overwrite) or is an input."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import porevae as pv
from porevae.cli import main
from porevae.kle.exact import ExactSampler

SHAPE = (20, 16)
CELLS = [(2, 3), (17, 1), (9, 12)]
Y = [0.8, -1.1, 0.3]


def exact(**kw):
    return ExactSampler(pv.Grid(SHAPE), pv.Exponential((0.2, 0.1)), **kw)


def run(tmp_path, *extra, out="s.npy"):
    path = tmp_path / out
    code = main(["sample", "--method", "exact", "--shape", *map(str, SHAPE), "--length-scale",
                 "0.2", "0.1", "--out", str(path), "--no-progress", *extra])
    return code, path


def wells(path, values=Y, noise=None):
    extra = "" if noise is None else ",noise"
    path.write_text(f"well,i,j,value{extra}\n" + "".join(
        f"W{k},{i},{j},{v!r}{'' if noise is None else f',{noise}'}\n"
        for k, ((i, j), v) in enumerate(zip(CELLS, values))))
    return path


def at_wells(stack):
    return np.stack([stack[:, i, j] for i, j in CELLS], axis=1)


def test_exact_writes_the_samplers_realizations_whatever_the_blocking(tmp_path, capsys):
    code, path = run(tmp_path, "-n", "7", "--seed", "3", "--start", "2", "--batch-size", "3")
    assert code == 0
    assert "wrote 7 exact (embedding (40, 30)) realizations (7, 20, 16)" in \
        capsys.readouterr().out
    np.testing.assert_array_equal(np.load(path), exact().sample(7, seed=3, start=2))


def test_exact_float32_mean_lognormal_to_hdf5_records_its_parameters(tmp_path):
    code, path = run(tmp_path, "-n", "4", "--seed", "1", "--dtype", "float32", "--mean", "1.5",
                     "--lognormal", "--variance", "0.5", out="s.h5")
    assert code == 0
    with h5py.File(path) as f:
        ys = f["volume"][...]
        meta = json.loads(f["volume"].attrs["porevae"])
    want = ExactSampler(pv.Grid(SHAPE), pv.Exponential((0.2, 0.1), variance=0.5), mean=1.5,
                        dtype="float32").lognormal(4, seed=1)
    assert ys.dtype == np.float32
    np.testing.assert_array_equal(ys, want)
    assert meta["method"] == "exact" and meta["kle"]["method"] == "exact"
    assert meta["kle"]["cov"]["variance"] == 0.5 and meta["kle"]["embedding"] == [40, 30]
    assert meta["lognormal"] and meta["seed"] == 1 and meta["kle"]["tol"] == 1e-3


def test_exact_tol_relaxes_the_padding(tmp_path):
    code, path = run(tmp_path, "--tol", "0.5", "--length-scale", "3", "1", out="t.h5")
    assert code == 0
    with h5py.File(path) as f:
        meta = json.loads(f["volume"].attrs["porevae"])
    assert meta["kle"]["tol"] == 0.5 and meta["kle"]["embedding"] == [40, 30]
    assert 0 < meta["kle"]["clip_error"] <= 0.5


def test_exact_honours_well_data(tmp_path, capsys):
    csv = wells(tmp_path / "w.csv")
    code, path = run(tmp_path, "-n", "30", "--seed", "2", "--wells", str(csv), out="s.h5")
    assert code == 0
    assert "conditioned on 3 data of" in capsys.readouterr().out
    with h5py.File(path) as f:
        ys = f["volume"][...]
        meta = json.loads(f["volume"].attrs["porevae"])
    np.testing.assert_allclose(at_wells(ys), np.broadcast_to(Y, (30, 3)), rtol=0, atol=1e-12)
    assert meta["wells"]["n_data"] == 3 and meta["wells"]["noise"] == 0.0
    assert meta["kle"]["conditioning"]["cells"] == [list(c) for c in CELLS]
    post = exact().condition(None, Y, cells=CELLS)
    np.testing.assert_array_equal(ys, post.sample(30, seed=2))
    assert float(ys.std(axis=0).max()) > 0.5


def test_exact_honours_permeability_data_and_table_noise(tmp_path):
    md = [250.0, 40.0, 120.0]
    code, path = run(tmp_path, "-n", "5", "--wells", str(wells(tmp_path / "k.csv", md)),
                     "--data-space", "perm", "--lognormal", "--mean", "4")
    assert code == 0
    np.testing.assert_allclose(at_wells(np.load(path)), np.broadcast_to(md, (5, 3)), rtol=1e-10)
    code, path = run(tmp_path, "-n", "200", "--wells", str(wells(tmp_path / "n.csv", noise=0.3)),
                     out="n.npy")
    assert code == 0
    spread = at_wells(np.load(path)).std(axis=0)
    assert np.all((spread > 0.05) & (spread < 0.4))


@pytest.mark.parametrize("extra, msg", [
    (["--kle", "k.h5"], "--kle is for --method kle"),
    (["--cov", "squared-exponential", "--length-scale", "5", "--tol", "1e-10"],
     "not positive definite up to"),
    (["--noise", "0.1"], "--noise given without --wells"),
    (["--data-space", "perm", "--wells", "w.csv"], "--data-space perm needs --lognormal"),
    (["-n", "0"], "-n must be"),
    (["--tol", "2"], "tol must be in (0, 1)"),
])
def test_exact_refusals(tmp_path, capsys, extra, msg):
    code, path = run(tmp_path, *extra)
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("porevae sample: error:") and msg in err, err
    assert not path.exists()


@pytest.fixture(scope="module")
def kle_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("kle") / "kle.h5"
    assert main(["kle", "--shape", "12", "10", "--length-scale", "0.3", "--n-terms", "20",
                 "--out", str(path), "--no-progress"]) == 0
    return path


def test_kle_method_and_its_refusals(kle_path, tmp_path, capsys):
    out = tmp_path / "s.npy"
    assert main(["sample", "--kle", str(kle_path), "-n", "3", "--out", str(out),
                 "--no-progress"]) == 0
    np.testing.assert_array_equal(np.load(out), pv.KLE.load(kle_path).sample(3, seed=0))
    for extra, msg in [(["--shape", "12", "10"], "drop --shape"),
                       (["--mean", "1"], "drop --mean"),
                       (["--tol", "1e-3"], "drop --tol"),
                       (["--method", "exact"], "--kle is for --method kle")]:
        assert main(["sample", "--kle", str(kle_path), "--out", str(tmp_path / "t.npy"),
                     *extra]) == 2
        assert msg in capsys.readouterr().err
    assert main(["sample", "--out", str(tmp_path / "t.npy")]) == 2
    assert "--method kle needs --kle FILE" in capsys.readouterr().err


def test_out_is_refused_when_it_exists_or_is_an_input(kle_path, tmp_path, capsys):
    code, path = run(tmp_path, "-n", "2")
    assert code == 0
    before = np.load(path)
    code, _ = run(tmp_path, "-n", "2", "--seed", "9")
    assert code == 2 and "pass --overwrite to replace it" in capsys.readouterr().err
    np.testing.assert_array_equal(np.load(path), before)
    code, _ = run(tmp_path, "-n", "2", "--seed", "9", "--overwrite")
    assert code == 0 and not np.array_equal(np.load(path), before)
    h5 = tmp_path / "k.h5"
    h5.write_bytes(kle_path.read_bytes())
    assert main(["sample", "--kle", str(h5), "--out", str(h5), "--overwrite"]) == 2
    assert "is also an input" in capsys.readouterr().err
