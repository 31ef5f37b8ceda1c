"""The KLE object: truncation, sampling statistics, seeding, projection, persistence, errors."""

import math
import time
import tracemalloc

import h5py
import numpy as np
import pytest
import torch

import porevae as pv
from porevae._files import FileIntegrityError
from porevae.kle import _device
from porevae.kle.expansion import n_terms_for_energy


def dense_cov(grid, model):
    pts = grid.cell_centers()
    return model(pts[:, None, :] - pts[None, :, :])


@pytest.fixture
def small(rng):
    grid = pv.Grid((int(rng.integers(5, 9)), int(rng.integers(4, 8))),
                   spacing=tuple(rng.uniform(0.05, 0.2, 2)))
    model = pv.Exponential(tuple(rng.uniform(0.2, 0.6, 2)), variance=float(rng.uniform(0.5, 2)))
    return grid, model


def test_energy_table_matches_dense_spectrum(small):
    grid, model = small
    w = np.linalg.eigvalsh(dense_cov(grid, model))[::-1]
    cum = np.cumsum(w) / (grid.n_cells * model.variance)
    levels = [0.5, 0.8, 0.9, 0.97, 1.0]
    expected = {lv: (int(np.argmax(cum >= lv - 1e-15)) + 1 if lv < 1 else grid.n_cells)
                for lv in levels}
    assert pv.energy_table(grid, model, levels) == expected
    kle = pv.KLE(grid, model, energy=0.9)
    assert kle.n_terms == expected[0.9] and kle.energy >= 0.9
    assert kle.energy_table(levels) == expected
    # leading-only solvers reach the same table by growing the computed spectrum
    assert pv.energy_table(grid, model, levels[:-1], solver="fft") == \
        {lv: expected[lv] for lv in levels[:-1]}


def test_n_terms_for_energy_edges():
    w = np.array([3.0, 2.0, 1.0])
    assert n_terms_for_energy(w, 0.5, 6.0, 3) == 1
    assert n_terms_for_energy(w, 0.51, 6.0, 3) == 2
    assert n_terms_for_energy(w, 1.0, 6.0, 3) == 3
    assert n_terms_for_energy(w[:1], 0.9, 6.0, 3) is None


def test_sample_covariance_converges_to_c(small, rng):
    grid, model = small
    kle = pv.KLE(grid, model, n_terms=grid.n_cells)  # complete: the samples have covariance C
    n = 20_000
    y = grid.flatten(kle.sample(n, seed=int(rng.integers(2**31))))
    assert y.shape == (n, grid.n_cells)
    c_hat = np.cov(y, rowvar=False)
    c = dense_cov(grid, model)
    # each entry's standard error is at most sigma^2 sqrt(2 / n); 6 standard errors
    assert np.max(np.abs(c_hat - c)) < 6 * model.variance * math.sqrt(2 / n)
    assert np.max(np.abs(y.mean(axis=0))) < 6 * math.sqrt(model.variance / n)


def test_sampling_is_batch_invariant_and_seeded(small):
    grid, model = small
    kle = pv.KLE(grid, model, n_terms=7)
    a = kle.sample(10, seed=42)
    assert a.shape == (10, *grid.shape)
    np.testing.assert_array_equal(kle.sample(4, seed=42, start=6), a[6:])
    np.testing.assert_array_equal(kle.sample(1, seed=42, start=3)[0], a[3])
    assert not np.allclose(kle.sample(1, seed=43)[0], a[0])
    # the first coefficients of a realization do not depend on the truncation
    more = pv.KLE(grid, model, n_terms=12)
    np.testing.assert_array_equal(more.coefficients(3, seed=5)[:, :7], kle.coefficients(3, 5))
    big = kle.sample(150, seed=42)  # spans three sampling chunks
    np.testing.assert_array_equal(big[:10], a)
    np.testing.assert_array_equal(kle.sample(1, seed=42, start=137)[0], big[137])
    np.testing.assert_array_equal(kle.sample(30, seed=42, start=60), big[60:90])
    t = kle.sample(10, seed=42, as_tensor=True)
    assert isinstance(t, torch.Tensor) and t.shape == a.shape
    np.testing.assert_allclose(t.numpy(), a, rtol=0, atol=1e-12)


