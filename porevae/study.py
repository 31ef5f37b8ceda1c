"""Studies: VAE latent size vs KLE terms (:func:`dimension_study`) and the reconstruction of a
synthetic 3D medium by a small Fisher VAE judged by its morphology (:func:`reconstruction_study`).

Parameterization study: can a VAE latent space replace the many terms of a KLE?

For log-permeability fields Y drawn from a full KLE (every term, so the truth is not truncated)
with an exponential and a squared-exponential covariance, :func:`dimension_study` trains one
Gaussian VAE per latent size d and compares it with the KLE truncated to the same M = d terms:

* reconstruction error on held-out realizations: ``||y - y_hat|| / ||y||`` averaged over the
  test fields, with ``y_hat`` the projection on the first M KLE terms, or ``decode(mu(y))``;
* statistics of generated fields: the pointwise variance (mean over the grid) and the
  covariance against lag along the first axis (lags 0..size/2, in cells), as the RMS difference
  from the exact covariance ``C(h)`` of the model.

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
import torch

from porevae._files import atomic_path
from porevae.covariance import Exponential, SquaredExponential
from porevae.grid import Grid
from porevae.kle import KLE

COVARIANCES = {"exponential": Exponential, "squared_exponential": SquaredExponential}


def _lag_covariance(fields, max_lag):
    """Empirical covariance against lag along axis 1 of (n, nx, ny) fields, lags 0..max_lag,
    about the ensemble's pointwise mean."""
    dev = fields - fields.mean(axis=0)
    n = fields.shape[1]
    return np.array([np.mean(dev[:, : n - h] * dev[:, h:]) for h in range(max_lag + 1)])


def _rel_error(truth, approx):
    t = truth.reshape(len(truth), -1)
    return float(np.mean(np.linalg.norm(t - approx.reshape(len(t), -1), axis=1)
                         / np.linalg.norm(t, axis=1)))


