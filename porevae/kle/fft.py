"""The ``fft`` solver: leading eigenpairs of a regular grid's covariance without an n x n matrix.

Block Lanczos (:func:`porevae.kle._linalg.lanczos_eigsh`, GEMM-bound, thick restart, residuals
``<= tol * theta_1``, ``tol = 1e-12``) on each parity sector, with products by real even/odd
transforms:

Regular grid, stationary covariance symmetric under each axis reflection (every model
of :mod:`porevae.covariance`). The reflections split C into ``2^d`` independent parity sectors
(:mod:`porevae.kle.parity`); each sector's block ``B_s`` (about ``n / 2^d`` rows) is a sum of
Toeplitz and Hankel products whose action is a symmetric convolution, computed by real
even/odd transforms over one sector. Along an axis of ``n`` cells, a sector vector reversed and
zero-padded is half of a sequence of period ``2n`` that is even (odd) about both of its
centres, so the circulant embedding of period ``2n`` acts on it through

=====================  ============  ===========================  ==================
axis                   parity        transform (length L)         multipliers ``H_j``
=====================  ============  ===========================  ==================
``n`` even             even / odd    DCT-II / DST-II (``L = n``)  ``j = 0..n-1`` / ``1..n``
``n`` odd              even          DCT-I (``L = n + 1``)        ``j = 0..n``
``n`` odd              odd           DST-I (``L = n - 1``)        ``j = 1..n-1``
=====================  ============  ===========================  ==================

with ``H = DCT-I(K)``, ``K[j] = C(j h)`` for ``j = 0..n`` per axis (``H_j`` is the embedding's
spectrum at frequency ``pi j / n``): ``B_s u = c^-1 T^-1 (H_s * T (c u))`` with ``T`` the
separable transform and ``c = sqrt 2`` on a middle cell (else 1). Cost per column:
transforms of about ``n`` points (``O(n log n)``), against ``2^d n`` for the plain circulant
embedding of the whole grid; each sector needs about ``k / 2^d`` pairs and its own basis of
``n / 2^d`` rows, so the Gram-Schmidt work is ``4^d`` times less than one Lanczos on C. The
``k`` pairs are shared out among the sectors from their multipliers (which approximate each
sector's spectrum: Szego), then each share grows until the cut is provably right
(:func:`porevae.kle.parity.grow_shares`).

On the host the transforms are SciPy's (pocketfft, all cores); on a torch device each axis is a
product with the ``(L, h)`` transform matrix built from the same SciPy definitions (GEMMs).
"""

from __future__ import annotations

import math
import os

import numpy as np
import scipy.fft

from porevae._lazy import lazy_module
from porevae.grid import Grid
from porevae.kle import _device, base
from porevae.kle._linalg import lanczos_eigsh, lanczos_memory, n_terms_for_energy
from porevae.kle.parity import (
    _half_sizes,
    expand,
    expansion_memory,
    make_sectors,
    parity_classes,
    restrict,
    solve_sectors,
)

torch = lazy_module("torch")

_WORKERS = os.cpu_count()
#: grids of more cells estimate their energy counts on a coarser grid (:meth:`estimated_count`)
ESTIMATE_MAX_CELLS = 2**21


def _axis_transform(n, s):
    """``(kind, type, L, first multiplier)`` of the symmetric transform along an axis of ``n``
    cells for parity ``s`` (table of the module docstring)."""
    if n % 2 == 0:
        return ("dst" if s else "dct"), 2, n, int(s)
    return ("dst", 1, n - 1, 1) if s else ("dct", 1, n + 1, 0)


