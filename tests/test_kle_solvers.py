"""Every KLE solver against dense float64 LAPACK on fresh random grids and models."""

import numpy as np
import pytest
import scipy.linalg
import torch
from eigtools import dense_reference, subspace_angle

import porevae as pv
from porevae.kle.solvers import SOLVERS, choose, make_solver


def random_grid(rng, ndim, odd):
    sizes = {1: (15, 40), 2: (5, 14), 3: (3, 7)}[ndim]
    shape = []
    for _ in range(ndim):
        n = int(rng.integers(*sizes))
        if odd is not None:
            n += (n % 2 == 0) if odd else (n % 2 == 1)
        shape.append(n)
    spacing = tuple(rng.uniform(0.5, 2.0, ndim) / np.array(shape))
    return pv.Grid(tuple(shape), spacing=spacing)


def check_against_dense(grid, model, solver, k, rng, vectors=True):
    c, w_ref, v_ref = dense_reference(grid, model)
    s = make_solver(solver, grid, model)
    if vectors:
        w, v = s.eigenpairs(k)
        assert w.shape == (k,) and v.shape == (grid.n_cells, k)
        np.testing.assert_allclose(w, w_ref[:k], rtol=1e-10, atol=1e-12 * w_ref[0])
        np.testing.assert_allclose(v.T @ v, np.eye(k), atol=1e-10)
        assert subspace_angle(v, v_ref, w_ref, k) < 1
        # each column is an eigenvector of C (residual relative to the largest eigenvalue)
        assert np.max(np.abs(c @ v - v * w)) < 1e-10 * w_ref[0]
    else:
        w = s.eigenvalues(k)
        np.testing.assert_allclose(w, w_ref[:k], rtol=1e-10, atol=1e-12 * w_ref[0])


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("odd", [True, False])
def test_parity_matches_dense_anisotropic(ndim, odd):
    rng = np.random.default_rng()
    grid = random_grid(rng, ndim, odd)
    ls = tuple(rng.uniform(0.1, 0.6, ndim))
    model = rng.choice([pv.Exponential(ls, variance=rng.uniform(0.5, 3)),
                        pv.Matern(1.5, ls), pv.SquaredExponential(ls, metric="l1")])
    k = int(rng.integers(1, grid.n_cells + 1))
    check_against_dense(grid, model, "parity", k, rng)
    check_against_dense(grid, model, "parity", grid.n_cells, rng, vectors=False)


