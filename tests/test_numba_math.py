"""The shared vectorisable exponential of the Numba CPU kernels (plain and with a scale folded
into its constants) against extended-precision exp."""

import numba as nb
import numpy as np
import pytest

from porevae.ops._numba_math import exp_poly, exp_scale, scaled_exp_poly


@nb.njit
def _exp_all(x, out):
    for i in range(x.size):
        out[i] = exp_poly(x[i])


@pytest.mark.parametrize("dtype, lo, hi", [(np.float64, -708.0, 709.0), (np.float32, -87.0, 88.0)])
def test_exp_poly_within_one_ulp(dtype, lo, hi):
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.uniform(lo, hi, 50_000), rng.uniform(-1.0, 1.0, 50_000),
                        [0.0, lo, hi, -0.5 * np.log(2.0), 0.5 * np.log(2.0)]]).astype(dtype)
    y = np.empty_like(x)
    _exp_all(x, y)
    ref = np.exp(x.astype(np.longdouble))
    spacing = np.spacing(ref.astype(dtype)).astype(np.longdouble)
    ulp = np.abs(y.astype(np.longdouble) - ref) / spacing
    assert ulp.max() < 1.0
    assert y[x == 0.0][0] == 1.0


@nb.njit
def _scaled_all(x, c, out):
    for i in range(x.size):
        out[i] = scaled_exp_poly(max(x[i], c[-1]), c)


@pytest.mark.parametrize("dtype, scales", [
    (np.float64, [2.0 ** -963, 1e-250, 1e-12, 0.37, 1.0, 1.9999, 3.7, 1e6, 1e250, 2.0 ** 1022]),
    (np.float32, [2.0 ** -100, 1e-25, 1e-6, 0.37, 1.0, 3.7, 1e6, 1e30, 2.0 ** 126])])
def test_scaled_exp_poly_is_scale_times_exp(dtype, scales):
    """``scale * exp(x)`` for x <= 0 with the scale folded into the constants: within 1.5 ulp
    of the extended-precision product down to the clamp, where it stays a small normal number
    (never an exponent that wrapped around); scale 1 gives exp_poly's constants."""
    rng = np.random.default_rng(8)
    info = np.finfo(dtype)
    for scale in scales:
        c = exp_scale(scale, dtype)
        lo = float(c[-1])
        assert lo <= (-40.0 if dtype == np.float64 else -17.0)
        x = np.concatenate([rng.uniform(lo, 0.0, 40_000), rng.uniform(-1.0, 0.0, 10_000),
                            [0.0, lo]]).astype(dtype)
        y = np.empty_like(x)
        _scaled_all(x, c, y)
        ref = np.longdouble(dtype(scale)) * np.exp(x.astype(np.longdouble))
        spacing = np.spacing(ref.astype(dtype)).astype(np.longdouble)
        ulp = np.abs(y.astype(np.longdouble) - ref) / spacing
        assert ulp.max() < 1.5, (scale, ulp.max())
        below = np.full(100, 2 * lo - 50.0, dtype=dtype)  # clamped: scale exp(lo), normal
        _scaled_all(below, c, y[:100])
        assert np.all(y[:100] == y[x == lo][0]) and y[0] >= info.tiny, scale
    assert exp_scale(1.0, dtype)[-3:-1] == (1.0, (6755399441055744.0 if dtype == np.float64
                                                  else 12582912.0))
    assert exp_scale(scales[0] / 2, dtype) is None and exp_scale(scales[-1] * 2, dtype) is None
