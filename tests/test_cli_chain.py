"""One command line that chains: each command's output is the next one's input
(kle -> sample -> stats / compare), stats on stacks with valid JSON and physical units, and an
interrupted `ensemble --jobs 2` that leaves no worker processes behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import porevae.media as pm
from porevae.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def kle_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("kle") / "k.h5"
    assert main(["kle", "--shape", "24", "20", "--cov", "squared-exponential",
                 "--length-scale", "0.15", "--energy", "0.95", "--out", str(path),
                 "--no-progress"]) == 0
    return path


@pytest.mark.parametrize("suffix", [".h5", ".npy", ".tif", ".raw"])
def test_kle_sample_stats_round_trip(kle_file, tmp_path, capsys, suffix):
    fields = tmp_path / f"fields{suffix}"
    assert main(["sample", "--kle", str(kle_file), "-n", "3", "--seed", "1", "--out",
                 str(fields), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["stats", str(fields), "--threshold", "0", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["n"] == 3 and stats["shape"] == [24, 20] and len(stats["samples"]) == 3
    y = pm.io.read_stack(fields)
    assert y.shape == (3, 24, 20)          # every format records the stack
    phis = [float(np.mean(f <= 0)) for f in y]
    assert [s["porosity"] for s in stats["samples"]] == pytest.approx(phis)
    assert stats["mean"]["porosity"] == pytest.approx(np.mean(phis))
    assert main(["compare", str(fields), str(fields), "--threshold", "0", "--out",
                 str(tmp_path / "cmp")]) == 2
    assert "holds 3 images; give one" in capsys.readouterr().err
    ref = tmp_path / f"ref{suffix}"
    assert main(["sample", "--kle", str(kle_file), "-n", "1", "--seed", "9", "--out", str(ref),
                 "--no-progress"]) == 0
    assert main(["compare", str(ref), str(fields), "--threshold", "0", "--out",
                 str(tmp_path / "cmp")]) == 0
    assert "wrote" in capsys.readouterr().out
    report = json.loads((tmp_path / "cmp" / "statistics.json").read_text())
    assert len(report["samples"]) == 3


def test_stats_json_is_valid_on_an_all_solid_volume(tmp_path, capsys):
    pm.write_volume(tmp_path / "solid.h5", np.zeros((8, 8, 8), bool))
    assert main(["stats", str(tmp_path / "solid.h5"), "--json"]) == 0
    text = capsys.readouterr().out
    assert "Infinity" not in text and "NaN" not in text
    stats = json.loads(text)
    assert stats["porosity"] == 0.0 and stats["mean_pore_chord"] is None
    assert any("mean_pore_chord" in note and "null" in note for note in stats["notes"])
    assert main(["stats", str(tmp_path / "solid.h5"), "--threshold", "nan"]) == 2
    assert "--threshold: must be 'otsu' or a finite number" in capsys.readouterr().err


def test_stats_voxel_size_gives_physical_units(tmp_path, capsys):
    img = pm.overlapping_spheres((24, 24, 24), 0.5, 3.0, seed=0)
    pm.write_volume(tmp_path / "m.tif", img)
    assert main(["stats", str(tmp_path / "m.tif"), "--json"]) == 0
    vox = json.loads(capsys.readouterr().out)
    assert main(["stats", str(tmp_path / "m.tif"), "--json", "--voxel-size", "2.5"]) == 0
    um = json.loads(capsys.readouterr().out)
    assert um["units"]["specific_surface"] == "um^-1" and um["units"]["mean_pore_chord"] == "um"
    assert um["porosity"] == vox["porosity"]
    assert um["specific_surface"] == pytest.approx(vox["specific_surface"] / 2.5)
    assert um["mean_pore_chord"] == pytest.approx(vox["mean_pore_chord"] * 2.5)
    assert um["euler_density"] == pytest.approx(vox["euler_density"] / 2.5**3)
    assert main(["stats", str(tmp_path / "m.tif"), "--voxel-size", "-1"]) == 2
    capsys.readouterr()


def _children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_killed_ensemble_leaves_no_workers(kle_file, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "porevae.cli", "ensemble", "--kle",
                             str(kle_file), "-n", "100000", "--seed", "0", "--out",
                             str(tmp_path / "ens"), "--jobs", "2", "--chunk", "2",
                             "--no-progress"], env=env, stderr=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
        assert proc.poll() is None, "ensemble ended before it was killed"
        time.sleep(0.1)
    time.sleep(1.0)   # killed while the workers start up or work: either way they must end
    workers = _children(proc.pid)
    assert len(workers) >= 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [w for w in workers if _alive(w)]


@pytest.mark.parametrize("suffix", [".h5", ".tif", ".npy", ".raw"])
@pytest.mark.parametrize("shape", [(3, 12, 10), (2, 8, 7, 6)], ids=["2-D images", "3-D images"])
def test_stats_reads_a_stack_as_its_images(tmp_path, capsys, rng, suffix, shape):
    """A stack written with stack=True is read by stats as n images of its shape, in every
    format, in the table and in JSON (the README's `generate -n 4 --shape 96 64` case)."""
    stack = rng.random(shape) < 0.4
    path = tmp_path / f"s{suffix}"
    pm.write_volume(path, stack, stack=True)
    assert main(["stats", str(path)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"{path}: {shape[0]} images of shape {shape[1:]}"), first
    assert main(["stats", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == shape[0] and result["shape"] == list(shape[1:])
    phis = [s["porosity"] for s in result["samples"]]
    assert phis == pytest.approx([float(np.mean(img)) for img in stack])


def test_compare_threshold_never_inverts_binary_samples(tmp_path, capsys, rng):
    """`compare field.h5 samples.h5 --threshold 0`: the Gaussian reference is cut at 0, the
    already-binary samples are read as they are (pore = 1), not re-thresholded (which made
    their porosity 1 - phi)."""
    field = rng.standard_normal((24, 24, 24))
    pm.write_volume(tmp_path / "field.h5", field)
    samples = rng.random((2, 24, 24, 24)) < 0.2
    pm.write_volume(tmp_path / "samples.h5", samples)
    assert main(["compare", str(tmp_path / "field.h5"), str(tmp_path / "samples.h5"),
                 "--threshold", "0", "--out", str(tmp_path / "cmp"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "cut at the threshold 0" in out and "samples.h5: binary (0 and 1), pore = 1" in out
    report = json.loads((tmp_path / "cmp" / "statistics.json").read_text())
    rows = {r["statistic"]: r for r in report["table"]}
    assert rows["porosity"]["reference"] == pytest.approx(np.mean(field <= 0))
    assert rows["porosity"]["mean"] == pytest.approx(np.mean(samples))
    assert "notes" in report and len(report["notes"]) == 2


def test_pore_value_for_micro_ct_conventions(tmp_path, capsys, rng):
    """0/255 files must say which value is pore; --pore-value 0 counts the zeros; a value that
    does not occur is refused; grey levels are cut at Otsu's threshold, stated."""
    pore = rng.random((16, 16, 16)) < 0.3
    pm.write_volume(tmp_path / "ct.tif", np.where(pore, 0, 255).astype(np.uint8))
    assert main(["stats", str(tmp_path / "ct.tif")]) == 2
    err = capsys.readouterr().err
    assert "holds the values 0 and 255: say which is pore with --pore-value 0 or 255" in err
    assert main(["stats", str(tmp_path / "ct.tif"), "--pore-value", "0", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["porosity"] == pytest.approx(pore.mean())
    assert "pore = 0" in result["segmentation"]
    assert main(["stats", str(tmp_path / "ct.tif"), "--pore-value", "1"]) == 2
    assert "pore_value 1 does not occur" in capsys.readouterr().err
    grey = np.where(pore, 40.0, 200.0) + rng.normal(0, 10, pore.shape)
    pm.write_volume(tmp_path / "grey.h5", grey)
    assert main(["stats", str(tmp_path / "grey.h5"), "--pore-value", "dark"]) == 0
    out = capsys.readouterr().out
    assert f"cut at Otsu's threshold {pm.otsu_threshold(grey):.6g}" in out
    # compare: the reference's convention and the samples' are given apart
    pm.write_volume(tmp_path / "gen.h5", pore[None])
    assert main(["compare", str(tmp_path / "ct.tif"), str(tmp_path / "gen.h5"), "--pore-value",
                 "0", "--out", str(tmp_path / "cmp"), "--no-progress"]) == 0
    capsys.readouterr()
    rows = {r["statistic"]: r for r in
            json.loads((tmp_path / "cmp" / "statistics.json").read_text())["table"]}
    assert rows["porosity"]["reference"] == pytest.approx(pore.mean())
    assert rows["porosity"]["mean"] == pytest.approx(pore.mean())
