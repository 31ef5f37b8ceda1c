"""Device KLE solvers and sampling (porevae.kle.gpu).

The solvers are device-agnostic torch code: CI runs them on CPU tensors against float64 NumPy
LAPACK references on fresh random grids and length scales (eigenvalues to 1e-10 relative,
subspace angles, residuals, orthonormality). The sampler is checked against ``KLE.sample`` (same
seeding). ``@pytest.mark.gpu`` tests repeat the checks on a CUDA device and compare CPU and GPU
realizations.
"""

import numpy as np
import pytest
import scipy.linalg
import torch
from eigtools import dense_reference, subspace_angle

import porevae as pv
from porevae.kle import gpu

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device")


def random_case(rng, ndim, separable=False):
    sizes = {1: (12, 40), 2: (4, 12), 3: (3, 6)}[ndim]
    shape = tuple(int(rng.integers(*sizes)) for _ in range(ndim))
    spacing = tuple(rng.uniform(0.5, 2.0, ndim) / np.array(shape))
    if rng.random() < 0.3 and ndim >= 2:  # square x-y: exercises the swap sectors of parity
        shape = (shape[0], shape[0], *shape[2:])
        spacing = (spacing[0], spacing[0], *spacing[2:])
    grid = pv.Grid(shape, spacing=spacing)
    ls = rng.uniform(0.1, 0.6)
    ls = ls if rng.random() < 0.5 else tuple(rng.uniform(0.1, 0.6, ndim))
    if separable:
        model = [pv.SquaredExponential(ls), pv.Exponential(ls, metric="l1")][rng.integers(2)]
    else:
        model = [pv.Exponential(ls), pv.Matern(1.5, ls), pv.Matern(2.5, ls, variance=1.9),
                 pv.SquaredExponential(ls, convention="sklearn")][rng.integers(4)]
    return grid, model


def check(grid, model, solver, k, device="cpu"):
    c, w_ref, v_ref = dense_reference(grid, model)
    s = gpu.make_device_solver(solver, grid, model, device)
    w, v = s.eigenpairs(k)
    assert w.shape == (k,) and v.shape == (grid.n_cells, k) and w.dtype == v.dtype == np.float64
    np.testing.assert_allclose(w, w_ref[:k], rtol=1e-10, atol=1e-12 * w_ref[0])
    np.testing.assert_allclose(v.T @ v, np.eye(k), atol=1e-10)
    # residual-converged iterative solvers (tol 1e-12 theta_1) resolve the subspace to res / gap
    assert subspace_angle(v, v_ref, w_ref, k, accuracy=1e-12) < 1
    assert np.max(np.abs(c @ v - v * w)) < 1e-10 * w_ref[0]
    idx = np.argmax(np.abs(v), axis=0)
    assert np.all(v[idx, np.arange(k)] > 0)  # signs fixed


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("solver", ["dense", "parity"])
def test_exact_solvers_cpu_tensors(solver, ndim):
    rng = np.random.default_rng()
    for _ in range(2):
        grid, model = random_case(rng, ndim)
        n = grid.n_cells
        check(grid, model, solver, n)                              # full spectrum
        check(grid, model, solver, int(rng.integers(1, n)))        # leading subset
        w_ref = dense_reference(grid, model)[1]
        s = gpu.make_device_solver(solver, grid, model, "cpu")
        np.testing.assert_allclose(s.eigenvalues(), w_ref, rtol=1e-10, atol=1e-12 * w_ref[0])


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_kron_cpu_tensors(ndim):
    rng = np.random.default_rng()
    grid, model = random_case(rng, ndim, separable=True)
    check(grid, model, "kron", grid.n_cells)
    check(grid, model, "kron", int(rng.integers(1, grid.n_cells)))


@pytest.mark.parametrize("solver", ["fft", "matfree"])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_iterative_solvers_cpu_tensors(solver, ndim):
    rng = np.random.default_rng()
    grid, model = random_case(rng, ndim)
    k = int(rng.integers(1, min(25, grid.n_cells - 1)))
    check(grid, model, solver, k)


def test_dense_lanczos_path():
    """``n >= 2000, 4 k <= n`` takes block Lanczos on the assembled C."""
    rng = np.random.default_rng()
    grid = pv.Grid((int(rng.integers(45, 52)), int(rng.integers(45, 52))))
    model = pv.Exponential(rng.uniform(0.1, 0.4))
    s = gpu.DenseDevice(grid, model, "cpu")
    assert s._use_lanczos(30)
    w, v = s.eigenpairs(30)
    c = s.matrix().numpy()
    w_ref = scipy.linalg.eigh(c, subset_by_index=[c.shape[0] - 30, c.shape[0] - 1],
                              eigvals_only=True)[::-1]
    np.testing.assert_allclose(w, w_ref, rtol=1e-10)
    assert np.max(np.abs(c @ v - v * w)) < 1e-9 * w_ref[0]


