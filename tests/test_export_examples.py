"""Smoke test of examples/mcmc_darcy.py (tiny) and a check of the ERT example files."""

import importlib.util
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).parents[1] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_darcy_solver_matches_the_homogeneous_solution():
    import porevae as pv

    ex = load("mcmc_darcy")
    grid = pv.Grid((8, 6))
    p = grid.unflatten(ex.Darcy(grid).pressure(np.full(grid.n_cells, 2.0)))
    # rate 1/6 per row, K = 2: drop q hx / (K hy) = 1/16 per cell, half of it to the p = 0 edge
    np.testing.assert_allclose(p, np.repeat(((7.5 - np.arange(8)) / 16)[:, None], 6, axis=1))


def test_mcmc_darcy_runs_tiny(tmp_path, capsys):
    ex = load("mcmc_darcy")
    out = tmp_path / "post.png"
    r = ex.main(["--n", "10", "--terms", "6", "--iters", "300", "--burn", "100",
                 "--out", str(out)])
    assert out.stat().st_size > 1000
    assert 0 < r["acceptance"] <= 1 and r["misfit_end"] < r["misfit_start"]
    assert r["mean"].shape == (10, 10) and np.all(np.isfinite(r["std"]))
    assert "acceptance" in capsys.readouterr().out


def test_ert_example_config_names_the_step():
    config = (EXAMPLES / "ert" / "kle_field.ert").read_text()
    step = (EXAMPLES / "ert" / "PERMX_FIELD").read_text()
    assert "GEN_KW KLE" in config and "FORWARD_MODEL PERMX_FIELD" in config
    assert "porevae" in step and "field" in step
