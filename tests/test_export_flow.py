"""A real simulator: porevae fields in a 2D waterflood deck (tests/data/waterflood) and in a
faulted corner-point deck (tests/data/cornerpoint), run by OPM Flow; the summary and INIT files
are read with resfo. Skipped where the `flow` executable is absent."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import resfo

import porevae as pv
from porevae.export import write_grdecl
from porevae.export.transforms import Transform

DECK = Path(__file__).parent / "data" / "waterflood" / "WATERFLOOD.DATA"
CP_DECK = Path(__file__).parent / "data" / "cornerpoint" / "CORNERPOINT.DATA"
FLOW = shutil.which("flow")
pytestmark = pytest.mark.skipif(
    FLOW is None, reason="OPM Flow ('flow') is not installed: apt-get install "
                         "libopm-simulators-bin (as .ci/run does) to run this test")
WCT_BREAKTHROUGH = 0.05   # producer water cut that counts as breakthrough


def summary(case: Path) -> dict:
    """``{(keyword, well): array over time}`` from CASE.SMSPEC / CASE.UNSMRY (unified)."""
    spec = {name.strip(): np.asarray(v) for name, v in resfo.read(case.with_suffix(".SMSPEC"))}

    def text(a):
        return [s.decode().strip() if isinstance(s, bytes) else str(s).strip() for s in a]

    keys = list(zip(text(spec["KEYWORDS"]), text(spec["WGNAMES"] if "WGNAMES" in spec
                                                else spec["NAMES"])))
    rows = np.array([np.asarray(v) for name, v in resfo.read(case.with_suffix(".UNSMRY"))
                     if name.strip() == "PARAMS"], dtype=np.float64)
    return {key: rows[:, col] for col, key in enumerate(keys)}


def breakthrough_days(smry: dict) -> float:
    """First time [days] the producer's water cut reaches WCT_BREAKTHROUGH (interpolated)."""
    t, wct = smry[("TIME", ":+:+:+:+")], smry[("WWCT", "PROD")]
    k = int(np.argmax(wct >= WCT_BREAKTHROUGH))
    assert wct[k] >= WCT_BREAKTHROUGH, "no water breakthrough within the schedule"
    return float(np.interp(WCT_BREAKTHROUGH, wct[k - 1:k + 1], t[k - 1:k + 1]))