def dimension_study(dims=(8, 16, 32, 64, 128, 256), covariances=tuple(COVARIANCES),
                    size=32, length_scale=0.2, n_train=512, n_test=64, n_generate=256,
                    steps=400, batch_size=32, lr=2e-3, seed=0, out_dir=None,
                    progress=False) -> list:
    """Run the study; returns one row per (covariance, d).

    Parameters
    ----------
    dims : latent sizes = KLE terms, each in [1, size**2]
    covariances : names in :data:`COVARIANCES` (unit variance, ``length_scale`` in units of the
        unit square the ``size`` x ``size`` grid covers)
    size : grid cells per axis (32..128, a multiple of 8: the VAE's input size)
    n_train, n_test, n_generate : training, held-out and generated realizations
    steps, batch_size, lr : VAE training (AdamW) per model; small defaults run in minutes on a
        CPU and do not train the VAE to convergence
    seed : seeds the fields, the VAE initialisation and its training

    Each row: ``covariance``, ``dim``, ``kle_error``, ``vae_error`` (relative L2 on held-out
    fields), ``kle_variance``, ``vae_variance`` (mean pointwise variance of generated fields;
    exact: 1), ``kle_cov_rmse``, ``vae_cov_rmse`` (RMS over lags of the covariance error),
    ``energy`` (KLE energy ratio of d terms), ``train_seconds``.
    """
    from porevae.vae import ModelConfig, Trainer, build_model
    from porevae.vae.config import TrainConfig

    dims = [int(d) for d in dims]
    if not dims or min(dims) < 1 or max(dims) > size * size:
        raise ValueError(f"dims must be integers in [1, {size * size}], got {dims}")
    unknown = set(covariances) - set(COVARIANCES)
    if unknown:
        raise ValueError(f"unknown covariances {sorted(unknown)}; choose from "
                         f"{sorted(COVARIANCES)}")
    grid = Grid(shape=(size, size), spacing=(1.0 / size, 1.0 / size), origin=(0.0, 0.0))
    max_lag = size // 2
    lags = np.arange(max_lag + 1) / size
    rows = []
    for name in covariances:
        cov = COVARIANCES[name](length_scale=length_scale, variance=1.0)
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
            config = ModelConfig(kind="vae", ndim=2, size=size, depth=3, channels=16,
                                 max_channels=64, latent_dim=d, likelihood="gaussian",
                                 obs_std=0.1)
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
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for k, name in enumerate(dict.fromkeys(r["covariance"] for r in rows)):
        sub = [r for r in rows if r["covariance"] == name]
        d = [r["dim"] for r in sub]
        ax.plot(d, [r["kle_error"] for r in sub], "o-", color=f"C{k}", label=f"KLE, {name}")
        ax.plot(d, [r["vae_error"] for r in sub], "s--", color=f"C{k}", label=f"VAE, {name}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("latent size d = number of KLE terms M")
    ax.set_ylabel("relative L2 error, held-out fields")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(out / "error_vs_dimension.png") as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    text = (f"# Latent size vs KLE terms\n\nParameters: {json.dumps(params)}\n\n"
            f"{study_markdown(rows)}\n\n![error](error_vs_dimension.png)\n")
    with atomic_path(out / "study.md") as tmp:
        Path(tmp).write_text(text)
    with atomic_path(out / "study.json") as tmp:
        Path(tmp).write_text(json.dumps({"params": params, "rows": rows}, indent=1))
    return [str(out / n) for n in ("error_vs_dimension.png", "study.md", "study.json")]


#: Reconstruction targets (the level the published 3D GAN for rocks reached): statistic ->
#: (kind, tolerance); "abs" compares mean - reference, "rel" (mean - reference) / |reference|.
TARGETS = {"porosity": ("abs", 0.01), "specific_surface": ("rel", 0.05),
           "mean_pore_chord": ("rel", 0.05), "mean_solid_chord": ("rel", 0.05),
           "euler_density": ("rel", 0.25)}


def reconstruction_study(out_dir=None, shape=(96, 96, 96), porosity=0.4, radius=4.0, size=32,
                         steps=300, n_samples=16, kind="fisher", seed=0, cut="mean",
                         progress=False) -> dict:
    """Train a small VAE on crops of a synthetic 3D medium, generate media, compare them.

    The medium is a Boolean model of overlapping solid spheres (``shape``, ``porosity``,
    ``radius`` in voxels). :func:`porevae.vae.train_demo` trains a ``kind`` VAE (default Fisher)
    on random ``size``**3 crops for ``steps`` steps; ``n_samples`` draws z ~ N(0, I) are decoded
    to pore probabilities and cut by :func:`porevae.vae.cut_probabilities` (``cut="mean"``: each
    sample keeps its mean pore probability as porosity; ``"half"``: p >= 1/2).
    :func:`porevae.media.compare` judges them against the whole medium, and each scalar in
    :data:`TARGETS` is checked.

    Returns ``{"comparison", "targets", "history"}``: the :class:`porevae.media.report.Comparison`,
    one row per target (``statistic``, ``reference``, ``mean``, ``diff``, ``kind``, ``tolerance``,
    ``met``) and the training log rows. With ``out_dir`` the comparison report is written there
    plus ``reconstruction.md`` (targets table, training settings).
    """
    from porevae.media import compare, overlapping_spheres
    from porevae.vae import cut_probabilities, train_demo

    medium = overlapping_spheres(shape, porosity, radius, periodic=False, seed=seed)
    t0 = time.perf_counter()
    model, history = train_demo(medium, steps=steps, seed=seed, kind=kind, size=size,
                                progress=progress, device="cpu")
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        samples = cut_probabilities(model.sample(n_samples, seed=seed + 1)[:, 0], cut).numpy()
    result = compare(medium, samples, out_dir=out_dir)
    by_name = {row["statistic"]: row for row in result.table}
    targets = []
    for name, (how, tol) in TARGETS.items():
        row = by_name[name]
        diff = row["mean"] - row["reference"] if how == "abs" else row["rel_diff"]
        targets.append({"statistic": name, "reference": row["reference"], "mean": row["mean"],
                        "diff": diff, "kind": how, "tolerance": tol,
                        "met": bool(abs(diff) <= tol)})
    if out_dir is not None:
        lines = [f"# Reconstruction of a synthetic medium by a {kind} VAE",
                 "", (f"Medium: overlapping spheres {tuple(shape)}, porosity {porosity}, radius "
                 f"{radius} voxels (seed {seed}). Training: {steps} steps on {size}^3 crops, "
                 f"{seconds:.0f} s on the CPU. {n_samples} generated samples, cut rule {cut!r}."),
                 "", "| statistic | reference | samples mean | difference | target | met |",
                 "|---|---|---|---|---|---|"]
        for t in targets:
            diff = f"{t['diff']:+.4f}" if t["kind"] == "abs" else f"{t['diff']:+.1%}"
            target = f"±{t['tolerance']}" if t["kind"] == "abs" else f"±{t['tolerance']:.0%}"
            lines.append(f"| {t['statistic']} | {t['reference']:.5g} | {t['mean']:.5g} | "
                         f"{diff} | {target} | {'yes' if t['met'] else 'no'} |")
        lines += ["", "Full comparison: [summary.md](summary.md)", ""]
        with atomic_path(Path(out_dir) / "reconstruction.md") as tmp:
            Path(tmp).write_text("\n".join(lines))
        result.files.append(str(Path(out_dir) / "reconstruction.md"))
    return {"comparison": result, "targets": targets, "history": history}
