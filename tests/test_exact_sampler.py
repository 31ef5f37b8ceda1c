"""The exact sampler (circulant embedding, porevae.kle.exact): its covariance equals the model's
exactly on small grids (from its linear map, against the dense model matrix), empirically on
thousands of realizations, reproducible per realization; conditioning by kriging the residuals
against GSTools' simple kriging; refusals before allocation."""

from __future__ import annotations

import json

import numpy as np
import pytest

import porevae as pv
import porevae._validation
from porevae.export.samples import write_samples
from porevae.kle import exact
from porevae.kle.exact import ExactSampler


def dense_covariance(grid, model):
    """The model's covariance matrix of the cell centres (float64, I-fastest order), formed
    directly from the offsets (no grid structure)."""
    pts = grid.cell_centers()
    return model(pts[:, None, :] - pts[None, :, :])


def linear_map(sampler, chunk=512):
    """The matrix A (n_cells, 2 H) of the sampler's map from its half-spectrum noise (H complex
    normals: 2 H real ones) to a field, column by column from unit noise: the field's covariance
    is ``A A^T``."""
    half = sampler._amp.shape
    h = int(np.prod(half))
    ctype = np.complex64 if sampler.dtype == "float32" else np.complex128
    cols = []
    for j0 in range(0, 2 * h, chunk):
        j = np.arange(j0, min(j0 + chunk, 2 * h))
        unit = np.zeros((len(j), h), dtype=ctype)
        unit[np.arange(len(j)), j // 2] = np.where(j % 2 == 0, 1.0, 1j)
        cols.append(sampler.grid.flatten(np.asarray(
            sampler.fields_from_noise(unit.reshape(len(j), *half)), dtype=np.float64)))
    return np.concatenate(cols).T


CASES = [  # shape, spacing (None: the unit square/cube), model
    ((7,), None, pv.Exponential(0.3)),
    ((8,), (0.13,), pv.SquaredExponential(0.15, variance=2.5)),
    ((9, 6), (0.1, 0.13), pv.Exponential((0.3, 0.1))),
    ((8, 5), None, pv.Matern((0.2, 0.4), nu=2.5, variance=0.7)),
    ((6, 7), None, pv.SquaredExponential((0.2, 0.3), convention="sklearn")),
    ((5, 4, 3), None, pv.Exponential((0.3, 0.2, 0.5))),
    ((6, 5, 4), None, pv.Exponential((0.3, 0.3, 0.1), metric="l1")),
    ((4, 1, 3), (0.2, 0.1, 0.3), pv.Matern(0.4, nu=0.8)),
    ((9, 6), (0.1, 0.13), pv.Exponential((0.4, 0.1), azimuth=30.0)),
    ((5, 4, 3), None, pv.Matern((0.4, 0.2, 0.3), nu=1.5, azimuth=120.0, dip=25.0, rake=-10.0)),
]


@pytest.mark.parametrize("shape, spacing, model", CASES, ids=lambda c: str(c))
def test_covariance_is_the_model_exactly(shape, spacing, model):
    grid = pv.Grid(shape, spacing=spacing)
    dense = dense_covariance(grid, model)
    sampler = ExactSampler(grid, model, tol=1e-10)
    assert all(m >= (2 * n - 1 if model.rotated else 2 * (n - 1))
               for m, n in zip(sampler.embedding, shape))
    assert sampler.clip_error <= 1e-10 * model.variance
    a = linear_map(sampler)
    np.testing.assert_allclose(a @ a.T, dense, rtol=0, atol=1e-12 * model.variance)
    f32 = linear_map(ExactSampler(grid, model, dtype="float32", tol=1e-10))
    np.testing.assert_allclose(f32 @ f32.T, dense, rtol=0, atol=2e-6 * model.variance)
    # the default tolerance: every covariance entry within the stated bound clip_error
    default = ExactSampler(grid, model)
    assert default.clip_error <= exact.TOL * model.variance
    b = linear_map(default)
    assert np.abs(b @ b.T - dense).max() <= default.clip_error + 1e-12 * model.variance


def test_padding_grows_until_the_embedding_is_positive_definite():
    grid = pv.Grid((24,), spacing=1.0)
    model = pv.SquaredExponential(12.0)  # long and smooth: the minimal embedding is indefinite
    minimal = exact._minimal_embedding(grid.shape, False)
    lam = np.fft.rfft(exact.circulant_row(grid, model, minimal)).real
    assert lam.min() < -1e-6 * lam.max()
    sampler = ExactSampler(grid, model, tol=1e-10)
    assert sampler.embedding[0] > minimal[0]
    assert sampler.clip_error <= 1e-10
    a = linear_map(sampler)
    np.testing.assert_allclose(a @ a.T, dense_covariance(grid, model), rtol=0, atol=1e-9)


def test_padding_grows_only_along_the_axes_that_wrap_too_early():
    grid = pv.Grid((24, 20), spacing=1.0)
    model = pv.Exponential((20.0, 1.5))   # long along x, short along y
    sampler = ExactSampler(grid, model, tol=1e-10)
    minimal = exact._minimal_embedding(grid.shape, False)
    assert sampler.embedding[0] > minimal[0] and sampler.embedding[1] == minimal[1]
    a = linear_map(sampler)
    np.testing.assert_allclose(a @ a.T, dense_covariance(grid, model), rtol=0, atol=1e-9)
    relaxed = ExactSampler(grid, model, tol=0.05)
    assert relaxed.embedding == minimal and 0 < relaxed.clip_error <= 0.05


def test_refuses_a_correlation_too_long_for_the_grid():
    with pytest.raises(ValueError, match=r"not positive definite up to .* use porevae.KLE"):
        ExactSampler(pv.Grid((16, 16)), pv.SquaredExponential(5.0), tol=1e-10)


def test_refuses_a_model_that_is_not_positive_definite():
    # a smooth Matern with the L1 metric is no covariance in 2-D: no padding makes its
    # embedding positive definite; refused with the padding tried and the error left
    with pytest.raises(ValueError, match=r"not positive definite up to \(800, 800\) \(16x the "
                                         r"minimal padding.*or the model is not positive"):
        ExactSampler(pv.Grid((20, 20)), pv.Matern(0.3, nu=2.5, metric="l1"))


def test_empirical_covariance_of_thousands_of_realizations(rng):
    grid = pv.Grid((14, 11))
    model = pv.Exponential((0.3, 0.15), variance=1.7)
    n = 4000
    y = grid.flatten(ExactSampler(grid, model, mean=0.5).sample(n, seed=int(rng.integers(1e9))))
    c = dense_covariance(grid, model)
    emp = np.cov(y, rowvar=False)
    # sampling error of a covariance entry: sqrt((c_ij^2 + c_ii c_jj) / n), at most 0.038 here
    rms = np.sqrt(np.mean((emp - c) ** 2)) / model.variance
    assert rms < 0.03, rms
    assert abs(y.mean() - 0.5) < 4 * np.sqrt(model.variance / n)
    np.testing.assert_allclose(np.diag(emp).mean(), model.variance, rtol=0.03)


def test_realization_is_the_same_alone_or_in_a_batch(monkeypatch):
    grid = pv.Grid((20, 16))
    sampler = ExactSampler(grid, pv.Exponential(0.2), dtype="float32")
    batch = sampler.sample(9, seed=42, start=3)
    for k in (0, 4, 8):
        np.testing.assert_array_equal(sampler.sample(1, seed=42, start=3 + k)[0], batch[k])
    monkeypatch.setattr(exact, "BATCH_BYTES", 1)  # one realization per FFT
    assert sampler._batch() == 1
    np.testing.assert_array_equal(sampler.sample(9, seed=42, start=3), batch)
    assert not np.array_equal(sampler.sample(1, seed=43, start=3)[0], batch[0])
    assert batch.dtype == np.float32 and batch.shape == (9, 20, 16)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conditional_realization_is_the_same_alone_or_in_a_batch(dtype, rng):
    # a product over the batch (BLAS gemm) rounds otherwise than one realization alone (gemv):
    # the kriging update is formed per realization
    grid = pv.Grid((40, 30))
    sampler = ExactSampler(grid, pv.Exponential((0.2, 0.1)), dtype=dtype)
    flat = rng.choice(grid.n_cells, size=12, replace=False)
    cells = np.stack(np.unravel_index(flat, grid.shape, order="F"), axis=-1)
    for noise in (0.0, 0.2):
        post = sampler.condition(None, rng.normal(0.0, 1.0, 12), noise, cells=cells)
        batch = post.sample(7, seed=3, start=2)
        for k in range(7):
            np.testing.assert_array_equal(post.sample(1, seed=3, start=2 + k)[0], batch[k])
        np.testing.assert_array_equal(post.sample(3, seed=3, start=6), batch[4:])
        assert batch.dtype == np.dtype(dtype)


def test_mean_lognormal_and_the_stack_writer(tmp_path):
    grid = pv.Grid((12, 10))
    sampler = ExactSampler(grid, pv.Matern(0.2, nu=1.5), mean=-1.0)
    y = sampler.sample(5, seed=7)
    np.testing.assert_allclose(sampler.lognormal(5, seed=7), np.exp(y), rtol=1e-12)
    path = write_samples(sampler, tmp_path / "s.npy", 5, seed=7, batch_size=2)
    np.testing.assert_array_equal(np.load(path), y)
    assert sampler.params()["method"] == "exact" and sampler.energy == 1.0


def _conditioning_case(rng, shape=(15, 12)):
    grid = pv.Grid(shape)
    model = pv.Exponential((0.25, 0.15), variance=1.3)
    m = 6
    flat = rng.choice(grid.n_cells, size=m, replace=False)
    cells = np.stack(np.unravel_index(flat, shape, order="F"), axis=-1)
    return grid, model, flat, cells, rng.normal(0.4, 1.0, m)


def test_conditioning_equals_gstools_simple_kriging_and_honours_the_data(rng):
    gs = pytest.importorskip("gstools")
    grid, model, flat, cells, values = _conditioning_case(rng)
    sampler = ExactSampler(grid, model, mean=0.4)
    post = sampler.condition(None, values, cells=cells)
    pts = grid.cell_centers()
    g = gs.Exponential(dim=2, var=model.variance, len_scale=list(model.length_scale))
    mean, var = gs.krige.Simple(g, cond_pos=pts[flat].T, cond_val=values, mean=0.4)(
        pts.T, return_var=True)
    np.testing.assert_allclose(grid.flatten(post.mean()), mean, rtol=0, atol=1e-10)
    np.testing.assert_allclose(grid.flatten(post.std()) ** 2, var, rtol=0, atol=1e-10)
    # each realization = the prior's + GSTools' kriging of its residuals at the data (CondSRF)
    prior, ys = sampler.sample(3, seed=5), post.sample(3, seed=5)
    for y0, y in zip(grid.flatten(prior), grid.flatten(ys)):
        kr = gs.krige.Simple(g, cond_pos=pts[flat].T, cond_val=values - y0[flat], mean=0.0)
        np.testing.assert_allclose(y - y0, kr(pts.T, return_var=False), rtol=0, atol=1e-10)
        np.testing.assert_allclose(y[flat], values, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(post.sample(2, seed=5, start=1), ys[1:])
    again = ExactSampler.from_params(json.loads(json.dumps(post.params())))
    np.testing.assert_array_equal(again.sample(3, seed=5), ys)
    np.testing.assert_array_equal(ExactSampler.from_params(sampler.params()).sample(2, seed=5),
                                  prior[:2])


def test_conditional_spread_matches_kriging_variance(rng):
    grid, model, flat, cells, values = _conditioning_case(rng, (10, 9))
    post = ExactSampler(grid, model).condition(None, values, cells=cells)
    ys = grid.flatten(post.sample(2000, seed=1))
    np.testing.assert_allclose(ys[:, flat], np.broadcast_to(values, (2000, len(values))),
                               rtol=0, atol=1e-12)
    sd = grid.flatten(post.std())
    free = sd > 0.3
    np.testing.assert_allclose(ys.std(axis=0)[free], sd[free], rtol=0.08)
    np.testing.assert_allclose(ys.mean(axis=0), grid.flatten(post.mean()), rtol=0,
                               atol=5 * np.sqrt(model.variance / 2000))


def test_noisy_data_are_honoured_within_their_noise(rng):
    grid, model, flat, cells, values = _conditioning_case(rng, (10, 9))
    post = ExactSampler(grid, model).condition(None, values, 0.3, cells=cells)
    ys = grid.flatten(post.sample(3000, seed=2))[:, flat]
    # the spread at a datum is the kriging standard deviation there, > 0 but < the noise
    sd = grid.flatten(post.std())[flat]
    assert np.all((sd > 0.05) & (sd < 0.3))
    np.testing.assert_allclose(ys.std(axis=0), sd, rtol=0.1)
    np.testing.assert_allclose(ys.mean(axis=0), grid.flatten(post.mean())[flat], rtol=0,
                               atol=5 * 0.3 / np.sqrt(3000))
    assert post.params()["conditioning"]["noise"] == [0.3] * len(values)


def test_bad_input_is_refused():
    grid = pv.Grid((10, 8))
    cases = [(lambda: ExactSampler(np.zeros((3, 3)), pv.Exponential(0.1)), TypeError,
              "regular porevae.Grid"),
             (lambda: ExactSampler(grid, "exponential"), TypeError, "covariance model"),
             (lambda: ExactSampler(grid, pv.Exponential((0.1, 0.1, 0.1))), ValueError,
              "length_scale has 3 values"),
             (lambda: ExactSampler(grid, pv.Exponential(0.1), dtype="float16"), ValueError,
              "dtype must be one of"),
             (lambda: ExactSampler(grid, pv.Exponential(0.1), mean=np.inf), ValueError,
              "mean must be finite"),
             (lambda: ExactSampler(grid, pv.Exponential(0.1), tol=0), ValueError,
              r"tol must be in \(0, 1\)")]
    for make, err, msg in cases:
        with pytest.raises(err, match=msg):
            make()
    s = ExactSampler(grid, pv.Exponential(0.3))
    for kwargs, msg in [(dict(locations=[[1.2, 0.5]], values=[1.0]), "outside the grid"),
                        (dict(locations=None, values=[1.0, 2.0], cells=[[1, 1], [1, 1]]),
                         "singular"),
                        (dict(locations=None, values=[1.0], cells=[[1, 1]], noise=-0.1),
                         "noise must be"),
                        (dict(locations=None, values=[np.nan], cells=[[1, 1]]), "finite"),
                        (dict(locations=None, values=[1.0, 2.0], cells=[[1, 1]]),
                         "2 values for 1")]:
        with pytest.raises(ValueError, match=msg):
            s.condition(**kwargs)
    # two noisy data in one cell average (allowed)
    s.condition(None, [1.0, 2.0], 0.1, cells=[[1, 1], [1, 1]])
    with pytest.raises(ValueError, match="n must be in"):
        s.sample(-1)


def test_grids_that_do_not_fit_are_refused_before_allocation(monkeypatch):
    monkeypatch.setattr(porevae._validation, "available_memory", lambda: 64 * 2**20)
    # the 2000 x 2000 embedding would need ~64 MB of set-up: refused before the first row
    with pytest.raises(MemoryError, match=r"circulant embedding \(2000, 2000\)"):
        ExactSampler(pv.Grid((1001, 1001)), pv.Exponential(0.1))
    small = ExactSampler(pv.Grid((64, 64)), pv.Exponential(0.1))
    with pytest.raises(MemoryError, match="5000 exact realizations"):
        small.sample(5000)
    monkeypatch.setattr(porevae._validation, "available_memory", lambda: 2**16)
    with pytest.raises(MemoryError, match="kriging weights of 3 data"):
        small.condition(None, [1.0, 0.0, -1.0], cells=[[1, 1], [5, 9], [30, 2]])
