"""Every KLE solver against dense float64 LAPACK on fresh random grids and models (seeded per
test by the ``rng`` fixture), on the host (``device=None``) and through the torch path on CPU
tensors (``device="cpu"``, the code a GPU runs)."""

import numpy as np
import pytest
import scipy.linalg
import torch

import porevae as pv
from porevae.kle._device import to_numpy
from porevae.kle.solvers import SOLVERS, choose, make_solver

from eigtools import assert_eigenpairs, dense_reference, subspace_angle

DEVICES = [None, "cpu"]


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


def check_against_dense(grid, model, solver, k, device=None, vectors=True):
    c, w_ref, v_ref = dense_reference(grid, model)
    s = make_solver(solver, grid, model, device)
    if vectors:
        w, v = s.eigenpairs(k)
        assert isinstance(v, np.ndarray) == (device is None)
        assert_eigenpairs(w, to_numpy(v), c, w_ref, v_ref, k)
    else:
        w = s.eigenvalues(k)
        np.testing.assert_allclose(w, w_ref[:k], rtol=1e-10, atol=1e-12 * w_ref[0])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("odd", [True, False])
def test_parity_matches_dense_anisotropic(ndim, odd, device, rng):
    grid = random_grid(rng, ndim, odd)
    ls = tuple(rng.uniform(0.1, 0.6, ndim))
    model = rng.choice([pv.Exponential(ls, variance=rng.uniform(0.5, 3)),
                        pv.Matern(ls, nu=1.5), pv.SquaredExponential(ls, metric="l1")])
    k = int(rng.integers(1, grid.n_cells + 1))
    check_against_dense(grid, model, "parity", k, device)
    check_against_dense(grid, model, "parity", grid.n_cells, device, vectors=False)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n", [9, 10])
