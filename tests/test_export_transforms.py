"""Property transforms against their formulas."""

import math

import numpy as np
import pytest

from porevae.export import transforms as T

Z = np.linspace(-3, 3, 61)


def test_lognormal_geometric():
    k = T.lognormal_geometric(Z, 50.0, 0.8)
    np.testing.assert_allclose(k, 50.0 * np.exp(0.8 * Z), rtol=1e-15)
    assert k[30] == pytest.approx(50.0)                      # median at Z = 0


def test_lognormal_arithmetic_moments():
    m, sd = 200.0, 300.0
    s2 = math.log(1 + (sd / m) ** 2)
    np.testing.assert_allclose(T.lognormal_arithmetic(Z, m, sd),
                               np.exp(math.log(m) - s2 / 2 + math.sqrt(s2) * Z), rtol=1e-14)
    z = np.random.default_rng(0).standard_normal(2_000_000)
    k = T.lognormal_arithmetic(z, m, sd)
    assert k.mean() == pytest.approx(m, rel=0.01) and k.std() == pytest.approx(sd, rel=0.03)


def test_kozeny_carman_inverts_the_relation():
    c = 5000.0
    k = np.logspace(-3, 5, 50)
    phi = T.porosity_kozeny_carman(k, c)
    assert np.all((phi > 0) & (phi < 1)) and np.all(np.diff(phi) > 0)
    np.testing.assert_allclose(c * phi**3 / (1 - phi) ** 2, k, rtol=1e-12)
    with pytest.raises(ValueError, match="> 0"):
        T.porosity_kozeny_carman(np.array([1.0, 0.0]), c)


def test_power_law_truncate_anisotropy():
    k = np.array([1.0, 10.0, 1000.0])
    np.testing.assert_allclose(T.porosity_power_law(k, 0.1, 0.2), 0.1 * k**0.2)
    np.testing.assert_array_equal(T.truncate(k, 5.0, 500.0), [5.0, 10.0, 500.0])
    np.testing.assert_array_equal(T.truncate(k, None, 2.0), [1.0, 2.0, 2.0])
    np.testing.assert_array_equal(T.anisotropy(k, 0.1), 0.1 * k)
    with pytest.raises(ValueError, match="above"):
        T.truncate(k, 3.0, 2.0)


def test_transform_recipe_and_json_round_trip():
    tr = T.Transform(perm="geometric", perm_mean=100.0, perm_std=1.0, perm_bounds=(1.0, 5000.0),
                     kv_kh=0.1, ky_kx=0.5, poro="kozeny-carman",
                     poro_params={"constant": 5000.0}, poro_bounds=(0.05, 0.35))
    y = 2.0 + 3.0 * Z                                       # Gaussian of mean 2, variance 9
    out = tr.apply(y, mean=2.0, variance=9.0)
    k = np.clip(100.0 * np.exp(Z), 1.0, 5000.0)
    np.testing.assert_allclose(out["PERMX"], k, rtol=1e-14)
    np.testing.assert_allclose(out["PERMY"], 0.5 * k)
    np.testing.assert_allclose(out["PERMZ"], 0.1 * k)
    np.testing.assert_allclose(out["PORO"],
                               np.clip(T.porosity_kozeny_carman(k, 5000.0), 0.05, 0.35))
    assert T.Transform.from_dict(tr.to_dict()) == tr
    assert list(out) == tr.keywords == ["PERMX", "PERMY", "PERMZ", "PORO"]
    for other in (T.Transform(), T.Transform(perm="gaussian", keyword="LOGK"),
                  T.Transform(ky_kx=1.0, poro="power-law", poro_params={"a": 0.1, "b": 0.2})):
        assert list(other.apply(Z)) == other.keywords
    np.testing.assert_array_equal(T.Transform().apply(Z)["PERMX"], np.exp(Z))
    np.testing.assert_array_equal(T.Transform(perm="gaussian", keyword="LOGK").apply(Z)["LOGK"],
                                  Z)


@pytest.mark.parametrize("kwargs, match", [
    ({"perm": "log"}, "perm must be"),
    ({"poro": "power-law", "poro_params": {"a": 0.1}}, "poro_params"),
    ({"perm": "gaussian", "kv_kh": 0.1}, "gaussian"),
])
def test_transform_refuses_bad_recipes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        T.Transform(**kwargs)


def test_every_option_is_honoured_or_refused():
    Transform = T.Transform
    with pytest.raises(ValueError, match="perm_mean set, but perm='exp' takes none"):
        Transform(perm_mean=500.0)
    with pytest.raises(ValueError, match="perm_std set, but perm='gaussian'"):
        Transform(perm="gaussian", perm_std=2.0)
    with pytest.raises(ValueError, match="poro_bounds set without poro"):
        Transform(poro_bounds=(0.1, None))
    tr = Transform(perm="geometric")           # the defaults used are recorded
    assert (tr.perm_mean, tr.perm_std) == (100.0, 1.0)
    assert Transform.from_dict(tr.to_dict()) == tr
    k = Transform(perm="geometric", perm_mean=500.0, perm_std=0.5).apply(np.zeros(3))["PERMX"]
    np.testing.assert_allclose(k, 500.0)


@pytest.mark.parametrize("tr", [T.Transform(), T.Transform(perm="geometric", perm_mean=80.0,
                                                           perm_std=1.3),
                                T.Transform(perm="arithmetic", perm_mean=150.0, perm_std=90.0,
                                            perm_bounds=(1.0, 5000.0))])
def test_field_from_perm_inverts_the_permeability(tr, rng):
    """Well data in mD mapped to the field come back as the same mD through apply."""
    k = np.exp(rng.uniform(np.log(2.0), np.log(4000.0), 50))
    mean, variance = float(rng.normal()), float(rng.uniform(0.3, 3.0))
    y = tr.field_from_perm(k, mean, variance)
    np.testing.assert_allclose(tr.apply(y, mean, variance)["PERMX"], k, rtol=1e-12)
    if tr.perm != "exp":   # a change of the field's mean or variance changes the field values
        assert not np.allclose(tr.field_from_perm(k, mean + 1, variance), y)


def test_field_from_perm_refusals():
    with pytest.raises(ValueError, match="perm='gaussian' writes the Gaussian field"):
        T.Transform(perm="gaussian").field_from_perm([1.0])
    with pytest.raises(ValueError, match="perm_std = 0"):
        T.Transform(perm="geometric", perm_std=0.0).field_from_perm([1.0])
    bounded = T.Transform(perm_bounds=(1.0, 100.0))
    np.testing.assert_allclose(bounded.field_from_perm([1.0, 100.0]), [0.0, np.log(100.0)])
    for bad in (0.0, -1.0, 0.5, 101.0, np.inf):
        with pytest.raises(ValueError, match=f"permeability {bad:g} mD is not one the transform"):
            bounded.field_from_perm([50.0, bad])