def test_lanczos_eigsh_random_psd():
    rng = np.random.default_rng()
    n, k = 300, int(rng.integers(5, 40))
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = np.sort(rng.uniform(0, 1, n) ** 3)[::-1] * 10
    a = torch.from_numpy((q * lam) @ q.T)
    w, v = gpu.lanczos_eigsh(lambda x: a @ x, n, k, max_dim=4 * k)
    np.testing.assert_allclose(w.numpy(), lam[:k], rtol=1e-10)
    assert subspace_angle(v.numpy(), q, lam, k, accuracy=1e-12) < 1


def test_grid_covariance_gather_matches_kernels():
    rng = np.random.default_rng()
    for ndim in (1, 2, 3):
        grid, model = random_case(rng, ndim)
        c = gpu.grid_covariance(grid, model, "cpu")
        ref = pv.ops.covariance_matrix(grid, model, backend="numba")
        assert torch.equal(c, torch.from_numpy(ref))
        c32 = gpu.grid_covariance(grid, model, "cpu", torch.float32)
        assert c32.dtype == torch.float32
        np.testing.assert_allclose(c32.numpy(), ref, rtol=1e-6, atol=1e-7)


def test_auto_and_bad_names():
    grid = pv.Grid((6, 5))
    assert isinstance(gpu.make_device_solver("auto", grid, pv.SquaredExponential(0.3), "cpu"),
                      gpu.KronDevice)
    assert isinstance(gpu.make_device_solver("auto", grid, pv.Exponential(0.3), "cpu"),
                      gpu.ParityDevice)
    with pytest.raises(ValueError, match="solver"):
        gpu.make_device_solver("lapack", grid, pv.Exponential(0.3), "cpu")
    with pytest.raises(ValueError, match="whole spectrum"):
        gpu.make_device_solver("fft", grid, pv.Exponential(0.3), "cpu").eigenvalues()
    for name in gpu.DEVICE_SOLVERS:
        if name != "kron":
            s = gpu.make_device_solver(name, grid, pv.Exponential(0.3), "cpu")
            assert 0 < s.memory_bytes(5) < 10**7
    with pytest.raises(MemoryError, match="needs"):
        gpu.make_device_solver("dense", pv.Grid((1000, 1000)), pv.Exponential(0.3),
                               "cpu").eigenpairs(10)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
def test_device_sampler_equals_cpu_sample(dtype, tol):
    rng = np.random.default_rng()
    grid, model = random_case(rng, 2)
    kle = pv.KLE(grid, model, n_terms=int(rng.integers(5, grid.n_cells)))
    seed, start, n = int(rng.integers(2**31)), int(rng.integers(0, 200)), 150
    ref = kle.sample(n, seed=seed, start=start)
    y = gpu.DeviceSampler(kle, "cpu", dtype).sample(n, seed=seed, start=start, chunk=64)
    assert y.shape == (n, *grid.shape) and y.dtype == dtype
    scale = np.abs(ref).max()
    assert np.abs(y.double().numpy() - ref).max() < tol * scale
    # realization i is the same drawn alone or in a batch
    one = gpu.sample(kle, 1, seed=seed, start=start + 17, device="cpu", dtype=dtype)
    assert torch.allclose(one[0], y[17], rtol=0, atol=tol * scale)


# ---- device -------------------------------------------------------------------------------------
@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("solver", ["dense", "parity", "kron", "fft", "matfree"])
def test_solvers_on_cuda(solver):
    rng = np.random.default_rng()
    for ndim in (1, 2, 3):
        grid, model = random_case(rng, ndim, separable=solver == "kron")
        k = grid.n_cells if solver in ("dense", "parity", "kron") else \
            int(rng.integers(1, min(40, grid.n_cells - 1)))
        check(grid, model, solver, k, "cuda")
        w, v = gpu.make_device_solver(solver, grid, model, "cuda").eigenpairs_tensor(k)
        assert w.is_cuda and v.is_cuda


@pytest.mark.gpu
@needs_cuda
def test_cuda_realizations_match_cpu():
    rng = np.random.default_rng()
    grid = pv.Grid((int(rng.integers(20, 40)), int(rng.integers(20, 40))))
    kle = pv.KLE(grid, pv.Exponential(rng.uniform(0.1, 0.3)), n_terms=200)
    seed, n = int(rng.integers(2**31)), 2000
    cpu = kle.sample(n, seed=seed)
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 2e-5)):
        y = gpu.DeviceSampler(kle, "cuda", dtype).sample(n, seed=seed)
        assert y.is_cuda and y.dtype == dtype
        assert np.abs(y.double().cpu().numpy() - cpu).max() < tol * np.abs(cpu).max()
    # statistics of independent draws: mean 0 and the truncated KLE variance per cell
    y = gpu.sample(kle, 20000, seed=seed + 1, device="cuda").double().cpu().numpy()
    var = (kle.eigenvectors**2 @ kle.eigenvalues).reshape(grid.shape, order="F")
    se = np.sqrt(2 * var.max() ** 2 / len(y))
    assert np.abs(y.mean(0)).max() < 6 * np.sqrt(var.max() / len(y))
    assert np.abs(y.var(0) - var).max() < 6 * se
