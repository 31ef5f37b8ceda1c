"""Compare generated media with a reference: statistics table, curve distances, plots, summary.

:func:`compare` computes, for the reference and every sample, the scalar statistics of
:func:`scalar_statistics` and three curves -- radial S2(r), the lineal path L(r) pooled over the
axes and the pore-size distribution (local thickness, unit radius bins) -- and reports the mean
and standard deviation of each scalar over the samples and the L2 distance of each sample's
curve to the reference's. With ``out_dir`` it also writes plots and a Markdown summary there,
each file atomically. Lengths are in voxels, or in micrometres with ``voxel_size``
(:func:`to_physical`, :data:`LENGTH_POWER`); values that do not exist (the tortuosity of a pore
space that does not percolate, the chord length of an image without interface) are said so in
words, never printed as ``inf`` or ``nan``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from porevae._files import atomic_path
from porevae._plotting import savefig
from porevae._progress import progress as progress_bar
from porevae._validation import check_positive_finite
from porevae.media._checks import as_binary, check_axis, from_torch
from porevae.media.connectivity import connected_fraction, isolated_fraction
from porevae.media.correlation import lineal_path, porosity, two_point_correlation
from porevae.media.morphology import euler_characteristic, specific_surface
from porevae.media.permeability import MILLIDARCY, permeability
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
AXES = "xyz"
PERMEABILITY = {f"permeability_{c}": f"absolute permeability along {c} (Stokes flow through the "
                f"voxels, porevae.media.permeability): k / dx^2, or mD with the voxel size"
                for c in AXES}
# statistic -> power of the voxel edge in its unit: lengths 1, Sv -1, densities -ndim ("-ndim");
# permeabilities (voxel^2) go to mD instead of um^2
LENGTH_POWER = {"porosity": 0, "specific_surface": -1, "mean_pore_chord": 1,
                "mean_solid_chord": 1, "euler_density": "-ndim", "connected_fraction": 0,
                "mean_pore_radius": 1, "tortuosity_factor": 0, "effective_diffusivity": 0,
                **dict.fromkeys(PERMEABILITY, 2)}
# what an infinite value of a statistic means
INFINITE = {"tortuosity_factor": "not percolating", "mean_pore_chord": "no pore-solid interface",
            "mean_solid_chord": "no pore-solid interface"}


def unit(name: str, ndim: int, voxel_size: float | None = None) -> str:
    """Unit of statistic ``name`` for ``ndim``-D images: ``"1"``, ``"voxel"``, ``"voxel^-1"``,
    ... or the same in ``um`` when ``voxel_size`` (um) is given (permeability: ``"voxel^2"`` or
    ``"mD"``)."""
    if name in PERMEABILITY:
        return "mD" if voxel_size else "voxel^2"
    power = LENGTH_POWER.get(name, 0)
    p = -ndim if power == "-ndim" else power
    base = "um" if voxel_size else "voxel"
    return "1" if p == 0 else base if p == 1 else f"{base}^{p}"


def to_physical(stats: dict, ndim: int, voxel_size: float | None) -> dict:
    """A copy of ``stats`` (voxel units) with each statistic of :data:`LENGTH_POWER` scaled by
    ``voxel_size ** power`` (``voxel_size`` in um; None leaves voxel units); permeabilities
    from voxel^2 to mD (``k (voxel_size 1e-6)^2 / 9.869233e-16``)."""
    out = dict(stats)
    if voxel_size:
        for name, power in LENGTH_POWER.items():
            p = -ndim if power == "-ndim" else power
            if p and out.get(name) is not None:
                out[name] = out[name] * voxel_size ** p
        for name in PERMEABILITY:
            if out.get(name) is not None:
                out[name] = stats[name] * (voxel_size * 1e-6) ** 2 / MILLIDARCY
    return out


def permeability_statistics(image, axes) -> tuple[dict, list]:
    """``({"permeability_x": k / dx^2, ...}, notes)``: :func:`porevae.media.permeability` along
    each of ``axes`` (k = 0 where no pore path crosses the image, said in ``notes``, as is a
    solve that stopped at its step limit before converging)."""
    out, notes = {}, []
    for a in axes:
        r = permeability(image, axis=a)
        out[f"permeability_{AXES[a]}"] = r.k_voxel2
        if not r.percolating:
            notes.append(f"permeability_{AXES[a]}: not percolating (k = 0)")
        elif not r.converged:
            notes.append(f"permeability_{AXES[a]}: stopped after {r.steps} steps before "
                         f"converging (relative change {r.change:.2g})")
    return out, notes


def flow_statistics(image, axes=None, tortuosity: bool = True) -> tuple[dict, list]:
    """The statistics of the flow bars (:data:`porevae.media.bars.FLOW_BARS`) of a binary 3-D
    image (1 = pore): ``permeability_x`` ... along each of ``axes`` (default every axis;
    :func:`permeability_statistics`, k / dx^2), ``isolated_fraction``
    (:func:`porevae.media.isolated_fraction`) and, with ``tortuosity`` and TauFactor installed
    (the ``transport`` extra), TauFactor's ``tortuosity_factor`` along axis 0. Returns
    ``(values, notes)``; a note says what was left out. Cost: one Stokes solve per axis (about
    half a minute per 128^3 image and axis on 2 cores) and one diffusion solve."""
    img = as_binary(from_torch(image))
    axes = range(img.ndim) if axes is None else axes
    out, notes = permeability_statistics(img, axes)
    out["isolated_fraction"] = isolated_fraction(img)
    if tortuosity and transport_available():
        out["tortuosity_factor"] = transport_statistics(img, axis=0)["tortuosity_factor"]
    elif tortuosity:
        notes.append("tortuosity_factor: left out (TauFactor is not installed: "
                     "pip install 'porevae[transport]')")
    return out, notes


def describe(value, name: str = "", digits: int = 5) -> str:
    """``value`` formatted for a person: ``n/a`` for None / NaN, the meaning of an infinite value
    (:data:`INFINITE`, e.g. "not percolating"), else ``digits`` significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return INFINITE.get(name, "n/a (infinite)")
    return f"{value:.{digits}g}"


