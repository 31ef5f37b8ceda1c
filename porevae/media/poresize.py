"""Euclidean distance transform, local thickness and the pore-size distribution.

Local thickness (Hildebrand & Rueegsegger 1997): the radius of the largest ball that contains
the voxel and fits in the pore space. With ``a(c)`` the squared Euclidean distance from pore voxel
``c`` to the nearest solid voxel centre, the ball of ``c`` is the voxel set
``{x : |x - c|**2 < a(c)}`` (it holds no solid voxel), and the local thickness of ``x`` is the
largest ``sqrt(a(c))`` over the balls containing ``x``. Radii are in voxels; a pore voxel next to
solid has radius 1.

Algorithm: exact squared EDT (two sweeps along z, then Felzenszwalb & Huttenlocher's lower
envelope along y and x; compiled, parallel, integer-valued); then the centres whose balls can
matter -- a ball that lies, as a voxel set, inside a neighbour's ball of at least its value, or
whose neighbours all have at least its value, is covered by other balls and dropped (exact
tests, see :func:`_ridge`); then every voxel starts at its own value and the remaining balls are
painted with a running maximum, in parallel over x-planes (each thread owns its planes, so no
races). Cost: O(N) for the EDT and the ridge, plus the volume of the kept balls.
Non-periodic images: the region outside the box is neither solid nor pore (distances are to
solid voxels inside the box). ``periodic=True`` measures distances and balls on the torus.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from porevae._threads import start_numba_threads
from porevae.media._checks import as3d, as_binary, from_torch

start_numba_threads()

_INF = np.iinfo(np.int32).max


@nb.njit(cache=True)
def _envelope(sp, sf, m, out, n, v, z):
    """out[x] = min_q sf[q] + (x - sp[q])**2 for x in [0, n), sites sp increasing (m of them)."""
    if m == 0:
        out[:n] = _INF
        return
    k = 0
    v[0] = 0
    z[0] = -np.inf
    z[1] = np.inf
    for q in range(1, m):
        while True:
            p = v[k]
            s = ((sf[q] + sp[q] * sp[q]) - (sf[p] + sp[p] * sp[p])) / (2.0 * (sp[q] - sp[p]))
            if s <= z[k]:
                k -= 1
            else:
                break
        k += 1
        v[k] = q
        z[k] = s
        z[k + 1] = np.inf
    k = 0
    for x in range(n):
        while z[k + 1] < x:
            k += 1
        p = v[k]
        out[x] = (x - sp[p]) ** 2 + sf[p]


@nb.njit(cache=True)
def _line_pass(f, n, periodic, out, sp, sf, v, z):
    """1-D squared EDT of the values f[0:n] (``_INF`` = no site); periodic lines see copies of
    every site at -n and +n, enough for any distance on a ring."""
    m = 0
    shifts = (-n, 0, n) if periodic else (0, 0, 0)
    for t in range(3 if periodic else 1):
        for p in range(n):
            if f[p] < _INF:
                sp[m] = p + shifts[t]
                sf[m] = f[p]
                m += 1
    _envelope(sp, sf, m, out, n, v, z)


@nb.njit(cache=True)
def _binary_line(row, n, periodic, d):
    """d[k] = squared distance from k to the nearest False of the bool line ``row`` (n voxels),
    ``_INF`` when the line has none; two sweeps (periodic: seeded across the ends)."""
    far = 2 * n + 2
    last = -far
    nxt = far
    if periodic:
        for k in range(n - 1, -1, -1):
            if not row[k]:
                last = k - n
                break
        for k in range(n):
            if not row[k]:
                nxt = k + n
                break
    for k in range(n):
        if not row[k]:
            last = k
        d[k] = k - last
    for k in range(n - 1, -1, -1):
        if not row[k]:
            nxt = k
        g = min(d[k], nxt - k)
        d[k] = _INF if g > n else g * g


@nb.njit(parallel=True, cache=True)
def _edt_squared(pore, periodic):
    """Squared distance (int32) from each voxel to the nearest False voxel of (nx, ny, nz)
    ``pore``; 0 on solid, ``_INF`` where no solid is reachable. periodic: (3,) bool.

    Passes along z then y inside each x-slab (one parallel loop; a slab stays in cache), then
    along x through a transposed (nz, nx) buffer per y index, so every line is read from
    contiguous memory.
    """
    nx, ny, nz = pore.shape
    m = max(nx, ny, nz)
    out = np.empty((nx, ny, nz), np.int32)
    for i in nb.prange(nx):
        f = np.empty(m, np.int64)
        d = np.empty(m, np.int64)
        sp = np.empty(3 * m, np.int64)
        sf = np.empty(3 * m, np.int64)
        v = np.empty(3 * m, np.int64)
        zz = np.empty(3 * m + 1, np.float64)
        for j in range(ny):  # z: distance to the nearest solid voxel of the line
            _binary_line(pore[i, j], nz, periodic[2], d)
            for k in range(nz):
                out[i, j, k] = d[k]
        for k in range(nz):  # y
            for j in range(ny):
                f[j] = out[i, j, k]
            _line_pass(f, ny, periodic[1], d, sp, sf, v, zz)
            for j in range(ny):
                out[i, j, k] = min(d[j], _INF)
    for j in nb.prange(ny):  # x
        buf = np.empty((nz, nx), np.int64)
        d = np.empty(nx, np.int64)
        sp = np.empty(3 * nx, np.int64)
        sf = np.empty(3 * nx, np.int64)
        v = np.empty(3 * nx, np.int64)
        zz = np.empty(3 * nx + 1, np.float64)
        for i in range(nx):
            for k in range(nz):
                buf[k, i] = out[i, j, k]
        for k in range(nz):
            _line_pass(buf[k], nx, periodic[0], d, sp, sf, v, zz)
            for i in range(nx):
                buf[k, i] = min(d[i], _INF)
        for i in range(nx):
            for k in range(nz):
                out[i, j, k] = buf[k, i]
    return out


_REACH = 1  # neighbours up to this many voxels away per axis are tested for containment
_PATTERNS = sorted({tuple(sorted(p, reverse=True))
                    for p in np.ndindex(*(_REACH + 1,) * 3)} - {(0, 0, 0)})
# column of the table for an offset (|dx|, |dy|, |dz|)
_PATTERN_OF = np.zeros((_REACH + 1,) * 3, np.int64)
for _p in np.ndindex(*(_REACH + 1,) * 3):
    if any(_p):
        _PATTERN_OF[_p] = _PATTERNS.index(tuple(sorted(_p, reverse=True)))


def _containment_table(a_max):
    """T[a, p] = max over integer v with |v|**2 < a of |v - d|**2, for the offsets d of pattern p.

    By the symmetry of the discrete ball {|v|**2 < a} under axis permutations and reflections,
    the farthest ball point from d depends only on the sorted |d| components (the pattern), and
    equals max_v |v|**2 + 2 sum_i w_i |v_i| + |d|**2 with w the pattern; one octant of points up
    to radius sqrt(a_max) is enumerated. (a_max + 1, n_patterns) int64.
    """
    top = math.isqrt(max(int(a_max), 1)) + 1
    g = np.arange(top + 1)
    v = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    n2 = (v**2).sum(1)
    keep = n2 < a_max
    v, n2 = v[keep], n2[keep]
    table = np.zeros((a_max + 1, len(_PATTERNS)), np.int64)
    for col, w in enumerate(_PATTERNS):
        w = np.array(w)
        best = np.full(a_max + 1, np.iinfo(np.int64).min // 2, np.int64)
        np.maximum.at(best, n2 + 1, n2 + 2 * (v * w).sum(1))  # n2 + 1: first a holding v
        table[:, col] = np.maximum.accumulate(best) + (w**2).sum()
    return table


@nb.njit(parallel=True, cache=True)
def _ridge(a, periodic, table, pattern_of, reach):
    """The centres whose balls must be painted (``out`` starts as ``a``: every voxel lies in
    its own ball); every other ball is covered by kept balls of at least its value.

    A centre c is dropped when
    (1) its ball {c + v : |v|**2 < a_c} lies inside the ball of a neighbour n = c + d (offsets up
        to ``reach`` per axis) with a_n >= a_c: max_v |v - d|**2 = table[a_c, pattern(d)] < a_n;
    (2) or no 26-neighbour in the box has a smaller value: a point c + v of its ball is then in
        the ball of n = c + sign(v), with a_n >= a_c and |v - sign(v)| < |v|.
    Following these covers from any dropped ball ends at a kept ball or at the point itself,
    with a value >= a_c (rule 1 strictly raises the value -- equal discrete balls at different
    centres cannot nest -- and rule 2 keeps it and strictly shortens the distance).
    """
    nx, ny, nz = a.shape
    keep = np.zeros((nx, ny, nz), np.bool_)
    for i in nb.prange(nx):
        for j in range(ny):
            for k in range(nz):
                ac = a[i, j, k]
                if ac == 0:
                    continue
                inside = False
                low = False
                if reach <= i < nx - reach and reach <= j < ny - reach and \
                        reach <= k < nz - reach:  # interior: no wrapping or clipping
                    for di in range(-reach, reach + 1):
                        for dj in range(-reach, reach + 1):
                            for dk in range(-reach, reach + 1):
                                an = a[i + di, j + dj, k + dk]
                                if an < ac:
                                    low = True
                                elif (di != 0 or dj != 0 or dk != 0) and table[
                                        ac, pattern_of[abs(di), abs(dj), abs(dk)]] < an:
                                    inside = True
                                    break
                            if inside:
                                break
                        if inside:
                            break
                    keep[i, j, k] = low and not inside
                    continue
                for di in range(-reach, reach + 1):
                    ii = i + di
                    if periodic[0]:
                        ii %= nx
                    elif ii < 0 or ii >= nx:
                        continue
                    for dj in range(-reach, reach + 1):
                        jj = j + dj
                        if periodic[1]:
                            jj %= ny
                        elif jj < 0 or jj >= ny:
                            continue
                        for dk in range(-reach, reach + 1):
                            kk = k + dk
                            if periodic[2]:
                                kk %= nz
                            elif kk < 0 or kk >= nz:
                                continue
                            an = a[ii, jj, kk]
                            if an < ac:
                                low = True
                            elif (di != 0 or dj != 0 or dk != 0) and \
                                    table[ac, pattern_of[abs(di), abs(dj), abs(dk)]] < an:
                                inside = True
                                break
                        if inside:
                            break
                    if inside:
                        break
                keep[i, j, k] = low and not inside
    return keep


@nb.njit(parallel=True, cache=True)
def _centres(keep, a):
    """Kept centres grouped by x plane: (start (nx + 1,), cy, cz, ca (int32)); plane p holds
    entries start[p]:start[p + 1]."""
    nx, ny, nz = keep.shape
    counts = np.zeros(nx + 1, np.int64)
    for i in nb.prange(nx):
        c = 0
        for j in range(ny):
            for k in range(nz):
                if keep[i, j, k]:
                    c += 1
        counts[i + 1] = c
    start = np.cumsum(counts)
    cy = np.empty(start[nx], np.int64)
    cz = np.empty(start[nx], np.int64)
    ca = np.empty(start[nx], np.int32)
    for i in nb.prange(nx):
        p = start[i]
        for j in range(ny):
            for k in range(nz):
                if keep[i, j, k]:
                    cy[p] = j
                    cz[p] = k
                    ca[p] = a[i, j, k]
                    p += 1
    return start, cy, cz, ca


@nb.njit(cache=True)
def _isqrt(v):
    h = int(math.sqrt(v))
    while h * h > v:
        h -= 1
    while (h + 1) * (h + 1) <= v:
        h += 1
    return h


@nb.njit(parallel=True, cache=True)
def _paint(shape, start, cy, cz, ca, periodic, out):
    """out[x] = max(out[x], a_c) over the balls {x : |x - c|**2 < a_c}.

    Centres are grouped by x plane (plane p holds entries start[p]:start[p + 1]). Parallel
    over the painted x-planes (no write races); integer square roots from a table.
    """
    nx, ny, nz = shape
    amax = ca.max() if ca.size else 1
    root = np.empty(amax + 1, np.int64)
    for v in range(amax + 1):
        root[v] = _isqrt(v)
    reach = root[amax] + 1
    for i in nb.prange(nx):
        for praw in range(i - reach, i + reach + 1):
            if periodic[0]:
                p = praw % nx
            elif praw < 0 or praw >= nx:
                continue
            else:
                p = praw
            dx2 = (i - praw) ** 2
            for c in range(start[p], start[p + 1]):
                rem = ca[c] - 1 - dx2
                if rem < 0:
                    continue
                value = ca[c]
                yc, zc = cy[c], cz[c]
                hy = root[rem]
                y0, y1 = yc - hy, yc + hy
                if not periodic[1]:
                    y0, y1 = max(y0, 0), min(y1, ny - 1)
                for y in range(y0, y1 + 1):
                    hz = root[rem - (y - yc) ** 2]
                    row = out[i, y % ny]
                    if periodic[2]:
                        for z in range(zc - hz, zc + hz + 1):
                            zz = z % nz
                            row[zz] = max(row[zz], value)
                    else:
                        for z in range(max(zc - hz, 0), min(zc + hz, nz - 1) + 1):
                            row[z] = max(row[z], value)


def _wrap_flags(ndim, periodic):
    return np.array([bool(periodic)] * ndim + [False] * (3 - ndim))


def distance_transform(image, periodic=False) -> np.ndarray:
    """Euclidean distance (voxels, float64) from each pore voxel to the nearest solid voxel centre.

    0 on solid; ``inf`` where the image has no solid at all. ``periodic=True`` measures on the
    torus (distances wrap around the box). Same values as ``scipy.ndimage.distance_transform_edt``
    in the non-periodic case.
    """
    img = as_binary(from_torch(image))
    a = _edt_squared(as3d(img), _wrap_flags(img.ndim, periodic)).reshape(img.shape)
    out = np.sqrt(a, dtype=np.float64)
    out[a == _INF] = np.inf
    return out


def _thickness_squared(img, periodic, integer_radii) -> np.ndarray:
    """Squared local-thickness radius (int32, 0 on solid) of a validated bool image, as
    (nx, ny, nz)."""
    if img.all():
        raise ValueError("local thickness is undefined: image has no solid voxel")
    wrap = _wrap_flags(img.ndim, periodic)
    a = _edt_squared(as3d(img), wrap)
    if integer_radii:
        a = (np.floor(np.sqrt(np.arange(a.max() + 1))) ** 2).astype(np.int32)[a]
    table = _containment_table(int(a.max()))
    start, cy, cz, ca = _centres(_ridge(a, wrap, table, _PATTERN_OF, _REACH), a)
    _paint(np.array(a.shape, np.int64), start, cy, cz, ca, wrap, a)  # in place: a = own ball
    return a


def local_thickness(image, periodic=False, integer_radii=False) -> np.ndarray:
    """Local thickness radius of every pore voxel (float32 array of ``image.shape``, 0 on solid).

    See the module docstring for the definition. ``integer_radii=True`` rounds every ball's
    radius down to an integer first (ball ``{x : |x - c| < floor(d(c))}``, radius
    ``floor(d(c))``), which is what ``porespy.filters.local_thickness`` (porespy 3.2, default
    method ``"bf"``, all integer sizes) computes. Cost: one EDT plus painting the ridge balls,
    O(sum of r**3 over the ridge); seconds for a 256**3 volume with pores of ~10 voxels.
    Raises ValueError if the image has no solid voxel (the thickness is then unbounded).
    """
    img = as_binary(from_torch(image))
    return np.sqrt(_thickness_squared(img, periodic, integer_radii),
                   dtype=np.float32).reshape(img.shape)


def pore_size_distribution(image, bins=None, periodic=False, integer_radii=False):
    """Pore-size distribution by local thickness: fraction of pore volume per radius bin.

    Parameters
    ----------
    bins : array of increasing bin edges (voxels), optional
        Default: unit bins ``[1, 2), [2, 3), ...`` up to the largest radius.

    Returns
    -------
    r : (n_bins,) float64 bin centres in voxels
    fraction : (n_bins,) float64, pore voxels whose local-thickness radius falls in each bin
        divided by all pore voxels (sums to 1 with the default bins). Empty pore space gives
        zeros.
    """
    img = as_binary(from_torch(image))
    if img.any():
        per_value = np.bincount(_thickness_squared(img, periodic, integer_radii).ravel())
        per_value[0] = 0  # solid
    else:
        per_value = np.zeros(2, np.int64)
    radius = np.sqrt(np.arange(per_value.size))
    if bins is None:
        edges = np.arange(1, math.floor(radius[np.nonzero(per_value)[0][-1]]) + 2
                          if per_value.any() else 2, dtype=float)
    else:
        edges = np.asarray(bins, dtype=float)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError("bins must be at least 2 increasing bin edges")
    which = np.searchsorted(edges, radius, side="right") - 1
    which[radius == edges[-1]] = edges.size - 2  # the last bin is closed, as in np.histogram
    ok = (which >= 0) & (which < edges.size - 1)
    hist = np.bincount(which[ok], weights=per_value[ok], minlength=edges.size - 1)
    return 0.5 * (edges[:-1] + edges[1:]), hist / max(int(per_value.sum()), 1)
