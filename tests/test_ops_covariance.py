import numpy as np
import pytest
import torch

import porevae as pv
from porevae.ops import reference

MODELS = [pv.Exponential(0.3), pv.SquaredExponential((0.2, 0.4, 0.3)),
          pv.Matern(1.5, 0.25, 2.0), pv.Matern(2.5, 0.3, metric="l1"),
          pv.Exponential((0.3, 0.2, 0.5), metric="l1"), pv.Matern(0.8, 0.3)]


@pytest.mark.parametrize("model", MODELS, ids=repr)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matrix_numba_vs_float64_reference(model, dtype):
    rng = np.random.default_rng()
    pts = rng.uniform(0, 1, size=(203, 3))  # not a multiple of the tile
    ref = reference.covariance_matrix(torch.from_numpy(pts), model).numpy()
    for backend in ("auto", "torch"):
        c = pv.ops.covariance_matrix(pts, model, backend=backend, dtype=dtype)
        assert c.dtype == dtype and c.shape == (203, 203)
        tol = 1e-12 if dtype == np.float64 else 2e-6
        np.testing.assert_allclose(c, ref, atol=tol * model.variance, rtol=0)
        np.testing.assert_array_equal(c, c.T)


def test_cross_covariance_and_torch_io():
    rng = np.random.default_rng()
    a, b = rng.uniform(size=(70, 2)), rng.uniform(size=(33, 2))
    m = pv.Exponential((0.3, 0.1))
    c = pv.ops.covariance_matrix(a, m, points_b=b)
    ref = m(a[:, None, :] - b[None, :, :])
    np.testing.assert_allclose(c, ref, rtol=1e-13)
    ct = pv.ops.covariance_matrix(torch.from_numpy(a), m, points_b=torch.from_numpy(b))
    assert isinstance(ct, torch.Tensor)
    np.testing.assert_allclose(ct.numpy(), ref, rtol=1e-13)


@pytest.mark.parametrize("shape", [(13,), (9, 6), (5, 4, 3)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_grid_table_fill_matches_points(shape, dtype):
    rng = np.random.default_rng()
    g = pv.Grid(shape, spacing=rng.uniform(0.05, 0.2, len(shape)))
    m = pv.Exponential(rng.uniform(0.1, 0.5, len(shape)))
    c = pv.ops.covariance_matrix(g, m, dtype=dtype)
    pts = g.cell_centers()
    ref = m(pts[:, None, :] - pts[None, :, :])
    np.testing.assert_allclose(c, ref, rtol=1e-12 if dtype == np.float64 else 1e-6)
    out = np.full(c.shape, np.nan, dtype=dtype)  # poisoned: every element must be written
    pv.ops.covariance_matrix(g, m, out=out)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out, c)


@pytest.mark.parametrize("model", MODELS[:4], ids=repr)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matvec_vs_dense(model, dtype):
    rng = np.random.default_rng()
    pts = rng.uniform(size=(150, 3))
    x = rng.standard_normal((150, 5)).astype(dtype)
    c = reference.covariance_matrix(torch.from_numpy(pts), model).numpy()
    ref = c @ x.astype(np.float64)
    tol = 1e-11 if dtype == np.float64 else 2e-4
    for backend in ("numba", "torch"):
        y = pv.ops.covariance_matvec(pts, model, x, backend=backend)
        assert y.dtype == dtype and y.shape == x.shape
        np.testing.assert_allclose(y, ref, atol=tol * np.abs(ref).max(), rtol=0)
    y1 = pv.ops.covariance_matvec(pts, model, x[:, 0].copy())
    assert y1.shape == (150,)
    np.testing.assert_allclose(y1, ref[:, 0], atol=tol * np.abs(ref).max(), rtol=0)


def test_op_errors():
    m = pv.Exponential(0.1)
    with pytest.raises(ValueError, match="points must have shape"):
        pv.ops.covariance_matrix(np.zeros((3, 4)), m)
    with pytest.raises(ValueError, match="backend must be one of"):
        pv.ops.covariance_matrix(np.zeros((3, 2)), m, backend="fortran")
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        pv.ops.covariance_matrix(np.zeros((3, 2)), m, dtype=np.int32)
    with pytest.raises(ValueError, match="out must have shape"):
        pv.ops.covariance_matrix(np.zeros((3, 2)), m, out=np.empty((2, 2)))
    with pytest.raises(ValueError, match="no closed form"):
        pv.ops.covariance_matrix(np.zeros((3, 2)), pv.Matern(0.7), backend="numba")
    with pytest.raises(ValueError, match="x has 4 rows"):
        pv.ops.covariance_matvec(np.zeros((3, 2)), m, np.zeros(4))


def test_dense_refused_before_allocation(monkeypatch):
    import porevae._validation as val

    monkeypatch.setattr(val, "available_memory", lambda: 10**9)
    g = pv.Grid((174, 174))
    with pytest.raises(MemoryError, match=r"needs 6\.8 GiB \(7333089408 bytes\)"):
        pv.ops.covariance_matrix(g, pv.Exponential(0.1))
    with pytest.raises(MemoryError, match="bytes"):
        pv.KLE(g, pv.Exponential(0.1), n_terms=10, solver="dense")


def test_backends_report():
    b = pv.ops.backends()
    assert b["torch"]["available"] and b["numba"]["available"]
    assert isinstance(b["cuda"]["available"], bool) and b["cuda"]["reason"]
