"""Figures of the VAE family, written through :func:`porevae._plotting.savefig`."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from porevae._plotting import savefig

LOSS_TERMS = ("total", "recon", "kl", "fisher", "s2")


def plot_loss(history, path) -> str:
    """Training curves: every logged loss term present in the rows (``step`` and
    :data:`LOSS_TERMS`; recon / KL / s2 are per-sample values, batch means), log scale."""
    fig = Figure(figsize=(6.0, 4.0))
    ax = fig.subplots()
    steps = [float(row["step"]) for row in history]
    for key in LOSS_TERMS:
        values = [float(row[key]) for row in history if key in row and row[key] != ""]
        if len(values) == len(steps) and any(v > 0 for v in values):
            ax.semilogy(steps, [max(v, 1e-12) for v in values], label=key)
    ax.set_xlabel("step")
    ax.set_ylabel("loss term (per sample, batch mean)")
    ax.legend()
    ax.grid(alpha=0.3)
    return savefig(fig, path)


def plot_slices(volumes: dict, path, index: int | None = None) -> str:
    """The middle slice of each axis of each binary volume (rows: volumes; columns: the three
    axes), pore white: the view a person looks at first. ``volumes``: {title: (nx, ny, nz)}.
    The figure says what it shows (white = pore, black = solid; which volumes; lengths in
    voxels)."""
    names = list(volumes)
    fig = Figure(figsize=(3.0 * 3, 3.0 * len(names) + 0.5), layout="constrained")
    fig.suptitle(f"middle slices of {' / '.join(names)}: white = pore, black = solid "
                 f"(voxels)", fontsize=9)
    axes = fig.subplots(len(names), 3, squeeze=False)
    for row, name in zip(axes, names):
        v = np.asarray(volumes[name])
        for a, ax in enumerate(row):
            k = v.shape[a] // 2 if index is None else index
            ax.imshow(np.take(v, k, axis=a).T, cmap="gray", origin="lower",
                      interpolation="nearest", vmin=0, vmax=1)
            ax.set_title(f"{name}: axis {a} = {k}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    return savefig(fig, path, dpi=110)
