"""One registry each: covariance models reach the CLI by their class alone; the solvers' one
memory rule (choose, plan, refusal); the fft energy solve sector by sector."""

import numpy as np
import pytest

import porevae as pv
from porevae import covariance
from porevae.cli import main
from porevae.covariance import CovarianceModel, Parameter
from porevae.kle import base
from porevae.kle.solvers import SOLVERS, choose, plan


class Cauchy(CovarianceModel):
    """A model that no other file knows: rho(r) = (1 + r^2)^(-alpha)."""

    name = "generalized_cauchy"
    formula = "(1 + r^2)^-alpha"
    parameters = {"alpha": Parameter("decay exponent alpha > 0")}

    def __init__(self, length_scale=1.0, *, alpha=2.0, **common):
        super().__init__(length_scale, **common)
        self.alpha = float(alpha)

    def correlation(self, r):
        xp, r = covariance._namespace(r)
        return (1.0 + r * r) ** -self.alpha


def test_a_model_added_to_models_alone_reaches_the_cli(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(covariance.MODELS, Cauchy.name, Cauchy)
    out = tmp_path / "c.h5"
    assert main(["kle", "--cov", "generalized-cauchy", "--alpha", "3", "--shape", "10", "8",
                 "--length-scale", "0.3", "--n-terms", "6", "--out", str(out),
                 "--no-progress"]) == 0
    kle = pv.KLE.load(out)
    assert isinstance(kle.cov, Cauchy) and kle.cov.alpha == 3.0
    # the eigenvalues are those of the model's own matrix (dense LAPACK, float64)
    pts = kle.grid.cell_centers()
    c = kle.cov(pts[:, None, :] - pts[None, :, :])
    np.testing.assert_allclose(kle.eigenvalues, np.linalg.eigvalsh(c)[::-1][:6], rtol=1e-10)
    capsys.readouterr()
    main(["kle", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "generalized-cauchy" in text and "--alpha" in text and "default 2.0" in text
    assert main(["kle", "--alpha", "3", "--out", ""]) == 2
    assert "--alpha is a parameter of --cov generalized-cauchy, not of --cov exponential" in \
        capsys.readouterr().err


def test_kle_refuses_an_existing_out_without_overwrite(tmp_path, capsys):
    out = tmp_path / "k.h5"
    out.write_bytes(b"mine")
    args = ["kle", "--shape", "6", "5", "--n-terms", "3", "--out", str(out), "--no-progress"]
    assert main(args) == 2
    assert "exists" in capsys.readouterr().err and out.read_bytes() == b"mine"
    assert main(args + ["--overwrite"]) == 0
    assert pv.KLE.load(out).n_terms == 3


@pytest.mark.parametrize("domain, model, weighted", [
    (pv.Grid((30, 20)), pv.Exponential(0.2), False),
    (pv.Grid((30, 20)), pv.SquaredExponential(0.2), False),
    (pv.Grid((30, 20)), pv.Exponential((0.2, 0.1), azimuth=30), False),
    (pv.Grid((30, 20)), pv.Exponential(0.2), True),
    (np.zeros((50, 2)), pv.Exponential(0.2), False),
])
def test_choose_and_the_refusal_use_one_rule(domain, model, weighted):
    """The choice fits by the solver's own memory_bytes; a budget one byte short of it makes
    choose move on and the check refuse, naming another solver only if that one fits."""
    name = choose(domain, model, n_terms=5, weighted=weighted)
    cls = SOLVERS[name]
    assert cls.applies(domain, model, weighted) is None
    n = domain.n_cells if isinstance(domain, pv.Grid) else len(domain)
    s = cls(domain, model, weights=np.ones(n)) if weighted else cls(domain, model)
    need = s.memory_bytes(5, True)
    assert choose(domain, model, n_terms=5, weighted=weighted, budget=need) == name
    with pytest.raises(MemoryError, match=rf"solver={name!r} with 5 eigenpairs"):
        base.check(s, 5, True, budget=need - 1)
    for other, other_need in base.alternatives(s, 5, True, need - 1):
        assert other_need <= need - 1
        assert SOLVERS[other].applies(domain, model, weighted) is None
    assert [n for n, c in SOLVERS.items() if c.applies(domain, model, weighted) is None][-1] \
        == "matfree"  # the last solver applies to everything


def test_fft_energy_solve_equals_parity_and_forms_only_the_kept_vectors(rng):
    grid, cov = pv.Grid((40, 30)), pv.Exponential(float(rng.uniform(0.08, 0.2)))
    p = plan(grid, cov, energy=0.8, solver="fft")
    assert "0.8" in str(p) or "80.0%" in str(p)
    assert p.need == p.solver.memory_bytes(p.k, True)
    fft = pv.KLE(grid, cov, energy=0.8, solver="fft")
    ref = pv.KLE(grid, cov, energy=0.8, solver="parity")
    assert fft.n_terms == ref.n_terms
    np.testing.assert_allclose(fft.eigenvalues, ref.eigenvalues, rtol=1e-10)
    assert fft.eigenvectors.flags.c_contiguous
    assert fft.eigenvectors.shape == (grid.n_cells, ref.n_terms)
    # same vectors and signs (largest-magnitude entry > 0) where the eigenvalue is simple
    gap = np.diff(ref.eigenvalues)
    simple = np.r_[True, np.abs(gap) > 1e-8 * ref.eigenvalues[0]] & \
        np.r_[np.abs(gap) > 1e-8 * ref.eigenvalues[0], True]
    np.testing.assert_allclose(fft.eigenvectors[:, simple], ref.eigenvectors[:, simple],
                               atol=1e-8)


def test_plan_is_printed_first(capsys):
    pv.KLE(pv.Grid((40, 40)), pv.Exponential(0.1), energy=0.6, solver="fft", progress=True)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("plan: solver 'fft', the leading pairs of 1600 cells for 60.0%")