@pytest.mark.parametrize("ndim", [2, 3])
def test_parity_swap_symmetry_matches_dense(n, ndim, device, rng):
    """Square grids with an isotropic model use the x <-> y swap and degenerate pairs."""
    shape = (n, n) if ndim == 2 else (n - 4, n - 4, int(rng.integers(2, 5)))
    grid = pv.Grid(shape)
    model = pv.Exponential(float(rng.uniform(0.1, 0.5)))
    solver = make_solver("parity", grid, model, device)
    assert solver.use_swap
    assert sum(s.size * s.multiplicity for s in solver.sectors) == grid.n_cells
    for k in (1, 7, grid.n_cells // 2, grid.n_cells):
        check_against_dense(grid, model, "parity", k, device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("odd", [True, False])
def test_kron_matches_dense_anisotropic(ndim, odd, device, rng):
    grid = random_grid(rng, ndim, odd)
    ls = tuple(rng.uniform(0.1, 0.6, ndim))
    for model in (pv.SquaredExponential(ls, variance=rng.uniform(0.5, 2)),
                  pv.Exponential(ls, metric="l1")):
        assert model.separable
        # squared-exponential spectra decay to round-off: compare the well-resolved head
        k = min(grid.n_cells, 12)
        check_against_dense(grid, model, "kron", k, device)
        w = make_solver("kron", grid, model).eigenvalues()
        np.testing.assert_allclose(w.sum(), grid.n_cells * model.variance, rtol=1e-10)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("solver", ["fft", "matfree"])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_iterative_solvers_match_dense(solver, ndim, device, rng):
    grid = random_grid(rng, ndim, odd=None)
    ls = tuple(rng.uniform(0.15, 0.6, ndim))
    model = rng.choice([pv.Exponential(ls, variance=rng.uniform(0.5, 2)), pv.Matern(ls, nu=1.5),
                        pv.SquaredExponential(ls, convention="sklearn")])
    k = int(rng.integers(1, min(40, grid.n_cells - 1)))
    check_against_dense(grid, model, solver, k, device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("odd", [True, False, None])
def test_fft_all_pairs_of_small_3d_grids(odd, device, rng):
    """Every pair (``k = n``): each sector's share is its whole size; odd, even and mixed
    axis sizes, anisotropic length scales."""
    grid = random_grid(rng, 3, odd)
    model = pv.Exponential(tuple(rng.uniform(0.1, 0.6, 3)), variance=rng.uniform(0.5, 2))
    check_against_dense(grid, model, "fft", grid.n_cells, device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("square", [False, True])
def test_fft_sector_products_equal_parity_blocks(ndim, square, device, rng):
    """``B_s X`` by the even/odd transforms equals the assembled parity block times X, for every
    class of odd, even and one-cell axes and for the x <-> y swap sectors of square grids;
    ``C X`` (the sum over classes) equals dense C X."""
    from porevae.kle.fft import FFTSolver
    from porevae.kle.parity import ParitySolver

    shape = [int(rng.integers(1, 9)) for _ in range(ndim)]
    spacing = list(rng.uniform(0.05, 0.3, ndim))
    ls = list(rng.uniform(0.2, 0.6, ndim))
    if square and ndim > 1:
        shape[1], spacing[1], ls[1] = shape[0], spacing[0], ls[0]
    grid = pv.Grid(tuple(shape), spacing=tuple(spacing))
    model = pv.Matern(tuple(ls), nu=2.5, variance=rng.uniform(0.5, 2))
    fft, parity = FFTSolver(grid, model, device), ParitySolver(grid, model)
    assert fft.use_swap == parity.use_swap == (square and ndim > 1 and shape[0] > 1)
    assert sum(sec.size * sec.multiplicity for sec in fft.sectors) == grid.n_cells
    for s, tr in fft.classes.items():
        x = rng.standard_normal((tr.size, 3))
        y = to_numpy(tr.apply(x if device is None else torch.from_numpy(x)))
        np.testing.assert_allclose(y, parity.parity_block(s) @ x, rtol=0, atol=1e-12)
    for sec, psec in zip(fft.sectors, parity.sectors):
        x = rng.standard_normal((sec.size, 2))
        y = fft._operator(sec)(torch.from_numpy(x)).cpu().numpy()
        np.testing.assert_allclose(y, psec.matrix() @ x, rtol=0, atol=1e-12)
    c = dense_reference(grid, model)[0]
    x = rng.standard_normal((grid.n_cells, 4))
    cx = to_numpy(fft.matmat(x if device is None else torch.from_numpy(x)))
    np.testing.assert_allclose(cx, c @ x, rtol=0, atol=1e-12 * np.abs(c @ x).max())


def test_fft_estimated_spectrum_tracks_the_true_one(rng):
    """The multipliers approximate the spectrum, which is what the energy truncation's first
    guess and the sector shares rely on: summed to the trace, their energy counts are within a
    factor 2 of the true ones."""
    from porevae.kle.expansion import n_terms_for_energy
    from porevae.kle.fft import FFTSolver

    grid = pv.Grid(tuple(int(n) for n in rng.integers(8, 13, 3)))
    model = pv.Exponential(tuple(rng.uniform(0.1, 0.3, 3)))
    est = FFTSolver(grid, model).estimated_spectrum()
    w = dense_reference(grid, model)[1]
    assert est.shape == w.shape and np.all(np.diff(est) <= 0)
    np.testing.assert_allclose(est.sum(), grid.n_cells * model.variance, rtol=1e-12)
    for level in (0.5, 0.8, 0.9):
        m_est, m = (n_terms_for_energy(x, level, w.sum(), grid.n_cells) for x in (est, w))
        assert m / 3 <= m_est <= 3 * m


@pytest.mark.parametrize("device", DEVICES)
def test_dense_on_points_matches_reference(device, rng):
    pts = rng.uniform(size=(150, 2))
    model = pv.Matern(0.3, nu=2.5)
    w, v = SOLVERS["dense"](pts, model, device=device).eigenpairs(10)
    v = to_numpy(v)
    c = model(pts[:, None, :] - pts[None, :, :])
    w_ref = np.linalg.eigvalsh(c)[::-1][:10]
    np.testing.assert_allclose(w, w_ref, rtol=1e-10)
    np.testing.assert_allclose(c @ v, v * w, atol=1e-10 * w[0])


def test_auto_choice():
    g = pv.Grid((20, 20))
    assert choose(g, pv.SquaredExponential(0.1)) == "kron"
    assert choose(g, pv.Exponential(0.1, metric="l1")) == "kron"
    assert choose(g, pv.Exponential(0.1)) == "parity"
    assert choose(g, pv.Exponential(0.1), device="cpu") == "parity"
    assert choose(g, pv.Exponential(0.1), budget=10**4) == "fft"  # the block does not fit
    assert choose(pv.Grid((400, 400, 200)), pv.Exponential(0.1)) == "fft"
    big3d = pv.Grid((64, 64, 32))
    assert choose(big3d, pv.Exponential(0.1), n_terms=500) == "fft"
    assert choose(big3d, pv.Exponential(0.1), budget=10**12) == "parity"  # whole spectrum
    pts = np.zeros((1000, 2))
    assert choose(pts, pv.Exponential(0.1)) == "dense"
    assert choose(pts, pv.Exponential(0.1), budget=10**6) == "matfree"


def test_unknown_solver_and_nonseparable_kron_are_refused():
    g = pv.Grid((6, 6))
    with pytest.raises(ValueError, match="solver"):
        make_solver("lobpcg", g, pv.Exponential(0.2))
    with pytest.raises(ValueError, match="separable"):
        make_solver("kron", g, pv.Exponential(0.2))
    with pytest.raises(ValueError, match="whole spectrum"):
        make_solver("fft", g, pv.Exponential(0.2)).eigenvalues()
    with pytest.raises(ValueError, match="k in"):
        make_solver("fft", g, pv.Exponential(0.2)).eigenpairs(37)


@pytest.mark.parametrize("spread, max_dim", [(1e1, None), (1e6, None), (1e3, "restart")])
def test_lanczos_matches_lapack(spread, max_dim, rng):
    """Leading pairs of PSD matrices whose spectra span one to six decades; "restart": a basis
    capped at 3 k forces thick restarts."""
    from porevae.kle._linalg import eigh_leading, lanczos_eigsh

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


def test_lanczos_low_rank_and_small_operators(rng):
    """A rank-r operator (the Krylov space closes after r / p blocks: new directions are drawn at
    random, eigenvalues 0 follow), an indefinite one, and n so small that A is formed whole."""
    from porevae.kle._linalg import lanczos_eigsh

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


def test_lanczos_on_parity_blocks_is_the_auto_route(rng):
    """Blocks of >= 2000 rows with 4 k <= n go to Lanczos; eigenvalues to 1e-10 of LAPACK."""
    from porevae.kle._linalg import eigh_leading
    from porevae.kle.parity import ParitySolver

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


@pytest.mark.parametrize("shape", [(7,), (6, 5), (5, 5), (4, 3, 3), (1, 6, 2)])
def test_expand_host_equals_expand_then_fix_signs(shape, rng):
    """The host expansion of many classes' vectors into one C-ordered (n, k) array, signs fixed
    on the class coefficients, equals expanding each class and fixing the signs on the grid
    vectors (bit for bit), also with ties of the largest magnitude (small integers)."""
    from porevae.kle._linalg import fix_signs
    from porevae.kle.parity import _half_sizes, expand, expand_host, parity_classes

    grid = pv.Grid(shape)
    shape3 = grid.shape3
    classes = parity_classes(shape3, grid.ndim)
    k = 3 * len(classes) + 2
    order = rng.permutation(k)
    blocks, ref = [], np.zeros((grid.n_cells, k))
    for b, s in enumerate(classes):
        cols = np.sort(order[b::len(classes)])
        m = int(np.prod([_half_sizes(n, si) for n, si in zip(shape3, s)]))
        u = rng.integers(-3, 4, size=(m, cols.size)).astype(float) if b % 2 else \
            rng.standard_normal((m, cols.size))
        ref[:, cols] = expand(u, shape3, s)
        blocks.append((s, u, cols))
    fix_signs(ref)
    out = expand_host(blocks, shape3, k)
    assert out.flags.c_contiguous and not blocks  # the blocks were consumed
    np.testing.assert_array_equal(out, ref)
