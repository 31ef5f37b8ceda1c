"""`--wells`, `--noise`, `--data-space`, `--one-based` on `porevae sample`, `ensemble` and `field`:
each flag changes what it claims, the data are honoured (in mD through the inverse transform),
the checksum of the table is recorded, and bad tables or flags end in one line with exit 2."""

import json

import h5py
import numpy as np
import pytest

import porevae as pv
from porevae._files import sha256
from porevae.cli import main
from porevae.export import ensemble as E
from porevae.export import read_grdecl

CELLS = [(2, 3), (9, 1), (6, 8)]                 # (i, j) of the 12 x 10 grid on the unit square
Y = [0.8, -1.1, 0.3]                              # Gaussian field values
MD = [250.0, 40.0, 120.0]                         # permeability


@pytest.fixture(scope="module")
def kle_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("kle") / "kle.h5"
    assert main(["kle", "--shape", "12", "10", "--length-scale", "0.3", "--n-terms", "25",
                 "--mean", "0.2", "--out", str(path), "--no-progress"]) == 0
    return path


def table(path, values, cells=CELLS, one_based=False, noise=None):
    """A table by coordinates (cell centres of ``cells``), or by indices with ``one_based``."""
    if one_based:
        head, rows = "i,j", [f"{i + 1},{j + 1}" for i, j in cells]
    else:
        head, rows = "x,y", [f"{(i + 0.5) / 12!r},{(j + 0.5) / 10!r}" for i, j in cells]
    extra = "" if noise is None else ",noise"
    path.write_text(f"well,{head},value{extra}\n" + "".join(
        f"W{k},{r},{v!r}{'' if noise is None else f',{noise}'}\n"
        for k, (r, v) in enumerate(zip(rows, values))))
    return path


def at_wells(stack, cells=CELLS):
    return np.stack([stack[:, i, j] for i, j in cells], axis=1)


def test_sample_honours_the_wells_and_records_the_table(kle_path, tmp_path, capsys):
    csv = table(tmp_path / "y.csv", Y)
    out = tmp_path / "s.h5"
    assert main(["sample", "--kle", str(kle_path), "-n", "70", "--seed", "2", "--wells",
                 str(csv), "--batch-size", "30", "--out", str(out), "--no-progress"]) == 0
    assert "conditioned on 3 data of" in capsys.readouterr().out
    with h5py.File(out) as f:
        ys = f["volume"][...]
        meta = json.loads(f["volume"].attrs["porevae"])
    np.testing.assert_allclose(at_wells(ys), np.broadcast_to(Y, (70, 3)), rtol=0, atol=1e-9)
    assert meta["wells"]["sha256"] == sha256(csv) and meta["wells"]["noise"] == 0.0
    assert meta["kle"]["conditioning"]["cells"] == [list(c) for c in CELLS]
    # the same realizations as the API's, drawn in one block; the prior's differ at the wells
    post = pv.KLE.load(kle_path).condition(None, Y, cells=CELLS)
    np.testing.assert_array_equal(ys, post.sample(70, seed=2))
    prior = pv.KLE.load(kle_path).sample(70, seed=2)
    assert np.all(np.abs(at_wells(prior) - Y) > 1e-6)
    # --noise: spread at the wells shrinks against the prior's, but not to zero
    noisy = tmp_path / "n.npy"
    assert main(["sample", "--kle", str(kle_path), "-n", "200", "--seed", "2", "--wells",
                 str(csv), "--noise", "0.3", "--out", str(noisy), "--no-progress"]) == 0
    spread = at_wells(np.load(noisy)).std(axis=0)
    assert np.all((spread > 0.1) & (spread < 0.7 * at_wells(prior).std(axis=0))), spread


def test_sample_perm_data_space_honours_md(kle_path, tmp_path, capsys):
    csv = table(tmp_path / "k.csv", MD)
    out = tmp_path / "k.npy"
    assert main(["sample", "--kle", str(kle_path), "-n", "5", "--wells", str(csv),
                 "--data-space", "perm", "--lognormal", "--out", str(out)]) == 0
    np.testing.assert_allclose(at_wells(np.load(out)), np.broadcast_to(MD, (5, 3)), rtol=1e-8)
    assert main(["sample", "--kle", str(kle_path), "-n", "5", "--wells", str(csv),
                 "--data-space", "perm", "--out", str(tmp_path / "x.npy")]) == 2
    assert "--data-space perm needs --lognormal" in capsys.readouterr().err


