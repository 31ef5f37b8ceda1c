"""Volume-weighted KLE (Nystrom with quadrature weights) on point sets: the eigenpairs against
the float64 generalized eigenproblem, the point of it (a half-refined grid keeps the coarse grid's
spectrum), and sampling / projection / energy / conditioning / save-load with weights."""

import h5py
import numpy as np
import pytest
import scipy.linalg
import torch

import porevae as pv
from porevae._files import FileIntegrityError
from porevae.cornerpoint import CornerPointGrid


def point_grid(centers, volumes) -> CornerPointGrid:
    """A corner-point grid of ``n`` active cells in one row (its KLE needs only the centres and
    bulk volumes; no geometry file)."""
    n = len(volumes)
    return CornerPointGrid((n, 1, 1), np.ones((n, 1, 1), bool), centers, volumes)


def row_grid(edges) -> CornerPointGrid:
    """Cells ``[edges[i], edges[i+1]]`` along x (1-D), unit cross-section."""
    c = 0.5 * (edges[1:] + edges[:-1])
    return point_grid(np.stack([c, np.zeros_like(c), np.zeros_like(c)], axis=1), np.diff(edges))


def random_grid(rng, n=70):
    return point_grid(rng.uniform(0.0, 100.0, (n, 3)), rng.uniform(0.2, 5.0, n))


@pytest.mark.parametrize("solver", ["dense", "matfree"])
def test_weighted_eigenpairs_solve_the_generalized_problem(rng, solver):
    g = random_grid(rng)
    model = pv.Exponential((40.0, 30.0, 20.0), variance=1.7)
    pts = g.cell_centers()
    c = model(pts[:, None] - pts[None])
    w = g.volumes / g.volumes.mean()
    # C W phi = lambda phi  <=>  (W C W) phi = lambda W phi, phi^T W phi = I
    ref_w, ref_v = scipy.linalg.eigh(w[:, None] * c * w[None, :], np.diag(w))
    ref_w, ref_v = ref_w[::-1][:12], ref_v[:, ::-1][:, :12]
    kle = pv.KLE(g, model, n_terms=12, weights="volume", solver=solver)
    assert kle.solver == solver and kle.weighting == "volume"
    np.testing.assert_allclose(kle.weights, w, rtol=1e-15)
    np.testing.assert_allclose(kle.eigenvalues, ref_w, rtol=1e-10)
    phi = kle.eigenvectors
    signs = np.sign(np.sum(phi * ref_v * w[:, None], axis=0))
    np.testing.assert_allclose(phi, ref_v * signs, atol=1e-8)
    np.testing.assert_allclose(phi.T @ (w[:, None] * phi), np.eye(12), atol=1e-10)
    # explicit weights: any scale, the same expansion
    again = pv.KLE(g, model, n_terms=12, weights=7.0 * g.volumes, solver=solver)
    np.testing.assert_allclose(again.eigenvalues, kle.eigenvalues, rtol=1e-12)
    assert again.weighting == "given"


def test_half_refined_grid_keeps_the_coarse_spectrum_only_with_weights():
    """[0, 1] in 20 equal cells, against the same interval with its left half cut 4 times finer
    (50 cells): the continuum eigenvalues are ``lambda_k |D| / n``. Unweighted collocation counts
    the refined half 4 times over and its leading eigenvalues move by 10-21 %; the volume
    weights keep them within 1.3 % of the coarse grid's (measured 0.2, 0.4, 0.7, 1.2 %)."""
    model = pv.Exponential(0.3)
    coarse = row_grid(np.linspace(0.0, 1.0, 21))
    refined = row_grid(np.r_[np.linspace(0.0, 0.5, 41), np.linspace(0.5, 1.0, 11)[1:]])
    assert refined.n_cells == 50
    m = 4

    def scaled(grid, weights=None):
        return pv.KLE(grid, model, n_terms=m, weights=weights).eigenvalues / grid.n_cells

    ref = scaled(coarse)
    err_weighted = np.abs(scaled(refined, "volume") / ref - 1)
    err_plain = np.abs(scaled(refined) / ref - 1)
    assert err_weighted.max() < 0.015, err_weighted
    assert err_plain.min() > 0.08, err_plain
    assert np.all(err_plain > 8 * err_weighted), (err_plain, err_weighted)


