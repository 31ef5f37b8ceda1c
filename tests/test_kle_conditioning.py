"""Conditioning a KLE on well data: against simple kriging computed independently (NumPy from
the model's formula, and GSTools' Simple kriging), with one noise or one per datum, data
honoured within the noise, vanishing spread at noise-free data, reproducible seeding, refusals
of bad data; well tables (CSV) read into the same conditioning, and every bad table refused
with one line naming the file, the line and the column."""

import hashlib
import re

import numpy as np
import pytest

import porevae as pv
from porevae.kle.conditioning import condition
from porevae.kle.welldata import read_wells


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


def test_noise_per_datum_equals_kriging_with_those_errors(rng):
    """Noise-free and noisy data together (each its own standard deviation): the posterior mean
    and covariance are simple kriging with ``C[c, c] + diag(noise^2)``; the noise-free data stay
    exact in every realization."""
    grid, model, kle, cells, values = _case(rng)
    noise = rng.uniform(0.1, 0.6, len(values))
    noise[::2] = 0.0
    post = condition(kle, None, values, noise, cells=cells)
    mean, cov = _kriging(grid, model, kle.mean, cells, values, np.diag(noise))
    np.testing.assert_allclose(grid.flatten(post.mean()), mean, rtol=0, atol=1e-8)
    b = kle.eigenvectors * np.sqrt(kle.eigenvalues)
    root = np.eye(kle.n_terms) - (post.basis * post.shrink) @ post.basis.T
    np.testing.assert_allclose(b @ root @ root.T @ b.T, cov, rtol=0, atol=1e-8)
    flat = np.ravel_multi_index(tuple(cells.T), grid.shape, order="F")
    ys = grid.flatten(post.sample(5, seed=2))
    np.testing.assert_allclose(ys[:, flat[::2]], np.broadcast_to(values[::2], (5, len(flat[::2]))),
                               rtol=0, atol=1e-9)
    assert np.all(np.abs(ys[:, flat[1::2]] - values[1::2]) > 1e-6)
    # one noise for all equals the same number given per datum
    one = condition(kle, None, values, 0.3, cells=cells)
    per = condition(kle, None, values, np.full(len(values), 0.3), cells=cells)
    np.testing.assert_allclose(per.mean(), one.mean(), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match=r"one per datum \(shape \(\d\,\)\)"):
        condition(kle, None, values, [0.1, 0.2], cells=cells)


def test_conditional_realization_is_the_same_alone_or_in_a_batch(rng):
    grid, _, kle, cells, values = _case(rng, full=False)
    post = condition(kle, None, values, 0.1, cells=cells)
    batch = post.sample(150, seed=4)                        # three aligned chunks of 64
    for i in (0, 63, 64, 130):
        np.testing.assert_array_equal(post.sample(1, seed=4, start=i)[0], batch[i])
    np.testing.assert_array_equal(post.sample(20, seed=4, start=60), batch[60:80])
    # field(z) maps the prior's coefficients of the same realization
    z = kle.coefficients(3, 4, 10)
    np.testing.assert_allclose(post.field(z), batch[10:13], rtol=0, atol=1e-12)
    assert post.params()["conditioning"]["cells"] == cells.tolist()


def test_labels_name_the_bad_datum():
    kle = pv.KLE(pv.Grid((10, 8)), pv.Exponential(0.3), n_terms=30)
    with pytest.raises(ValueError, match=r"^w.csv line 3: y = 1.5 is outside the grid's \[0, 1\]"):
        condition(kle, [[0.5, 0.5], [0.2, 1.5]], [1.0, 2.0], labels=["w.csv line 2",
                                                                       "w.csv line 3"])
    with pytest.raises(ValueError, match=r"^b: noise-free data repeated in one cell \(cell "
                                         r"\[1, 1\], from 0\) with a"):
        condition(kle, None, [1.0, 2.0], [0.0, 0.2], cells=[[1, 1], [1, 1]], labels="ab")


# ---- well tables (porevae.kle.welldata) -------------------------------------------------------

WELL_GRID = pv.Grid((10, 8), spacing=(10.0, 10.0))          # [0, 100] x [0, 80]
WELL_IJ = np.array([[2, 3], [7, 1], [5, 6]])


@pytest.fixture(scope="module")
def well_kle():
    return pv.KLE(WELL_GRID, pv.Exponential(30.0), n_terms=40, mean=0.5)