def test_project_inverts_field(small):
    grid, model = small
    kle = pv.KLE(grid, model, n_terms=9, mean=1.5)
    xi = kle.coefficients(5, seed=1)
    y = kle.field(xi)
    assert y.shape == (5, *grid.shape)
    np.testing.assert_allclose(kle.project(y), xi, atol=1e-10)
    np.testing.assert_allclose(kle.project(y[2]), xi[2], atol=1e-10)
    # torch: differentiable both ways
    xt = torch.tensor(xi, requires_grad=True)
    yt = kle.field(xt)
    np.testing.assert_allclose(yt.detach().numpy(), y, atol=1e-12)
    back = kle.project(yt)
    back.sum().backward()
    np.testing.assert_allclose(back.detach().numpy(), xi, atol=1e-10)
    np.testing.assert_allclose(xt.grad.numpy(), np.ones_like(xi), atol=1e-10)


def test_lognormal_and_float32(small):
    grid, model = small
    k64 = pv.KLE(grid, model, n_terms=6)
    k32 = pv.KLE(grid, model, n_terms=6, dtype="float32")
    assert k32.eigenvectors.dtype == np.float32
    y32 = k32.sample(3, seed=9)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, k64.sample(3, seed=9), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(k64.lognormal(3, seed=9), np.exp(k64.sample(3, seed=9)),
                               rtol=1e-14)


def test_save_load_round_trip(tmp_path, small):
    grid, model = small
    kle = pv.KLE(grid, model, energy=0.8, mean=-0.5, dtype="float32")
    kle.energy_table([0.95])
    path = tmp_path / "kle.h5"
    kle.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["kle.h5"]  # no temporary left behind
    back = pv.KLE.load(path)
    assert back.params() == kle.params()
    assert back.grid == grid and back.cov.to_dict() == model.to_dict()
    np.testing.assert_array_equal(back.eigenvalues, kle.eigenvalues)
    np.testing.assert_array_equal(back.eigenvectors, kle.eigenvectors)
    np.testing.assert_array_equal(back.sample(4, seed=3), kle.sample(4, seed=3))
    assert back.energy_table([0.8, 0.95]) == kle.energy_table([0.8, 0.95])
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = 1
    with pytest.raises(ValueError, match="not a porevae KLE file"):
        pv.KLE.load(other)


def test_from_eigenpairs_is_the_constructor_path(small):
    """``__init__`` and ``load`` both end in ``from_eigenpairs``' setup: same attributes."""
    grid, model = small
    kle = pv.KLE(grid, model, n_terms=5, mean=0.25)
    made = pv.KLE.from_eigenpairs(grid, model, kle.eigenvalues, kle.eigenvectors,
                                  solver=kle.solver, mean=0.25)
    assert vars(made).keys() == vars(kle).keys()
    assert made.params() == kle.params()
    np.testing.assert_array_equal(made.sample(3, seed=1), kle.sample(3, seed=1))
    with pytest.raises(ValueError, match="eigenvectors"):
        pv.KLE.from_eigenpairs(grid, model, kle.eigenvalues, kle.eigenvectors[:-1])


def _corrupt(path, how, rng):
    data = bytearray(path.read_bytes())
    if how == "middle":  # bytes overwritten in the middle of the file
        mid = len(data) // 2
        data[mid:mid + 64] = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
    elif how == "truncated":
        data = data[: len(data) * 2 // 3]
    elif how == "garbage":
        data = bytearray(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how, match", [("middle", "checksum mismatch|not a readable"),
                                        ("truncated", "not a readable"),
                                        ("garbage", "not a readable")])
def test_corrupted_kle_files_are_refused(tmp_path, small, rng, how, match):
    grid, model = small
    kle = pv.KLE(grid, model, n_terms=grid.n_cells)  # the eigenvectors fill most of the file
    path = tmp_path / "kle.h5"
    kle.save(path)
    _corrupt(path, how, rng)
    with pytest.raises(FileIntegrityError, match=match) as err:
        pv.KLE.load(path)
    assert str(path) in str(err.value)