def run_flow(folder: Path, fields: dict, grid) -> dict:
    folder.mkdir()
    shutil.copy(DECK, folder)
    write_grdecl(folder / "FIELD.GRDECL", fields, grid, grid_section="dxdytops", top=1000.0,
                 thickness=5.0, header={"test": folder.name})
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([FLOW, "WATERFLOOD.DATA", "--output-dir=out"], cwd=folder, env=env,
                          check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    prt = (folder / "out" / "WATERFLOOD.PRT").read_text(errors="replace")
    errors = re.search(r"^\s*Errors\s+(\d+)", prt, re.MULTILINE)
    assert errors is None or errors.group(1) == "0", prt[-3000:]
    return summary(folder / "out" / "WATERFLOOD")


def test_two_realizations_give_different_breakthrough_times(tmp_path):
    grid = pv.Grid((20, 20), spacing=(10.0, 10.0))
    kle = pv.KLE(grid, pv.SquaredExponential(100.0), n_terms=40)
    tr = Transform(perm="geometric", perm_mean=100.0, perm_std=1.5, ky_kx=1.0, kv_kh=0.1)
    times = []
    for r in (0, 1):
        fields = tr.apply_kle(kle.sample(1, seed=2024, start=r)[0], kle)
        fields["PORO"] = np.full(grid.shape, 0.2)
        smry = run_flow(tmp_path / f"real-{r}", fields, grid)
        assert smry[("TIME", ":+:+:+:+")][-1] == pytest.approx(400.0)   # ran to the end
        assert smry[("FWIR", ":+:+:+:+")].max() == pytest.approx(100.0, rel=1e-3)
        times.append(breakthrough_days(smry))
    assert all(0 < t < 400 for t in times)
    # heterogeneity moves breakthrough (about 126 vs 63 days here; report steps are 10 days)
    assert abs(times[0] - times[1]) > 0.1 * max(times), times


def test_cli_ensemble_runs_in_flow(tmp_path):
    """kle -> ensemble (GRDECL with geometry in metres, PERMX/PERMY/PERMZ/PORO) -> OPM Flow."""
    from porevae.cli import main
    from porevae.export.ensemble import folder_name, read_manifest

    kle = tmp_path / "kle.h5"
    assert main(["kle", "--shape", "20", "20", "--spacing", "10", "10", "--cov",
                 "squared-exponential", "--length-scale", "100", "--n-terms", "40", "--out",
                 str(kle), "--no-progress"]) == 0
    ens = tmp_path / "ens"
    assert main(["ensemble", "--kle", str(kle), "-n", "2", "--seed", "2024", "--out", str(ens),
                 "--perm-mean", "100", "--perm-std", "1.5", "--kv-kh", "0.1", "--poro",
                 "power-law", "--poro-a", "0.1", "--poro-b", "0.15", "--grid-section",
                 "dxdytops", "--cell-size", "10", "10", "5", "--top", "1000",
                 "--no-progress"]) == 0
    manifest = read_manifest(ens)
    times = []
    for r in (0, 1):
        folder = ens / folder_name(r)
        names = sorted(manifest["realizations"][str(r)], key=lambda n: n != "PERMX.GRDECL")
        assert set(names) == {"PERMX.GRDECL", "PERMY.GRDECL", "PERMZ.GRDECL", "PORO.GRDECL"}
        deck = DECK.read_text().replace("INCLUDE\n'FIELD.GRDECL' /", "\n".join(
            f"INCLUDE\n'{name}' /\n" for name in names))
        (folder / DECK.name).write_text(deck)
        env = dict(os.environ, OMP_NUM_THREADS="1")
        proc = subprocess.run([FLOW, DECK.name, "--output-dir=out"], cwd=folder, env=env,
                              check=False, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        smry = summary(folder / "out" / "WATERFLOOD")
        assert smry[("TIME", ":+:+:+:+")][-1] == pytest.approx(400.0)
        times.append(breakthrough_days(smry))
    assert all(0 < t < 400 for t in times) and times[0] != times[1]


def test_corner_point_deck_runs_with_a_volume_weighted_kle_field(tmp_path):
    """GRID.GRDECL -> CornerPointGrid -> KLE on its active cells (volume weights: 4, 6 and 5 m
    layers) -> ROCK.GRDECL over all cells by write_grdecl -> OPM Flow; its INIT file (active
    cells only) holds porevae's PERMX and PORO cell for cell, and its EGRID the fault's
    non-neighbour connections."""
    pytest.importorskip("resdata")
    folder = tmp_path / "run"
    folder.mkdir()
    for name in ("CORNERPOINT.DATA", "GRID.GRDECL"):
        shutil.copy(CP_DECK.parent / name, folder)
    g = pv.CornerPointGrid.from_file(folder / "GRID.GRDECL")
    assert g.shape == (10, 10, 3) and g.n_cells == 299
    kle = pv.KLE(g, pv.Exponential((150.0, 120.0, 6.0)), n_terms=60, weights="volume")
    assert kle.solver == "dense" and kle.weighting == "volume"
    tr = Transform(perm="geometric", perm_mean=100.0, perm_std=1.0, ky_kx=1.0, kv_kh=0.1,
                   poro="power-law", poro_params={"a": 0.1, "b": 0.15})
    fields = tr.apply_kle(kle.sample(1, seed=7)[0], kle)
    assert set(fields) == {"PERMX", "PERMY", "PERMZ", "PORO"}
    write_grdecl(folder / "ROCK.GRDECL", fields, g, header={"test": "corner-point"})
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([FLOW, "CORNERPOINT.DATA", "--output-dir=out"], cwd=folder, env=env,
                          check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = folder / "out"
    prt = (out / "CORNERPOINT.PRT").read_text(errors="replace")
    errors = re.search(r"^\s*Errors\s+(\d+)", prt, re.MULTILINE)
    assert errors is None or errors.group(1) == "0", prt[-3000:]
    smry = summary(out / "CORNERPOINT")
    assert smry[("TIME", ":+:+:+:+")][-1] == pytest.approx(200.0)
    assert smry[("FWIR", ":+:+:+:+")].max() == pytest.approx(150.0, rel=1e-3)
    init = {name.strip(): np.asarray(v) for name, v in resfo.read(out / "CORNERPOINT.INIT")}
    for key in ("PERMX", "PERMZ", "PORO"):
        assert init[key].shape == (g.n_cells,)
        np.testing.assert_allclose(init[key], fields[key].astype(np.float32), rtol=2e-7)
    egrid = {name.strip(): np.asarray(v) for name, v in resfo.read(out / "CORNERPOINT.EGRID")}
    assert egrid["NNC1"].size > 0     # the fault throw connects cells of different layers
