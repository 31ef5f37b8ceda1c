"""Conditioning a KLE on well data: against simple kriging computed independently (NumPy from
the model's formula, and GSTools' Simple kriging), data honoured within the noise, vanishing
spread at noise-free data, reproducible seeding, refusals of bad data."""

import numpy as np
import pytest

import porevae as pv
from porevae.kle.conditioning import condition


def _case(rng, full=True):
    grid = pv.Grid((int(rng.integers(8, 14)), int(rng.integers(6, 11))),
                   spacing=tuple(rng.uniform(0.05, 0.12, 2)))
    model = pv.Exponential(tuple(rng.uniform(0.15, 0.4, 2)), variance=float(rng.uniform(0.5, 2)))
    kle = pv.KLE(grid, model, n_terms=grid.n_cells if full else 20, mean=float(rng.normal()))
    m = int(rng.integers(3, 7))
    cells = np.stack([rng.choice(grid.shape[0], m, replace=False),
                      rng.choice(grid.shape[1], m, replace=False)], axis=1)
    values = kle.mean + rng.normal(size=m)
    return grid, model, kle, cells, values


def _kriging(grid, model, mean, cells, values, noise):
    pts = grid.cell_centers()
    flat = np.ravel_multi_index(tuple(cells.T), grid.shape, order="F")
    c = model(pts[:, None, :] - pts[None, :, :])
    k = c[np.ix_(flat, flat)] + noise**2 * np.eye(len(flat))
    w = np.linalg.solve(k, c[flat])                     # (m, n)
    return mean + w.T @ (values - mean), c - c[:, flat] @ w


@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_conditional_mean_and_covariance_equal_simple_kriging(rng, noise):
    grid, model, kle, cells, values = _case(rng)
    post = condition(kle, None, values, noise, cells=cells)
    mean, cov = _kriging(grid, model, kle.mean, cells, values, noise)
    np.testing.assert_allclose(grid.flatten(post.mean()), mean, rtol=0, atol=1e-8)
    # the posterior covariance of the field, B Sigma B^T, from the sampling factor
    b = kle.eigenvectors * np.sqrt(kle.eigenvalues)
    root = np.eye(kle.n_terms) - (post.basis * post.shrink) @ post.basis.T
    np.testing.assert_allclose(b @ root @ root.T @ b.T, cov, rtol=0, atol=1e-8)
    np.testing.assert_allclose(grid.flatten(post.std()) ** 2, np.clip(np.diag(cov), 0, None),
                               rtol=0, atol=1e-8)


def test_against_gstools_simple_kriging(rng):
    gs = pytest.importorskip("gstools")
    grid, model, kle, cells, values = _case(rng)
    post = condition(kle, None, values, cells=cells)
    g = gs.Exponential(dim=2, var=model.variance, len_scale=list(model.length_scale))
    pts = grid.cell_centers()
    flat = np.ravel_multi_index(tuple(cells.T), grid.shape, order="F")
    krige = gs.krige.Simple(g, cond_pos=pts[flat].T, cond_val=values, mean=kle.mean)
    field, _ = krige(pts.T, return_var=True)
    np.testing.assert_allclose(grid.flatten(post.mean()), field, rtol=0, atol=1e-8)


def test_realizations_honour_data_and_are_seeded_like_the_prior(rng):
    grid, _, kle, cells, values = _case(rng, full=False)
    flat = np.ravel_multi_index(tuple(cells.T), grid.shape, order="F")
    post = condition(kle, None, values, cells=cells)
    ys = grid.flatten(post.sample(40, seed=11))
    # noise-free: every realization equals the data where the truncated KLE can resolve them
    # (exactly as the conditional mean does); the spread there vanishes
    np.testing.assert_allclose(ys[:, flat], np.broadcast_to(grid.flatten(post.mean())[flat],
                                                             ys[:, flat].shape), atol=1e-9)
    assert float(grid.flatten(post.std())[flat].max()) < 1e-6
    assert float(ys.std(axis=0).max()) > 0.1  # elsewhere the realizations differ
    np.testing.assert_array_equal(post.sample(3, seed=11, start=5), post.sample(40, seed=11)[5:8])
    noisy = condition(kle, None, values, 0.2, cells=cells)
    spread = grid.flatten(noisy.sample(400, seed=3))[:, flat]
    assert np.all(spread.std(axis=0) > 0.02)       # data honoured within the noise only
    np.testing.assert_allclose(spread.mean(axis=0), grid.flatten(noisy.mean())[flat],
                               atol=4 * 0.2 / np.sqrt(400) * 5)
    assert np.all(np.isfinite(noisy.lognormal(2, seed=1)))


def test_locations_map_to_cells_and_bad_data_is_refused():
    grid = pv.Grid((10, 8))
    kle = pv.KLE(grid, pv.Exponential(0.3), n_terms=30)
    a = kle.condition([[0.05, 0.07], [0.95, 0.99]], [1.0, -0.5])
    np.testing.assert_array_equal(a.cells, np.ravel_multi_index(([0, 9], [0, 7]), (10, 8),
                                                                  order="F"))
    cases = [(dict(locations=[[1.2, 0.5]], values=[1.0]), "outside the grid"),
             (dict(locations=None, values=[1.0], cells=[[10, 0]]), "outside the grid"),
             (dict(locations=None, values=[1.0, 2.0], cells=[[1, 1], [1, 1]]), "repeated in"),
             (dict(locations=None, values=[1.0], cells=[[1, 1]], noise=-0.1), "noise must be"),
             (dict(locations=None, values=[np.nan], cells=[[1, 1]]), "finite"),
             (dict(locations=None, values=[1.0, 2.0], cells=[[1, 1]]), "2 values for 1"),
             (dict(locations=None, values=[1.0], cells=[[1.5, 1]]), "integer indices"),
             (dict(locations=None, values=[1.0]), "locations")]
    for kwargs, msg in cases:
        with pytest.raises(ValueError, match=msg):
            condition(kle, **kwargs)
    condition(kle, None, [1.0, 2.0], 0.1, cells=[[1, 1], [1, 1]])  # with noise: allowed
