"""KLE-vs-VAE parameterization study: can a VAE latent space replace the many terms of a KLE?

For log-permeability fields Y drawn from a full KLE (every term, so the truth is not truncated)
with covariance models of :data:`porevae.covariance.MODELS` (by default the exponential and
the squared exponential, :data:`DEFAULT_COVARIANCES`), :func:`dimension_study` trains one
Gaussian VAE per latent size d and compares it with the KLE truncated to the same M = d terms:

* reconstruction error on held-out realizations: ``||y - y_hat|| / ||y||`` averaged over the
  test fields, with ``y_hat`` the projection on the first M KLE terms, or ``decode(mu(y))``;
* statistics of generated fields: the pointwise variance (mean over the grid) and the
  covariance against lag along the first axis (lags 0..size/2, in cells), as the RMS difference
  from the exact covariance ``C(h)`` of the model.

The VAE's latent is a spatial map (C channels on a (size / f)^2 grid, f = 2**depth): its size
d = C (size / f)^2 is the number the KLE's M is compared with. :func:`latent_layout` picks the
finest map that d allows (f >= 2, C the fewest channels), so the code stays spatial.

The KLE side is the optimal linear code of dimension M (its expected error is
``sqrt(1 - E(M))``, E the energy ratio); the study shows how far a short CPU training of a
non-linear code gets. Output: a table (list of dicts), and with ``out_dir`` ``study.md``,
``study.json`` and ``error_vs_dimension.png``, each written atomically.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from porevae._files import atomic_path
from porevae._plotting import savefig
from porevae.covariance import model_class
from porevae.grid import Grid

#: the models the study compares by default; any name of :data:`porevae.covariance.MODELS`
#: (hyphenated or not) is accepted
DEFAULT_COVARIANCES = ("exponential", "squared_exponential")


def _lag_covariance(fields, max_lag):
    """Empirical covariance against lag along axis 1 of (n, nx, ny) fields, lags 0..max_lag,
    about the ensemble's pointwise mean."""
    dev = fields - fields.mean(axis=0)
    n = fields.shape[1]
    return np.array([np.mean(dev[:, : n - h] * dev[:, h:]) for h in range(max_lag + 1)])