def test_checksum_covers_every_array_and_the_parameters(tmp_path, small):
    grid, model = small
    kle = pv.KLE(grid, model, n_terms=4)
    path = tmp_path / "kle.h5"
    for name in ("eigenvalues", "eigenvectors", "known_eigenvalues", "params", "missing",
                 "no checksum"):
        kle.save(path)
        with h5py.File(path, "r+") as f:
            if name == "params":
                f.attrs["porevae_kle"] = f.attrs["porevae_kle"].replace('"mean": 0.0',
                                                                        '"mean": 1.0')
            elif name == "missing":
                del f["known_eigenvalues"]
            elif name == "no checksum":
                del f.attrs["sha256"]
            else:
                f[name][0] = f[name][0] + 1e-9
        match = {"missing": "without dataset", "no checksum": "without a checksum"}.get(
            name, "checksum mismatch")
        with pytest.raises(FileIntegrityError, match=match):
            pv.KLE.load(path)
    with pytest.raises(FileIntegrityError, match="not a readable"):
        pv.KLE.load(tmp_path / "absent.h5")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_project_and_field_refuse_non_finite_input(small, bad):
    grid, model = small
    kle = pv.KLE(grid, model, n_terms=4)
    y = kle.sample(2, seed=0)
    y[1, 0, 0] = bad
    with pytest.raises(ValueError, match="fields has 1 NaN or infinite"):
        kle.project(y)
    with pytest.raises(ValueError, match="fields has 1 NaN"):
        kle.project(torch.from_numpy(y))
    xi = kle.coefficients(2, seed=0)
    xi[0, 2] = bad
    with pytest.raises(ValueError, match="xi has 1 NaN or infinite"):
        kle.field(xi)
    with pytest.raises(ValueError, match="xi has 1 NaN"):
        kle.field(torch.from_numpy(xi))


def test_energy_with_a_leading_only_solver_matches_parity(rng):
    """``energy=`` with ``fft``: a first guess from the estimated spectrum, grown until the
    energy is reached; the same M and eigenvalues as the exact solver."""
    grid = pv.Grid((int(rng.integers(10, 16)), int(rng.integers(10, 16)), 4))
    model = pv.Exponential(tuple(rng.uniform(0.1, 0.3, 3)))
    level = float(rng.uniform(0.6, 0.9))
    exact = pv.KLE(grid, model, energy=level, solver="parity")
    fft = pv.KLE(grid, model, energy=level, solver="fft")
    assert fft.n_terms == exact.n_terms and fft.energy >= level
    np.testing.assert_allclose(fft.eigenvalues, exact.eigenvalues, rtol=1e-10)


def test_save_failure_leaves_nothing(tmp_path, small, monkeypatch):
    grid, model = small
    kle = pv.KLE(grid, model, n_terms=3)
    kle.save(tmp_path / "kle.h5")
    before = (tmp_path / "kle.h5").read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(h5py.Group, "create_dataset", boom)
    with pytest.raises(OSError, match="disk full"):
        kle.save(tmp_path / "kle.h5")
    assert [p.name for p in tmp_path.iterdir()] == ["kle.h5"]
    assert (tmp_path / "kle.h5").read_bytes() == before


@pytest.mark.parametrize("kwargs, match", [
    ({}, "exactly one of n_terms"),
    ({"n_terms": 3, "energy": 0.9}, "exactly one of n_terms"),
    ({"n_terms": 0}, "n_terms"),
    ({"n_terms": 10**6}, "n_terms"),
    ({"energy": 0.0}, "energy"),
    ({"energy": 1.2}, "energy"),
    ({"energy": float("nan")}, "energy"),
    ({"n_terms": 3, "dtype": "float16"}, "dtype"),
    ({"n_terms": 3, "solver": "qr"}, "solver"),
    ({"n_terms": 3, "mean": float("inf")}, "mean"),
])
def test_bad_kle_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pv.KLE(pv.Grid((6, 5)), pv.Exponential(0.3), **kwargs)


