"""KLE solves and sampling on a torch device.

The solvers' torch path runs in CI on CPU tensors (``device="cpu"``) in
``tests/test_kle_solvers.py``; here: the device-only routes (block Lanczos on an assembled C,
``KLE(device=...)``), the batched-GEMM sampler against ``KLE.sample`` (same seeding), memory
refusals on a device, and, marked ``gpu``, the same checks on a CUDA device.
"""

import numpy as np
import pytest
import scipy.linalg
import torch

import porevae as pv
from porevae.kle import sampling
from porevae.kle._device import to_numpy
from porevae.kle.solvers import SOLVERS, make_solver

from conftest import needs_cuda
from eigtools import assert_eigenpairs, dense_reference, subspace_angle


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
        model = [pv.Exponential(ls), pv.Matern(ls, nu=1.5), pv.Matern(ls, nu=2.5, variance=1.9),
                 pv.SquaredExponential(ls, convention="sklearn")][rng.integers(4)]
    return grid, model


def check(grid, model, solver, k, device):
    c, w_ref, v_ref = dense_reference(grid, model)
    w, v = make_solver(solver, grid, model, device).eigenpairs(k)
    assert isinstance(v, torch.Tensor) and v.device.type == torch.device(device).type
    assert_eigenpairs(w, to_numpy(v), c, w_ref, v_ref, k)


def test_dense_lanczos_path_on_a_device(rng):
    """``n >= 2000, 4 k <= n`` takes block Lanczos on the C assembled on the device."""
    grid = pv.Grid((int(rng.integers(45, 52)), int(rng.integers(45, 52))))
    model = pv.Exponential(rng.uniform(0.1, 0.4))
    s = SOLVERS["dense"](grid, model, device="cpu")
    c = s.matrix()
    assert isinstance(c, torch.Tensor)
    w, v = s.eigenpairs(30)
    c = c.numpy()
    w_ref = scipy.linalg.eigh(c, subset_by_index=[c.shape[0] - 30, c.shape[0] - 1],
                              eigvals_only=True)[::-1]
    np.testing.assert_allclose(w, w_ref, rtol=1e-10)
    assert np.max(np.abs(c @ v.numpy() - v.numpy() * w)) < 1e-9 * w_ref[0]


def test_kle_on_a_device_equals_the_host(rng):
    """``KLE(device=...)`` solves there (here: CUDA if present, else it is the host path) and
    keeps host arrays; the torch path's pairs equal the host's."""
    grid, model = random_case(rng, 2)
    k = int(rng.integers(3, grid.n_cells))
    host = pv.KLE(grid, model, n_terms=k)
    w_ref = dense_reference(grid, model)[1]
    for name in ("parity", "fft"):
        w, v = make_solver(name, grid, model, "cpu").eigenpairs(k)
        np.testing.assert_allclose(w, host.eigenvalues, rtol=1e-10,
                                   atol=1e-12 * host.eigenvalues[0])
        assert subspace_angle(v.numpy(), host.eigenvectors, w_ref, k, accuracy=1e-12) < 1
    assert isinstance(host.eigenvectors, np.ndarray)


def test_device_memory_is_refused_before_allocating():
    with pytest.raises(MemoryError, match=r"needs .* on cpu .* solver="):
        make_solver("dense", pv.Grid((1000, 1000)), pv.Exponential(0.3), "cpu").eigenpairs(10)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
def test_device_sampler_equals_cpu_sample(dtype, tol, rng):
    grid, model = random_case(rng, 2)
    kle = pv.KLE(grid, model, n_terms=int(rng.integers(5, grid.n_cells)))
    seed, start, n = int(rng.integers(2**31)), int(rng.integers(0, 200)), 150
    ref = kle.sample(n, seed=seed, start=start)
    y = sampling.DeviceSampler(kle, "cpu", dtype).sample(n, seed=seed, start=start, chunk=64)
    assert y.shape == (n, *grid.shape) and y.dtype == dtype
    scale = np.abs(ref).max()
    assert np.abs(y.double().numpy() - ref).max() < tol * scale
    # realization i is the same drawn alone or in a batch
    one = sampling.sample(kle, 1, seed=seed, start=start + 17, device="cpu", dtype=dtype)
    assert torch.allclose(one[0], y[17], rtol=0, atol=tol * scale)


# ---- CUDA ---------------------------------------------------------------------------------------
@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("solver", ["dense", "parity", "kron", "fft", "matfree"])
def test_solvers_on_cuda(solver, rng):
    for ndim in (1, 2, 3):
        grid, model = random_case(rng, ndim, separable=solver == "kron")
        k = grid.n_cells if solver in ("dense", "parity", "kron") else \
            int(rng.integers(1, min(40, grid.n_cells - 1)))
        check(grid, model, solver, k, "cuda")


@pytest.mark.gpu
@needs_cuda
def test_kle_on_cuda_equals_host(rng):
    grid, model = random_case(rng, 3)
    k = int(rng.integers(3, grid.n_cells))
    dev = pv.KLE(grid, model, n_terms=k, device="cuda")
    host = pv.KLE(grid, model, n_terms=k)
    np.testing.assert_allclose(dev.eigenvalues, host.eigenvalues, rtol=1e-10)
    assert isinstance(dev.eigenvectors, np.ndarray)
    y = dev.sample(8, seed=3, as_tensor=True)
    assert y.is_cuda
    np.testing.assert_allclose(y.cpu().numpy(), host.sample(8, seed=3), atol=1e-9)


@pytest.mark.gpu
@needs_cuda
def test_cuda_realizations_match_cpu(rng):
    grid = pv.Grid((int(rng.integers(20, 40)), int(rng.integers(20, 40))))
    kle = pv.KLE(grid, pv.Exponential(rng.uniform(0.1, 0.3)), n_terms=200)
    seed, n = int(rng.integers(2**31)), 2000
    cpu = kle.sample(n, seed=seed)
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 2e-5)):
        y = sampling.DeviceSampler(kle, "cuda", dtype).sample(n, seed=seed)
        assert y.is_cuda and y.dtype == dtype
        assert np.abs(y.double().cpu().numpy() - cpu).max() < tol * np.abs(cpu).max()
    # statistics of independent draws: mean 0 and the truncated KLE variance per cell
    y = sampling.sample(kle, 20000, seed=seed + 1, device="cuda").double().cpu().numpy()
    var = (kle.eigenvectors**2 @ kle.eigenvalues).reshape(grid.shape, order="F")
    se = np.sqrt(2 * var.max() ** 2 / len(y))
    assert np.abs(y.mean(0)).max() < 6 * np.sqrt(var.max() / len(y))
    assert np.abs(y.var(0) - var).max() < 6 * se
