"""Porosity, two-point correlation S2(r), lineal path L(r) and chord lengths of binary media.

Images are 2D or 3D, 1/True = pore, axes (x, y[, z]); lags and lengths are in voxels. With
``periodic=False`` (default) only voxel pairs inside the box are used and every lag is normalised
by its own number of pairs (unbiased for a stationary medium); ``periodic=True`` wraps around
the box (exact for media generated on a torus, such as :mod:`porevae.media.synthetic`).
"""

from __future__ import annotations

import numba as nb
import numpy as np
import scipy.fft

from porevae._validation import check_choice, check_int, check_memory
from porevae.media._checks import as_binary, check_axis, from_torch, like_input

PHASES = ("pore", "solid")


def porosity(image) -> float:
    """Fraction of pore (True / 1) voxels of a 2D or 3D binary image."""
    img = as_binary(from_torch(image))
    return float(np.count_nonzero(img)) / img.size


def _phase(image, phase):
    img = as_binary(from_torch(image))
    check_choice(phase, "phase", PHASES)
    return img if phase == "pore" else ~img


def _r_limit(shape, axis, periodic, r_max):
    """Validated largest lag: default ``n // 2``; at most ``n // 2`` (periodic) or ``n - 1``."""
    n = shape[axis] if axis is not None else min(shape)
    top = n // 2 if periodic else n - 1
    if r_max is None:
        return max(min(n // 2, top), 0)
    return check_int(r_max, "r_max", low=0, high=top)


def _axis_autocorrelation(img, axis, periodic, r_max):
    """Sum over the image of img[x] * img[x + d e_axis] for d = 0..r_max (float64, exact counts)."""
    n = img.shape[axis]
    lines = np.moveaxis(img, axis, -1).reshape(-1, n)
    m = n if periodic else scipy.fft.next_fast_len(n + r_max, real=True)
    acc = np.zeros(r_max + 1)
    step = max(1, (1 << 22) // m)  # ~32 MB of float64 per chunk
    for s in range(0, lines.shape[0], step):
        f = scipy.fft.rfft(lines[s:s + step].astype(np.float64), n=m, axis=-1, workers=-1)
        acf = scipy.fft.irfft(f.real**2 + f.imag**2, n=m, axis=-1, workers=-1)
        acc += acf[:, :r_max + 1].sum(axis=0)
    return np.rint(acc)


def _shell_edges(bins, r_max):
    if bins is None:
        return np.arange(r_max + 2) - 0.5, np.arange(r_max + 1, dtype=float)
    edges = np.asarray(bins, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0) or edges[0] < 0:
        raise ValueError("bins must be at least 2 increasing, non-negative bin edges (voxels)")
    if edges[-1] > r_max + 1:
        raise ValueError(f"bins reach {edges[-1]}, beyond r_max + 1 = {r_max + 1} voxels")
    return edges, 0.5 * (edges[:-1] + edges[1:])


def _radial(img, periodic, r_max, bins):
    """S2 averaged over the lag vectors in each distance shell (each lag vector weighs the same)."""
    shape = img.shape
    s = shape if periodic else tuple(scipy.fft.next_fast_len(n + r_max, real=True) for n in shape)
    check_memory(3 * 8 * int(np.prod(s)), "the FFT of the two-point correlation")
    f = scipy.fft.rfftn(img.astype(np.float64), s=s, workers=-1)
    np.multiply(f, f.conj(), out=f)
    acf = scipy.fft.irfftn(f, s=s, workers=-1)
    del f
    # negative lags: on a periodic axis of even length, -n/2 is the lag n/2 already listed
    lags = [np.r_[0:r_max + 1, -min(r_max, m - 1 - r_max):0] for m in s]
    idx = tuple(np.ix_(*[lag % m for lag, m in zip(lags, s)]))
    block = acf[idx]
    del acf
    if periodic:
        block /= img.size
    else:
        pairs = np.ones(1)
        for lag, n in zip(lags, shape):
            pairs = np.multiply.outer(pairs, n - np.abs(lag))
        block /= pairs.reshape(block.shape)
    d2 = np.zeros(block.shape, np.int32)
    for a, lag in enumerate(lags):
        d2 = d2 + (lag.astype(np.int32) ** 2).reshape([-1 if b == a else 1
                                                       for b in range(len(shape))])
    edges, centres = _shell_edges(bins, r_max)
    lut = np.searchsorted(edges, np.sqrt(np.arange(d2.max() + 1)), side="right") - 1
    lut[lut >= centres.size] = -1
    which = lut[d2.ravel()]
    ok = which >= 0
    total = np.bincount(which[ok], weights=block.ravel()[ok], minlength=centres.size)
    count = np.bincount(which[ok], minlength=centres.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return centres, np.where(count > 0, total / np.maximum(count, 1), np.nan)


def two_point_correlation(image, axis=None, periodic=False, r_max=None, bins=None):
    """Two-point correlation ``S2(r) = P(x and x + r both pore)`` by FFT.

    Parameters
    ----------
    image : (nx, ny[, nz]) binary array (bool or 0/1; a torch tensor gives torch outputs)
    axis : int or None
        Lags along this axis only; ``None``: radially averaged over all lag directions.
    periodic : bool
        Wrap around the box; otherwise zero-pad and divide each lag by its number of pairs
        ``prod_a (n_a - |d_a|)``, which gives an unbiased estimate at every lag.
    r_max : int, optional
        Largest lag in voxels (default ``n // 2`` of that axis, or of the smallest axis when
        radial); at most ``n // 2`` when periodic and ``n - 1`` otherwise.
    bins : array of shell edges (voxels), optional, radial only
        Shells ``[e_i, e_{i+1})``; default: unit shells ``[k - 1/2, k + 1/2)`` around integer k.
        The radial S2 of a shell is the mean of S2 over the lag vectors whose length falls in it
        (``bins=np.arange(0, n // 2 + 1)`` reproduces ``porespy.metrics.two_point_correlation``'s
        ``probability_scaled`` of porespy 3.2).

    Returns
    -------
    r : (n_r,) float64, lags (per axis: 0..r_max) or shell centres (radial), voxels
    s2 : (n_r,) float64; ``s2[0]`` is the porosity (per axis, and radial with default shells)

    Cost: one real FFT of the image (padded to ``n + r_max`` per axis when not periodic), e.g.
    about 3 s for a non-periodic radial S2 of a 256**3 volume on one core.
    """
    was_torch = image
    img = as_binary(from_torch(image))
    if axis is not None:
        if bins is not None:
            raise ValueError("bins apply to the radial average only (axis=None)")
        axis = check_axis(axis, img.ndim)
        r_max = _r_limit(img.shape, axis, periodic, r_max)
        acc = _axis_autocorrelation(img, axis, periodic, r_max)
        n = img.shape[axis]
        lag = np.arange(r_max + 1)
        pairs = img.size if periodic else (img.size // n) * (n - lag)
        r, s2 = lag.astype(float), acc / pairs
    else:
        r_max = _r_limit(img.shape, None, periodic, r_max)
        r, s2 = _radial(img, periodic, r_max, bins)
    return like_input(was_torch, r), like_input(was_torch, s2)


@nb.njit(cache=True)
def _run_histograms(lines, periodic):
    """Histograms of the True runs of each row of ``lines`` (m, n).

    Returns (inner, edge, full): inner[l] counts runs of length l bounded by False on both sides
    (periodic: all runs, wrapping round); edge[l] runs touching the first or last voxel
    (non-periodic only); full = rows that are entirely True when periodic (no finite run).
    Serial: one pass over the data is memory-bound, and a parallel launch costs more here.
    """
    m, n = lines.shape
    inner = np.zeros(n + 1, np.int64)
    edge = np.zeros(n + 1, np.int64)
    full = 0
    for i in range(m):
        first = -1
        for k in range(n):
            if not lines[i, k]:
                first = k
                break
        if first < 0:
            if periodic:
                full += 1
            else:
                edge[n] += 1
            continue
        run = 0
        if periodic:
            for t in range(1, n + 1):
                if lines[i, (first + t) % n]:
                    run += 1
                elif run > 0:
                    inner[run] += 1
                    run = 0
        else:
            for k in range(n):
                if lines[i, k]:
                    run += 1
                elif run > 0:
                    if run == k:
                        edge[run] += 1
                    else:
                        inner[run] += 1
                    run = 0
            if run > 0:
                edge[run] += 1
    return inner, edge, full


def _runs(img, axis, periodic):
    n = img.shape[axis]
    lines = np.ascontiguousarray(np.moveaxis(img, axis, -1)).reshape(-1, n)
    return _run_histograms(lines, bool(periodic))


def _axes(img, axis):
    return range(img.ndim) if axis is None else (check_axis(axis, img.ndim),)


def lineal_path(image, axis=None, periodic=False, r_max=None, phase="pore"):
    """Lineal path function ``L(r)``: probability that a segment of ``r`` voxel steps along an
    axis (``r + 1`` voxels, from x to x + r e_axis) lies entirely in ``phase``.

    Parameters
    ----------
    axis : int or None
        One axis, or ``None`` for all axes pooled (sum of segment counts over sum of positions).
    periodic : bool
        Segments wrap around the box; otherwise only the ``n - r`` start positions per line whose
        segment fits in the box count.
    r_max : int, optional
        Largest ``r`` (default ``n // 2``; at most ``n // 2`` periodic, ``n - 1`` otherwise).
    phase : {"pore", "solid"}

    Returns
    -------
    r : (r_max + 1,) float64, 0..r_max voxels
    L : (r_max + 1,) float64; ``L[0]`` is the phase fraction, ``L`` is non-increasing.

    Computed from run lengths (:func:`chord_lengths`' kernel): a run of ``l`` voxels holds
    ``max(l - r, 0)`` segments. One pass over the image per axis (compiled, parallel).
    """
    img = _phase(image, phase)
    axes = list(_axes(img, axis))
    r_max = min(_r_limit(img.shape, a, periodic, r_max) for a in axes)
    r = np.arange(r_max + 1)
    count = np.zeros(r_max + 1)
    positions = np.zeros(r_max + 1)
    for a in axes:
        n = img.shape[a]
        inner, edge, full = _runs(img, a, periodic)
        hist = (inner + edge).astype(float)
        length = np.arange(n + 1, dtype=float)
        above1 = np.cumsum((hist * length)[::-1])[::-1]  # sum over l >= k of h(l) l
        above0 = np.cumsum(hist[::-1])[::-1]
        count += above1[r + 1] - r * above0[r + 1] + full * n
        positions += img.size if periodic else (img.size // n) * (n - r)
    return r.astype(float), count / positions


def chord_lengths(image, axis=None, periodic=False, phase="pore", include_edges=False):
    """Chord-length distribution: counts of maximal runs of ``phase`` voxels along an axis.

    Parameters
    ----------
    axis : int or None
        One axis, or ``None`` to pool the chords of all axes.
    periodic : bool
        Runs wrap around the box (lines entirely in ``phase`` have no finite chord and are left
        out). Otherwise chords touching a face are truncated by the box and are left out unless
        ``include_edges``.
    phase : {"pore", "solid"}

    Returns
    -------
    length : (n_max,) float64, 1..n_max voxels (n_max = longest axis considered)
    count : (n_max,) int64, number of chords of each length. The mean chord length is
    ``sum(length * count) / sum(count)``; ``count / count.sum()`` is the number distribution.
    """
    img = _phase(image, phase)
    axes = list(_axes(img, axis))
    n_max = max(img.shape[a] for a in axes)
    total = np.zeros(n_max + 1, np.int64)
    for a in axes:
        inner, edge, _ = _runs(img, a, periodic)
        hist = inner + edge if include_edges else inner
        total[:hist.size] += hist
    return np.arange(1, n_max + 1, dtype=float), total[1:]
