"""The `porevae kle`, `porevae sample` and `porevae demo` commands, end to end."""

import json
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import porevae as pv
from porevae.cli import main
from porevae.media.io import read_stack


def test_kle_then_sample(tmp_path, capsys):
    kle_path = tmp_path / "k.h5"
    rc = main(["kle", "--shape", "12", "10", "--cov", "matern", "--nu", "2.5",
               "--length-scale", "0.2", "0.3", "--energy", "0.9", "--levels", "0.5", "0.9",
               "--out", str(kle_path), "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    kle = pv.KLE.load(kle_path)
    table = pv.energy_table(kle.grid, kle.cov, [0.5, 0.9])
    assert f"{table[0.9]:>5}" in out and kle.n_terms == table[0.9]
    assert kle.grid.shape == (12, 10) and tuple(kle.cov.length_scales(2)) == (0.2, 0.3)

    npy = tmp_path / "f.npy"
    assert main(["sample", "--kle", str(kle_path), "-n", "5", "--seed", "3", "--out",
                 str(npy), "--batch-size", "2"]) == 0
    np.testing.assert_array_equal(np.load(npy), kle.sample(5, seed=3))
    h5 = tmp_path / "f.h5"
    assert main(["sample", "--kle", str(kle_path), "--n", "2", "--seed", "3", "--start", "3",
                 "--lognormal", "--out", str(h5), "--no-progress"]) == 0
    with h5py.File(h5) as f:
        assert list(f) == ["volume"] and f["volume"].attrs["stack"]
        assert json.loads(f["volume"].attrs["porevae"])["seed"] == 3
    np.testing.assert_allclose(read_stack(h5), np.exp(kle.sample(5, seed=3)[3:]), rtol=1e-14)
    tif = tmp_path / "f.tif"
    assert main(["sample", "--kle", str(kle_path), "-n", "4", "--out", str(tif)]) == 0
    assert read_stack(tif).shape == (4, 12, 10)
    assert {"f.h5", "f.npy", "f.tif", "k.h5"} <= {p.name for p in tmp_path.iterdir()}


def test_cli_errors_are_reported(tmp_path, capsys):
    assert main(["kle", "--shape", "8", "8", "--length-scale", "-1", "--out", ""]) == 2
    assert "length_scale" in capsys.readouterr().err
    assert main(["sample", "--kle", str(tmp_path / "none.h5"), "--out",
                 str(tmp_path / "x.txt")]) == 2
    assert "--out must end in one of .npy" in capsys.readouterr().err
    assert main(["sample", "--kle", str(tmp_path / "none.h5"), "--out",
                 str(tmp_path / "x.h5")]) == 2
    assert "none.h5' does not exist" in capsys.readouterr().err
    assert main(["kle", "--shape", "8", "8", "--nu", "2", "--out", ""]) == 2
    err = capsys.readouterr().err
    assert "--nu is a parameter of --cov matern, not of --cov exponential" in err
    assert main(["kle", "--n-terms", "3", "--energy", "0.5"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_kle_checks_out_before_computing(tmp_path, capsys):
    """A 100 x 100 exponential KLE at 98 % takes a minute; a bad --out is refused at once."""
    t0 = time.perf_counter()
    assert main(["kle", "--shape", "100", "100", "--energy", "0.98", "--out",
                 str(tmp_path / "missing" / "k.h5")]) == 2
    assert time.perf_counter() - t0 < 1.0
    err = capsys.readouterr().err
    assert "--out folder" in err and "does not exist" in err


def test_sample_refuses_what_the_disk_cannot_hold(tmp_path, capsys):
    kle = tmp_path / "k.h5"
    assert main(["kle", "--shape", "8", "8", "--n-terms", "5", "--out", str(kle),
                 "--no-progress"]) == 0
    t0 = time.perf_counter()
    assert main(["sample", "--kle", str(kle), "-n", str(10**12), "--out",
                 str(tmp_path / "f.h5")]) == 2
    assert time.perf_counter() - t0 < 1.0
    err = capsys.readouterr().err
    assert "needs 465.7 TiB but its folder has" in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.h5"]


def test_demo_prints_the_report_table_beside_porevae(tmp_path, capsys):
    tmp_path = tmp_path / "demo"  # a new folder: an existing one needs --overwrite
    assert main(["demo", "--out", str(tmp_path), "--vae-steps", "2", "--media-steps", "0",
                 "--rock-n", "1", "--rock-size", "32", "--no-progress"]) == 0
    out = capsys.readouterr().out
    # --rock-n / --rock-size: the shipped Berea model against the real rock, in rock/
    assert "The shipped Berea model" in out and "1 volumes of 32^3" in out
    # its flow rows (issue 26): permeability along each axis and the isolated pore fraction
    assert all(f"| {name} |" in out for name in ("permeability_x", "permeability_z",
                                                 "isolated_fraction"))
    assert {"rock.tif", "rock_slices.png", "rock_comparison.md"} <= \
        {p.name for p in (tmp_path / "rock").iterdir()}
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines()
             if line[:1].isdigit() and "%" in line.split()[0]}
    assert lines["80.00%"] == ["201", "202", "83", "84"]
    assert lines["98.00%"] == ["6111", "6112", "208", "209"]
    assert "l = 0.0815" in out and "report's + 1" in out
    names = {p.name for p in tmp_path.glob("*.png")}
    assert {"covariance.png", "energy.png", "modes_exponential.png",
            "realizations_squared-exponential.png", "vae_loss.png", "vae_samples.png"} <= names
    for p in tmp_path.glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_orientation_flags_reach_the_model(tmp_path, capsys):
    out = tmp_path / "rot.h5"
    assert main(["kle", "--shape", "8", "6", "--length-scale", "0.3", "0.1", "--azimuth", "30",
                 "--n-terms", "5", "--out", str(out), "--no-progress"]) == 0
    kle = pv.KLE.load(out)
    assert kle.cov.azimuth == 30.0 and kle.cov.rotated and kle.solver == "dense"
    capsys.readouterr()
    assert main(["kle", "--shape", "8", "6", "4", "--length-scale", "0.3", "0.2", "0.1",
                 "--dip", "5", "--n-terms", "5", "--out", "", "--no-progress"]) == 2
    assert "give its azimuth" in capsys.readouterr().err


def test_kle_on_a_corner_point_grid_file_with_volume_weights(tmp_path, capsys):
    """--grid builds the KLE on the active cells of a GRDECL file; --weights volume reaches the
    expansion (other eigenpairs than unweighted); the grid options and a missing length scale
    are refused with one line."""
    pytest.importorskip("resdata")
    grid_file = Path(__file__).parent / "data" / "cornerpoint" / "GRID.GRDECL"
    common = ["kle", "--grid", str(grid_file), "--length-scale", "300", "300", "5",
              "--n-terms", "12", "--levels", "0.5", "--no-progress"]
    assert main(common + ["--weights", "volume", "--out", str(tmp_path / "w.h5")]) == 0
    assert main(common + ["--out", str(tmp_path / "u.h5")]) == 0
    w, u = pv.KLE.load(tmp_path / "w.h5"), pv.KLE.load(tmp_path / "u.h5")
    cpg = pv.CornerPointGrid.from_file(grid_file)
    assert isinstance(w.grid, pv.CornerPointGrid) and w.grid.n_cells == cpg.n_cells
    assert w.weighting == "volume" and u.weighting is None and u.weights is None
    np.testing.assert_allclose(w.weights, cpg.volumes / cpg.volumes.mean(), rtol=1e-12)
    ref = pv.KLE(cpg, pv.Exponential((300.0, 300.0, 5.0)), n_terms=12, weights="volume")
    np.testing.assert_allclose(w.eigenvalues, ref.eigenvalues, rtol=1e-10)
    assert np.max(np.abs(w.eigenvalues - u.eigenvalues) / u.eigenvalues) > 1e-3
    capsys.readouterr()
    for extra, words in ((["--shape", "4", "4"], "drop --shape"),
                         (None, "--grid needs --length-scale")):
        args = ["kle", "--grid", str(grid_file), "--n-terms", "5", "--out", ""]
        args += extra if extra else []
        if extra:
            args += ["--length-scale", "300"]
        assert main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0]
