"""compare() and the `porevae stats` / `porevae compare` commands, end to end on small cases."""

from __future__ import annotations

import json

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