def test_weighted_sampling_projection_energy_conditioning_and_files(tmp_path, rng):
    g = random_grid(rng, 50)
    model = pv.SquaredExponential(35.0, variance=0.8)
    full = pv.KLE(g, model, n_terms=g.n_cells, weights="volume", mean=2.0)
    pts = g.cell_centers()
    c = model(pts[:, None] - pts[None])
    phi = full.eigenvectors
    # every term kept: Phi Lambda Phi^T is C itself, and the trace of W^1/2 C W^1/2 is n sigma^2
    np.testing.assert_allclose((phi * full.eigenvalues) @ phi.T, c, atol=1e-10)
    assert full.trace == pytest.approx(g.n_cells * 0.8) and full.energy == pytest.approx(1.0)
    y = full.sample(4, seed=5)
    np.testing.assert_allclose(full.field(full.project(y)), y, atol=1e-9)
    # truncated: project is the W-inner-product inverse of field, numpy and torch alike
    kle = pv.KLE(g, model, energy=0.95, weights="volume", mean=2.0)
    assert kle.n_terms < g.n_cells and kle.energy >= 0.95
    xi = rng.normal(size=(3, kle.n_terms))
    np.testing.assert_allclose(kle.project(kle.field(xi)), xi, atol=1e-9)
    t = torch.tensor(kle.field(xi), requires_grad=True)
    np.testing.assert_allclose(kle.project(t).detach().numpy(), xi, atol=1e-9)
    # conditioning on noise-free data honours it
    post = kle.condition(None, [2.5, 1.0], cells=[[0, 0, 0], [7, 0, 0]])
    np.testing.assert_allclose(post.sample(3, seed=2)[:, [0, 7]], [[2.5, 1.0]] * 3, atol=1e-8)
    assert post.std()[[0, 7]].max() < 1e-6
    # files keep the weights under the checksum
    path = tmp_path / "kle.h5"
    kle.save(path)
    back = pv.KLE.load(path)
    assert back.params() == kle.params() and back.params()["weights"] == "volume"
    np.testing.assert_array_equal(back.weights, kle.weights)
    np.testing.assert_array_equal(back.project(y), kle.project(y))
    with h5py.File(path, "r+") as f:
        f["weights"][0] *= 1.5
    with pytest.raises(FileIntegrityError, match="checksum mismatch"):
        pv.KLE.load(path)


def test_weights_on_regular_grids_and_their_refusals(rng):
    grid = pv.Grid((6, 5), spacing=(0.1, 0.1))
    model = pv.SquaredExponential(0.3)           # separable: auto would pick kron
    plain = pv.KLE(grid, model, n_terms=8)
    assert plain.solver == "kron"
    same = pv.KLE(grid, model, n_terms=8, weights="volume")   # equal cells: unweighted
    assert same.weights is None and same.solver == "kron"
    np.testing.assert_allclose(same.eigenvalues, plain.eigenvalues, rtol=1e-12)
    w = rng.uniform(0.5, 2.0, grid.n_cells)
    weighted = pv.KLE(grid, model, n_terms=8, weights=w)
    assert weighted.solver == "dense"
    ref = scipy.linalg.eigh(np.diag(np.sqrt(w)) @ pv.ops.covariance_matrix(grid, model)
                            @ np.diag(np.sqrt(w)) * grid.n_cells / w.sum(),
                            eigvals_only=True)[::-1][:8]
    np.testing.assert_allclose(weighted.eigenvalues, ref, rtol=1e-10)
    for name in ("parity", "kron", "fft"):
        with pytest.raises(ValueError, match=f"solver='{name}' assumes the equal cells"):
            pv.KLE(grid, model, n_terms=8, weights=w, solver=name)
    with pytest.raises(ValueError, match=r"weights must have shape \(30,\)"):
        pv.KLE(grid, model, n_terms=8, weights=w[:-1])
    with pytest.raises(ValueError, match="weights must be finite and > 0"):
        pv.KLE(grid, model, n_terms=8, weights=np.r_[w[:-1], -1.0])
    with pytest.raises(ValueError, match="weights must be None, 'volume'"):
        pv.KLE(grid, model, n_terms=8, weights="area")
    table = pv.energy_table(grid, model, [0.9], weights=w)
    assert table[0.9] == pv.KLE(grid, model, energy=0.9, weights=w).n_terms
