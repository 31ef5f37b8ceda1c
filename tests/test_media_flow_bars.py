"""The flow bars (issue 26): isolated pore fraction, flow statistics and their rows in the
comparison that `porevae judge --flow` prints."""

from __future__ import annotations

import numpy as np
import pytest

import porevae.media as pm
from porevae.media.bars import FLOW_BARS, judge
from porevae.media.report import flow_statistics


def _labelled_reference(img, connectivity):
    """Brute force: flood-fill from every face voxel, the rest of the pore is isolated."""
    import scipy.ndimage

    structure = scipy.ndimage.generate_binary_structure(img.ndim, 1 if connectivity == 6
                                                        else img.ndim)
    seeds = np.zeros_like(img)
    for a in range(img.ndim):
        for end in (0, -1):
            idx = [slice(None)] * img.ndim
            idx[a] = end
            seeds[tuple(idx)] = img[tuple(idx)]
    reached = scipy.ndimage.binary_propagation(seeds, structure=structure, mask=img)
    return np.count_nonzero(img & ~reached) / np.count_nonzero(img)


def test_isolated_fraction_counts_the_pore_that_reaches_no_face(rng):
    img = np.zeros((12, 10, 9), bool)
    img[4:6, 4:6, 4:6] = True           # 8 voxels inside: isolated
    img[:, 0, 0] = True                 # 12 voxels along an edge: reach a face
    img[6, 6, 6] = True                 # touches the cube above by a corner only
    assert pm.isolated_fraction(img) == pytest.approx(9 / 21)
    assert pm.isolated_fraction(img, connectivity=26) == pytest.approx(9 / 21)
    img[5, 5, 6] = True                 # now face-connected to the cube
    assert pm.isolated_fraction(img) == pytest.approx(10 / 22)
    assert pm.isolated_fraction(np.zeros((5, 5, 5), bool)) == 0.0
    for connectivity in (6, 26):        # random media against a flood fill from the faces
        vol = rng.random((20, 18, 16)) < 0.3
        assert pm.isolated_fraction(vol, connectivity=connectivity) == pytest.approx(
            _labelled_reference(vol, connectivity), abs=1e-15)


def test_flow_statistics_of_a_channel():
    img = np.zeros((24, 12, 12), bool)
    img[:, 4:8, 4:8] = True             # a square duct along axis 0 (x of the report)
    img[10:12, 1:2, 1:2] = True         # an isolated pocket of 2 voxels
    values, notes = flow_statistics(img, tortuosity=False)
    assert values["permeability_x"] > 0
    assert values["permeability_y"] == 0 and values["permeability_z"] == 0
    assert values["isolated_fraction"] == pytest.approx(2 / (24 * 16 + 2))
    assert any("permeability_y: not percolating" in n for n in notes)
    assert "tortuosity_factor" not in values


def test_flow_bars_judge_relative_and_absolute():
    row = judge("permeability_x", [1.1, 1.3], [1.0, 1.2])
    assert row["kind"] == "rel" and row["bar"] == 0.15
    assert row["diff"] == pytest.approx(0.2 / 2.2)
    assert judge("isolated_fraction", [0.03], [0.01, 0.02])["diff"] == pytest.approx(0.015)
    assert set(FLOW_BARS) == {"permeability_x", "permeability_y", "permeability_z",
                              "tortuosity_factor", "isolated_fraction"}


def test_comparison_with_flow_rows(rng):
    from porevae.vae.demo import berea_comparison

    medium = pm.overlapping_spheres((40, 40, 40), radius=3, porosity=0.35, seed=1)
    samples = [pm.overlapping_spheres((20, 20, 20), radius=3, porosity=0.35, seed=s)
               for s in (2, 3)]
    res = berea_comparison(samples, real=medium, n_real=2, seed=0, reference="spheres",
                           flow=True)
    names = [t["statistic"] for t in res["table"]]
    assert {"permeability_x", "permeability_y", "permeability_z",
            "isolated_fraction"} <= set(names)
    assert all(np.isfinite(t["diff"]) for t in res["table"])
    assert "| permeability_x |" in res["markdown"]
    plain = berea_comparison(samples, real=medium, n_real=2, seed=0, reference="spheres")
    assert not set(FLOW_BARS) & {t["statistic"] for t in plain["table"]}


def test_judge_flow_flag_adds_the_flow_rows(capsys):
    from porevae.cli import main

    argv = ["judge", "--model", "berea", "--size", "24", "-n", "2", "--crops", "2"]
    assert main(argv) == 0
    plain = capsys.readouterr().out
    assert main([*argv, "--flow"]) == 0
    flow = capsys.readouterr().out
    assert "Stokes solves" in flow
    for name in ("permeability_x", "permeability_y", "permeability_z", "isolated_fraction"):
        assert f"| {name} |" in flow and f"| {name} |" not in plain
    assert "| porosity |" in plain and "| porosity |" in flow


def test_judge_flow_cache_resumes_and_verifies(tmp_path, capsys, monkeypatch):
    import json

    import porevae.media.report as report
    from porevae.cli import main

    solved = []
    solve = report.flow_statistics
    monkeypatch.setattr(report, "flow_statistics",
                        lambda v, **kw: solved.append(v.shape) or solve(v, **kw))
    cache = tmp_path / "flow"
    argv = ["judge", "--model", "berea", "--size", "24", "-n", "2", "--crops", "2", "--flow",
            "--no-progress", "--cache", str(cache)]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert len(solved) == 4 and len(list(cache.glob("*.json"))) == 4
    assert "flow figures of 0 of 4 volumes read" in first
    assert main(argv) == 0                      # a re-run solves nothing, prints the same table
    again = capsys.readouterr().out
    assert len(solved) == 4 and "flow figures of 4 of 4 volumes read" in again
    assert again.splitlines()[:-1] == first.splitlines()[:-1]
    entries = sorted(cache.glob("*.json"))
    entries[0].write_text(entries[0].read_text()[:-9])        # truncated: solved again
    tampered = json.loads(entries[1].read_text())
    tampered["values"]["permeability_x"] += 1.0                # checksum no longer matches
    entries[1].write_text(json.dumps(tampered))
    assert main(argv) == 0
    mended = capsys.readouterr().out
    assert len(solved) == 6 and "flow figures of 2 of 4 volumes read" in mended
    assert mended.splitlines()[:-1] == first.splitlines()[:-1]
    assert main([*argv[:9], "--cache", str(cache)]) == 2      # without --flow
    err = capsys.readouterr().err.strip()
    assert "--flow" in err and len(err.splitlines()) == 1
