"""compare() and the `porevae stats` / `porevae compare` commands, end to end on small cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import porevae.media as pm
from porevae.cli import main


@pytest.fixture(scope="module")
def media():
    ref = pm.overlapping_spheres((32, 32, 32), 0.5, 3.0, seed=0)
    samples = np.stack([pm.overlapping_spheres((32, 32, 32), 0.5, 3.0, seed=s)
                        for s in (1, 2, 3)])
    return ref, samples


def test_compare_end_to_end(tmp_path, media):
    ref, samples = media
    out = tmp_path / "report"
    result = pm.compare(ref, samples, out_dir=out)
    names = [row["statistic"] for row in result.table]
    assert names[0] == "porosity" and "euler_density" in names and "specific_surface" in names
    phis = [pm.porosity(s) for s in samples]
    assert result.table[0]["mean"] == pytest.approx(np.mean(phis))
    assert result.table[0]["std"] == pytest.approx(np.std(phis, ddof=1))
    for c in result.curves.values():
        assert c["samples"].shape == (3, c["r"].size) and c["l2"].shape == (3,)
    assert sorted(p.name for p in out.iterdir()) == [
        "curves.png", "porosity.png", "slices.png", "statistics.json", "summary.md",
        "voxels.png"]
    summary = (out / "summary.md").read_text()
    assert "| porosity |" in summary and "![curves](curves.png)" in summary
    data = json.loads((out / "statistics.json").read_text())
    assert len(data["samples"]) == 3
    # a reference compared with itself: zero distances
    same = pm.compare(ref, [ref])
    assert all(np.all(c["l2"] == 0) for c in same.curves.values())
    two_d = pm.compare(ref[:, :, 0], [s[:, :, 0] for s in samples], out_dir=tmp_path / "2d")
    assert "voxels.png" not in {p.split("/")[-1] for p in two_d.files}
    with pytest.raises(ValueError, match="2D but the reference is 3D"):
        pm.compare(ref, [samples[0, :, :, 0]])


def test_cli_stats_and_compare(tmp_path, media, capsys):
    ref, samples = media
    pm.write_npy(tmp_path / "ref.npy", ref)
    pm.write_raw(tmp_path / "ref.raw", ref)
    pm.write_npy(tmp_path / "stack.npy", samples)
    assert main(["stats", str(tmp_path / "ref.npy"), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["porosity"] == pytest.approx(pm.porosity(ref)) and stats["shape"] == [32] * 3
    assert main(["stats", str(tmp_path / "ref.raw"), "--raw-shape", "32", "32", "32"]) == 0
    assert "euler_density" in capsys.readouterr().out
    assert main(["stats", str(tmp_path / "ref.raw"), "--raw-shape", "32", "32", "33"]) == 2
    assert "needs 33792 bytes, file has 32768 bytes" in capsys.readouterr().err
    grey = np.where(ref, 50.0, 200.0) + np.random.default_rng(0).uniform(-5, 5, ref.shape)
    pm.write_npy(tmp_path / "grey.npy", grey)
    assert main(["stats", str(tmp_path / "grey.npy")]) == 2
    assert "--pore-value dark or bright" in capsys.readouterr().err
    assert main(["stats", str(tmp_path / "grey.npy"), "--threshold", "otsu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["porosity"] == pytest.approx(pm.porosity(ref))
    assert main(["stats", str(tmp_path / "grey.npy"), "--pore-value", "dark", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["porosity"] == pytest.approx(pm.porosity(ref))
    assert "cut at Otsu's threshold" in result["segmentation"]
    out = tmp_path / "cmp"
    assert main(["compare", str(tmp_path / "ref.npy"), str(tmp_path / "stack.npy"),
                 str(tmp_path / "ref.npy"), "--out", str(out)]) == 0
    assert "wrote 6 files" in capsys.readouterr().out
    assert len(json.loads((out / "statistics.json").read_text())["samples"]) == 4


def test_compare_says_what_infinite_values_mean(tmp_path, media):
    """A sample without pore-solid interface has no chord length: the table says so in words
    and counts it; no 'inf', 'nan' or '+nan%' reaches the summary, and the JSON is valid."""
    ref, samples = media
    solid = np.zeros_like(ref)
    result = pm.compare(ref, [samples[0], solid], out_dir=tmp_path / "r", transport=False)
    rows = {r["statistic"]: r for r in result.table}
    chord = rows["mean_pore_chord"]
    assert chord["n_infinite"] == 1
    assert chord["mean"] == pytest.approx(pm.report.scalar_statistics(samples[0])[
        "mean_pore_chord"])
    assert math.isnan(chord["std"])                       # one finite value: no spread
    text = result.markdown()
    assert "(1 of 2: no pore-solid interface)" in text
    summary = (tmp_path / "r" / "summary.md").read_text()
    for bad in ("inf", "nan", "NaN"):
        assert bad not in summary.replace("infinite", ""), bad
    data = (tmp_path / "r" / "statistics.json").read_text()
    assert "Infinity" not in data and "NaN" not in data
    json.loads(data)
    # a single all-solid sample: its mean is 'no pore-solid interface', the difference n/a
    only = pm.compare(ref, [solid], transport=False).markdown()
    line = next(row for row in only.splitlines() if row.startswith("| mean_pore_chord"))
    assert "no pore-solid interface | n/a |" in line


def test_compare_voxel_size_names_and_progress(tmp_path, media, capsys):
    ref, samples = media
    vox = pm.compare(ref, samples, transport=False)
    um = pm.compare(ref, samples, out_dir=tmp_path / "r", transport=False, voxel_size=2.5,
                    names=("rock.tif", "gen.h5"), notes=("rock.tif: binary",), progress=True)
    assert "compare" in capsys.readouterr().err            # the bar, on stderr
    a = {r["statistic"]: r for r in vox.table}
    b = {r["statistic"]: r for r in um.table}
    assert b["porosity"]["mean"] == a["porosity"]["mean"] and b["porosity"]["unit"] == "1"
    assert b["specific_surface"]["reference"] == pytest.approx(
        a["specific_surface"]["reference"] / 2.5)
    assert b["mean_pore_chord"]["mean"] == pytest.approx(a["mean_pore_chord"]["mean"] * 2.5)
    assert b["euler_density"]["reference"] == pytest.approx(a["euler_density"]["reference"]
                                                            / 2.5**3)
    assert (b["specific_surface"]["unit"], b["mean_pore_chord"]["unit"],
            b["euler_density"]["unit"]) == ("um^-1", "um", "um^-3")
    assert a["mean_pore_chord"]["unit"] == "voxel"
    assert np.allclose(um.curves["s2"]["r"], vox.curves["s2"]["r"] * 2.5)
    assert np.allclose(um.curves["s2"]["samples"], vox.curves["s2"]["samples"])
    summary = (tmp_path / "r" / "summary.md").read_text()
    assert summary.startswith("# Comparison: gen.h5 (3 samples) against reference rock.tif")
    assert "voxel 2.5 um" in summary and "- rock.tif: binary" in summary
    with pytest.raises(ValueError, match="voxel_size must be finite and > 0"):
        pm.compare(ref, samples, voxel_size=0.0)


@pytest.mark.slow
def test_permeability_in_compare_and_stats(tmp_path, capsys):
    """`--permeability`: k per axis (mean ± std over the samples), equal to
    media.permeability's, in voxel^2 or in mD with --voxel-size; a plot; axis 2 of a 2-D
    image refused in one line."""
    rng = np.random.default_rng(5)
    ref = pm.overlapping_spheres((16, 16, 16), 0.45, 2.5, seed=1)
    samples = np.stack([rng.random((16, 16, 16)) < 0.75 for _ in range(2)])
    result = pm.compare(ref, samples, out_dir=tmp_path / "r", transport=False,
                        permeability_axes=(0, 2))
    rows = {r["statistic"]: r for r in result.table}
    assert "permeability_y" not in rows and rows["permeability_x"]["unit"] == "voxel^2"
    for a, c in ((0, "x"), (2, "z")):
        ks = [pm.permeability(s, axis=a).k_voxel2 for s in samples]
        assert rows[f"permeability_{c}"]["reference"] == pytest.approx(
            pm.permeability(ref, axis=a).k_voxel2)
        assert rows[f"permeability_{c}"]["mean"] == pytest.approx(np.mean(ks))
        assert rows[f"permeability_{c}"]["std"] == pytest.approx(np.std(ks, ddof=1))
    assert (tmp_path / "r" / "permeability.png").is_file()
    pm.write_volume(tmp_path / "s.h5", samples)
    assert main(["stats", str(tmp_path / "s.h5"), "--permeability", "1", "--voxel-size", "2",
                 "--json", "--no-progress"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["units"]["permeability_y"] == "mD"
    assert [s["permeability_y"] for s in stats["samples"]] == pytest.approx(
        [pm.permeability(s, axis=1, voxel_size=2.0).k_mD for s in samples])
    pm.write_volume(tmp_path / "flat.h5", samples[0, :, :, 0])
    assert main(["stats", str(tmp_path / "flat.h5"), "--permeability", "2"]) == 2
    assert "--permeability axis must be in [0, 1] for 2-D images" in capsys.readouterr().err
