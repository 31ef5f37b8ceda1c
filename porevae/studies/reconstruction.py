"""Reconstruction study: a small Fisher VAE trained on a synthetic 3D medium (overlapping
spheres), judged by the morphology of its prior samples against the medium
(:func:`reconstruction_study`, ``porevae study reconstruction``)."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from porevae._files import atomic_path

#: Reconstruction targets (the level the published 3D GAN for rocks reached): statistic ->
#: (kind, tolerance); "abs" compares mean - reference, "rel" (mean - reference) / |reference|.
TARGETS = {"porosity": ("abs", 0.01), "specific_surface": ("rel", 0.05),
           "mean_pore_chord": ("rel", 0.05), "mean_solid_chord": ("rel", 0.05),
           "euler_density": ("rel", 0.25)}


def reconstruction_study(out_dir=None, shape=(96, 96, 96), porosity=0.4, radius=4.0, size=32,
                         steps=300, n_samples=16, kind="fisher", seed=0, cut="mean",
                         progress=False, s2_weight=0.0, s2_rmax=12) -> dict:
    """Train a small VAE on crops of a synthetic 3D medium, generate media, compare them.

    The medium is a Boolean model of overlapping solid spheres (``shape``, ``porosity``,
    ``radius`` in voxels). :func:`porevae.vae.train_demo` trains a ``kind`` VAE (default Fisher)
    on random ``size``**3 crops for ``steps`` steps, with the S2 descriptor loss on decoded prior
    samples (``s2_weight``, lags 0..``s2_rmax``; 0 = off); ``n_samples`` prior latent maps are
    decoded to pore probabilities and cut by :func:`porevae.vae.cut_probabilities`
    (``cut="mean"``: each sample keeps its mean pore probability as porosity; ``"half"``: p >= 1/2).
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
                                progress=progress, device="cpu", s2_weight=s2_weight,
                                s2_rmax=s2_rmax)
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
                 f"{radius} voxels (seed {seed}). Training: {steps} steps on {size}^3 crops "
                 f"(S2 descriptor weight {s2_weight:g}, lags 0..{s2_rmax}), "
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
