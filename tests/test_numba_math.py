"""The shared vectorisable exponential of the Numba CPU kernels against extended-precision exp."""

import numba as nb
import numpy as np
import pytest

from porevae.ops._numba_math import exp_poly


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