@pytest.mark.parametrize("n", [9, 10])
@pytest.mark.parametrize("ndim", [2, 3])
def test_parity_swap_symmetry_matches_dense(n, ndim):
    """Square grids with an isotropic model use the x <-> y swap and degenerate pairs."""
    rng = np.random.default_rng()
    shape = (n, n) if ndim == 2 else (n - 4, n - 4, int(rng.integers(2, 5)))
    grid = pv.Grid(shape)
    model = pv.Exponential(float(rng.uniform(0.1, 0.5)))
    solver = make_solver("parity", grid, model)
    assert solver.use_swap
    assert sum(s.size * s.multiplicity for s in solver.sectors) == grid.n_cells
    for k in (1, 7, grid.n_cells // 2, grid.n_cells):
        check_against_dense(grid, model, "parity", k, rng)


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("odd", [True, False])
def test_kron_matches_dense_anisotropic(ndim, odd):
    rng = np.random.default_rng()
    grid = random_grid(rng, ndim, odd)
    ls = tuple(rng.uniform(0.1, 0.6, ndim))
    for model in (pv.SquaredExponential(ls, variance=rng.uniform(0.5, 2)),
                  pv.Exponential(ls, metric="l1")):
        assert model.separable
        # squared-exponential spectra decay to round-off: compare the well-resolved head
        k = min(grid.n_cells, 12)
        check_against_dense(grid, model, "kron", k, rng)
        w = make_solver("kron", grid, model).eigenvalues()
        np.testing.assert_allclose(w.sum(), grid.n_cells * model.variance, rtol=1e-10)


@pytest.mark.parametrize("solver", ["fft", "matfree"])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_iterative_solvers_match_dense(solver, ndim):
    rng = np.random.default_rng()
    grid = random_grid(rng, ndim, odd=None)
    ls = tuple(rng.uniform(0.15, 0.6, ndim))
    model = pv.Exponential(ls, variance=rng.uniform(0.5, 2))
    k = int(rng.integers(1, min(20, grid.n_cells - 1)))
    check_against_dense(grid, model, solver, k, rng)


def test_dense_on_points_matches_reference():
    rng = np.random.default_rng()
    pts = rng.uniform(size=(150, 2))
    model = pv.Matern(2.5, 0.3)
    w, v = SOLVERS["dense"](pts, model).eigenpairs(10)
    c = model(pts[:, None, :] - pts[None, :, :])
    w_ref = np.linalg.eigvalsh(c)[::-1][:10]
    np.testing.assert_allclose(w, w_ref, rtol=1e-10)
    np.testing.assert_allclose(c @ v, v * w, atol=1e-10 * w[0])


def test_auto_choice():
    g = pv.Grid((20, 20))
    assert choose(g, pv.SquaredExponential(0.1)) == "kron"
    assert choose(g, pv.Exponential(0.1, metric="l1")) == "kron"
    assert choose(g, pv.Exponential(0.1)) == "parity"
    assert choose(pv.Grid((400, 400, 200)), pv.Exponential(0.1)) == "fft"


def test_unknown_solver_and_nonseparable_kron_are_refused():
    g = pv.Grid((6, 6))
    with pytest.raises(ValueError, match="solver"):
        make_solver("lobpcg", g, pv.Exponential(0.2))
    with pytest.raises(ValueError, match="separable"):
        make_solver("kron", g, pv.Exponential(0.2))
    with pytest.raises(ValueError, match="whole spectrum"):
        make_solver("fft", g, pv.Exponential(0.2)).eigenvalues()


@pytest.mark.parametrize("spread, max_dim", [(1e1, None), (1e6, None), (1e3, "restart")])
def test_lanczos_matches_lapack(spread, max_dim):
    """Leading pairs of PSD matrices whose spectra span one to six decades; "restart": a basis
    capped at 3 k forces thick restarts."""
    from porevae.kle._linalg import eigh_leading, lanczos_eigsh

    rng = np.random.default_rng()
    n, k = int(rng.integers(300, 500)), int(rng.integers(10, 60))
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    w_true = np.sort(spread ** -rng.uniform(0, 1, n))[::-1]
    a = (q * w_true) @ q.T
    a = 0.5 * (a + a.T)
    at = torch.from_numpy(a)
    wt, vt = lanczos_eigsh(lambda x: at @ x, n, k, max_dim=3 * k if max_dim else None,
                           seed=int(rng.integers(1 << 30)))
    w, v = wt.numpy(), vt.numpy()
    w_ref, v_ref = eigh_leading(a.copy(), k, method="lapack")
    np.testing.assert_allclose(w, w_ref, rtol=1e-10, atol=1e-13 * w_ref[0])
    np.testing.assert_allclose(v.T @ v, np.eye(k), atol=1e-10)
    assert np.max(np.abs(a @ v - v * w)) < 1e-10 * w[0]
    assert subspace_angle(v, v_ref, w_ref, k, accuracy=1e-12) < 1


def test_lanczos_low_rank_and_small_operators():
    """A rank-r operator (the Krylov space closes after r / p blocks: new directions are drawn at
    random, eigenvalues 0 follow), an indefinite one, and n so small that A is formed whole."""
    from porevae.kle._linalg import lanczos_eigsh

    rng = np.random.default_rng()
    n, r = 600, int(rng.integers(5, 20))
    x = rng.standard_normal((n, r))
    a = torch.from_numpy(x @ x.T)
    w, v = lanczos_eigsh(lambda z: a @ z, n, r + 10, block=16)
    w_ref = np.linalg.eigvalsh(a.numpy())[::-1][:r + 10]
    np.testing.assert_allclose(w.numpy(), w_ref, rtol=1e-10, atol=1e-11 * w_ref[0])
    assert np.max(np.abs((a @ v - v * w).numpy())) < 1e-10 * w_ref[0]
    np.testing.assert_allclose((v.T @ v).numpy(), np.eye(r + 10), atol=1e-10)
    b = rng.standard_normal((n, n))
    b = torch.from_numpy(b + b.T)
    w, _ = lanczos_eigsh(lambda z: b @ z, n, 8)
    np.testing.assert_allclose(w.numpy(), np.linalg.eigvalsh(b.numpy())[::-1][:8], rtol=1e-10)
    c = b[:40, :40]
    w, v = lanczos_eigsh(lambda z: c @ z, 40, 5)  # basis >= n: A formed from matmat(I)
    np.testing.assert_allclose(w.numpy(), np.linalg.eigvalsh(c.numpy())[::-1][:5], rtol=1e-12)
    with pytest.raises(ValueError, match="k must be in"):
        lanczos_eigsh(lambda z: c @ z, 40, 41)


def test_lanczos_on_parity_blocks_is_the_auto_route():
    """Blocks of >= 2000 rows with 4 k <= n go to Lanczos; eigenvalues to 1e-10 of LAPACK."""
    from porevae.kle._linalg import eigh_leading
    from porevae.kle.parity import ParitySolver

    rng = np.random.default_rng()
    s = ParitySolver(pv.Grid((90, 90)), pv.Exponential(float(rng.uniform(0.05, 0.3))))
    b = s.sectors[2].matrix()  # the x-y pair block, 2025 rows
    k = int(rng.integers(40, 120))
    w, v = eigh_leading(b.copy(), k)
    w_ref = scipy.linalg.eigh(b, subset_by_index=[b.shape[0] - k, b.shape[0] - 1],
                              eigvals_only=True)[::-1]
    np.testing.assert_allclose(w, w_ref, rtol=1e-10)
    assert np.max(np.abs(b @ v - v * w)) < 1e-10 * w[0]
    np.testing.assert_allclose(v.T @ v, np.eye(k), atol=1e-10)
    with pytest.raises(ValueError, match="method must be"):
        eigh_leading(b, 3, method="filtered")
