"""The Numba kernels of the parity solver (:mod:`porevae.kle.parity`): block assembly, the
x <-> y swap sectors, sign fixing and the expansion of sector vectors to grid vectors.

Kept apart so that importing the solver (planning a solve, refusing one that does not fit)
does not import Numba; the solver loads this module when it computes.
"""

from __future__ import annotations

import math

import numba as nb

from porevae._threads import start_numba_threads

start_numba_threads()

_INV_SQRT2 = 1.0 / math.sqrt(2.0)


@nb.njit(parallel=True, cache=True)
def parity_block(table, n3, h3, sgn3, out):
    """Assemble the block of one parity class.

    table: (nz, ny, 2 nx - 1) offset table (see ``ops.grid_offset_table``); n3: full sizes;
    h3: half sizes of this class; sgn3: +1 even / -1 odd per axis; out: (m, m), m = prod(h3),
    half-grid multi-index in I-fastest order.
    """
    nx, ny, nz = n3[0], n3[1], n3[2]
    hx, hy, hz = h3[0], h3[1], h3[2]
    m = hx * hy * hz
    for p in nb.prange(m):
        px = p % hx
        py = (p // hx) % hy
        pz = p // (hx * hy)
        cpx = 1.0 if 2 * px == nx - 1 else _INV_SQRT2
        cpy = 1.0 if 2 * py == ny - 1 else _INV_SQRT2
        cpz = 1.0 if 2 * pz == nz - 1 else _INV_SQRT2
        for q in range(m):
            qx = q % hx
            qy = (q // hx) % hy
            qz = q // (hx * hy)
            mx = 2 * qx != nx - 1
            my = 2 * qy != ny - 1
            mz = 2 * qz != nz - 1
            acc = 0.0
            for tz in range(2 if mz else 1):
                dz = abs(pz - (qz if tz == 0 else nz - 1 - qz))
                sz = 1.0 if tz == 0 else sgn3[2]
                for ty in range(2 if my else 1):
                    dy = abs(py - (qy if ty == 0 else ny - 1 - qy))
                    sy = sz if ty == 0 else sz * sgn3[1]
                    row = table[dz, dy]
                    for tx in range(2 if mx else 1):
                        qq = qx if tx == 0 else nx - 1 - qx
                        s = sy if tx == 0 else sy * sgn3[0]
                        acc += s * row[qq - px + nx - 1]
            cq = (_INV_SQRT2 if mx else 1.0) * (_INV_SQRT2 if my else 1.0) * \
                (_INV_SQRT2 if mz else 1.0)
            out[p, q] = acc * cq / (cpx * cpy * cpz)


@nb.njit(parallel=True, cache=True)
def swap_block(b, rep, mirror, sign, c, out):
    """The x<->y swap sector of a parity-class block, in one pass.

    ``out[i, j] = (b[rep_i, rep_j] + sign_j b[rep_i, mirror_j]) c_j / c_i``: ``rep`` (m,) the
    representatives (x <= y) in ``b``, ``mirror`` their swapped partners, ``sign`` (m,) the
    sector's sign (0 on the diagonal x = y), ``c`` (m,) the basis factors (1 or 1/sqrt(2)).
    """
    m = rep.size
    for i in nb.prange(m):
        row = b[rep[i]]
        ci = c[i]
        for j in range(m):
            out[i, j] = (row[rep[j]] + sign[j] * row[mirror[j]]) * c[j] / ci


@nb.njit(parallel=True, cache=True)
def column_signs(ut, mag, pos, out):
    """``out[c]`` = the sign that makes grid vector ``E_s u_c`` have its largest-magnitude entry
    positive (the first in grid order on ties), as :func:`~porevae.kle._linalg.fix_signs`,
    found on the class's own coefficients: coefficient ``p`` reaches its cells with factors of
    magnitude ``mag[p]``, the first of them (grid index ``pos[p]``) with a positive one.
    ``ut`` (k, m) holds the vectors as rows."""
    for c in nb.prange(ut.shape[0]):
        u = ut[c]
        big, first, sign = -1.0, -1, 1.0
        for p in range(u.size):
            x = mag[p] * u[p]
            a = abs(x)
            if a > big or (a == big and pos[p] < first):
                big, first, sign = a, pos[p], (1.0 if x >= 0 else -1.0)
        out[c] = sign


@nb.njit(parallel=True, cache=True)
def expand_columns(ucat, uoff, ucols, hx, hy, sx, fx, sy, fy, sz, fz, colptr, outc, out):
    """Grid eigenvectors (n, K) C-ordered, one pass over the rows: block ``b`` holds its vectors
    (signs fixed) as ``ucat[uoff[b]:]`` (m_b, ucols[b]) C-ordered, for output columns
    ``outc[colptr[b]:colptr[b + 1]]``; its class map per axis is ``(sx[b], fx[b])`` ... (the
    factors of :func:`~porevae.kle.parity._axis_map`):
    ``out[i, c] = fac_b(i) u_b[src_b(i), j]`` with ``src_b = sx + hx (sy + hy sz)`` and
    ``fac_b = fx fy fz`` as :func:`~porevae.kle.parity._class_map` has them."""
    nx, ny, nz = sx.shape[1], sy.shape[1], sz.shape[1]
    for zy in nb.prange(nz * ny):
        z = zy // ny
        y = zy - z * ny
        for x in range(nx):
            row = out[x + nx * zy]
            for b in range(uoff.size):
                src = sx[b, x] + hx[b] * (sy[b, y] + hy[b] * sz[b, z])
                f = fx[b, x] * fy[b, y] * fz[b, z]
                at = uoff[b] + src * ucols[b] - colptr[b]
                for j in range(colptr[b], colptr[b + 1]):
                    row[outc[j]] = f * ucat[at + j]


@nb.njit(cache=True)
def swap_expand(u, rep, mirror, c, w, out):
    """``out = S u`` for a swap sector's basis ``S``
    (:meth:`porevae.kle.parity._Sector._factors`): u (size, k) -> out (prod(half), k); entries
    no basis vector reaches (the diagonal of an antisymmetric sector) are 0."""
    out[:] = 0.0
    for i in range(rep.size):
        a, b = rep[i], mirror[i]
        for j in range(u.shape[1]):
            out[a, j] = c[i] * u[i, j]
        if w[i] != 0.0:
            for j in range(u.shape[1]):
                out[b, j] += w[i] * u[i, j]


@nb.njit(cache=True)
def swap_reduce(y, rep, mirror, c, w, out):
    """``out = S^T y``: y (prod(half), k) -> out (size, k)."""
    for i in range(rep.size):
        a, b = rep[i], mirror[i]
        for j in range(y.shape[1]):
            out[i, j] = c[i] * y[a, j] + w[i] * y[b, j]
