"""Reconstruction study: a small Fisher VAE trained on a synthetic 3D medium (overlapping
spheres), judged by the morphology of its prior samples against the medium
(:func:`reconstruction_study`, ``porevae study reconstruction``)."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from porevae._files import atomic_path
from porevae.media.bars import BARS, describe, judge

#: The reconstruction targets: the one table of bars, :data:`porevae.media.bars.BARS`.
TARGETS = BARS


def reconstruction_study(out_dir=None, shape=(96, 96, 96), porosity=0.4, radius=4.0, size=32,
                         steps=300, n_samples=16, kind="fisher", seed=0, cut="connected",
                         progress=False, s2_weight=0.0, s2_rmax=12) -> dict:
    """Train a small VAE on crops of a synthetic 3D medium, generate media, compare them.

    The medium is a Boolean model of overlapping solid spheres (``shape``, ``porosity``,
    ``radius`` in voxels). :func:`porevae.vae.train_demo` trains a ``kind`` VAE (default Fisher)
    on random ``size``**3 crops for ``steps`` steps, with the S2 descriptor loss on decoded prior
    samples (``s2_weight``, lags 0..``s2_rmax``; 0 = off); ``n_samples`` prior latent maps are
    decoded to pore probabilities and cut by :func:`porevae.vae.cut_probabilities`
    (``cut="connected"``, what ``porevae generate`` does by default: the connected cut at the
    training medium's porosity; ``"data"``: the global threshold at that porosity; ``"mean"``:
    each sample keeps its mean pore probability as porosity; ``"half"``: p >= 1/2).
    :func:`porevae.media.compare` judges them against the whole medium, and each scalar in
    :data:`porevae.media.bars.BARS` is checked (:func:`porevae.media.bars.judge` on the
    per-sample values).

    Returns ``{"comparison", "targets", "history"}``: the :class:`porevae.media.report.Comparison`,
    one row per bar (``statistic``, ``reference``, ``mean``, ``diff``, ``se``, ``kind``, ``bar``
    and its alias ``tolerance``, ``met``, ``verdict``) and the training log rows. With
    ``out_dir`` the comparison report is written there plus ``reconstruction.md`` (targets
    table, training settings).
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
        at = float(medium.mean()) if cut in ("connected", "data") else None
        samples = cut_probabilities(model.sample(n_samples, seed=seed + 1)[:, 0], cut,
                                    porosity=at).numpy()
    result = compare(medium, samples, out_dir=out_dir)
    by_name = {row["statistic"]: row for row in result.table}
    targets = []
    for name in BARS:
        row = judge(name, [s[name] for s in result.samples], [by_name[name]["reference"]])
        targets.append({**row, "tolerance": row["bar"]})
    if out_dir is not None:
        lines = [f"# Reconstruction of a synthetic medium by a {kind} VAE",
                 "", (f"Medium: overlapping spheres {tuple(shape)}, porosity {porosity}, radius "
                 f"{radius} voxels (seed {seed}). Training: {steps} steps on {size}^3 crops "
                 f"(S2 descriptor weight {s2_weight:g}, lags 0..{s2_rmax}), "
                 f"{seconds:.0f} s on the CPU. {n_samples} generated samples, cut rule {cut!r}."),
                 "", "| statistic | reference | samples mean | difference ± 2 SE | bar | met |",
                 "|---|---|---|---|---|---|"]
        for t in targets:
            diff = f"{t['diff']:+.4f} ± {2 * t['se']:.4f}" if t["kind"] == "abs" else \
                f"{t['diff']:+.1%} ± {2 * t['se']:.1%}"
            lines.append(f"| {t['statistic']} | {t['reference']:.5g} | {t['mean']:.5g} | "
                         f"{diff} | {describe(t['statistic'])} | {t['verdict']} |")
        lines += ["", "Full comparison: [summary.md](summary.md)", ""]
        with atomic_path(Path(out_dir) / "reconstruction.md") as tmp:
            Path(tmp).write_text("\n".join(lines))
        result.files.append(str(Path(out_dir) / "reconstruction.md"))
    return {"comparison": result, "targets": targets, "history": history}
