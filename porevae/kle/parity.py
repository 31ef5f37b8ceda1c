"""Parity solver: exact block diagonalisation of a regular grid's covariance by its reflections.

On a regular grid a covariance that depends on ``|h_a|`` only commutes with the reflection
``i_a -> n_a - 1 - i_a`` of each axis. In the basis that is even or odd along each axis,

* even: ``(e_p + e_{n-1-p}) / sqrt(2)`` for ``p < n/2``, and ``e_p`` for the middle cell of an odd
  axis; odd: ``(e_p - e_{n-1-p}) / sqrt(2)`` for ``p < floor(n/2)``,

C splits exactly into ``2^d`` blocks, one per parity class ``s``, of about ``n / 2^d`` rows:
``B_s[p, q] = prod_a c(q_a)/c(p_a) * sum_{t} prod_a sigma_a(t_a) C(p - q^t)`` where ``q^t`` reflects
the axes with ``t_a = 1``, ``sigma = -1`` for a reflected odd axis, ``c = 1/sqrt(2)`` (``1`` for a
middle cell). The eigen-solve costs ``4^d`` times less than the dense one.

When axes 0 and 1 are interchangeable (same size and spacing, same length scale) the swap
``x <-> y`` is a further symmetry: classes with ``s_0 = s_1`` split again into swap-symmetric and
antisymmetric halves, and the class ``(1, 0, .)`` is the class ``(0, 1, .)`` with x and y exchanged,
so it is solved once (its eigenvalues are doubly degenerate). In 2D this is the dihedral group of
the square: the full spectrum costs about 43 times less than dense instead of 16.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from porevae import ops
from porevae._lazy import lazy_module
from porevae._progress import progress as progress_bar
from porevae._progress import write
from porevae._validation import check_choice
from porevae.kle import _device, base
from porevae.kle._linalg import (
    eigh_leading,
    eigvalsh_desc,
    fix_signs,
    merge_desc,
    n_terms_for_energy,
)

torch = lazy_module("torch")
#: the Numba kernels (compiled on first use; loaded with Numba when a solve needs them)
_kernels = lazy_module("porevae.kle._parity_kernels")

_INV_SQRT2 = 1.0 / math.sqrt(2.0)


def _half_sizes(n, s):
    return (n + 1) // 2 if s == 0 else n // 2


def parity_classes(shape3, ndim):
    """The parity classes ``s`` (3 entries of 0 even / 1 odd, padded axes even) of a grid with
    at least one cell: ``2^ndim`` of them, fewer when an axis has a single cell."""
    out = []
    for s in itertools.product((0, 1), repeat=ndim):
        s3 = tuple(s) + (0,) * (3 - ndim)
        if all(_half_sizes(n, si) > 0 for n, si in zip(shape3, s3)):
            out.append(s3)
    return out


def _axis_map(n, s):
    """One axis of ``E_s``: ``(src (n,), fac (n,))`` with ``v[i] = fac[i] u[src[i]]``, where
    ``u`` holds the ``h`` parity coefficients: ``v[p] = c_p u[p]`` and ``v[n - 1 - p] =
    (-1)^s c_p u[p]`` with ``c_p = 1/sqrt 2``, except the middle cell of an odd axis (``c = 1``,
    no partner; 0 in an odd class)."""
    h = _half_sizes(n, s)
    paired = h - 1 if (n % 2 and not s) else h   # coefficients with a mirror partner
    src = np.zeros(n, np.int64)
    fac = np.zeros(n)
    src[:paired] = np.arange(paired)
    fac[:paired] = _INV_SQRT2
    src[n - paired:] = np.arange(paired)[::-1]
    fac[n - paired:] = -_INV_SQRT2 if s else _INV_SQRT2
    if n % 2 and not s:
        src[paired], fac[paired] = h - 1, 1.0
    return src, fac


def _class_map(shape3, s):
    """``(src (n,), fac (n,))`` of class ``s`` over the whole grid, I-fastest: grid vector
    ``v = E_s u`` is ``v[i] = fac[i] u[src[i]]`` (each cell reached by one coefficient, the
    product of the three axes' maps; half-grid index I-fastest)."""
    (sx, fx), (sy, fy), (sz, fz) = (_axis_map(n, si) for n, si in zip(shape3, s))
    hx, hy = _half_sizes(shape3[0], s[0]), _half_sizes(shape3[1], s[1])
    src = sx[None, None, :] + hx * (sy[None, :, None] + hy * sz[:, None, None])
    fac = fx[None, None, :] * fy[None, :, None] * fz[:, None, None]
    return src.ravel(), fac.ravel()


def _lower_images(shape3, s):
    """``(mag (m,), pos (m,))`` of class ``s``: for each coefficient (half-grid I-fastest) the
    magnitude of its factors and the grid index of its first cell (the lower image, positive
    factor)."""
    maps = [_axis_map(n, si) for n, si in zip(shape3, s)]
    half = [_half_sizes(n, si) for n, si in zip(shape3, s)]
    (fx, fy, fz) = (m[1][:h] for m, h in zip(maps, half))
    mag = fx[None, None, :] * fy[None, :, None] * fz[:, None, None]
    nx, ny = shape3[0], shape3[1]
    pos = np.arange(half[0])[None, None, :] + nx * (np.arange(half[1])[None, :, None]
                                                     + ny * np.arange(half[2])[:, None, None])
    return mag.ravel(), pos.ravel().astype(np.int64)


def expand_host(blocks, shape3, k):
    """Grid eigenvectors (n, k), C-ordered float64, from class vectors: ``blocks`` is a list of
    ``(s, u (m_s, c) NumPy, cols (c,))``, the vectors of class ``s`` for the output columns
    ``cols``; it is emptied as the vectors are copied (sign-fixed) into one buffer, so that they
    are held once. Signs as :func:`~porevae.kle._linalg.fix_signs` would fix them; the only
    n-sized allocation is the output (``8 n k`` bytes), written once."""
    n = math.prod(shape3)
    out = np.empty((n, k))
    if k == 0 or not blocks:
        return out
    sizes = [u.size for _, u, _ in blocks]
    ucat = np.empty(sum(sizes))
    uoff = np.cumsum([0] + sizes[:-1]).astype(np.int64)
    ucols, colptr, outc, hx, hy = [], [0], [], [], []
    axes = [[], [], [], [], [], []]
    for b in range(len(sizes)):
        s, u, cols = blocks.pop(0)
        mag, pos = _lower_images(shape3, s)
        signs = np.empty(u.shape[1])
        _kernels.column_signs(np.ascontiguousarray(u.T), mag, pos, signs)
        np.multiply(u, signs, out=ucat[uoff[b]:uoff[b] + u.size].reshape(u.shape))
        ucols.append(u.shape[1])
        del u
        outc.extend(int(c) for c in cols)
        colptr.append(len(outc))
        for a, (nn, si) in enumerate(zip(shape3, s)):
            src, fac = _axis_map(nn, si)
            axes[2 * a].append(src)
            axes[2 * a + 1].append(fac)
        hx.append(_half_sizes(shape3[0], s[0]))
        hy.append(_half_sizes(shape3[1], s[1]))
    i64 = lambda v: np.asarray(v, np.int64)  # noqa: E731
    _kernels.expand_columns(ucat, uoff, i64(ucols), i64(hx), i64(hy),
                            *(np.stack(m) for m in axes), i64(colptr), i64(outc), out)
    return out


def expand(u, shape3, s):
    """Parity-class vectors (m, k) -> grid vectors ``E_s u`` (n, k), I-fastest rows.

    ``E_s`` is the orthonormal even / odd basis of class ``s`` (module docstring), a signed
    gather (:func:`_class_map`). ``u`` is a NumPy array or a tensor on any device, and so is the
    result: the transpose (a view) of a C-ordered (k, n) array, so that each vector is
    contiguous (:func:`expand_host` writes many classes' vectors into one (n, k) array).
    """
    src, fac = _class_map(shape3, s)
    if isinstance(u, np.ndarray):
        return (fac * u.T[:, src]).T
    src_t, fac_t = _device.asarray(src, u.device), _device.asarray(fac, u.device)
    return (fac_t * u.T[:, src_t]).T


def restrict(v, shape3, s):
    """Grid vectors (n, k) -> their class-``s`` coefficients ``E_s^T v`` (m, k)."""
    src, fac = _class_map(shape3, s)
    m = math.prod(_half_sizes(n, si) for n, si in zip(shape3, s))
    if isinstance(v, np.ndarray):
        out = np.zeros((m, v.shape[1]))
        np.add.at(out, src, fac[:, None] * v)
        return out
    src_t, fac_t = _device.asarray(src, v.device), _device.asarray(fac[:, None], v.device)
    return torch.zeros(m, v.shape[1], dtype=v.dtype, device=v.device).index_add_(0, src_t,
                                                                              fac_t * v)


class _Sector:
    """One independent block: its size, how to build it and how to expand its eigenvectors."""

    def __init__(self, solver, s, swap=None):
        self.solver, self.s, self.swap = solver, s, swap  # swap: None, "sym", "anti", "pair"
        self.half = tuple(_half_sizes(n, si) for n, si in zip(solver.shape3, s))
        hx, hz = self.half[0], self.half[2]
        if swap == "sym":
            self.size = hx * (hx + 1) // 2 * hz   # x <= y
        elif swap == "anti":
            self.size = hx * (hx - 1) // 2 * hz   # x < y
        else:
            self.size = math.prod(self.half)
        self.multiplicity = 2 if swap == "pair" else 1
        self._maps = None

    @property
    def maps(self):
        """``(rep, mirror, diag)`` of a swap sector: each representative (x <= y) in the block,
        its swapped partner, and whether it lies on the diagonal x = y (built on first use)."""
        if self._maps is None:
            hx, hz = self.half[0], self.half[2]
            a, b = np.meshgrid(np.arange(hx), np.arange(hx), indexing="ij")  # a = x, b = y
            keep = (a <= b) if self.swap == "sym" else (a < b)
            ax, by = np.tile(a[keep], hz), np.tile(b[keep], hz)
            z = np.repeat(np.arange(hz), keep.sum())
            self._maps = (ax + hx * (by + hx * z), by + hx * (ax + hx * z), ax == by)
        return self._maps

    def matrix(self):
        """The block to eigen-solve, assembled on the host by the Numba kernels and then placed
        on the solver's device (a fresh array the caller may overwrite)."""
        b = self.solver.parity_block(self.s)
        if self.swap not in ("sym", "anti"):
            return _device.asarray(b.copy(), self.solver.device)
        sign = 1.0 if self.swap == "sym" else -1.0
        rep, mirror, diag = self.maps
        out = np.empty((self.size, self.size))
        _kernels.swap_block(b, rep, mirror, np.where(diag, 0.0, sign),
                            np.where(diag, 1.0, _INV_SQRT2), out)
        return _device.asarray(out, self.solver.device)

    def _factors(self):
        """``(rep, mirror, c, w)``: basis vector i of a swap sector is ``c_i e_rep_i + w_i
        e_mirror_i`` (``c = 1, w = 0`` on the diagonal x = y, else ``1/sqrt 2, +-1/sqrt 2``)."""
        rep, mirror, diag = self.maps
        sign = 1.0 if self.swap == "sym" else -1.0
        return (rep, mirror, np.where(diag, 1.0, _INV_SQRT2),
                np.where(diag, 0.0, sign * _INV_SQRT2))

    def block_vectors(self, u):
        """Reduced eigenvectors (size, k) -> parity-block eigenvectors (prod(half), k); NumPy
        (one Numba pass) or a tensor on any device."""
        if self.swap not in ("sym", "anti"):
            return u
        rep, mirror, c, w = self._factors()
        if isinstance(u, np.ndarray):
            out = np.empty((math.prod(self.half), u.shape[1]))
            _kernels.swap_expand(np.ascontiguousarray(u), rep, mirror, c, w, out)
            return out
        dev = self.solver.device
        off = np.flatnonzero(w != 0.0)
        out = _device.empty((math.prod(self.half), u.shape[1]), dev, zeros=True)
        out[_device.asarray(rep, dev)] = _device.asarray(c[:, None], dev) * u
        out[_device.asarray(mirror[off], dev)] += _device.asarray(w[off, None], dev) * u[
            _device.asarray(off, dev)]
        return out

    def reduce(self, y):
        """The transpose of :meth:`block_vectors`: parity-block vectors (prod(half), k) -> their
        swap-sector coefficients (size, k)."""
        if self.swap not in ("sym", "anti"):
            return y
        rep, mirror, c, w = self._factors()
        if isinstance(y, np.ndarray):
            out = np.empty((rep.size, y.shape[1]))
            _kernels.swap_reduce(np.ascontiguousarray(y), rep, mirror, c, w, out)
            return out
        dev = self.solver.device
        return _device.asarray(c[:, None], dev) * y[_device.asarray(rep, dev)] + \
            _device.asarray(w[:, None], dev) * y[_device.asarray(mirror, dev)]

    def class_vectors(self, u, copy_index=0):
        """Parity-block eigenvectors (prod(half), k) -> ``(s, u)``: their parity class and
        coefficients in it (copy 1 of a ``"pair"`` sector: the swapped partner class, x and y
        of the half grid exchanged)."""
        if copy_index == 0:
            return self.s, u
        hx, hy, hz = self.half
        u = u.reshape(hz, hy, hx, -1).swapaxes(1, 2).reshape(-1, u.shape[1])
        return (self.s[1], self.s[0], self.s[2]), u


def make_sectors(owner, grid, model):
    """``(use_swap, sectors)``: the independent blocks of a grid's covariance for ``owner`` (a
    solver with ``shape3`` and ``device``): one per parity class, or, when x and y are
    interchangeable (same size and spacing, same length scale), the swap-symmetric and
    antisymmetric halves of the classes with ``s_0 = s_1`` and one ``"pair"`` sector standing
    for the classes ``(0, 1, .)`` and ``(1, 0, .)``."""
    ls = model.length_scales(grid.ndim)
    use_swap = (grid.ndim >= 2 and grid.shape[0] == grid.shape[1] and grid.shape[0] > 1
                and grid.spacing[0] == grid.spacing[1] and ls[0] == ls[1])
    out = []
    for s3 in parity_classes(grid.shape3, grid.ndim):
        if use_swap and s3[0] != s3[1]:
            if s3[0] == 0:
                out.append(_Sector(owner, s3, "pair"))
            continue
        if use_swap:
            out.extend(_Sector(owner, s3, w) for w in ("sym", "anti"))
        else:
            out.append(_Sector(owner, s3))
    return use_swap, [sec for sec in out if sec.size > 0]


def solve_sectors(sectors, n, k, shares, leading, device, vectors=True, progress=False,
                  desc="sectors", energy=None):
    """Leading pairs of a block-diagonal operator from its sectors' leading pairs, sector by
    sector: only each sector's converged pairs are kept, and the grid vectors are formed once,
    at the end, for the pairs kept.

    ``leading(i, m)`` gives sector ``i``'s leading ``m`` pairs ``(w (m,) NumPy, u (size, m))``;
    ``shares(k)`` the first guess of each sector's share of ``k`` pairs. A sector whose smallest
    computed value is not below the cut is doubled (:func:`grow_shares`) until the cut is
    provably right. The values are merged (a ``"pair"`` sector counts twice: its vectors and
    their x <-> y swapped copies).

    ``energy``: None (``k`` pairs), or ``(level, trace, more, check)``: ``k`` is the first guess
    and the result the fewest leading pairs whose sum reaches ``level * trace``; while the
    computed values fall short, ``more(w)`` (merged values so far) gives a larger ``k`` and
    ``check(k)`` refuses it (``MemoryError``) before any work for it.

    Returns ``(w (k,) NumPy, v or None)``, ``v`` (n, k): on the host a C-ordered NumPy array
    (:func:`expand_host`), on a device a tensor there, signs fixed (:func:`fix_signs`).
    """
    want = list(shares(k))
    sizes = [sec.size for sec in sectors]
    mult = [sec.multiplicity for sec in sectors]
    results = {}
    bar = progress_bar(total=len(sectors), enable=progress, desc=desc, leave=False)
    while True:
        for i in range(len(sectors)):
            if i in results and results[i][0].size >= want[i]:
                continue
            results[i] = None  # the previous, shorter result is not kept beside the new one
            results[i] = leading(i, want[i])
            bar.update(0 if bar.n >= len(sectors) else 1)
        values = [results[i][0] for i in range(len(sectors))]
        if energy is not None:
            level, trace, more, check = energy
            merged = np.sort(np.concatenate([np.repeat(w, m) for w, m in zip(values, mult)]))
            merged = merged[::-1]
            m = n_terms_for_energy(merged, level, trace, n)
            if m is None:  # short of the energy: more pairs, estimated from what came
                k = min(n, more(merged))
                check(k)
                if progress:
                    write(f"{desc}: {merged.size} pairs reach {merged.sum() / trace:.1%} of the "
                          f"energy, short of {level:.1%}: growing to about {k}")
                want = [max(a, b) for a, b in zip(want, shares(k))]
                continue
            k = m
        short = grow_shares(values, sizes, mult, k)
        if not short:
            break
        for i in short:
            want[i] = min(sizes[i], 2 * want[i])
    bar.close()
    val_lists, src = [], []
    for i, sec in enumerate(sectors):
        for copy in range(sec.multiplicity):
            val_lists.append(results[i][0])
            src.append((i, copy))
    w, blk, loc = merge_desc(val_lists, k)
    if not vectors:
        return w, None
    blocks = []
    for b, (i, copy) in enumerate(src):
        cols = np.flatnonzero(blk == b)
        if cols.size:
            sec = sectors[i]
            u = sec.block_vectors(results[i][1][:, _device.asarray(loc[cols], device)])
            blocks.append((*sec.class_vectors(u, copy), cols))
            u = None  # held by ``blocks`` only: expand_host frees each block once copied
        if copy == sectors[i].multiplicity - 1:
            results[i] = None  # its vectors are in ``blocks`` now
    if device is None:
        return w, expand_host(blocks, sectors[0].solver.shape3, k)
    vt = _device.empty((k, n), device)
    for s, u, cols in blocks:
        vt[_device.asarray(cols, device)] = expand(u, sectors[0].solver.shape3, s).T
    fix_signs(vt.T)
    return w, vt.T


def expansion_memory(solver, k: int) -> int:
    """Bytes of :func:`solve_sectors`' last step for ``k`` pairs: the grid vectors (``8 n k``,
    on a device twice: the tensor and its copy to the host) and the buffer of the class vectors
    they come from (at most ``k`` vectors of the largest class: :func:`expand_host` copies them
    there as it frees them)."""
    k = min(int(k), solver.n)
    largest = max(math.prod(sec.half) for sec in solver.sectors)
    return 8 * solver.n * k * (1 if solver.device is None else 2) + 8 * k * largest


#: largest parity block (rows) that ``auto`` assembles: beyond it the ``fft`` solver's sector
#: Lanczos is faster for leading pairs, and the whole spectrum would take hours anyway
PARITY_MAX_ROWS = 40_000
#: on 3-D grids, ``auto`` prefers ``fft`` for leading pairs once blocks have this many rows
#: (64 x 64 x 32, 500 pairs: fft 6.5x faster than parity; bench/bench_kle.py ``3d``)
PARITY_3D_LEADING_ROWS = 4_000


class ParitySolver(base.Solver):
    """Exact eigenpairs of a regular grid's stationary covariance through its reflections.

    ``method``: how each block gives its leading pairs (:func:`porevae.kle._linalg.eigh_leading`):
    ``"auto"`` (block Lanczos for blocks of >= 2000 rows needing at most a quarter of their
    pairs, else LAPACK), ``"lapack"`` or ``"lanczos"``. ``device``: ``None`` (host NumPy/SciPy)
    or a torch device (blocks assembled on the host by the Numba kernels, then solved and
    expanded there; see :mod:`porevae.kle._device`).
    Memory (:meth:`memory_bytes`): the largest block three times (the Numba block, its sector,
    LAPACK's workspace) plus the vectors.
    """

    name = "parity"
    full_spectrum_cheap = True
    grid_only = True
    reflections_only = True

    def __init__(self, grid, model, method="auto", device=None):
        check_choice(method, "method", ("auto", "lapack", "lanczos"))
        reason = self.applies(grid, model)
        if reason:
            raise ValueError(reason)
        model.length_scales(grid.ndim)
        self.grid, self.model, self.method = grid, model, method
        self.device = _device.resolve(device)
        self.shape3 = grid.shape3
        self.n = grid.n_cells
        self._table = None
        self._block = None  # (parity class, its block): shared by the sym and anti sectors
        self.use_swap, self.sectors = make_sectors(self, grid, model)

    def parity_block(self, s):
        """Block of parity class ``s`` (kept for the class's two swap sectors, then dropped)."""
        if self._block is None or self._block[0] != s:
            self._block = None  # free the previous class's block first
            half = tuple(_half_sizes(n, si) for n, si in zip(self.shape3, s))
            m = math.prod(half)
            b = np.empty((m, m))
            sgn = np.array([1.0 if si == 0 else -1.0 for si in s])
            _kernels.parity_block(self.table, np.array(self.shape3), np.array(half), sgn, b)
            self._block = (s, b)
        return self._block[1]

    @property
    def table(self):
        if self._table is None:
            self._table = ops.grid_offset_table(self.grid, self.model)
        return self._table

    def declines(self, n_terms):
        """``auto`` passes parity over when its largest block has more than
        :data:`PARITY_MAX_ROWS` rows, or, on a 3-D grid, when ``n_terms`` (fewer than a quarter
        of the cells) leading pairs are asked for and blocks have more than
        :data:`PARITY_3D_LEADING_ROWS` rows: ``fft`` is faster there."""
        largest = max(math.prod(sec.half) for sec in self.sectors)
        if largest > PARITY_MAX_ROWS:
            return f"its largest block has {largest} rows (> {PARITY_MAX_ROWS})"
        if self.grid.ndim == 3 and n_terms is not None and largest > PARITY_3D_LEADING_ROWS \
                and n_terms < self.n // 4:
            return (f"{n_terms} leading pairs of a 3-D grid with blocks of {largest} rows: "
                    f"fft is faster")
        return None

    def memory_bytes(self, k: int, vectors: bool = True) -> int:
        """The largest block three times (the Numba block, its sector, LAPACK's workspace), its
        sector once more on a device, and (``vectors``) the blocks' pairs kept and the ``k``
        grid vectors (:func:`expansion_memory`)."""
        biggest = max(sec.size for sec in self.sectors)
        block = 8 * max(math.prod(sec.half) for sec in self.sectors) ** 2
        on_device = 8 * biggest * biggest * (1 if self.device is None else 2)
        kept = 8 * k * max(math.prod(sec.half) for sec in self.sectors)  # the blocks' pairs
        return 3 * block + on_device + (kept + expansion_memory(self, k) if vectors else 0)

    def eigenvalues(self, k=None, progress=False):
        """Descending eigenvalues: the whole spectrum (``k=None``) or the leading ``k``."""
        base.check(self, 0, False)
        vals = []
        for sec in progress_bar(self.sectors, enable=progress, desc="parity blocks", leave=False):
            w = eigvalsh_desc(sec.matrix())
            vals.append(np.repeat(w, sec.multiplicity) if sec.multiplicity > 1 else w)
        self._block = None
        w = np.sort(np.concatenate(vals))[::-1]
        return w if k is None else w[:k]

    def eigenpairs(self, k: int, progress=False):
        """Leading ``k`` eigenpairs: ``(w (k,) NumPy, v (n, k) on the device)`` from each block's
        leading pairs."""
        k = min(int(k), self.n)
        base.check(self, k, True)
        # first guess of each block's share, grown until the cut is provably right
        # (a pair sector's eigenvalues count twice, so it needs about k size / n distinct ones)
        def shares(k):
            return [min(sec.size, int(1.3 * k * sec.size / self.n) + 8) for sec in self.sectors]

        try:
            return solve_sectors(
                self.sectors, self.n, k, shares,
                lambda i, m: eigh_leading(self.sectors[i].matrix(), m, self.method),
                self.device, progress=progress, desc="parity blocks")
        finally:
            self._block = None


def grow_shares(values, sizes, multiplicity, k):
    """Sectors whose share of the leading ``k`` may be too small: the indices ``i`` that have
    fewer than ``sizes[i]`` values and whose smallest computed value is not below the ``k``-th
    largest of all (counting each value ``multiplicity[i]`` times). Empty: the cut is right."""
    vals = np.concatenate([np.repeat(w, m) for w, m in zip(values, multiplicity)])
    cut = np.sort(vals)[::-1][k - 1] if k else np.inf
    return [i for i, w in enumerate(values) if w.size < sizes[i] and w[-1] >= cut]
