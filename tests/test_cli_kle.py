"""The `porevae kle`, `porevae sample` and `porevae demo` commands, end to end."""

import json

import h5py
import numpy as np
import pytest

import porevae as pv
from porevae.cli import main


def test_kle_then_sample(tmp_path, capsys):
    kle_path = tmp_path / "k.h5"
    rc = main(["kle", "--shape", "12", "10", "--cov", "matern", "--nu", "2.5",
               "--length-scale", "0.2", "0.3", "--energy", "0.9", "--levels", "0.5", "0.9",
               "--out", str(kle_path)])
    assert rc == 0
    out = capsys.readouterr().out
    kle = pv.KLE.load(kle_path)
    table = pv.energy_table(kle.grid, kle.cov, [0.5, 0.9])
    assert f"{table[0.9]:>5}" in out and kle.n_terms == table[0.9]
    assert kle.grid.shape == (12, 10) and tuple(kle.cov.length_scales(2)) == (0.2, 0.3)

    npy = tmp_path / "f.npy"
    assert main(["sample", "--kle", str(kle_path), "-n", "5", "--seed", "3", "--out",
                 str(npy)]) == 0
    np.testing.assert_array_equal(np.load(npy), kle.sample(5, seed=3))
    h5 = tmp_path / "f.h5"
    assert main(["sample", "--kle", str(kle_path), "-n", "2", "--seed", "3", "--start", "3",
                 "--lognormal", "--out", str(h5)]) == 0
    with h5py.File(h5) as f:
        np.testing.assert_allclose(f["fields"][...], np.exp(kle.sample(5, seed=3)[3:]),
                                   rtol=1e-14)
        assert json.loads(f.attrs["porevae"])["seed"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.h5", "f.npy", "k.h5"]


def test_cli_errors_are_reported(tmp_path, capsys):
    assert main(["kle", "--shape", "8", "8", "--length-scale", "-1", "--out", ""]) == 2
    assert "length_scale" in capsys.readouterr().err
    assert main(["sample", "--kle", str(tmp_path / "none.h5"), "--out",
                 str(tmp_path / "x.txt")]) == 2
    assert ".npy or .h5" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["kle", "--n-terms", "3", "--energy", "0.5"])


def test_demo_writes_tables_and_figures(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--vae-steps", "30",
                 "--media-steps", "5"]) == 0
    out = capsys.readouterr().out
    for row in ("80.00%", "90.00%", "94.00%", "96.00%", "98.00%"):
        assert row in out
    assert "782" in out and "6112" in out  # exponential, l = 0.1, 90 % and 98 %
    assert "Fisher VAE" in out and "per-sample sums" in out
    assert "Reconstruction of a synthetic 3-D medium" in out and "porosity" in out
    names = {p.name for p in tmp_path.glob("*.png")}
    assert {"covariance.png", "energy.png", "modes_exponential.png",
            "realizations_squared-exponential.png", "vae_samples.png", "vae_loss.png"} <= names
    for p in tmp_path.glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