def test_bad_types_and_axes():
    with pytest.raises(TypeError, match="n_terms must be an integer"):
        pv.KLE(pv.Grid((6, 5)), pv.Exponential(0.3), n_terms=2.5)
    with pytest.raises(TypeError, match="grid"):
        pv.KLE((6, 5), pv.Exponential(0.3), n_terms=2)
    with pytest.raises(TypeError, match="cov"):
        pv.KLE(pv.Grid((6, 5)), "exponential", n_terms=2)
    with pytest.raises(ValueError, match="length_scale"):
        pv.KLE(pv.Grid((6, 5)), pv.Exponential((0.1, 0.2, 0.3)), n_terms=2)
    kle = pv.KLE(pv.Grid((6, 5)), pv.Exponential(0.3), n_terms=4)
    with pytest.raises(ValueError, match="coefficients"):
        kle.field(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="n"):
        kle.sample(-1)


def test_dense_request_too_large_is_refused_before_allocating():
    grid = pv.Grid((200, 200, 100))  # 4e6 cells: the dense matrix alone is 128 TB
    with pytest.raises(MemoryError, match=r"needs .* \(\d+ bytes\)") as err:
        pv.KLE(grid, pv.Exponential(0.1), n_terms=10, solver="dense")
    needed = int(str(err.value).split("(")[1].split()[0])
    assert needed >= 8 * grid.n_cells**2
    assert "solver='fft' would need" in str(err.value)  # a solver that fits, not this one


@pytest.mark.parametrize("grid, cov, kwargs, hint", [
    # 1e10 cells: the products alone are 160 GB; nothing fits
    (pv.Grid((100_000, 100_000)), pv.SquaredExponential(0.1), {"n_terms": 10, "solver": "kron"},
     "no solver fits"),
    # 1e9 cells: the coordinates alone would be 24 GB
    (pv.Grid((1000, 1000, 1000)), pv.Exponential(0.1), {"n_terms": 10, "solver": "matfree"},
     "no solver fits"),
    # about 800 terms for 90 % (as on 100 x 100): 2.25e6 cells x 700 vectors do not fit in 16 GiB;
    # refused from the estimated spectrum, before any Lanczos step
    (pv.Grid((1500, 1500)), pv.Exponential(0.1), {"energy": 0.9, "solver": "fft"},
     "no solver fits"),
    (pv.Grid((1000, 1000)), pv.Exponential(0.1), {"n_terms": 50, "solver": "parity"},
     "solver='fft' would need"),
])
def test_memory_refusals_are_quick_and_name_a_fitting_solver(grid, cov, kwargs, hint,
                                                             monkeypatch):
    monkeypatch.setattr(_device, "available_memory", lambda: 16 * 2**30)  # any CI machine
    t0 = time.perf_counter()
    tracemalloc.start()
    with pytest.raises(MemoryError, match=r"needs .* bytes") as err:
        pv.KLE(grid, cov, **kwargs)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert hint in str(err.value)
    assert f"solver={kwargs['solver']!r} with" in str(err.value)
    assert peak < 200 * 2**20  # nothing large was allocated
    assert time.perf_counter() - t0 < 3  # (under a second here; generous for a loaded CI)


@pytest.mark.parametrize("solver", ["fft", "matfree"])
def test_leading_only_solvers_give_every_term_asked_for(solver, rng):
    """``n_terms = n_cells`` with a leading-only solver: all of them (it used to return
    ``n - 1`` silently), equal to the dense spectrum."""
    grid = pv.Grid((10, 10), spacing=tuple(rng.uniform(0.05, 0.15, 2)))
    model = pv.Exponential(float(rng.uniform(0.1, 0.5)))
    kle = pv.KLE(grid, model, n_terms=100, solver=solver)
    assert kle.n_terms == 100 and kle.eigenvectors.shape == (100, 100)
    np.testing.assert_allclose(kle.eigenvalues, np.linalg.eigvalsh(dense_cov(grid, model))[::-1],
                               rtol=1e-10, atol=1e-12 * kle.eigenvalues[0])
    np.testing.assert_allclose(kle.energy, 1.0, rtol=1e-12)
