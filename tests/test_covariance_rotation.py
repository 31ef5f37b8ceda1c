"""Rotated anisotropy: porevae's azimuth / dip / rake against GSTools' rotated models, the
direction of the principal axes, every host backend, and refusals of bad angles."""

import math

import numpy as np
import pytest

import porevae as pv
from porevae.covariance import model_from_dict

gs = pytest.importorskip("gstools")


def _angles(rng, d):
    if d == 2:
        return {"azimuth": float(rng.uniform(-360, 360))}
    return {"azimuth": float(rng.uniform(-360, 360)), "dip": float(rng.uniform(-90, 90)),
            "rake": float(rng.uniform(-90, 90))}


# porevae model -> the GSTools model with the same formula (GSTools' Matern uses sqrt(nu) r,
# porevae's sqrt(2 nu) r; its Gaussian rescales r by sqrt(pi)/2 by default)
CASES = [(lambda ls, **kw: pv.Exponential(ls, **kw), lambda **kw: gs.Exponential(**kw)),
         (lambda ls, **kw: pv.SquaredExponential(ls, **kw),
          lambda **kw: gs.Gaussian(rescale=1.0, **kw)),
         (lambda ls, **kw: pv.Matern(ls, nu=1.5, **kw),
          lambda **kw: gs.Matern(nu=1.5, rescale=math.sqrt(2.0), **kw)),
         (lambda ls, **kw: pv.Matern(ls, nu=0.8, **kw),
          lambda **kw: gs.Matern(nu=0.8, rescale=math.sqrt(2.0), **kw))]


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_rotated_covariance_equals_gstools(rng, d, case):
    ours, theirs = CASES[case]
    for _ in range(3):
        ls = tuple(rng.uniform(0.05, 0.5, d))
        var = float(rng.uniform(0.5, 2.0))
        m = ours(ls, variance=var, **_angles(rng, d))
        g = theirs(dim=d, var=var, len_scale=list(ls), angles=m.gstools_angles(d))
        h = rng.uniform(-1, 1, (300, d))
        np.testing.assert_allclose(m(h), g.cov_spatial(h.T), rtol=1e-10, atol=1e-14)


def test_principal_axes_point_where_the_angles_say():
    # 2-D: azimuth 0 puts the first axis north (+y), 90 east (+x)
    m = pv.Exponential((0.3, 0.1), azimuth=0.0)
    assert m(np.array([[0.0, 0.3]]))[0] == pytest.approx(math.exp(-1.0), rel=1e-14)
    assert m(np.array([[0.1, 0.0]]))[0] == pytest.approx(math.exp(-1.0), rel=1e-14)
    m = pv.Exponential((0.3, 0.1), azimuth=90.0)
    assert m(np.array([[0.3, 0.0]]))[0] == pytest.approx(math.exp(-1.0), rel=1e-14)
    # 3-D: azimuth 45 (north-east), dip 30 (down): the first axis is
    # (sin 45 cos 30, cos 45 cos 30, -sin 30); rake turns the second axis about it
    m = pv.Exponential((0.4, 0.2, 0.1), azimuth=45.0, dip=30.0, rake=20.0)
    u = np.array([math.sin(math.pi / 4) * math.cos(math.pi / 6),
                  math.cos(math.pi / 4) * math.cos(math.pi / 6), -0.5])
    assert m(0.4 * u[None])[0] == pytest.approx(math.exp(-1.0), rel=1e-13)
    p = m.rotation(3)
    np.testing.assert_allclose(p[:, 0], u, atol=1e-15)
    np.testing.assert_allclose(p.T @ p, np.eye(3), atol=1e-15)
    assert np.linalg.det(p) == pytest.approx(1.0)


def test_rotated_models_on_every_host_backend(rng):
    for d in (2, 3):
        g = pv.Grid((5,) * d, spacing=tuple(rng.uniform(0.05, 0.2, d)))
        ls = tuple(rng.uniform(0.1, 0.5, d))
        for m in (pv.Exponential(ls, **_angles(rng, d)),
                  pv.Matern(ls, nu=2.5, metric="l1", **_angles(rng, d)),
                  pv.Matern(ls, nu=0.7, **_angles(rng, d))):
            assert m.rotated and not m.separable and not m.reflection_symmetric
            pts = g.cell_centers()
            ref = m(pts[:, None, :] - pts[None, :, :])
            for backend in ("numba", "torch"):
                if backend == "numba" and m.kernel_code is None:
                    continue
                for where in (g, pts):  # a Grid of a rotated model enters as its centres
                    c = pv.ops.covariance_matrix(where, m, backend=backend)
                    np.testing.assert_allclose(c, ref, rtol=0, atol=1e-12)
                x = rng.standard_normal((len(pts), 2))
                y = pv.ops.covariance_matvec(g, m, x, backend=backend)
                np.testing.assert_allclose(y, ref @ x, rtol=0, atol=1e-11 * np.abs(x).sum())
    with pytest.raises(ValueError, match="reflection"):
        pv.ops.grid_offset_table(pv.Grid((4, 4)), pv.Exponential((0.2, 0.1), azimuth=30.0))


def test_orientation_is_kept_and_validated():
    m = pv.Matern((0.3, 0.2, 0.1), nu=2.5, azimuth=120.0, dip=-15.0, rake=40.0)
    assert model_from_dict(m.to_dict()) == m and "azimuth=120.0" in repr(m)
    assert not pv.Exponential(0.2, azimuth=30.0).rotated  # isotropic: nothing to rotate
    assert pv.Exponential((0.2, 0.1)).reflection_symmetric
    for kwargs, msg in ((dict(azimuth=361.0), "azimuth must be in"),
                        (dict(azimuth=0.0, dip=91.0), "dip must be in"),
                        (dict(azimuth=0.0, rake=-100.0), "rake must be in"),
                        (dict(dip=10.0), "give its azimuth"),
                        (dict(azimuth=float("nan")), "azimuth must be in")):
        with pytest.raises(ValueError, match=msg):
            pv.Exponential((0.3, 0.2, 0.1), **kwargs)
    with pytest.raises(ValueError, match="azimuth only"):
        pv.Exponential((0.3, 0.2), azimuth=10.0, dip=5.0)
