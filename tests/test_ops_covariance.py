"""ops.covariance_matrix / covariance_matvec on every host backend against float64 references:
the model's own formula (``model.correlation``) and the pure-PyTorch oracle."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch

import porevae as pv
from porevae.covariance import MODELS as MODEL_CLASSES
from porevae.covariance import KernelCode
from porevae.ops import _dispatch, reference
from porevae.ops.covariance import formula

ROOT = Path(__file__).resolve().parents[1]

MODELS = [pv.Exponential(0.3), pv.SquaredExponential((0.2, 0.4, 0.3)),
          pv.Matern(0.25, nu=1.5, variance=2.0), pv.Matern(0.3, nu=2.5, metric="l1"),
          pv.Exponential((0.3, 0.2, 0.5), metric="l1"), pv.Matern(0.3, nu=0.8)]


@pytest.mark.parametrize("model", MODELS, ids=repr)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matrix_numba_vs_float64_reference(model, dtype, rng):
    pts = rng.uniform(0, 1, size=(203, 3))  # not a multiple of the tile
    ref = reference.covariance_matrix(torch.from_numpy(pts), model).numpy()
    for backend in ("auto", "torch"):
        c = pv.ops.covariance_matrix(pts, model, backend=backend, dtype=dtype)
        assert c.dtype == dtype and c.shape == (203, 203)
        tol = 1e-12 if dtype == np.float64 else 2e-6
        np.testing.assert_allclose(c, ref, atol=tol * model.variance, rtol=0)
        np.testing.assert_array_equal(c, c.T)


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numba_points_of_every_dimension(d, dtype, rng):
    """The numba kernels specialise their loops on the points' dimension (1-3): every closed
    form, both metrics, symmetric and non-square cross blocks and products, against the
    float64 torch reference."""
    a, b = rng.uniform(0, 1, size=(131, d)), rng.uniform(0, 1, size=(57, d)) + 0.2
    x = rng.standard_normal((131, 4))
    tol = 1e-12 if dtype == np.float64 else 2e-6
    models = [m for m in _every_model(rng, d) if m.kernel_code is not None]
    assert {m.metric for m in models} == {"euclidean", "l1"}
    for model in models:
        for pb in (None, b):
            ref = reference.covariance_matrix(torch.from_numpy(a), model, None if pb is None
                                              else torch.from_numpy(pb)).numpy()
            c = pv.ops.covariance_matrix(a, model, pb, dtype=dtype, backend="numba")
            np.testing.assert_allclose(c, ref, atol=tol * model.variance, rtol=0,
                                       err_msg=f"{model!r} d={d} cross={pb is not None}")
        y = pv.ops.covariance_matvec(a, model, x, backend="numba")
        ref_y = reference.covariance_matrix(torch.from_numpy(a), model).numpy() @ x
        np.testing.assert_allclose(y, ref_y, rtol=0, atol=1e-11 * np.abs(ref_y).max(),
                                   err_msg=f"{model!r} d={d}")


@pytest.mark.parametrize("dtype, variances", [(np.float64, [1e-300, 1e-12, 7.3, 1e300]),
                                               (np.float32, [1e-35, 1e-12, 7.3, 1e37])])
def test_numba_variance_over_its_range(dtype, variances, rng):
    """The host kernels fold the variance into the exponential's constants; outside the range
    where that keeps every entry normal they multiply afterwards: the same values either way."""
    a = rng.uniform(0, 1, size=(67, 2))
    x = rng.standard_normal((67, 2))
    for v in variances:
        for model in (pv.Exponential(0.2, variance=v), pv.Matern(0.3, nu=2.5, variance=v)):
            ref = reference.covariance_matrix(torch.from_numpy(a), model).numpy()
            c = pv.ops.covariance_matrix(a, model, dtype=dtype, backend="numba")
            tol = 1e-13 if dtype == np.float64 else 1e-6
            np.testing.assert_allclose(c, ref, rtol=0, atol=tol * v, err_msg=f"{model!r}")
            assert np.all(c > 0)
            y = pv.ops.covariance_matvec(a, model, x, backend="numba")
            np.testing.assert_allclose(y, ref @ x, rtol=0, atol=1e-12 * np.abs(ref @ x).max())


@pytest.mark.parametrize("model", MODELS[:3], ids=repr)
def test_float32_on_large_coordinates(model, rng):
    """float32 on UTM-sized coordinates, every host backend: the points are centred before
    the cast (one origin for both sets of a cross-covariance), so the differences keep their
    digits."""
    shift = np.array([4.5e5, 6.7e6, 1.7e3])
    a, b = rng.uniform(0, 1, size=(211, 3)), rng.uniform(0, 1, size=(97, 3)) + 0.3
    for pa, pb in ((a, None), (a, b)):
        ref = reference.covariance_matrix(torch.from_numpy(pa), model, None if pb is None
                                          else torch.from_numpy(pb)).numpy()
        for backend in ("numba", "torch"):
            c = pv.ops.covariance_matrix(pa + shift, model, None if pb is None else pb + shift,
                                         dtype=np.float32, backend=backend)
            assert c.dtype == np.float32
            np.testing.assert_allclose(c, ref, atol=2e-6 * model.variance, rtol=0)


def test_cross_covariance_and_torch_io(rng):
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
def test_grid_table_fill_matches_points(shape, dtype, rng):
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
def test_matvec_vs_dense(model, dtype, rng):
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
    with pytest.raises(ValueError, match="no compiled closed form"):
        pv.ops.covariance_matrix(np.zeros((3, 2)), pv.Matern(nu=0.7), backend="numba")
    with pytest.raises(ValueError, match=r"x must have shape \(3,\)"):
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


def _every_model(rng, d):
    """One instance of every model class and every closed form, random parameters."""
    ls = tuple(rng.uniform(0.1, 0.6, d))
    out = []
    for cls in MODEL_CLASSES.values():
        if cls is pv.Matern:
            out += [cls(ls, nu=nu, variance=float(rng.uniform(0.5, 2))) for nu in
                    (0.5, 1.5, 2.5, float(rng.uniform(0.6, 3.0)))]
        else:
            out += [cls(ls, variance=float(rng.uniform(0.5, 2))),
                    cls(ls, metric="l1")]
    out.append(pv.SquaredExponential(ls, convention="sklearn"))
    return out


@pytest.mark.parametrize("grid", [False, True], ids=["points", "grid"])
def test_every_model_on_every_host_backend_matches_its_formula(rng, grid):
    """models x backends against ``model(offsets)`` (the formula each class defines): a kernel
    code that a backend does not know can never pass for another model."""
    g = pv.Grid((5, 4, 3), spacing=tuple(rng.uniform(0.05, 0.2, 3)))
    pts = g.cell_centers() if grid else rng.uniform(0, 1, (47, 3))
    for model in _every_model(rng, 3):
        ref = model(pts[:, None, :] - pts[None, :, :])
        for backend in ("numba", "torch"):
            if backend == "numba" and model.kernel_code is None and not grid:
                continue
            c = pv.ops.covariance_matrix(g if grid else pts, model, backend=backend)
            np.testing.assert_allclose(c, ref, rtol=0, atol=1e-12 * model.variance,
                                       err_msg=f"{model!r} {backend}")
            x = rng.standard_normal((len(pts), 3))
            if backend == "numba" and model.kernel_code is None:
                continue
            y = pv.ops.covariance_matvec(g if grid else pts, model, x, backend=backend)
            np.testing.assert_allclose(y, ref @ x, rtol=0, atol=1e-11 * np.abs(ref @ x).max())


def test_unknown_kernel_code_is_refused_everywhere():
    class Strange(pv.Exponential):
        kernel_code = 7  # not a KernelCode

    pts = np.random.default_rng(5).uniform(size=(10, 2))
    with pytest.raises(ValueError, match="no compiled closed form"):
        pv.ops.covariance_matrix(pts, Strange(0.3), backend="numba")
    with pytest.raises(ValueError, match="no compiled closed form"):
        pv.ops.covariance_matvec(pts, Strange(0.3), np.ones(10), backend="numba")
    for code in (-1, 4, 7):  # the compiled formula gives NaN, never another model's value
        assert np.isnan(formula.covariance(code, 1.0, 1.0, 0.25, 0.5))
    for code in KernelCode:
        assert np.isfinite(formula.covariance(int(code), 1.0, 1.0, 0.25, 0.5))


def test_cuda_kernel_codes_match_the_python_enum():
    header = (ROOT / "csrc/ops/cuda/kernel_codes.h").read_text()
    found = {m.group(1): int(m.group(2)) for m in re.finditer(r"k(\w+) = (\d+)", header)}
    count = found.pop("NumKernelCodes")
    want = {name.replace("_", "").lower(): int(code)
            for name, code in KernelCode.__members__.items()}
    assert {k.lower(): v for k, v in found.items()} == want
    assert count == len(KernelCode)
    kernels = (ROOT / "csrc/ops/cuda/covariance_kernels.cuh").read_text()
    for name in found:  # every code has its case, and the default is not a formula
        assert f"case k{name}:" in kernels
    assert "default:\n      return T(NAN);" in kernels


def test_dispatch_refuses_wrong_device_and_unsupported_backend():
    pts = np.zeros((3, 2))
    with pytest.raises(ValueError, match="cannot run this covariance call"):
        pv.ops.covariance_matrix(pts, pv.Matern(0.1, nu=0.7), backend="cuda")
    assert _dispatch.resolve("covariance", "auto", False).__name__.endswith("numba_cpu")
    assert _dispatch.resolve("covariance", "auto", False, ("torch",)) is \
        _dispatch.backend_module("covariance", "torch")