class _ClassTransform:
    """The product ``B_s X`` of one parity class ``s`` by even/odd transforms (module docstring),
    with its multipliers and the estimate of its spectrum."""

    def __init__(self, solver, s):
        self.s = s
        d = solver.grid.ndim
        # memory layout (z, y, x): reversed axes, x fastest
        self.n_rev = tuple(reversed(solver.grid.shape))
        self.s_rev = tuple(reversed(s[:d]))
        self.half = tuple(_half_sizes(n, si) for n, si in zip(self.n_rev, self.s_rev))
        self.size = math.prod(self.half)
        self.axes = [_axis_transform(n, si) for n, si in zip(self.n_rev, self.s_rev)]
        self.device = solver.device
        self._solver = solver
        self._mult = None
        # c' = sqrt 2 on the middle cell of an odd axis in an even class, else 1
        self.scale = [np.where(2 * np.arange(h) == n - 1, math.sqrt(2.0), 1.0)
                      for n, h in zip(self.n_rev, self.half)]
        self.scaled = any((c != 1.0).any() for c in self.scale)

    @property
    def work_size(self) -> int:
        """Points of one column's transform, ``prod(L_a)``."""
        return math.prod(L for _, _, L, _ in self.axes)

    @property
    def multipliers(self):
        """``H_s`` (L_z, L_y, L_x): the multipliers of this class (on its device)."""
        if self._mult is None:
            h = self._solver.spectrum
            sl = tuple(slice(j0, j0 + L) for _, _, L, j0 in self.axes)
            self._mult = _device.asarray(np.ascontiguousarray(h[sl]), self.device)
        return self._mult

    def estimate(self, swap=None):
        """Approximate eigenvalues of ``B_s`` (unsorted): the multipliers at the frequencies of
        this parity, ``H[j]`` with ``j_a = s_a mod 2``, ``j_a < n_a``; for a swap sector
        (``"sym"`` / ``"anti"``) those with ``j_x <= j_y`` / ``j_x < j_y``."""
        sl = tuple(slice(si, n, 2) for n, si in zip(self.n_rev, self.s_rev))
        h = self._solver.spectrum[sl]
        if swap in ("sym", "anti"):
            jy = np.arange(h.shape[-2])[:, None]
            jx = np.arange(h.shape[-1])[None, :]
            keep = (jx <= jy) if swap == "sym" else (jx < jy)
            return h[..., keep].ravel()
        return h.ravel()

    def _scale(self, a, inverse):
        for ax, c in enumerate(self.scale):
            if (c != 1.0).any():
                shape = [1] * a.ndim
                shape[ax + 1] = c.size
                f = (1.0 / c if inverse else c).reshape(shape)
                a = a * (f if self.device is None else _device.asarray(f, self.device))
        return a

    def apply(self, x):
        """``B_s X`` for X (size, p): NumPy on the host, a tensor on the solver's device."""
        p = x.shape[1]
        a = x.T.reshape(p, *self.half)
        a = self._scale(a, False) if self.scaled else a
        a = self._host(np.ascontiguousarray(a)) if self.device is None else self._torch(a)
        a = self._scale(a, True) if self.scaled else a
        return a.reshape(p, self.size).T

    def _host(self, a):
        for ax, (kind, typ, L, _) in enumerate(self.axes, start=1):
            rev = [slice(None)] * a.ndim
            rev[ax] = slice(None, None, -1)
            f = scipy.fft.dct if kind == "dct" else scipy.fft.dst
            # the sector reversed along the axis, zero-padded to L by the transform itself (n=L)
            a = f(a[tuple(rev)], type=typ, n=L, axis=ax, workers=_WORKERS)
        a *= self.multipliers
        for ax, ((kind, typ, _len, _), h) in enumerate(zip(self.axes, self.half), start=1):
            f = scipy.fft.idct if kind == "dct" else scipy.fft.idst
            a = f(a, type=typ, axis=ax, overwrite_x=True, workers=_WORKERS)
            idx = [slice(None)] * a.ndim
            idx[ax] = slice(h - 1, None, -1)
            a = a[tuple(idx)]
        return np.ascontiguousarray(a)

    def _torch(self, a):
        fwd, inv = self._solver.transform_matrices(self)
        for ax, f in enumerate(fwd, start=1):
            a = torch.movedim(torch.tensordot(a, f, dims=([ax], [1])), -1, ax)
        a = a * self.multipliers
        for ax, g in enumerate(inv, start=1):
            a = torch.movedim(torch.tensordot(a, g, dims=([ax], [1])), -1, ax)
        return a