def latent_layout(size: int, d: int) -> tuple:
    """(depth, C) of a spatial latent of exactly d elements for a size x size input: the
    finest map (size / 2**depth)^2 cells, depth in [1, 5], whose cell count divides d."""
    for depth in range(1, 6):
        cells = (size // 2**depth) ** 2
        if size % 2**depth == 0 and cells and d % cells == 0 and d // cells <= 512:
            return depth, d // cells
    raise ValueError(f"latent size d = {d} is not C * (size / 2**depth)^2 for size {size}, "
                     f"depth in [1, 5], C in [1, 512]; choose e.g. {_near(size, d)}")


def _near(size, d):
    cells = [(size // 2**k) ** 2 for k in range(1, 6) if size % 2**k == 0]
    return sorted({max(1, round(d / c)) * c for c in cells}, key=lambda v: abs(v - d))[:3]


def _rel_error(truth, approx):
    t = truth.reshape(len(truth), -1)
    return float(np.mean(np.linalg.norm(t - approx.reshape(len(t), -1), axis=1)
                         / np.linalg.norm(t, axis=1)))


def dimension_study(dims=(8, 16, 32, 64, 128, 256), covariances=DEFAULT_COVARIANCES,
                    size=32, length_scale=0.2, n_train=512, n_test=64, n_generate=256,
                    steps=400, batch_size=32, lr=2e-3, seed=0, out_dir=None,
                    progress=False) -> list:
    """Run the study; returns one row per (covariance, d).

    Parameters
    ----------
    dims : latent sizes = KLE terms, each in [1, size**2] and of the form C (size / f)^2
        (:func:`latent_layout`)
    covariances : names of :data:`porevae.covariance.MODELS` (each with its defaults, unit
        variance, ``length_scale`` in units of the unit square the ``size`` x ``size`` grid
        covers); rows name them as the registry does
    size : grid cells per axis (a power of two in [8, 256]: the VAE's input size)
    n_train, n_test, n_generate : training, held-out and generated realizations
    steps, batch_size, lr : VAE training (AdamW) per model; small defaults run in minutes on a
        CPU and do not train the VAE to convergence
    seed : seeds the fields, the VAE initialisation and its training

    Each row: ``covariance``, ``dim``, ``kle_error``, ``vae_error`` (relative L2 on held-out
    fields), ``kle_variance``, ``vae_variance`` (mean pointwise variance of generated fields;
    exact: 1), ``kle_cov_rmse``, ``vae_cov_rmse`` (RMS over lags of the covariance error),
    ``energy`` (KLE energy ratio of d terms), ``train_seconds``.
    """
    # torch, the KLE and the VAE on first use: the CLI reads this module's defaults alone
    import torch

    from porevae.kle.expansion import KLE
    from porevae.vae import ModelConfig, Trainer, build_model
    from porevae.vae.config import TrainConfig

    dims = [int(d) for d in dims]
    if not dims or min(dims) < 1 or max(dims) > size * size:
        raise ValueError(f"dims must be integers in [1, {size * size}], got {dims}")
    for d in dims:
        latent_layout(size, d)  # every d must be a spatial map: refuse before any training
    models = [model_class(name) for name in covariances]  # refuses an unknown name first
    grid = Grid(shape=(size, size), spacing=(1.0 / size, 1.0 / size), origin=(0.0, 0.0))
    max_lag = size // 2
    lags = np.arange(max_lag + 1) / size
    rows = []
    for cls in models:
        name = cls.name
        cov = cls(length_scale, variance=1.0)
        kle = KLE(grid, cov, n_terms=size * size)
        exact_cov = cov(np.stack([lags, np.zeros_like(lags)], axis=-1))
        train = kle.sample(n_train, seed=seed).astype(np.float32)
        test = kle.sample(n_test, seed=seed + 1).astype(np.float64)
        phi = np.asarray(kle.eigenvectors, dtype=np.float64)
        coef = grid.flatten(test - kle.mean) @ phi  # orthogonal projection: no 1/sqrt(lambda)
        xi_gen = np.random.default_rng(seed + 2).standard_normal((n_generate, kle.n_terms))
        for d in dims:
            keep = np.zeros(kle.n_terms)
            keep[:d] = 1.0
            kle_rec = grid.unflatten(coef[:, :d] @ phi[:, :d].T) + kle.mean
            kle_gen = kle.field(xi_gen * keep)
            depth, channels = latent_layout(size, d)
            config = ModelConfig(kind="vae", ndim=2, size=size, depth=depth, channels=16,
                                 max_channels=64, latent_channels=channels, blocks=1,
                                 latent_blocks=2, likelihood="gaussian", obs_std=0.1,
                                 s2_weight=0.0)  # the plain ELBO, as the study was measured
            model = build_model(config, seed=seed)
            t0 = time.perf_counter()
            Trainer(model, train, TrainConfig(steps=steps, batch_size=batch_size, lr=lr,
                                              seed=seed, progress=progress, device="cpu",
                                              checkpoint_every=0, augment=False)).fit()
            seconds = time.perf_counter() - t0
            with torch.no_grad():
                vae_rec = model.reconstruct(torch.from_numpy(test[:, None].astype(np.float32)))
                vae_gen = model.sample(n_generate, seed=seed + 3)
            vae_rec = vae_rec[:, 0].double().numpy()
            vae_gen = vae_gen[:, 0].double().numpy()
            c_kle, c_vae = (_lag_covariance(g, max_lag) for g in (kle_gen, vae_gen))
            rows.append({
                "covariance": name, "dim": d,
                "energy": float(np.sum(kle.eigenvalues[:d]) / kle.trace),
                "kle_error": _rel_error(test, kle_rec), "vae_error": _rel_error(test, vae_rec),
                "kle_variance": float(kle_gen.var(axis=0).mean()),
                "vae_variance": float(vae_gen.var(axis=0).mean()),
                "kle_cov_rmse": float(np.sqrt(np.mean((c_kle - exact_cov) ** 2))),
                "vae_cov_rmse": float(np.sqrt(np.mean((c_vae - exact_cov) ** 2))),
                "train_seconds": seconds,
            })
    if out_dir is not None:
        write_study(rows, out_dir, {"size": size, "length_scale": length_scale,
                                    "n_train": n_train, "n_test": n_test, "steps": steps,
                                    "batch_size": batch_size, "lr": lr, "seed": seed})
    return rows


def study_markdown(rows) -> str:
    """The rows as a Markdown table."""
    lines = [("| covariance | d = M | KLE energy | rel. error KLE | rel. error VAE | "
             "variance KLE | variance VAE | cov. RMSE KLE | cov. RMSE VAE | VAE train (s) |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['covariance']} | {r['dim']} | {r['energy']:.3f} | "
                     f"{r['kle_error']:.3f} | {r['vae_error']:.3f} | {r['kle_variance']:.3f} | "
                     f"{r['vae_variance']:.3f} | {r['kle_cov_rmse']:.3f} | "
                     f"{r['vae_cov_rmse']:.3f} | {r['train_seconds']:.1f} |")
    return "\n".join(lines)


def write_study(rows, out_dir, params) -> list:
    """``study.md``, ``study.json`` and ``error_vs_dimension.png`` in ``out_dir``."""
    from matplotlib.figure import Figure

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.subplots()
    for k, name in enumerate(dict.fromkeys(r["covariance"] for r in rows)):
        sub = [r for r in rows if r["covariance"] == name]
        d = [r["dim"] for r in sub]
        ax.plot(d, [r["kle_error"] for r in sub], "o-", color=f"C{k}", label=f"KLE, {name}")
        ax.plot(d, [r["vae_error"] for r in sub], "s--", color=f"C{k}", label=f"VAE, {name}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("latent size d = number of KLE terms M")
    ax.set_ylabel("relative L2 error, held-out fields")
    ax.legend(fontsize=7)
    savefig(fig, out / "error_vs_dimension.png", dpi=90)
    text = (f"# Latent size vs KLE terms\n\nParameters: {json.dumps(params)}\n\n"
            f"{study_markdown(rows)}\n\n![error](error_vs_dimension.png)\n")
    with atomic_path(out / "study.md") as tmp:
        Path(tmp).write_text(text)
    with atomic_path(out / "study.json") as tmp:
        Path(tmp).write_text(json.dumps({"params": params, "rows": rows}, indent=1))
    return [str(out / n) for n in ("error_vs_dimension.png", "study.md", "study.json")]
