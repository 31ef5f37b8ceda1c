"""Bayesian inversion of a permeability field with pCN MCMC over KLE coefficients.

The unknown is the log-permeability ``Y = ln K`` on the unit square, parameterized by a truncated
KLE: ``Y = kle.field(xi)`` with ``xi ~ N(0, I)`` (M coefficients instead of one value per cell).
The forward model is steady single-phase Darcy flow, ``-div(K grad p) = 0``, a uniform inflow
of total rate 1 through the left edge, ``p = 0`` on the right edge, no flow through top and
bottom (an imposed rate, not an imposed pressure drop, so that the data see the level of K and
not only its variations: with pressures on both sides, K and 2K give the same p); cell-centred
finite volumes with harmonic face transmissibilities, one SciPy sparse direct solve per
evaluation. Data: the pressure in a few cells of a hidden "true" field (itself a prior draw),
plus Gaussian noise of standard deviation ``sigma``.

Posterior: ``pi(xi | d) ~ exp(-Phi(xi)) N(xi; 0, I)`` with the misfit
``Phi(xi) = |G(xi) - d|^2 / (2 sigma^2)``. The preconditioned Crank-Nicolson proposal
``xi' = sqrt(1 - beta^2) xi + beta w``, ``w ~ N(0, I)``, keeps the prior invariant, so the
acceptance probability is just ``min(1, exp(Phi(xi) - Phi(xi')))`` - it does not degrade as M
grows (Cotter, Roberts, Stuart & White 2013). ``beta`` is tuned during burn-in towards an
acceptance rate of about 25 %.

The same loop works in a VAE's latent space (``porevae.vae``: decode ``z`` to a field, prior
``N(0, I)``); only ``kle.field`` changes.

Run ``python examples/mcmc_darcy.py`` (about a minute on one core with the defaults); it prints
the acceptance rate and errors and writes ``mcmc_darcy.png`` (truth, posterior mean and standard
deviation of ``ln K``, misfit trace).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

import porevae as pv


class Darcy:
    """Steady pressure on ``grid`` (2D, I-fastest cells) for a permeability field K.

    Transmissibilities: ``T = 2 / (1/K_a + 1/K_b) * h_y / h_x`` between neighbours in x (and
    the same with x, y swapped), ``2 K h_y / h_x`` to the ``p = 0`` right edge at half a cell;
    the left-edge cells each receive the rate ``1 / ny`` (units: K [1], p [1], unit thickness).
    """

    def __init__(self, grid):
        self.grid = grid
        nx, ny = grid.shape
        idx = np.arange(grid.n_cells).reshape(ny, nx)          # [j, i] -> flat i + nx j
        self.xa, self.xb = idx[:, :-1].ravel(), idx[:, 1:].ravel()
        self.ya, self.yb = idx[:-1, :].ravel(), idx[1:, :].ravel()
        self.left, self.right = idx[:, 0], idx[:, -1]
        hx, hy = grid.spacing
        self.rx, self.ry = hy / hx, hx / hy

    def pressure(self, k_flat):
        """Cell pressures (n_cells,) for permeability ``k_flat`` (n_cells,), I-fastest."""
        n = self.grid.n_cells
        tx = self.rx * 2.0 / (1.0 / k_flat[self.xa] + 1.0 / k_flat[self.xb])
        ty = self.ry * 2.0 / (1.0 / k_flat[self.ya] + 1.0 / k_flat[self.yb])
        tr = 2.0 * self.rx * k_flat[self.right]
        diag = np.zeros(n)
        for a, b, t in ((self.xa, self.xb, tx), (self.ya, self.yb, ty)):
            np.add.at(diag, a, t)
            np.add.at(diag, b, t)
        np.add.at(diag, self.right, tr)
        rows = np.concatenate([np.arange(n), self.xa, self.xb, self.ya, self.yb])
        cols = np.concatenate([np.arange(n), self.xb, self.xa, self.yb, self.ya])
        vals = np.concatenate([diag, -tx, -tx, -ty, -ty])
        a = sp.csc_matrix((vals, (rows, cols)), shape=(n, n))
        rhs = np.zeros(n)
        rhs[self.left] = 1.0 / self.left.size                      # inflow, total rate 1
        return spsolve(a, rhs)


def run(n=32, terms=20, length_scale=0.4, iters=5000, burn=1000, beta=0.2, sigma=0.01,
        n_obs=7, seed=0, out="mcmc_darcy.png", plot=True) -> dict:
    """Run the example; returns acceptance rate, errors and the posterior mean of ``ln K``."""
    grid = pv.Grid((n, n))
    kle = pv.KLE(grid, pv.SquaredExponential(length_scale), n_terms=terms)
    model = Darcy(grid)
    obs_1d = np.linspace(0, n - 1, n_obs + 2)[1:-1].round().astype(int)
    obs = (obs_1d[:, None] + n * obs_1d[None, :]).ravel()           # cells i + nx j

    def forward(xi):
        return model.pressure(np.exp(grid.flatten(kle.field(xi))))[obs]

    rng = np.random.default_rng(seed)
    xi_true = rng.standard_normal(kle.n_terms)
    data = forward(xi_true) + sigma * rng.standard_normal(obs.size)

    def misfit(xi):
        return 0.5 * np.sum((forward(xi) - data) ** 2) / sigma**2

    xi = np.zeros(kle.n_terms)
    phi = misfit(xi)
    accepted, window, trace = 0, 0, []
    total = np.zeros(grid.n_cells)
    total_sq = np.zeros(grid.n_cells)
    t0 = time.perf_counter()
    for it in range(iters):
        prop = np.sqrt(1.0 - beta**2) * xi + beta * rng.standard_normal(kle.n_terms)
        phi_prop = misfit(prop)
        if np.log(rng.uniform()) < phi - phi_prop:
            xi, phi = prop, phi_prop
            window += 1
            accepted += it >= burn
        trace.append(phi)
        if it < burn and (it + 1) % 50 == 0:                        # tune beta in burn-in
            beta = float(np.clip(beta * np.exp(2.0 * (window / 50 - 0.25)), 1e-3, 1.0))
            window = 0
        if it >= burn:
            y = grid.flatten(kle.field(xi))
            total += y
            total_sq += y * y
    kept = iters - burn
    mean = total / kept
    std = np.sqrt(np.maximum(total_sq / kept - mean**2, 0.0))
    truth = grid.flatten(kle.field(xi_true))
    result = {
        "acceptance": accepted / kept, "beta": beta, "seconds": time.perf_counter() - t0,
        "rel_error_posterior_mean": float(np.linalg.norm(mean - truth) / np.linalg.norm(truth)),
        "rel_error_prior_mean": 1.0, "misfit_start": trace[0], "misfit_end": trace[-1],
        "mean": grid.unflatten(mean), "std": grid.unflatten(std), "truth": grid.unflatten(truth),
    }
    if plot:
        _plot(result, grid, obs, trace, out)
    return result


def _plot(result, grid, obs, trace, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    centres = grid.cell_centers()[obs]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8))
    lim = np.abs(result["truth"]).max()
    panels = [("truth ln K", result["truth"], "RdBu_r", (-lim, lim)),
              ("posterior mean ln K", result["mean"], "RdBu_r", (-lim, lim)),
              ("posterior std ln K", result["std"], "viridis", (0, None))]
    for ax, (title, img, cmap, (lo, hi)) in zip(axes, panels):
        im = ax.imshow(img.T, origin="lower", extent=(0, 1, 0, 1), cmap=cmap, vmin=lo, vmax=hi)
        ax.plot(centres[:, 0], centres[:, 1], "k.", ms=3)
        ax.set_title(title)
        fig.colorbar(im, ax=ax, shrink=0.8)
    axes[3].semilogy(trace)
    axes[3].set_title("misfit Phi")
    axes[3].set_xlabel("iteration")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=32, help="cells per side")
    p.add_argument("--terms", type=int, default=20, help="KLE terms M")
    p.add_argument("--length-scale", type=float, default=0.4)
    p.add_argument("--iters", type=int, default=5000)
    p.add_argument("--burn", type=int, default=1000)
    p.add_argument("--beta", type=float, default=0.2, help="initial pCN step")
    p.add_argument("--sigma", type=float, default=0.01, help="pressure noise std")
    p.add_argument("--n-obs", type=int, default=7, help="observation cells per side")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="mcmc_darcy.png")
    a = p.parse_args(argv)
    if not 0 <= a.burn < a.iters:
        p.error("need 0 <= --burn < --iters")
    r = run(a.n, a.terms, a.length_scale, a.iters, a.burn, a.beta, a.sigma, a.n_obs, a.seed,
            a.out)
    print(f"{a.iters} iterations in {r['seconds']:.1f} s, acceptance {r['acceptance']:.1%} "
          f"(beta {r['beta']:.3f}); misfit {r['misfit_start']:.3g} -> {r['misfit_end']:.3g}")
    print(f"relative L2 error of ln K: posterior mean {r['rel_error_posterior_mean']:.3f}, "
          f"prior mean {r['rel_error_prior_mean']:.3f}; figure: {a.out}")
    return r


if __name__ == "__main__":
    main()