def _table(tmp_path, text, name="wells.csv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_xyz_and_ijk_tables_give_the_same_conditioned_field(tmp_path, well_kle, rng):
    values = rng.normal(size=3)
    xy = (WELL_IJ + rng.uniform(0.05, 0.95, WELL_IJ.shape)) * 10.0     # anywhere in the cell
    a = read_wells(_table(tmp_path, "x,y,value\n" + "\n".join(
        f"{x!r},{y!r},{v!r}" for (x, y), v in zip(xy.tolist(), values.tolist())), "a.csv"),
        WELL_GRID)
    b = read_wells(_table(tmp_path, "i,j,value\n" + "\n".join(
        f"{i},{j}.0,{v!r}" for (i, j), v in zip(WELL_IJ, values.tolist())), "b.csv"), WELL_GRID)
    c = read_wells(_table(tmp_path, "j,value,i\n" + "\n".join(
        f"{j + 1},{v!r},{i + 1}" for (i, j), v in zip(WELL_IJ, values.tolist())), "c.csv"),
        WELL_GRID,
        one_based=True)
    assert a.cells is None and b.locations is None and c.one_based
    np.testing.assert_array_equal(c.cells, WELL_IJ)
    ref = a.condition(well_kle)
    for t in (b, c):
        post = t.condition(well_kle)
        np.testing.assert_array_equal(post.cells, ref.cells)
        np.testing.assert_array_equal(post.sample(4, seed=1), ref.sample(4, seed=1))
    # without --one-based the same table means other cells (and here a different field)
    shifted = read_wells(tmp_path / "c.csv", WELL_GRID)
    np.testing.assert_array_equal(shifted.cells, WELL_IJ + 1)


def test_table_noise_zero_is_exact_and_noise_shrinks_the_spread(tmp_path, well_kle, rng):
    values = rng.normal(size=3)
    text = "well,i,j,value\n" + "\n".join(f"W{k},{i},{j},{v!r}" for k, ((i, j), v) in
                                           enumerate(zip(WELL_IJ, values.tolist())))
    table = read_wells(_table(tmp_path, text), WELL_GRID)
    flat = np.ravel_multi_index(tuple(WELL_IJ.T), WELL_GRID.shape, order="F")
    prior_std = float(np.sqrt(well_kle.cov.variance))
    exact = table.condition(well_kle)
    ys = WELL_GRID.flatten(exact.sample(30, seed=5))
    np.testing.assert_allclose(ys[:, flat], np.broadcast_to(values, (30, 3)), rtol=0, atol=1e-9)
    noisy = table.condition(well_kle, noise=0.4)
    std = WELL_GRID.flatten(noisy.std())[flat]
    assert np.all((std > 0.2) & (std < 0.8 * prior_std)), std
    spread = WELL_GRID.flatten(noisy.sample(300, seed=6))[:, flat].std(axis=0)
    np.testing.assert_allclose(spread, std, rtol=0.25)
    # the same noise as a column, per datum
    col = read_wells(_table(tmp_path, "well,i,j,noise,value\n" + "\n".join(
        f"W{k},{i},{j},0.4,{v!r}" for k, ((i, j), v) in enumerate(zip(WELL_IJ, values.tolist()))),
        "n.csv"), WELL_GRID)
    np.testing.assert_array_equal(col.noise, [0.4, 0.4, 0.4])
    np.testing.assert_allclose(col.condition(well_kle).std(), noisy.std(), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="n.csv has a noise column: give no other noise"):
        col.condition(well_kle, noise=0.1)


def test_table_syntax_comments_bom_quotes_and_case(tmp_path, well_kle):
    text = ('\ufeff# wells of field A\n\n Well , X ,Y, Value\n"P 1",15,35,1.5\n# shut in\n'
            '"P2",75,15,-1\n')
    t = read_wells(_table(tmp_path, text), WELL_GRID)
    assert t.columns == ("well", "x", "y", "value") and len(t) == 2
    assert t.labels == (f"{tmp_path / 'wells.csv'} line 4 (well P 1)",
                        f"{tmp_path / 'wells.csv'} line 6 (well P2)")
    np.testing.assert_array_equal(t.values, [1.5, -1.0])
    assert t.sha256 == hashlib.sha256(text.encode()).hexdigest()


BAD_TABLES = [
    ("", "empty table"),
    ("x,y,value\n", r"no data below the header \(line 1\)"),
    ("value\n1\n", "line 1: no position"),
    ("x,value\n5,1\n", "line 1: missing column 'y'"),
    ("x,y\n5,5\n", "line 1: missing column 'value'"),
    ("x,y,z,value\n5,5,5,1\n", "line 1: column 'z' for a 2-D grid"),
    ("x,y,i,j,value\n5,5,0,0,1\n", "line 1: columns x, y, i, j: give the position as"),
    ("x,y,vlaue\n5,5,1\n", "line 1: unknown column 'vlaue'"),
    ("x,y,value,Value\n5,5,1,1\n", "line 1: column 'value' appears twice"),
    ("x,y,value\n5,5,1\n5,5\n", r"line 3: 2 fields, the header \(line 1\) names 3 columns"),
    ("x,y,value\n5,abc,1\n", "line 2, column 'y': 'abc' is not a number"),
    ("x,y,value\n5,5,nan\n", "line 2, column 'value': nan is not a finite number"),
    ("x,y,value\n5,5,\n", "line 2, column 'value': empty"),
    ("well,x,y,value\nP7,150,5,1\n",
     r"line 2 \(well P7\): x = 150 is outside the grid's \[0, 100\]"),
    ("i,j,value\n10,0,1\n", "line 2, column 'i': 10 is outside 0..9"),
    ("i,j,value\n1.5,0,1\n", "line 2, column 'i': 1.5 is not an integer cell index"),
    ("x,y,value,noise\n5,5,1,-0.1\n", "line 2, column 'noise': -0.1 must be >= 0"),
    ("x,y,value\n5,5,1\n6,6,2\n", r"line 3: noise-free data repeated in one cell \(cell \[0, 0\]"),
    (b"x,y,value\n5,5,\xff1\n", "not a UTF-8 text table"),
    ('x,y,value\n"5,5,1\n', "line 2: not a CSV line"),
]


@pytest.mark.parametrize("text, msg", BAD_TABLES)
def test_bad_tables_are_refused_with_one_line(tmp_path, well_kle, text, msg):
    path = _table(tmp_path, text)
    with pytest.raises(ValueError) as err:
        read_wells(path, WELL_GRID).condition(well_kle)
    text = str(err.value)
    assert text.startswith(str(path)) and "\n" not in text
    assert re.search(msg, text), text


def test_table_refusals_of_options_and_missing_files(tmp_path, well_kle):
    with pytest.raises(FileNotFoundError, match="well table .*none.csv' does not exist"):
        read_wells(tmp_path / "none.csv", WELL_GRID)
    path = _table(tmp_path, "x,y,value\n5,5,1\n")
    with pytest.raises(ValueError, match="one_based .* is for cell indices"):
        read_wells(path, WELL_GRID, one_based=True)
    path = _table(tmp_path, "i,j,value\n0,0,1\n")
    with pytest.raises(ValueError, match=r"column 'i': 0 is outside 1\.\.10"):
        read_wells(path, WELL_GRID, one_based=True)


def test_corner_point_tables_inactive_cells_and_locations(tmp_path):
    """A 3 x 2 x 2 grid of 10 m cubes with cell (1, 1, 1) inactive (built from its centres)."""
    from porevae.cornerpoint import CornerPointGrid

    shape = (3, 2, 2)
    actnum = np.ones(shape, bool)
    actnum[1, 1, 1] = False
    ijk = np.stack(np.unravel_index(np.flatnonzero(actnum.ravel(order="F")), shape, order="F"), 1)
    grid = CornerPointGrid(shape, actnum, (ijk + 0.5) * 10.0, np.full(len(ijk), 1000.0))
    kle = pv.KLE(grid, pv.Exponential(15.0), n_terms=grid.n_cells)
    a = read_wells(_table(tmp_path, "i,j,k,value\n1,1,2,0.3\n3,2,2,-0.2\n", "a.csv"), grid,
                   one_based=True)
    b = read_wells(_table(tmp_path, "x,y,z,value\n6,4,13,0.3\n28,17,19,-0.2\n", "b.csv"), grid)
    np.testing.assert_array_equal(a.condition(kle).cells, b.condition(kle).cells)
    np.testing.assert_allclose(a.condition(kle).sample(2, seed=1)[:, a.condition(kle).cells],
                               [[0.3, -0.2]] * 2, rtol=0, atol=1e-9)
    bad = _table(tmp_path, "well,i,j,k,value\nP1,2,2,2,1\n", "c.csv")
    with pytest.raises(ValueError, match=r"c.csv line 2 \(well P1\), columns i, j, k: cell "
                                         r"\(2, 2, 2\) \(counted from 1\) is inactive"):
        read_wells(bad, grid, one_based=True)
    far = _table(tmp_path, "x,y,z,value\n15,15,17,1\n", "d.csv")
    with pytest.raises(ValueError, match=r"d.csv line 2: location \[15.0, 15.0, 17.0\] is "
                                         r"outside the active cells"):
        read_wells(far, grid).condition(kle)