def test_one_based_indices_give_the_coordinates_field(kle_path, tmp_path):
    runs = {}
    for name, one in (("xy", False), ("ij", True)):
        csv = table(tmp_path / f"{name}.csv", Y, one_based=one)
        out = tmp_path / f"{name}.npy"
        assert main(["sample", "--kle", str(kle_path), "-n", "3", "--wells", str(csv),
                     "--out", str(out)] + (["--one-based"] if one else [])) == 0
        runs[name] = np.load(out)
    np.testing.assert_array_equal(runs["ij"], runs["xy"])
    # without --one-based the same indices are other cells
    out = tmp_path / "zero.npy"
    assert main(["sample", "--kle", str(kle_path), "-n", "3", "--wells",
                 str(tmp_path / "ij.csv"), "--out", str(out)]) == 0
    np.testing.assert_allclose(at_wells(np.load(out), [(i + 1, j + 1) for i, j in CELLS]),
                               np.broadcast_to(Y, (3, 3)), rtol=0, atol=1e-9)


def test_ensemble_and_field_honour_md_and_a_changed_table_is_refused(kle_path, tmp_path,
                                                                     capsys):
    csv = table(tmp_path / "k.csv", MD)
    out = tmp_path / "ens"
    args = ["ensemble", "--kle", str(kle_path), "-n", "3", "--seed", "4", "--out", str(out),
            "--perm-mean", "100", "--perm-std", "0.8", "--wells", str(csv), "--data-space",
            "perm", "--no-progress"]
    assert main(args) == 0
    assert "conditioned on 3 data" in capsys.readouterr().out
    m = E.read_manifest(out)
    assert m["wells"]["sha256"] == sha256(csv) and m["wells"]["data_space"] == "perm"
    flat = [i + 12 * j for i, j in CELLS]
    for i in range(3):
        k = read_grdecl(out / E.folder_name(i) / "PERMX.GRDECL")["PERMX"]
        np.testing.assert_allclose(k[flat], MD, rtol=1e-8)
    csv.write_text(csv.read_text().replace(",40.0", ",45.0"))
    assert main([*args[:4], "4", *args[5:]]) == 2
    err = capsys.readouterr().err.strip()
    assert "the well data changed" in err and "\n" not in err
    assert len(E.read_manifest(out)["realizations"]) == 3
    # the ERT step: any coefficients give a field through the wells
    run = tmp_path / "run"
    run.mkdir()
    xi = {f"XI_{i:04d}": float(v) for i, v in enumerate(np.linspace(-2, 2, 25))}
    (run / "parameters.json").write_text(json.dumps({"KLE": xi}))
    assert main(["field", "--kle", str(kle_path), "--parameters", str(run / "parameters.json"),
                 "--out", str(run), "--perm-mean", "100", "--perm-std", "0.8", "--wells",
                 str(csv), "--data-space", "perm"]) == 0
    k = read_grdecl(run / "PERMX.GRDECL")["PERMX"]
    np.testing.assert_allclose(k[flat], [250.0, 45.0, 120.0], rtol=1e-8)
    assert f"wells: k.csv sha256 {sha256(csv)[:16]}" in (run / "PERMX.GRDECL").read_text()


@pytest.mark.parametrize("argv, msg", [
    (["sample", "-n", "1", "--noise", "0.1"], "--noise given without --wells"),
    (["sample", "-n", "1", "--one-based", "--data-space", "field"],
     "--one-based given without --wells"),
    (["field", "--write-priors", "p.txt", "--wells", "w.csv"],
     "--wells is for writing the field, not --write-priors"),
    (["sample", "-n", "1", "--wells", "none.csv"], "well table 'none.csv' does not exist"),
    (["ensemble", "-n", "1", "--seed", "0", "--wells", "bad.csv"],
     "bad.csv line 3 (well P2), column 'value': 'high' is not a number"),
    (["sample", "-n", "1", "--wells", "bad.csv", "--noise", "-1"],
     "bad.csv line 3 (well P2), column 'value': 'high' is not a number"),
    (["sample", "-n", "1", "--wells", "neg.csv", "--noise", "-1"], "noise must be finite"),
    (["ensemble", "-n", "1", "--seed", "0", "--wells", "neg.csv", "--perm", "gaussian",
      "--keyword", "LOGK", "--data-space", "perm"], "data_space='perm' needs a transform with"),
])
def test_bad_tables_and_flags_are_one_line_exit_2(kle_path, tmp_path, monkeypatch, capsys, argv,
                                                  msg):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.csv").write_text("well,x,y,value\nP1,0.5,0.5,1\nP2,0.1,0.1,high\n")
    (tmp_path / "neg.csv").write_text("x,y,value\n0.5,0.5,1\n")
    cmd, *rest = argv
    out = ["--out", "ens"] if cmd == "ensemble" else ["--out", "s.npy"] if cmd == "sample" else []
    assert main([cmd, "--kle", str(kle_path), *rest, *out]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"porevae {cmd}: error: ") and "\n" not in err and msg in err, err
    assert not (tmp_path / "ens").exists() and not (tmp_path / "s.npy").exists()