class FFTSolver(base.Solver):
    """Leading eigenpairs of a regular grid's covariance: block Lanczos on each parity (and
    x <-> y swap) sector with products by real even/odd transforms (module docstring).

    Parameters
    ----------
    grid : Grid
    model : CovarianceModel
    device : None (host: SciPy transforms) or a torch device (transform GEMMs there)
    tol : float
        Residual tolerance of each pair relative to its sector's largest eigenvalue.
    """

    name = "fft"
    full_spectrum_cheap = False
    grid_only = True
    reflections_only = True
    #: Lanczos block: products cost transforms, not GEMMs, so a small block (more steps of
    #: fewer columns) wins: 64 x 64 x 32, 500 pairs (2026-12-01, quiet 2-core host): block 4
    #: 1,556 product columns in 5.1-5.7 s, block 8 2,008 in 5.9 s, block 16 3,232 in 8.7 s
    block = 4

    def __init__(self, grid, model, device=None, tol=1e-12):
        reason = self.applies(grid, model)
        if reason:
            raise ValueError(reason)
        model.length_scales(grid.ndim)
        self.grid, self.model, self.n = grid, model, grid.n_cells
        self.shape3 = grid.shape3
        self.device = _device.resolve(device)
        self.tol = float(tol)
        self.classes = {s: _ClassTransform(self, s) for s in parity_classes(grid.shape3,
                                                                             grid.ndim)}
        self.use_swap, self.sectors = make_sectors(self, grid, model)
        self._spec = None
        self._estimate = None
        self._matrices = {}
    def _lags(self, extra: int):
        """``K[j] = C(j h)`` for ``j_a = 0..n_a - 1 + extra`` per axis, in the (z, y, x) layout."""
        d = self.grid.ndim
        # offsets j h per axis, broadcast in the (z, y, x) layout without a full mesh
        axes = [(np.arange(n + extra) * h).reshape([-1 if b == d - 1 - a else 1
                                                    for b in range(d)])
                for a, (n, h) in enumerate(zip(self.grid.shape, self.grid.spacing))]
        shape = tuple(n + extra for n in reversed(self.grid.shape))
        offs = np.empty(shape + (d,))
        for a in range(d):
            offs[..., a] = axes[a]
        return self.model(offs)

    @property
    def spectrum(self):
        """``H = DCT-I(K)`` (n_z + 1, n_y + 1, n_x + 1): the spectrum of the period-``2n``
        circulant embedding at frequencies ``pi j / n`` (host NumPy, ``prod(n_a + 1)`` values)."""
        if self._spec is None:
            self._spec = scipy.fft.dctn(self._lags(1), type=1, overwrite_x=True,
                                        workers=_WORKERS)
        return self._spec

    def transform_matrices(self, sec):
        """Per axis of a class transform ``sec`` (z, y, x): the forward ``(L, h)`` (reverse, pad,
        transform) and inverse ``(h, L)`` (inverse transform, keep the first ``h`` reversed)
        matrices."""
        key = (sec.n_rev, sec.s_rev)
        if key not in self._matrices:
            fwd, inv = [], []
            for (kind, typ, L, _), h in zip(sec.axes, sec.half):
                eye = np.eye(L)
                f = (scipy.fft.dct if kind == "dct" else scipy.fft.dst)(eye, type=typ, axis=0)
                g = (scipy.fft.idct if kind == "dct" else scipy.fft.idst)(eye, type=typ, axis=0)
                fwd.append(_device.asarray(np.ascontiguousarray(f[:, h - 1::-1]), self.device))
                inv.append(_device.asarray(np.ascontiguousarray(g[h - 1::-1, :]), self.device))
            self._matrices[key] = (fwd, inv)
        return self._matrices[key]

    def _sector_estimates(self):
        """Per sector: approximate eigenvalues (unsorted), each counted once."""
        return [self.classes[sec.s].estimate(sec.swap) for sec in self.sectors]

    def estimated_spectrum(self) -> np.ndarray:
        """Approximate eigenvalues of C (n,), descending, from the multipliers (no solve),
        scaled to sum to the exact trace ``n sigma^2``. A first guess (coarse where the
        correlation length is long against the grid): energy truncation starts from it."""
        if self._estimate is None:
            est = np.concatenate([np.repeat(e, sec.multiplicity) for e, sec in
                                  zip(self._sector_estimates(), self.sectors)])
            est = np.clip(-np.sort(-est), 0.0, None)
            total = est.sum()
            self._estimate = est * (self.n * self.model.variance / total) if total > 0 else est
        return self._estimate

    def _shares(self, k):
        """First share of the ``k`` pairs per sector: its estimated eigenvalues above the
        estimated cut, plus a margin of 6 % (at least 4): on 64 x 64 x 32 the estimates were within
        2 of the counts the solve kept (a short share is grown by :func:`solve_sectors`)."""
        est = self._sector_estimates()
        every = np.concatenate([np.repeat(e, sec.multiplicity) for e, sec in
                                zip(est, self.sectors)])
        cut = np.partition(every, every.size - k)[every.size - k]
        out = []
        for sec, e in zip(self.sectors, est):
            m = int(np.count_nonzero(e >= cut))
            out.append(min(sec.size, m + max(4, math.ceil(0.06 * m))))
        return out

    def _kept_bytes(self, k: int) -> int:
        """Bytes of the sectors' pairs kept for ``k`` grid pairs (each sector's first share)."""
        return 8 * sum(sec.size * min(sec.size, int(1.3 * k * sec.size / self.n) + 16)
                       for sec in self.sectors)

    def memory_bytes(self, k: int, vectors: bool = True) -> int:
        """Peak bytes for ``k`` pairs: the spectrum, plus the largest of three stages: the
        sectors' pairs kept and one sector's Lanczos basis and transform blocks (sectors are
        solved one at a time); (``vectors``) those pairs and their selected vectors being
        gathered; the ``k`` grid eigenvectors and the buffer they are formed from
        (:func:`expansion_memory`; the sectors' pairs are freed as they are copied there).
        Measured on 1000 x 1000, 882 pairs computed and 813 kept: 8.2 GiB stated, 8.2 GiB peak
        resident memory of the whole process (``porevae kle``, interpreter included)."""
        k = min(int(k), self.n)
        lanczos = 0
        for sec in self.sectors:
            share = min(sec.size, int(1.3 * k * sec.size / self.n) + 16)
            p = min(self.block, sec.size)
            work = 8 * p * (3 * self.classes[sec.s].work_size + 2 * math.prod(sec.half))
            lanczos = max(lanczos, lanczos_memory(sec.size, share, self.block) + work)
        spec = 8 * math.prod(n + 1 for n in self.grid.shape)
        kept = self._kept_bytes(k)
        if not vectors:
            return spec + kept + lanczos
        gather = 8 * k * max(math.prod(sec.half) for sec in self.sectors)
        return spec + max(kept + lanczos, kept + gather, expansion_memory(self, k))

    def estimated_count(self, level: float) -> int:
        """The pairs that ``level`` of the energy needs, estimated without a solve from the
        symbol at the half-integer frequencies ``pi (j + 1/2) / n`` per axis (``DCT-III`` of
        ``K[0..n-1]``), scaled to the trace: the leading eigenvectors of C on a bounded domain
        oscillate about half a period more than the cosines of :meth:`estimated_spectrum`,
        whose count is about 30 % low (exponential, l = 0.1, 100 x 100 at 90 %: 556 there, 761
        here, exact 782; 60 x 60: 516, 681, 696). Beyond :data:`ESTIMATE_MAX_CELLS` cells the
        same count on the domain gridded coarser by a whole factor per axis (the count of the
        leading modes hardly depends on the cell size once the cells resolve the length
        scale), so that a request is planned, or refused, in well under a second."""
        g = self.grid
        if self.n > ESTIMATE_MAX_CELLS:
            f = math.ceil((self.n / ESTIMATE_MAX_CELLS) ** (1.0 / g.ndim))
            shape = tuple(max(1, math.ceil(n / f)) for n in g.shape)
            coarse = Grid(shape, spacing=tuple(n * h / m for n, h, m in
                                               zip(g.shape, g.spacing, shape)), origin=g.origin)
            return min(self.n, FFTSolver(coarse, self.model).estimated_count(level))
        h = scipy.fft.dctn(self._lags(0), type=3, overwrite_x=True, workers=_WORKERS).ravel()
        h = np.clip(-np.sort(-h), 0.0, None)
        trace = self.n * self.model.variance
        if h.sum() > 0:
            h *= trace / h.sum()
        return n_terms_for_energy(h, level, trace, self.n) or self.n

    def first_guess(self, level: float) -> int:
        """Pairs to compute first for ``level`` of the energy: :meth:`estimated_count` plus
        10 % and 16 (a short first guess is grown: :meth:`next_guess`)."""
        return min(self.n, int(1.1 * self.estimated_count(level)) + 16)

    def next_guess(self, w, level: float) -> int:
        """More pairs when the leading ``w`` fall short of ``level``: the estimated spectrum
        beyond ``len(w)``, rescaled to meet ``w[-1]``, extrapolates how many more reach it (20 %
        margin, at least a quarter more)."""
        k = len(w)
        est = self.estimated_spectrum()
        grow = k // 2
        if k < self.n and est[k - 1] > 0:
            tail = np.cumsum(est[k:] * (w[-1] / est[k - 1]))
            more = int(np.searchsorted(tail, level * self.n * self.model.variance - np.sum(w)))
            grow = max(k // 4, int(1.2 * (more + 1)) + 16)
        return min(self.n, k + grow)

    def matmat(self, x):
        """``C X`` for X (n, p) NumPy (host) or a tensor on the solver's device: the sum over
        parity classes of ``E_s B_s E_s^T X`` (used to report residuals)."""
        out = None
        for s, tr in self.classes.items():
            y = expand(tr.apply(restrict(x, self.shape3, s)), self.shape3, s)
            out = y if out is None else out + y
        return out

    def _operator(self, sec):
        """``X -> B X`` of one sector on torch tensors (CPU tensors for the host)."""
        tr = self.classes[sec.s]

        def op(x):
            x = x.numpy() if self.device is None else x
            y = sec.reduce(tr.apply(sec.block_vectors(x)))
            return torch.from_numpy(np.ascontiguousarray(y)) if self.device is None else y

        return op

    def _leading(self, i, m):
        sec = self.sectors[i]
        w, u = lanczos_eigsh(self._operator(sec), sec.size, m, device=self.device or "cpu",
                             tol=self.tol, block=self.block)
        return w.cpu().numpy(), (u.numpy() if self.device is None else u)

    def eigenvalues(self, k=None, progress=False):
        if k is None:
            raise ValueError(f"solver={self.name!r} computes leading eigenvalues only; "
                             f"use solver='dense' or 'parity' for the whole spectrum")
        return self._solve(k, progress, vectors=False)[0]

    def eigenpairs(self, k, progress=False):
        """Leading ``k`` pairs ``(w (k,) NumPy, v (n, k) on the device)``, descending."""
        return self._solve(k, progress, vectors=True)

    def for_energy(self, level: float, vectors: bool = True, progress: bool = False):
        """The fewest leading pairs whose energy reaches ``level``: ``(w (M,), v (n, M) or
        None)``. The sectors grow from :meth:`first_guess` (refused up front, with its memory
        figure, if that does not fit) until the energy is reached, each growth checked first;
        only the M grid vectors are formed."""
        k = self.first_guess(level)
        base.check(self, k, vectors)
        trace = self.n * self.model.variance
        return solve_sectors(self.sectors, self.n, k, self._shares, self._leading, self.device,
                             vectors=vectors, progress=progress, desc="fft sectors",
                             energy=(level, trace, lambda w: self.next_guess(w, level),
                                     lambda k: base.check(self, k, vectors)))

    def _solve(self, k, progress, vectors):
        k = int(k)
        if not 1 <= k <= self.n:
            raise ValueError(f"solver={self.name!r} needs k in [1, n_cells={self.n}], got {k}")
        base.check(self, k, vectors)
        return solve_sectors(self.sectors, self.n, k, self._shares, self._leading, self.device,
                             vectors=vectors, progress=progress, desc="fft sectors")
