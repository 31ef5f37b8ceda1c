import math

import numpy as np
import pytest
import scipy.special

import porevae as pv


def test_cell_centres_i_fastest():
    g = pv.Grid((3, 2, 2), spacing=(1.0, 2.0, 3.0), origin=(10.0, 0.0, -1.0))
    c = g.cell_centers()
    assert c.shape == (12, 3)
    np.testing.assert_allclose(c[0], [10.5, 1.0, 0.5])
    np.testing.assert_allclose(c[1], [11.5, 1.0, 0.5])   # I fastest
    np.testing.assert_allclose(c[3], [10.5, 3.0, 0.5])   # then J
    np.testing.assert_allclose(c[6], [10.5, 1.0, 3.5])   # then K


def test_flatten_roundtrip_numpy_and_torch(rng):
    import torch

    g = pv.Grid((4, 3, 2))
    f = rng.standard_normal((5, 4, 3, 2))
    flat = g.flatten(f)
    assert flat[1, 1 + 4 * (2 + 3 * 1)] == f[1, 1, 2, 1]
    np.testing.assert_array_equal(g.unflatten(flat), f)
    np.testing.assert_array_equal(g.unflatten(g.flatten(torch.from_numpy(f))).numpy(), f)


def test_default_spacing_is_unit_box():
    g = pv.Grid((100, 50))
    assert g.spacing == (0.01, 0.02) and g.origin == (0.0, 0.0) and g.n_cells == 5000


@pytest.mark.parametrize("kwargs, match", [
    (dict(shape=()), "1 to 3 axes"),
    (dict(shape=(2, 2, 2, 2)), "1 to 3 axes"),
    (dict(shape=(0, 3)), "empty grid"),
    (dict(shape=(2.5, 3)), "integers"),
    (dict(shape=(3, 3), spacing=(0.1, -1.0)), "spacing must be finite and > 0"),
    (dict(shape=(3, 3), spacing=(0.1, 0.1, 0.1)), "spacing must be a scalar or have 2"),
    (dict(shape=(3, 3), origin=(0.0, np.nan)), "origin must be finite"),
])
def test_grid_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pv.Grid(**kwargs)


def test_models_formulas(rng):
    h = rng.uniform(-1, 1, size=(50, 2))
    ls = rng.uniform(0.1, 1.0)
    r = np.linalg.norm(h, axis=1) / ls
    var = rng.uniform(0.5, 3)
    np.testing.assert_allclose(pv.Exponential(ls, variance=var)(h), var * np.exp(-r), rtol=1e-14)
    # exp(-r^2) with r^2 up to ~200: rounding of the argument alone is ~200 eps relative
    np.testing.assert_allclose(pv.SquaredExponential(ls, variance=var)(h), var * np.exp(-r**2),
                               rtol=1e-12)
    np.testing.assert_allclose(pv.SquaredExponential(ls, variance=var, convention="sklearn")(h),
                               var * np.exp(-r**2 / 2), rtol=1e-12)
    for nu in (0.5, 1.5, 2.5, 0.8, 3.7):
        s = math.sqrt(2 * nu) * r
        ref = var * 2 ** (1 - nu) / math.gamma(nu) * s**nu * scipy.special.kv(nu, s)
        np.testing.assert_allclose(pv.Matern(ls, nu=nu, variance=var)(h), ref, rtol=1e-10)
    assert pv.Matern(ls, nu=2.2)(np.zeros((1, 2)))[0] == 1.0


def test_anisotropy_and_l1():
    m = pv.Exponential((2.0, 0.5), metric="l1")
    np.testing.assert_allclose(m(np.array([[1.0, -1.0]])), np.exp(-(0.5 + 2.0)))
    assert m.separable and pv.SquaredExponential(1.0).separable
    assert not pv.Exponential(1.0).separable
    m = pv.SquaredExponential((2.0, 0.5))
    np.testing.assert_allclose(m(np.array([[1.0, 1.0]])), np.exp(-(0.25 + 4.0)))


@pytest.mark.parametrize("make, match", [
    (lambda: pv.Exponential(-1.0), "length_scale must be finite and > 0"),
    (lambda: pv.Exponential(np.inf), "length_scale must be finite and > 0"),
    (lambda: pv.Exponential((1.0, 0.0)), "length_scale must be finite and > 0"),
    (lambda: pv.Exponential(1.0, variance=0.0), "variance must be finite and > 0"),
    (lambda: pv.Exponential(1.0, variance=np.nan), "variance must be finite and > 0"),
    (lambda: pv.Exponential(1.0, metric="l2"), "metric must be one of"),
    (lambda: pv.SquaredExponential(1.0, convention="gstools"), "convention must be one of"),
    (lambda: pv.Matern(nu=0.0), "nu must be finite and > 0"),
])
def test_model_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_wrong_number_of_axes():
    with pytest.raises(ValueError, match="length_scale has 3 values but the points have 2 axes"):
        pv.KLE(pv.Grid((4, 4)), pv.Exponential((0.1, 0.2, 0.3)), n_terms=2)
