"""Figures of a KLE: covariance, eigenmodes, realizations, energy curves (PNG, matplotlib).

Every function draws on its own :class:`matplotlib.figure.Figure` (no pyplot state, no display
needed) and writes the PNG through :func:`porevae._plotting.savefig` (atomically). Fields are
shown with x to the right and y up.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from porevae._plotting import savefig

DPI = 110


def _show_field(ax, field2d, grid, cmap="viridis", **kw):
    extent = None
    if grid is not None and grid.ndim >= 2:
        x0, y0 = grid.origin[0], grid.origin[1]
        extent = (x0, x0 + grid.shape[0] * grid.spacing[0], y0,
                  y0 + grid.shape[1] * grid.spacing[1])
    im = ax.imshow(np.asarray(field2d).T, origin="lower", extent=extent, cmap=cmap, **kw)
    ax.set_xticks([])
    ax.set_yticks([])
    return im


def _slice2d(field, grid):
    """A 2-D view of a field: itself in 2-D, the middle z-slice in 3-D, a strip in 1-D."""
    field = np.asarray(field)
    if grid.ndim == 3:
        return field[:, :, grid.shape[2] // 2]
    if grid.ndim == 1:
        return field[:, None]
    return field


def plot_covariance(grid, models: dict, path) -> None:
    """Correlation against distance along x for each model, and C(x_c, .) around the centre cell.

    models: ``{label: CovarianceModel}``.
    """
    fig = Figure(figsize=(4.2 * (1 + len(models)), 3.6))
    axes = fig.subplots(1, 1 + len(models))
    lx = grid.shape[0] * grid.spacing[0]
    r = np.linspace(0.0, 0.5 * lx, 200)
    offsets = np.zeros((r.size, grid.ndim))
    offsets[:, 0] = r
    for label, model in models.items():
        axes[0].plot(r, model(offsets), label=label)
    axes[0].set_xlabel("lag along x")
    axes[0].set_ylabel("covariance")
    axes[0].legend()
    centre = tuple(s // 2 for s in grid.shape)
    pts = grid.cell_centers()
    c_idx = int(np.ravel_multi_index(centre, grid.shape, order="F"))
    for ax, (label, model) in zip(axes[1:], models.items()):
        row = model(pts - pts[c_idx])
        im = _show_field(ax, _slice2d(grid.unflatten(row), grid), grid, vmin=0)
        ax.set_title(f"C(x_centre, x): {label}")
        fig.colorbar(im, ax=ax, shrink=0.8)
    savefig(fig, path, dpi=DPI)


def plot_modes(kle, path, n: int = 6, label: str = "") -> None:
    """The ``n`` leading eigenvectors of a KLE as images, titled with their eigenvalues."""
    n = min(n, kle.n_terms)
    fig = Figure(figsize=(2.6 * n, 2.8))
    axes = np.atleast_1d(fig.subplots(1, n))
    for k, ax in enumerate(axes):
        mode = kle.grid.unflatten(kle.eigenvectors[:, k])
        lim = float(np.max(np.abs(mode)))
        _show_field(ax, _slice2d(mode, kle.grid), kle.grid, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(f"phi_{k + 1}  lambda={kle.eigenvalues[k]:.3g}", fontsize=8)
    fig.suptitle(f"leading eigenmodes {label}".strip())
    savefig(fig, path, dpi=DPI)


def plot_realizations(fields, grid, path, title: str = "", binary: bool = False) -> None:
    """Realizations (n, *grid.shape) side by side on one colour scale.

    ``grid=None`` shows 2-D arrays (n, nx, ny) as they are; ``binary=True`` draws values in
    [0, 1] (pore probability, 1 = pore) in grey.
    """
    fields = np.asarray(fields, dtype=np.float64)
    n = len(fields)
    fig = Figure(figsize=(2.8 * n, 3.0))
    axes = np.atleast_1d(fig.subplots(1, n))
    lim = float(np.max(np.abs(fields)))
    style = {"cmap": "gray", "vmin": 0.0, "vmax": 1.0} if binary else \
        {"cmap": "RdBu_r", "vmin": -lim, "vmax": lim}
    for ax, f in zip(axes, fields):
        im = _show_field(ax, f if grid is None else _slice2d(f, grid), grid, **style)
    fig.colorbar(im, ax=list(axes), shrink=0.8)
    fig.suptitle(title)
    savefig(fig, path, dpi=DPI)


def plot_energy(spectra: dict, path, levels=()) -> None:
    """Energy ``E(M)`` against the number of terms M for each spectrum, levels marked.

    spectra: ``{label: (eigenvalues descending, trace)}``.
    """
    fig = Figure(figsize=(6.0, 4.0))
    ax = fig.subplots()
    for label, (w, trace) in spectra.items():
        e = np.cumsum(w) / trace
        ax.semilogx(np.arange(1, e.size + 1), e, label=label)
    for lv in levels:
        ax.axhline(lv, color="0.7", lw=0.6, ls="--")
    ax.set_xlabel("number of terms M")
    ax.set_ylabel("energy E(M)")
    ax.set_ylim(0, 1.01)
    ax.legend()
    ax.grid(alpha=0.3)
    savefig(fig, path, dpi=DPI)