def json_safe(value):
    """``value`` with every non-finite float (nested in dicts, lists, arrays) as None, so that
    ``json.dumps(..., allow_nan=False)`` writes valid JSON."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_safe(v) for v in (value.tolist() if isinstance(value, np.ndarray)
                                       else value)]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


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

    table : one row per scalar statistic: ``{"statistic", "unit", "reference", "mean", "std",
        "rel_diff", "n_infinite"}``. ``mean`` and ``std`` (ddof 1; NaN for one sample) are over
        the samples whose value is finite; ``n_infinite`` counts the others (e.g. samples whose
        pore space does not percolate: tortuosity inf); ``rel_diff = (mean - reference) /
        |reference|`` (NaN where it has no meaning: zero or infinite reference).
    curves : per curve name ``{"r": (k,), "reference": (k,), "samples": (n, k), "l2": (n,)}``;
        ``l2`` is ``sqrt(sum_r (sample - reference)**2)`` over the common points; ``r`` in voxels
        or um.
    samples : per-sample scalar statistics (list of dicts, in the table's units).
    files : paths written (empty without ``out_dir``).
    names : ``(reference, samples)``: what was compared, as the figures and summary name them.
    voxel_size : voxel edge in um, or None (lengths in voxels).
    notes : lines kept with the report (e.g. how each file was segmented).
    """

    table: list
    curves: dict
    samples: list
    files: list = field(default_factory=list)
    names: tuple = ("reference", "samples")
    voxel_size: float | None = None
    notes: tuple = ()

    def markdown(self) -> str:
        """The table and the curve distances as Markdown (no ``inf`` / ``nan`` in it)."""
        n = len(self.samples)
        lines = ["| statistic | unit | reference | samples mean ± std | rel. diff |",
                 "|---|---|---|---|---|"]
        for row in self.table:
            name = row["statistic"]
            mean = describe(row["mean"], name)
            if math.isfinite(row["mean"]) and n > 1:
                mean += f" ± {describe(row['std'], digits=2)}"
            if 0 < row["n_infinite"] < n:
                mean += f" ({row['n_infinite']} of {n}: {INFINITE.get(name, 'infinite')})"
            rel = "n/a" if math.isnan(row["rel_diff"]) else f"{row['rel_diff']:+.1%}"
            lines.append(f"| {name} | {row['unit']} | {describe(row['reference'], name)} | "
                         f"{mean} | {rel} |")
        length = "um" if self.voxel_size else "voxels"
        lines += ["", f"| curve (r in {length}) | L2 distance to reference, mean ± std | max |",
                  "|---|---|---|"]
        for name, c in self.curves.items():
            spread = f" ± {c['l2'].std(ddof=1):.2g}" if n > 1 else ""
            lines.append(f"| {CURVES[name]} | {c['l2'].mean():.4g}{spread} | "
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


def mean_std(values) -> tuple[float, float, int]:
    """``(mean, std, n_infinite)`` of ``values`` over its finite entries (std with ddof 1, NaN
    for fewer than two); with no finite entry the mean is the first value (e.g. inf)."""
    vals = np.asarray(values, dtype=float)
    finite = vals[np.isfinite(vals)]
    mean = float(finite.mean()) if finite.size else float(vals[0])
    std = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
    return mean, std, int(vals.size - finite.size)


def _row(name, refv, vals, ndim, voxel_size) -> dict:
    """One table row: mean and std over the finite ``vals``, the count of infinite ones."""
    mean, std, n_inf = mean_std(vals)
    rel = (mean - refv) / abs(refv) if refv and math.isfinite(refv) and math.isfinite(mean) \
        else math.nan
    return {"statistic": name, "unit": unit(name, ndim, voxel_size), "reference": refv,
            "mean": mean, "std": std, "rel_diff": rel, "n_infinite": n_inf}


def compare(reference, samples, out_dir=None, periodic=False, transport="auto", *,
            permeability_axes=(), voxel_size=None, names=("reference", "samples"), notes=(),
            progress=False) -> Comparison:
    """Compare binary ``samples`` with a binary ``reference`` (all 2D or all 3D, 1 = pore).

    Parameters
    ----------
    reference : (nx, ny[, nz]) binary array
    samples : sequence of binary arrays of the same dimensionality (shapes may differ), or one
        array (n, nx, ny[, nz])
    out_dir : path, optional
        Folder (created if missing) for ``curves.png`` (S2, L(r) and PSD of the reference with the
        samples' mean, ±1 std band and min-max range), ``porosity.png`` (histogram),
        ``slices.png`` (orthogonal mid slices of the reference and up to 3 samples, white =
        pore), ``voxels.png`` (3D only: solid voxels of a 16**3 corner), ``statistics.json``
        and ``summary.md``.
    periodic : bool
        Treat all images as periodic.
    transport : "auto" | True | False
        Add the rows of :data:`porevae.media.transport.TRANSPORT` (TauFactor tortuosity factor
        and effective diffusivity of the pore space along axis 0, non-periodic): "auto" when
        ``taufactor`` is installed (about 10 s per 128^3 volume on one core), True to require it
        (ImportError without it), False to leave them out.
    permeability_axes : sequence of int
        Axes along which to add the absolute permeability of every image
        (:func:`porevae.media.permeability`, rows ``permeability_x`` ...; about a minute per
        128^3 image and axis on 2 cores) and ``permeability.png``; default none.
    voxel_size : float, optional
        Voxel edge in micrometres: the table, the curves' r and the plots in um (Sv in 1/um,
        Euler density per um^d, permeability in mD); default: voxels.
    names : (str, str)
        What the reference and the samples are (e.g. file names), for the figures and summary.
    notes : sequence of str
        Lines for the summary (e.g. how each file was segmented, :func:`porevae.media.segment`).
    progress : bool
        A progress bar on stderr over images and statistics (:mod:`porevae._progress`).

    Returns
    -------
    :class:`Comparison`. Curves are compared on lags 0..r_max with r_max = half the smallest
    side of all images, PSD on unit radius bins up to the largest radius found.
    """
    if transport not in ("auto", True, False):
        raise ValueError(f"transport must be 'auto', True or False, got {transport!r}")
    if voxel_size is not None:
        check_positive_finite(voxel_size, "voxel_size")
        voxel_size = float(voxel_size)
    ref = as_binary(from_torch(reference), "reference")
    imgs = _as_samples(samples, ref.ndim)
    everything = [ref, *imgs]
    ndim = ref.ndim
    axes = sorted({check_axis(a, ndim, "permeability axis") for a in permeability_axes})
    r_max = min(min(s.shape) for s in everything) // 2
    with_transport = transport is True or (transport == "auto" and transport_available())
    stages = ["pore sizes", "statistics", *(["transport"] if with_transport else []),
              *[f"permeability along {AXES[a]}" for a in axes], "S2 and L(r)"]
    stats, radii, curves_each, flow_notes = [], [], [], []
    with progress_bar(total=len(everything) * len(stages), enable=progress, desc="compare",
                      unit="step") as bar:
        for k, img in enumerate(everything):
            label = "reference" if k == 0 else f"sample {k}/{len(imgs)}"
            bar.set_postfix_str(f"{label}: {stages[0]}", refresh=False)
            thick = local_thickness(img, periodic) if 0 < np.count_nonzero(img) < img.size \
                else np.zeros(img.shape, np.float32)
            bar.update()
            bar.set_postfix_str(f"{label}: {stages[1]}", refresh=False)
            st = scalar_statistics(img, periodic, thick)
            bar.update()
            if with_transport:
                bar.set_postfix_str(f"{label}: transport", refresh=False)
                st.update(transport_statistics(img))
                bar.update()
            for a in axes:
                bar.set_postfix_str(f"{label}: permeability along {AXES[a]}", refresh=False)
                k, lines = permeability_statistics(img, [a])
                st.update(k)
                flow_notes += [f"{label}: {line}" for line in lines]
                bar.update()
            bar.set_postfix_str(f"{label}: {stages[-1]}", refresh=False)
            _, s2 = two_point_correlation(img, periodic=periodic, r_max=r_max)
            _, lp = lineal_path(img, periodic=periodic, r_max=r_max)
            bar.update()
            stats.append(to_physical(st, ndim, voxel_size))
            radii.append(thick[img])
            curves_each.append({"s2": s2, "lineal_path": lp})
    top = max(float(r.max()) if r.size else 0.0 for r in radii)
    edges = np.arange(1, math.floor(top) + 2, dtype=float)
    for c, r in zip(curves_each, radii):
        c["psd"] = np.histogram(r, bins=edges)[0] / max(r.size, 1)
    table = [_row(name, stats[0][name], [st[name] for st in stats[1:]], ndim, voxel_size)
             for name in [*SCALARS, *(TRANSPORT if with_transport else ()),
                          *(f"permeability_{AXES[a]}" for a in axes)]]
    scale = voxel_size or 1.0
    axes_r = {"s2": np.arange(r_max + 1.0) * scale, "lineal_path": np.arange(r_max + 1.0) * scale,
              "psd": 0.5 * (edges[:-1] + edges[1:]) * scale}
    curves = {}
    for name in CURVES:
        refc = curves_each[0][name]
        samp = np.stack([c[name] for c in curves_each[1:]])
        curves[name] = {"r": axes_r[name], "reference": refc, "samples": samp,
                        "l2": np.sqrt(np.sum((samp - refc) ** 2, axis=1))}
    result = Comparison(table=table, curves=curves, samples=stats[1:],
                        names=(str(names[0]), str(names[1])), voxel_size=voxel_size,
                        notes=(*notes, *flow_notes))
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
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    out.mkdir(parents=True, exist_ok=True)
    files = []
    ref_name, samples_name = result.names
    n = len(imgs)
    length = "um" if result.voxel_size else "voxels"
    who = f"{samples_name} ({n} sample{'s' * (n != 1)}) against reference {ref_name}"

    fig = Figure(figsize=(14, 4.4))
    axes = fig.subplots(1, 3)
    titles = {"s2": "two-point correlation S2(r), radial average",
              "lineal_path": "lineal path L(r), mean over the axes",
              "psd": "pore-size distribution (local thickness)"}
    ylabels = {"s2": "S2(r): P(both ends of a segment of length r in pore)",
               "lineal_path": "L(r): P(a segment of length r lies in pore)",
               "psd": f"fraction of pore volume per {result.voxel_size or 1:g}-"
                      f"{'um' if result.voxel_size else 'voxel'} bin of radius"}
    for ax, (name, c) in zip(axes, result.curves.items()):
        s = c["samples"]
        if n > 1:
            ax.fill_between(c["r"], s.min(0), s.max(0), color="C1", alpha=0.15,
                            label="samples: min to max")
            ax.fill_between(c["r"], s.mean(0) - s.std(0), s.mean(0) + s.std(0), color="C1",
                            alpha=0.35, label="samples: mean ± std")
        ax.plot(c["r"], s.mean(0), color="C1", lw=1.2,
                label="samples: mean" if n > 1 else f"sample ({samples_name})")
        ax.plot(c["r"], c["reference"], color="k", lw=1.5, label=f"reference ({ref_name})")
        ax.set_xlabel(f"{'pore radius' if name == 'psd' else 'r'} ({length})")
        ax.set_ylabel(ylabels[name], fontsize=8)
        ax.set_title(titles[name], fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Curves of {who}", fontsize=10)
    savefig(fig, out / "curves.png", dpi=90)
    files.append(out / "curves.png")

    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.subplots()
    phis = [st["porosity"] for st in result.samples]
    ax.hist(phis, bins=min(20, max(5, n // 2)), color="C1", alpha=0.7,
            label=f"samples ({samples_name})")
    phi_ref = result.table[0]["reference"]
    ax.axvline(phi_ref, color="k", label=f"reference ({ref_name})")
    lo, hi = min(*phis, phi_ref), max(*phis, phi_ref)
    pad = 0.1 * (hi - lo) or 0.01
    ax.set_xlim(lo - pad, hi + pad)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("porosity (pore volume fraction)")
    ax.set_ylabel("number of samples")
    ax.set_title(f"Porosity of {n} sample{'s' * (n != 1)} against the reference", fontsize=9)
    ax.legend(fontsize=7)
    savefig(fig, out / "porosity.png", dpi=90)
    files.append(out / "porosity.png")

    shown = [(f"reference ({ref_name})", ref)] + \
        [(f"sample {i} ({samples_name})", s) for i, s in enumerate(imgs[:3])]
    ncol = 3 if ref.ndim == 3 else 1
    fig = Figure(figsize=(2.8 * ncol + 0.4, 2.5 * len(shown) + 0.6))
    axes = fig.subplots(len(shown), ncol, squeeze=False)
    for row, (label, img) in enumerate(shown):
        cuts = ([np.take(img, img.shape[a] // 2, axis=a) for a in range(3)] if img.ndim == 3
                else [img])
        for col, (ax, cut) in enumerate(zip(axes[row], cuts)):
            ax.imshow(cut.T, cmap="gray", vmin=0, vmax=1, origin="lower",
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{label}\nmid {'xyz'[col]} slice" if img.ndim == 3 else label,
                         fontsize=7)
    fig.suptitle("Mid slices: white = pore, black = solid", fontsize=10)
    savefig(fig, out / "slices.png", dpi=90)
    files.append(out / "slices.png")

    flow = [row for row in result.table if row["statistic"] in PERMEABILITY]
    if flow:
        fig = Figure(figsize=(1.8 * len(flow) + 3.2, 3.8))
        ax = fig.subplots()
        jitter = np.linspace(-0.15, 0.15, n) if n > 1 else np.zeros(1)
        for k, row in enumerate(flow):
            name = row["statistic"]
            values = [st[name] for st in result.samples]
            ax.plot(k + jitter, values, "o", color="C1", alpha=0.6, ms=4,
                    label="samples" if k == 0 else None)
            if n > 1:
                ax.errorbar(k + 0.3, row["mean"], yerr=row["std"], fmt="s", color="C1",
                            capsize=4, label="samples: mean ± std" if k == 0 else None)
            ax.plot([k - 0.3, k + 0.3], [row["reference"]] * 2, color="k", lw=2,
                    label=f"reference ({ref_name})" if k == 0 else None)
        ax.set_xticks(range(len(flow)), [f"along {r['statistic'][-1]}" for r in flow])
        ax.set_xlim(-0.6, len(flow) - 0.4)
        ax.set_ylim(bottom=0)
        ax.set_ylabel(f"permeability k ({flow[0]['unit']})")
        ax.set_title(f"Permeability (Stokes) of {who}", fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, axis="y")
        savefig(fig, out / "permeability.png", dpi=90)
        files.append(out / "permeability.png")

    if ref.ndim == 3:
        from mpl_toolkits.mplot3d.art3d import Poly3DCollection

        fig = Figure(figsize=(8, 4))
        for k, (label, img) in enumerate(shown[:2]):
            ax = fig.add_subplot(1, 2, k + 1, projection="3d")
            quads, shade = _exposed_faces(~img[:16, :16, :16])
            colours = np.array([0.63, 0.5, 0.38])[None, :] * shade[:, None]
            ax.add_collection3d(Poly3DCollection(quads, facecolors=colours, edgecolor="none"))
            for setter in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
                setter(0, 16)
            ax.set_title(f"{label}", fontsize=8)
            ax.set_axis_off()
        fig.suptitle("Solid voxels (brown) of the 16³-voxel corner at the origin; pore is empty",
                     fontsize=9)
        savefig(fig, out / "voxels.png", dpi=90)
        files.append(out / "voxels.png")

    data = {"reference": ref_name, "samples_from": samples_name, "n_samples": n,
            "voxel_size_um": result.voxel_size, "notes": list(result.notes),
            "table": result.table, "samples": result.samples,
            "curves": {k: {kk: np.asarray(v) for kk, v in c.items()}
                       for k, c in result.curves.items()}}
    _write_text(out / "statistics.json", json.dumps(json_safe(data), indent=1, allow_nan=False))
    files.append(out / "statistics.json")
    pictures = "\n".join(f"![{p.stem}]({p.name})" for p in files if p.suffix == ".png")
    segmentation = "".join(f"- {line}\n" for line in result.notes)
    units = (f"Lengths in micrometres (voxel {result.voxel_size:g} um)." if result.voxel_size
             else "Lengths in voxels.")
    summary = (f"# Comparison: {who}\n\nReference {ref_name}: shape {ref.shape}; {n} "
               f"sample(s) from {samples_name}. {units}\n\n"
               + (f"{segmentation}\n" if segmentation else "")
               + f"{result.markdown()}\n\nStatistics: "
               + "; ".join(f"**{k}**: {v}" for k, v in {**SCALARS, **TRANSPORT}.items()
                           if k in {row["statistic"] for row in result.table})
               + "".join(f"; **{r['statistic']}**: {PERMEABILITY[r['statistic']]}"
                         for r in flow)
               + f".\n\n{pictures}\n")
    _write_text(out / "summary.md", summary)
    files.append(out / "summary.md")
    return [str(p) for p in files]
