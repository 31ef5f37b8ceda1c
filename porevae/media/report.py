"""Compare generated media with a reference: statistics table, curve distances, plots, summary.

:func:`compare` computes, for the reference and every sample, the scalar statistics of
:func:`scalar_statistics` and three curves -- radial S2(r), the lineal path L(r) pooled over the
axes and the pore-size distribution (local thickness, unit radius bins) -- and reports the mean
and standard deviation of each scalar over the samples and the L2 distance of each sample's
curve to the reference's. With ``out_dir`` it also writes plots and a Markdown summary there,
each file atomically.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from porevae._files import atomic_path
from porevae._plotting import savefig
from porevae.media._checks import as_binary, from_torch
from porevae.media.connectivity import connected_fraction
from porevae.media.correlation import lineal_path, porosity, two_point_correlation
from porevae.media.morphology import euler_characteristic, specific_surface
from porevae.media.poresize import local_thickness
from porevae.media.transport import TRANSPORT, transport_available, transport_statistics

SCALARS = {
    "porosity": "pore volume fraction",
    "specific_surface": "Sv = -4 S2'(0) (3D) or LA = -pi S2'(0) (2D), 1/voxel",
    "mean_pore_chord": "4 phi / Sv (3D), pi phi / LA (2D), voxels",
    "mean_solid_chord": "4 (1 - phi) / Sv (3D), pi (1 - phi) / LA (2D), voxels",
    "euler_density": "Euler characteristic of the pore space (26/8-adjacency) per voxel",
    "connected_fraction": "pore fraction connected between opposite faces, mean over axes",
    "mean_pore_radius": "mean local-thickness radius of pore voxels, voxels",
}
CURVES = {"s2": "S2(r), radial", "lineal_path": "L(r), pooled over axes",
          "psd": "pore-size distribution (pore volume fraction per unit radius bin)"}


def scalar_statistics(image, periodic=False, thickness=None) -> dict:
    """Scalar statistics of one binary image, keyed as :data:`SCALARS` (all floats).

    ``thickness``: its :func:`~porevae.media.local_thickness`, if already computed.
    """
    img = as_binary(from_torch(image))
    phi = porosity(img)
    sv = specific_surface(img, periodic=periodic)
    slope = sv / (4.0 if img.ndim == 3 else math.pi)
    if thickness is None:
        thickness = local_thickness(img, periodic) if 0.0 < phi < 1.0 else np.zeros(img.shape)
    return {
        "porosity": phi,
        "specific_surface": sv,
        "mean_pore_chord": phi / slope if slope > 0 else math.inf,
        "mean_solid_chord": (1.0 - phi) / slope if slope > 0 else math.inf,
        "euler_density": euler_characteristic(img, periodic=periodic) / img.size,
        "connected_fraction": float(np.mean(connected_fraction(img))),
        "mean_pore_radius": float(thickness[img].mean()) if phi > 0 else 0.0,
    }


@dataclass
class Comparison:
    """Result of :func:`compare`.

    table : one row per scalar statistic: ``{"statistic", "reference", "mean", "std",
        "rel_diff"}`` (``rel_diff = (mean - reference) / |reference|``, NaN for a zero reference).
    curves : per curve name ``{"r": (k,), "reference": (k,), "samples": (n, k), "l2": (n,)}``;
        ``l2`` is ``sqrt(sum_r (sample - reference)**2)`` over the common points.
    samples : per-sample scalar statistics (list of dicts).
    files : paths written (empty without ``out_dir``).
    """

    table: list
    curves: dict
    samples: list
    files: list = field(default_factory=list)

    def markdown(self) -> str:
        """The table and the curve distances as Markdown."""
        lines = ["| statistic | reference | samples mean ± std | rel. diff |",
                 "|---|---|---|---|"]
        for row in self.table:
            lines.append(f"| {row['statistic']} | {row['reference']:.5g} | {row['mean']:.5g} ± "
                         f"{row['std']:.2g} | {row['rel_diff']:+.1%} |")
        lines += ["", "| curve | L2 distance to reference, mean ± std | max |", "|---|---|---|"]
        for name, c in self.curves.items():
            lines.append(f"| {CURVES[name]} | {c['l2'].mean():.4g} ± {c['l2'].std():.2g} | "
                         f"{c['l2'].max():.4g} |")
        return "\n".join(lines)


def _as_samples(samples, ndim):
    if isinstance(samples, np.ndarray) and samples.ndim == ndim + 1:
        samples = list(samples)
    out = [as_binary(from_torch(s), f"samples[{i}]") for i, s in enumerate(samples)]
    if not out:
        raise ValueError("compare needs at least one sample")
    for i, s in enumerate(out):
        if s.ndim != ndim:
            raise ValueError(f"samples[{i}] is {s.ndim}D but the reference is {ndim}D")
    return out


def _curves(img, periodic, r_max, edges, thickness):
    _, s2 = two_point_correlation(img, periodic=periodic, r_max=r_max)
    _, lp = lineal_path(img, periodic=periodic, r_max=r_max)
    radii = thickness[img]
    psd = np.histogram(radii, bins=edges)[0] / max(radii.size, 1)
    return {"s2": s2, "lineal_path": lp, "psd": psd}


def compare(reference, samples, out_dir=None, periodic=False, transport="auto") -> Comparison:
    """Compare binary ``samples`` with a binary ``reference`` (all 2D or all 3D, 1 = pore).

    Parameters
    ----------
    reference : (nx, ny[, nz]) binary array
    samples : sequence of binary arrays of the same dimensionality (shapes may differ), or one
        array (n, nx, ny[, nz])
    out_dir : path, optional
        Folder (created if missing) for ``curves.png`` (S2, L(r) and PSD of the reference with the
        samples' mean, ±1 std band and min-max range), ``porosity.png`` (histogram),
        ``slices.png`` (orthogonal mid slices of the reference and up to 3 samples),
        ``voxels.png`` (3D only: solid voxels of a 16**3 corner), ``statistics.json`` and
        ``summary.md``.
    periodic : bool
        Treat all images as periodic.
    transport : "auto" | True | False
        Add the rows of :data:`porevae.media.transport.TRANSPORT` (TauFactor tortuosity factor
        and effective diffusivity of the pore space along axis 0, non-periodic): "auto" when
        ``taufactor`` is installed (about 10 s per 128^3 volume on one core), True to require it
        (ImportError without it), False to leave them out.

    Returns
    -------
    :class:`Comparison`. Curves are compared on lags 0..r_max with r_max = half the smallest
    side of all images, PSD on unit radius bins up to the largest radius found.
    """
    ref = as_binary(from_torch(reference), "reference")
    imgs = _as_samples(samples, ref.ndim)
    everything = [ref, *imgs]
    r_max = min(min(s.shape) for s in everything) // 2
    thick = [local_thickness(s, periodic) if 0 < np.count_nonzero(s) < s.size
             else np.zeros(s.shape, np.float32) for s in everything]
    top = max(float(t.max()) for t in thick)
    edges = np.arange(1, math.floor(top) + 2, dtype=float)
    stats = [scalar_statistics(s, periodic, t) for s, t in zip(everything, thick)]
    if transport not in ("auto", True, False):
        raise ValueError(f"transport must be 'auto', True or False, got {transport!r}")
    names = list(SCALARS)
    if transport is True or (transport == "auto" and transport_available()):
        for st, s in zip(stats, everything):
            st.update(transport_statistics(s))
        names += list(TRANSPORT)
    curves_each = [_curves(s, periodic, r_max, edges, t) for s, t in zip(everything, thick)]
    table = []
    for name in names:
        vals = np.array([st[name] for st in stats[1:]])
        refv = stats[0][name]
        if vals.size < 2:
            std = 0.0
        else:  # an infinite value (a disconnected sample's tortuosity) has no spread
            std = float(vals.std(ddof=1)) if np.all(np.isfinite(vals)) else math.nan
        table.append({"statistic": name, "reference": refv, "mean": float(vals.mean()),
                      "std": std,
                      "rel_diff": (float(vals.mean()) - refv) / abs(refv) if refv else math.nan})
    axes_r = {"s2": np.arange(r_max + 1.0), "lineal_path": np.arange(r_max + 1.0),
              "psd": 0.5 * (edges[:-1] + edges[1:])}
    curves = {}
    for name in CURVES:
        refc = curves_each[0][name]
        samp = np.stack([c[name] for c in curves_each[1:]])
        curves[name] = {"r": axes_r[name], "reference": refc, "samples": samp,
                        "l2": np.sqrt(np.sum((samp - refc) ** 2, axis=1))}
    result = Comparison(table=table, curves=curves, samples=stats[1:])
    if out_dir is not None:
        result.files = _write_report(Path(out_dir), ref, imgs, result)
    return result


def _exposed_faces(solid):
    """Quads (n, 4, 3) of the voxel faces between ``solid`` and non-solid (or the outside), and
    a shade per quad (one per axis) -- one polygon collection instead of one per voxel."""
    pad = np.pad(solid, 1)
    quads, shade = [], []
    corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
    for a in range(3):
        b, c = [x for x in range(3) if x != a]
        for step in (1, -1):
            nb = np.roll(pad, -step, axis=a)[1:-1, 1:-1, 1:-1]
            idx = np.argwhere(solid & ~nb).astype(float)
            q = np.repeat(idx[:, None, :], 4, axis=1)
            q[:, :, a] += 1.0 if step == 1 else 0.0
            q[:, :, b] += corners[:, 0]
            q[:, :, c] += corners[:, 1]
            quads.append(q)
            shade.append(np.full(len(q), (1.0, 0.8, 0.6)[a]))
    return np.concatenate(quads), np.concatenate(shade)


def _write_text(path, text):
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def _write_report(out, ref, imgs, result) -> list:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    files = []

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, (name, c) in zip(axes, result.curves.items()):
        s = c["samples"]
        ax.fill_between(c["r"], s.min(0), s.max(0), color="C1", alpha=0.15, label="samples min-max")
        ax.fill_between(c["r"], s.mean(0) - s.std(0), s.mean(0) + s.std(0), color="C1",
                        alpha=0.35, label="samples mean ± std")
        ax.plot(c["r"], s.mean(0), color="C1", lw=1)
        ax.plot(c["r"], c["reference"], color="k", lw=1.5, label="reference")
        ax.set_xlabel("radius (voxels)" if name == "psd" else "r (voxels)")
        ax.set_title(CURVES[name], fontsize=9)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    savefig(fig, out / "curves.png", dpi=90, tight=False)
    plt.close(fig)
    files.append(out / "curves.png")

    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    phis = [s["porosity"] for s in result.samples]
    ax.hist(phis, bins=min(20, max(5, len(phis) // 2)), color="C1", alpha=0.7, label="samples")
    ax.axvline(result.table[0]["reference"], color="k", label="reference")
    ax.set_xlabel("porosity")
    ax.legend(fontsize=7)
    fig.tight_layout()
    savefig(fig, out / "porosity.png", dpi=90, tight=False)
    plt.close(fig)
    files.append(out / "porosity.png")

    shown = [("reference", ref)] + [(f"sample {i}", s) for i, s in enumerate(imgs[:3])]
    ncol = 3 if ref.ndim == 3 else 1
    fig, axes = plt.subplots(len(shown), ncol, figsize=(2.6 * ncol, 2.4 * len(shown)),
                             squeeze=False)
    for row, (label, img) in enumerate(shown):
        cuts = ([np.take(img, img.shape[a] // 2, axis=a) for a in range(3)] if img.ndim == 3
                else [img])
        for col, (ax, cut) in enumerate(zip(axes[row], cuts)):
            ax.imshow(cut.T, cmap="gray", origin="lower", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{label}, mid {'xyz'[col]} slice" if img.ndim == 3 else label,
                         fontsize=8)
    fig.tight_layout()
    savefig(fig, out / "slices.png", dpi=90, tight=False)
    plt.close(fig)
    files.append(out / "slices.png")

    if ref.ndim == 3:
        from mpl_toolkits.mplot3d.art3d import Poly3DCollection

        fig = plt.figure(figsize=(7, 3.5))
        for k, (label, img) in enumerate(shown[:2]):
            ax = fig.add_subplot(1, 2, k + 1, projection="3d")
            quads, shade = _exposed_faces(~img[:16, :16, :16])
            colours = np.array([0.63, 0.5, 0.38])[None, :] * shade[:, None]
            ax.add_collection3d(Poly3DCollection(quads, facecolors=colours, edgecolor="none"))
            for setter in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
                setter(0, 16)
            ax.set_title(f"{label}: solid, 16³ corner", fontsize=8)
            ax.set_axis_off()
        savefig(fig, out / "voxels.png", dpi=90, tight=False)
        plt.close(fig)
        files.append(out / "voxels.png")

    data = {"table": result.table, "samples": result.samples,
            "curves": {k: {kk: np.asarray(v).tolist() for kk, v in c.items()}
                       for k, c in result.curves.items()}}
    _write_text(out / "statistics.json", json.dumps(data, indent=1, default=float))
    files.append(out / "statistics.json")
    pictures = "\n".join(f"![{p.stem}]({p.name})" for p in files if p.suffix == ".png")
    summary = (f"# Comparison: reference {ref.shape} vs {len(imgs)} sample(s)\n\n"
               f"{result.markdown()}\n\nStatistics: "
               + "; ".join(f"**{k}**: {v}" for k, v in {**SCALARS, **TRANSPORT}.items())
               + f".\n\n{pictures}\n")
    _write_text(out / "summary.md", summary)
    files.append(out / "summary.md")
    return [str(p) for p in files]
