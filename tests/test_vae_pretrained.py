"""The data and the model shipped inside the package: the Berea image (checksummed), the
pretrained Berea model loading and generating with no training data and no download, from the
API and from ``porevae generate --model berea``."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tifffile

import porevae.data as pdata
from porevae._files import FileIntegrityError
from porevae.cli import main
from porevae.vae import generate, load_model


def test_shipped_berea_image_and_its_checksum(tmp_path, monkeypatch):
    info = pdata.berea_info()
    vol = pdata.berea()
    assert vol.shape == tuple(info["shape"]) == (400, 400, 400) and vol.dtype == bool
    assert vol.mean() == pytest.approx(info["porosity"]) and abs(vol.mean() - 0.196) < 1e-3
    root = tmp_path / "data"
    shutil.copytree(pdata._root() / "berea", root / "berea")
    packed = root / "berea" / "berea_pore.bits.xz"
    blob = bytearray(packed.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    packed.write_bytes(bytes(blob))
    monkeypatch.setattr(pdata, "_root", lambda: root)
    with pytest.raises(FileIntegrityError, match="berea_pore.bits.xz: sha256 differs"):
        pdata.berea()
    assert (pdata._root() / "berea" / "LICENSE-PorousMediaGAN").is_file()


def test_pretrained_model_generates_without_training_data(tmp_path, monkeypatch, capsys):
    def no_data():
        raise AssertionError("generation must not read the training image")

    monkeypatch.setattr(pdata, "berea", no_data)
    path = pdata.pretrained_path("berea")
    assert path.stat().st_size < 2_000_000 and (path.parent / "README.md").is_file()
    model = load_model(path)
    assert model.config.kind == "fisher" and model.config.s2_weight > 0
    vol = generate(model, 1, (24, 32, 40), seed=0, porosity=0.196)
    assert vol.shape == (1, 24, 32, 40) and vol.sum() == round(0.196 * 24 * 32 * 40)
    out = tmp_path / "rock.tif"
    assert main(["generate", "--model", "berea", "--shape", "32", "40", "48", "--porosity",
                 "0.196", "--out", str(out), "--no-progress"]) == 0
    rock = tifffile.imread(out)
    assert rock.shape == (32, 40, 48) and set(np.unique(rock)) <= {0, 1}  # -n 1: the volume
    assert main(["generate", "--model", "granite", "--out", str(out)]) == 2
    assert "model must be one of ['berea', 'spheres']" in capsys.readouterr().err


def test_shipped_spheres_model_generates_its_medium():
    """The synthetic-medium model loads, generates any shape at an exact porosity, and its
    samples are the medium's (porosity 0.4, grains of radius 4: a specific surface within 10 %
    of the training medium's on one small sample)."""
    from porevae.media import overlapping_spheres, specific_surface

    model = load_model(pdata.pretrained_path("spheres"))
    assert model.config.factor == 2 and model.config.s2_cut == "porosity"
    vol = generate(model, 1, (48, 56, 64), seed=3, porosity=0.4)[0]
    assert vol.sum() == round(0.4 * 48 * 56 * 64)
    ref = overlapping_spheres((64, 64, 64), 0.4, 4.0, periodic=True, seed=5)
    assert specific_surface(vol) == pytest.approx(specific_surface(ref), rel=0.1)


@pytest.mark.slow
def test_rock_demo_writes_the_comparison(tmp_path):
    from porevae.media.bars import BARS, FLOW_BARS
    from porevae.vae.demo import run_rock_demo

    res = run_rock_demo(tmp_path, n=2, size=32, seed=1)
    names = {p.split("/")[-1] for p in res["files"]}
    assert {"rock.tif", "rock_slices.png", "rock_comparison.md", "rock_comparison.json",
            "summary.md", "curves.png"} <= names
    flow = [k for k in FLOW_BARS if k != "tortuosity_factor"]  # the demo leaves TauFactor out
    assert [t["statistic"] for t in res["table"]] == list(BARS) + flow
    phi = next(t for t in res["table"] if t["statistic"] == "porosity")
    want = pdata.berea_info()["porosity"]  # the exact cut: round(phi * 32^3) pore voxels
    assert phi["model_std"] == 0.0 and phi["model_mean"] == pytest.approx(want, abs=1 / 32**3)
    text = (tmp_path / "rock_comparison.md").read_text()
    assert "PorousMediaGAN DCGAN" in text and "+4.4%" in text and "radial S2" in text
    # two 32^3 volumes cannot tell: no row may read "no" because the samples are tiny
    assert all(t["verdict"] in ("yes", "noise") for t in res["table"]), res["table"]
    assert res["s2"]["verdict"] in ("yes", "noise")


@pytest.mark.parametrize("name, phi", [("berea", 0.19645303125), ("spheres", 0.40064198)])
def test_shipped_models_record_their_data_porosity_and_cut_at_it(name, phi):
    """Each shipped checkpoint records its training data's porosity (Berea: the shipped image;
    spheres: the training medium), and generation cuts at it with no flag."""
    from porevae.vae.trainer import load_checkpoint

    assert load_checkpoint(pdata.pretrained_path(name))["data"]["porosity"] == \
        pytest.approx(phi, abs=1e-8)
    if name == "berea":
        assert phi == pdata.berea_info()["porosity"]
    vol = generate(load_model(pdata.pretrained_path(name)), 2, (24, 20, 16), seed=0)
    assert (vol.reshape(2, -1).sum(1) == round(phi * 24 * 20 * 16)).all()


def test_comparison_names_its_reference_and_shows_the_dcgan_only_beside_berea():
    from porevae.vae.demo import berea_comparison

    rng = np.random.default_rng(0)
    real = rng.random((40, 40, 40)) < 0.4
    samples = [rng.random((16, 16, 16)) < 0.4 for _ in range(2)]
    other = berea_comparison(samples, real=real, n_real=3, reference="a test medium")
    assert "crops of a test medium" in other["markdown"]
    assert all(row["peer_dcgan"] is None for row in other["table"])
    rock = berea_comparison(samples, real=real, n_real=3)
    assert "crops of the real Berea image" in rock["markdown"]
    assert any(row["peer_dcgan"] is not None for row in rock["table"])
    assert [r["diff"] for r in rock["table"]] == [r["diff"] for r in other["table"]]


def test_judge_command_prints_the_bars_table(capsys, tmp_path):
    """``porevae judge`` (what the model cards cite): the bars table of the shipped sphere model
    against an independent realization of its medium, and of a checkpoint against a file."""
    from porevae.media.bars import BARS

    assert main(["judge", "--model", "spheres", "-n", "2", "--size", "24", "--crops", "3",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("spheres on an independent realization of the sphere medium: cut at "
                          "porosity 0.40064 (the training data's)")
    assert all(f"| {name} |" in out for name in BARS) and "radial S2" in out
    assert main(["judge", str(pdata.pretrained_path("spheres")), "-n", "1"]) == 2
    assert "--reference is needed" in capsys.readouterr().err
    assert main(["judge", "--model", "spheres", "--size", "1000"]) == 2
    assert "size must be at most the reference's smallest edge 256" in capsys.readouterr().err
