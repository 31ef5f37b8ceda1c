"""KLE eigen-solves and sampling on a torch device (CUDA; every function also runs on the CPU).

Device versions of the solvers of :mod:`porevae.kle.solvers`, written in plain torch so that the
same code is tested on CPU tensors and run on a GPU:

* ``dense``: C assembled on the device (custom kernel from the grid's offset table when
  ``porevae._cuda`` or Numba CUDA is there, else a torch gather of the same table), then
  ``torch.linalg.eigh`` (cuSOLVER ``syevd`` on CUDA) for the whole spectrum, or block Lanczos
  (GEMMs on the assembled C) for a leading subset ``4 k <= n``;
* ``parity``: each parity (and swap) block of :class:`porevae.kle.parity.ParitySolver` assembled on
  the device from the offset table and diagonalised by ``eigh``; vectors expanded on the device;
* ``kron``: the 1-D factors of :class:`porevae.kle.kron.KronSolver`, products merged and the
  leading vectors formed on the device;
* ``fft``: ``C X`` by circulant embedding with ``torch.fft`` (cuFFT), inside the block eigensolver;
* ``matfree``: ``C X`` by the tiled custom kernel (``ops.covariance_matvec``), inside the block
  eigensolver.

Every solver returns descending eigenvalues (float64) and orthonormal eigenvectors (float64,
``(n_cells, k)``, I-fastest rows, sign fixed: largest-magnitude entry positive).
:meth:`DeviceSolver.eigenpairs` gives host NumPy arrays (drop-in for the CPU solvers),
:meth:`DeviceSolver.eigenpairs_tensor` device tensors.

Sampling: :class:`DeviceSampler` draws the same coefficients as :meth:`KLE.coefficients`
(``SeedSequence(seed, spawn_key=(i,))`` for realization ``i``) and forms the fields by batched GEMM
on the device, float32 by default.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from porevae import ops
from porevae._validation import check_choice, check_memory, format_bytes
from porevae.covariance import CovarianceModel
from porevae.grid import Grid
from porevae.kle import _linalg
from porevae.kle._linalg import merge_desc
from porevae.kle.iterative import FFTSolver
from porevae.kle.kron import KronSolver
from porevae.kle.parity import _INV_SQRT2, ParitySolver, _axis_map, _half_sizes
from porevae.ops import grid_offset_table

__all__ = [
    "DEVICE_SOLVERS",
    "DeviceSampler",
    "DeviceSolver",
    "grid_covariance",
    "lanczos_eigsh",
    "make_device_solver",
    "sample",
]


# ---- helpers ------------------------------------------------------------------------------------
def _shape3(grid):
    return tuple(grid.shape) + (1,) * (3 - grid.ndim)


def check_device_memory(nbytes: int, what: str, device) -> None:
    """Refuse up front a request of ``nbytes`` that exceeds the device's free memory (host RAM
    for a CPU device)."""
    device = torch.device(device)
    if device.type != "cuda":
        check_memory(nbytes, what)
        return
    free = torch.cuda.mem_get_info(device)[0]
    if nbytes > free:
        raise MemoryError(f"{what} needs {format_bytes(nbytes)} on {device} but only "
                          f"{format_bytes(free)} is free; use fewer terms, a smaller grid or "
                          f"solver 'fft' / 'kron' / 'matfree'")


def _basis_factor(single: torch.Tensor) -> torch.Tensor:
    """float64 ``1`` where ``single`` (a cell that is its own mirror image), else ``1/sqrt(2)``."""
    c = torch.full(single.shape, _INV_SQRT2, dtype=torch.float64, device=single.device)
    c[single] = 1.0
    return c


def fix_signs(v: torch.Tensor) -> torch.Tensor:
    """Flip columns of ``v`` (n, k) in place so that each largest-magnitude entry is > 0."""
    if v.numel() == 0:
        return v
    idx = v.abs().argmax(dim=0)
    s = torch.sign(v.gather(0, idx[None, :]))
    s[s == 0] = 1.0
    return v.mul_(s)


def offset_table(grid: Grid, model: CovarianceModel, device, dtype=torch.float64):
    """The grid's offset table (nz, ny, 2 nx - 1) on ``device`` (host-evaluated, n values)."""
    return torch.as_tensor(grid_offset_table(grid, model), dtype=dtype, device=device)


def covariance_from_table(table: torch.Tensor, shape3) -> torch.Tensor:
    """Dense (n, n) covariance of a regular grid gathered from its offset table (any device).

    ``C[i, j] = table[|iz - jz|, |iy - jy|, jx - ix + nx - 1]``, rows and columns I-fastest.
    """
    nx, ny, nz = shape3
    dev = table.device

    def absdiff(m):
        i = torch.arange(m, device=dev)
        return (i[:, None] - i[None, :]).abs()

    ix = torch.arange(nx, device=dev)
    dx = (ix[None, :] - ix[:, None] + nx - 1).view(1, 1, nx, 1, 1, nx)
    dy = absdiff(ny).view(1, ny, 1, 1, ny, 1)
    dz = absdiff(nz).view(nz, 1, 1, nz, 1, 1)
    n = nx * ny * nz
    return table[dz, dy, dx].reshape(n, n)


def grid_covariance(grid: Grid, model: CovarianceModel, device="cuda",
                    dtype=torch.float64) -> torch.Tensor:
    """Dense covariance (n, n) of a regular grid on ``device``, float32 or float64.

    On CUDA: the custom grid-fill kernel (``porevae._cuda``, else Numba CUDA); elsewhere (or if
    neither is usable) a torch gather of the offset table. Memory: ``n^2`` entries.
    """
    device = torch.device(device)
    if device.type == "cuda":
        out = torch.empty((grid.n_cells,) * 2, dtype=dtype, device=device)
        return ops.covariance_matrix(grid, model, out=out)
    return covariance_from_table(offset_table(grid, model, device, dtype), _shape3(grid))


# ---- block eigensolver --------------------------------------------------------------------------
def lanczos_eigsh(matmat, n: int, k: int, device="cpu", dtype=torch.float64, **kwargs):
    """Leading ``k`` pairs by :func:`porevae.kle._linalg.lanczos_eigsh` on ``device``, signs
    fixed: ``(w (k,), v (n, k))`` descending tensors."""
    w, v = _linalg.lanczos_eigsh(matmat, n, min(int(k), n), device=device, dtype=dtype, **kwargs)
    return w, fix_signs(v.contiguous())


def _eigh_desc(a: torch.Tensor, k: int | None = None, vectors: bool = True):
    """All (or the leading ``k``) eigenpairs of a symmetric matrix, descending (device eigh)."""
    if not vectors:
        w = torch.linalg.eigvalsh(a).flip(0)
        return w if k is None else w[:k]
    w, v = torch.linalg.eigh(a)
    w, v = w.flip(0), v.flip(1)
    if k is not None and k < len(w):
        w, v = w[:k].clone(), v[:, :k].clone()  # release the full set
    return w, v


# ---- solvers ------------------------------------------------------------------------------------
class DeviceSolver:
    """Base: the CPU solver interface (``eigenvalues``, ``eigenpairs``) on a torch device.

    Parameters
    ----------
    grid : Grid
    model : CovarianceModel
    device : torch device, default ``"cuda"``
    """

    name = "base"
    full_spectrum_cheap = False

    def __init__(self, grid, model, device="cuda"):
        if not isinstance(grid, Grid):
            raise TypeError(f"device solvers need a regular Grid, got {type(grid).__name__}")
        model.length_scales(grid.ndim)
        self.grid, self.model, self.n = grid, model, grid.n_cells
        self.device = torch.device(device)

    def memory_bytes(self, k: int) -> int:
        """Device bytes that :meth:`eigenpairs_tensor` needs for ``k`` pairs (an estimate)."""
        raise NotImplementedError

    def _check(self, k):
        check_device_memory(self.memory_bytes(k), f"{k} {self.name} eigenpairs of {self.n} "
                            f"cells", self.device)

    def eigenpairs_tensor(self, k: int):
        """Leading ``k`` eigenpairs as device tensors ``(w (k,), v (n, k))``, float64."""
        raise NotImplementedError

    def eigenvalues_tensor(self, k: int | None = None):
        """Descending eigenvalues (float64 device tensor): all (``k=None``) or the leading ``k``."""
        if k is None:
            raise ValueError(f"solver={self.name!r} computes leading eigenvalues only; use "
                             f"'dense' or 'parity' for the whole spectrum")
        return self.eigenpairs_tensor(k)[0]

    def eigenpairs(self, k: int, progress: bool = False):
        """Leading ``k`` eigenpairs as host NumPy arrays (drop-in for the CPU solvers)."""
        w, v = self.eigenpairs_tensor(k)
        return w.cpu().numpy(), v.cpu().numpy()

    def eigenvalues(self, k: int | None = None, progress: bool = False):
        """Descending eigenvalues as a host NumPy array."""
        return self.eigenvalues_tensor(k).cpu().numpy()


class DenseDevice(DeviceSolver):
    """Dense C on the device; ``eigh`` (cuSOLVER) or block Lanczos for few pairs.

    ``method``: ``"auto"`` (Lanczos when ``n >= 2000`` and ``4 k <= n``), ``"eigh"`` or
    ``"lanczos"``. Memory: ``8 n^2`` bytes for C plus the solver's workspace.
    """

    name = "dense"

    def __init__(self, grid, model, device="cuda", method="auto"):
        super().__init__(grid, model, device)
        self.method = check_choice(method, "method", ("auto", "eigh", "lanczos"))

    def matrix(self) -> torch.Tensor:
        """C (n, n) float64 on the device."""
        return grid_covariance(self.grid, self.model, self.device, torch.float64)

    def _use_lanczos(self, k):
        if self.method == "auto":
            return self.n >= 2000 and 4 * k <= self.n
        return self.method == "lanczos"

    def memory_bytes(self, k):
        if self._use_lanczos(k):  # C and the Krylov basis
            return 8 * self.n**2 + _linalg.lanczos_memory(self.n, k)
        return 3 * 8 * self.n**2  # C, the vectors and the solver's workspace

    def eigenpairs_tensor(self, k):
        k = min(int(k), self.n)
        self._check(k)
        c = self.matrix()
        if self._use_lanczos(k):
            return lanczos_eigsh(lambda x: c @ x, self.n, k, self.device)
        w, v = _eigh_desc(c, k)
        return w, fix_signs(v.contiguous())

    def eigenvalues_tensor(self, k=None):
        if k is not None and self._use_lanczos(k):
            return self.eigenpairs_tensor(k)[0]
        return _eigh_desc(self.matrix(), k, vectors=False)


class ParityDevice(DeviceSolver):
    """Parity (and swap) blocks of :class:`~porevae.kle.parity.ParitySolver` on the device.

    Each block is gathered from the offset table on the device (the x axis folded first on the
    small table, then one gather per reflection of the other axes) and diagonalised whole by
    ``eigh``; the merge keeps the leading ``k`` across blocks. Memory: the largest block twice and
    the ``k`` vectors.
    """

    name = "parity"
    full_spectrum_cheap = True

    def __init__(self, grid, model, device="cuda"):
        super().__init__(grid, model, device)
        self.host = ParitySolver(grid, model)  # sectors and their index maps (host, small)
        self.shape3 = self.host.shape3
        self._table = None

    @property
    def table(self):
        if self._table is None:
            self._table = offset_table(self.grid, self.model, self.device)
        return self._table

    def _axis_terms(self, a, s):
        """Per reflection t of axis ``a``: (offset index (h, h), weight (h, h)) of the block.

        The weight holds the parity sign, the ``c(q) / c(p)`` basis factors and a zero for the
        reflection of a middle cell (which has none).
        """
        n = self.shape3[a]
        h = _half_sizes(n, s)
        dev = self.device
        p = torch.arange(h, device=dev)
        mid = 2 * p == n - 1
        c = _basis_factor(mid)
        ratio = c[None, :] / c[:, None]
        terms = []
        for t in (0, 1) if not bool(mid.all()) else (0,):  # a middle cell has no reflection
            q = p if t == 0 else n - 1 - p
            if a == 0:
                idx = q[None, :] - p[:, None] + n - 1
            else:
                idx = (p[:, None] - q[None, :]).abs()
            w = ratio * (1.0 if t == 0 or s == 0 else -1.0)
            if t == 1:
                w = torch.where(mid[None, :], 0.0, w)
            terms.append((idx, w))
        return terms

    def parity_block(self, s) -> torch.Tensor:
        """The (m, m) block of parity class ``s`` (3 entries of 0/1), float64 on the device."""
        hx, hy, hz = (_half_sizes(n, si) for n, si in zip(self.shape3, s))
        tx, ty, tz = (self._axis_terms(a, s[a]) for a in range(3))
        # fold x on the table: g[dz, dy, px, qx] = sum_t w_x table[dz, dy, idx_x]
        g = sum(w * self.table[:, :, idx] for idx, w in tx)
        m = hx * hy * hz
        block = torch.zeros((hz, hy, hx, hz, hy, hx), dtype=torch.float64, device=self.device)
        px = torch.arange(hx, device=self.device).view(1, 1, hx, 1, 1, 1)
        qx = torch.arange(hx, device=self.device).view(1, 1, 1, 1, 1, hx)
        for iz, wz in tz:
            for iy, wy in ty:
                w = wz.view(hz, 1, 1, hz, 1, 1) * wy.view(1, hy, 1, 1, hy, 1)
                block += w * g[iz.view(hz, 1, 1, hz, 1, 1), iy.view(1, hy, 1, 1, hy, 1), px, qx]
        return block.reshape(m, m)

    def _sector_matrix(self, sec, b):
        if sec.swap not in ("sym", "anti"):
            return b
        dev = self.device
        rep = torch.as_tensor(sec.rep, device=dev)
        mirror = torch.as_tensor(sec.mirror, device=dev)
        diag = torch.as_tensor(sec.diag, device=dev)
        sign = 1.0 if sec.swap == "sym" else -1.0
        c = _basis_factor(diag)
        rows = b[rep]
        red = rows[:, rep] + torch.where(diag, 0.0, sign)[None, :] * rows[:, mirror]
        return red * (c[None, :] / c[:, None])

    def _block_vectors(self, sec, u):
        if sec.swap not in ("sym", "anti"):
            return u
        dev = self.device
        rep = torch.as_tensor(sec.rep, device=dev)
        off = torch.as_tensor(~sec.diag, device=dev)
        mirror = torch.as_tensor(sec.mirror, device=dev)[off]
        sign = 1.0 if sec.swap == "sym" else -1.0
        c = _basis_factor(torch.as_tensor(sec.diag, device=dev)).to(u.dtype)
        out = torch.zeros((math.prod(sec.half), u.shape[1]), dtype=u.dtype, device=dev)
        out[rep] = c[:, None] * u
        out[mirror] += (sign * _INV_SQRT2) * u[off]
        return out

    def _full_vectors(self, sec, u, copy_index):
        s = sec.s
        if copy_index == 1:  # the swapped partner class: exchange x and y of the half grid
            hx, hy, hz = sec.half
            u = u.reshape(hz, hy, hx, -1).transpose(1, 2).reshape(-1, u.shape[1])
            s = (s[1], s[0], s[2])
        half = tuple(_half_sizes(n, si) for n, si in zip(self.shape3, s))
        (px, fx), (py, fy), (pz, fz) = (_axis_map(n, si) for n, si in zip(self.shape3, s))
        idx = px[None, None, :] + half[0] * (py[None, :, None] + half[1] * pz[:, None, None])
        fac = fx[None, None, :] * fy[None, :, None] * fz[:, None, None]
        idx = torch.as_tensor(idx.reshape(-1), device=self.device)
        fac = torch.as_tensor(fac.reshape(-1), dtype=u.dtype, device=self.device)
        return u[idx] * fac[:, None]

    def _solve(self, k, vectors):
        results = []
        block = (None, None)
        for sec in self.host.sectors:
            if block[0] != sec.s:
                block = (None, None)  # free the previous class's block first
                block = (sec.s, self.parity_block(sec.s))
            a = self._sector_matrix(sec, block[1])
            if vectors:
                w, u = _eigh_desc(a, min(k, sec.size))
                results.append((w, u))
            else:
                results.append((_eigh_desc(a, vectors=False), None))
        return results

    def eigenvalues_tensor(self, k=None):
        vals = [w.repeat_interleave(sec.multiplicity) for sec, (w, _) in
                zip(self.host.sectors, self._solve(self.n, vectors=False))]
        w = torch.sort(torch.cat(vals), descending=True).values
        return w if k is None else w[:k]

    def memory_bytes(self, k):
        biggest = max(math.prod(sec.half) for sec in self.host.sectors)
        return 4 * 8 * biggest**2 + 2 * 8 * self.n * k  # block, sector, eigh; kept vectors

    def eigenpairs_tensor(self, k):
        k = min(int(k), self.n)
        self._check(k)
        results = self._solve(k, vectors=True)
        val_lists, src = [], []
        for i, sec in enumerate(self.host.sectors):
            for copy in range(sec.multiplicity):
                val_lists.append(results[i][0].cpu().numpy())
                src.append((i, copy))
        w, blk, loc = merge_desc(val_lists, k)
        v = torch.empty((self.n, k), dtype=torch.float64, device=self.device)
        for b, (i, copy) in enumerate(src):
            cols = np.flatnonzero(blk == b)
            if cols.size == 0:
                continue
            sec = self.host.sectors[i]
            sel = torch.as_tensor(loc[cols], device=self.device)
            u = self._block_vectors(sec, results[i][1][:, sel])
            v[:, torch.as_tensor(cols, device=self.device)] = self._full_vectors(sec, u, copy)
        return torch.as_tensor(w.copy(), device=self.device), fix_signs(v)


class KronDevice(DeviceSolver):
    """Separable models: 1-D factors of :class:`~porevae.kle.kron.KronSolver`, products merged
    and the leading vectors formed on the device (``k`` columns of a Kronecker product)."""

    name = "kron"
    full_spectrum_cheap = True

    def __init__(self, grid, model, device="cuda"):
        super().__init__(grid, model, device)
        self.host = KronSolver(grid, model)
        self.factors = [(torch.as_tensor(w, device=self.device),
                         torch.as_tensor(v, device=self.device)) for w, v in self.host.factors]

    def _products(self):
        w = torch.full((1,), self.model.variance, dtype=torch.float64, device=self.device)
        for wa, _ in reversed(self.factors):  # last axis slowest: index = i + nx (j + ny k)
            w = torch.outer(w, wa).reshape(-1)
        return w

    def eigenvalues_tensor(self, k=None):
        w = torch.sort(self._products(), descending=True).values
        return w if k is None else w[:k]

    def memory_bytes(self, k):
        return 16 * self.n + 2 * 8 * self.n * k

    def eigenpairs_tensor(self, k):
        k = min(int(k), self.n)
        self._check(k)
        w = self._products()
        order = torch.sort(-w, stable=True).indices[:k]
        sizes = [len(f[0]) for f in self.factors]
        rest = order.clone()
        idx = []
        for m in sizes:  # axis 0 fastest
            idx.append(rest % m)
            rest = rest // m
        v = torch.ones((1, k), dtype=torch.float64, device=self.device)
        for a in reversed(range(self.grid.ndim)):
            va = self.factors[a][1][:, idx[a]]                     # (n_a, k)
            v = (v[:, None, :] * va[None, :, :]).reshape(-1, k)    # slower axes outer
        return w[order], fix_signs(v)


class FFTDevice(DeviceSolver):
    """Leading eigenpairs with ``C X`` by circulant embedding (``torch.fft``; cuFFT on CUDA)
    inside :func:`lanczos_eigsh`. Memory: the Krylov basis, O(n k), plus the ``2^d n``
    embedding per column of a block."""

    name = "fft"

    def __init__(self, grid, model, device="cuda"):
        super().__init__(grid, model, device)
        host = FFTSolver(grid, model)
        self.shape_rev, self.ext = host.shape_rev, host.ext
        self.spectrum = torch.as_tensor(host.spectrum, device=self.device)

    def matmat(self, x: torch.Tensor) -> torch.Tensor:
        """``C @ x`` for x (n, k) float64 on the device."""
        k = x.shape[1]
        d = len(self.shape_rev)
        dims = tuple(range(1, d + 1))
        xs = x.T.reshape(k, *self.shape_rev)
        f = torch.fft.rfftn(xs, s=self.ext, dim=dims) * self.spectrum
        y = torch.fft.irfftn(f, s=self.ext, dim=dims)
        y = y[(slice(None),) + tuple(slice(0, m) for m in self.shape_rev)]
        return y.reshape(k, self.n).T.contiguous()

    def memory_bytes(self, k):
        p = _linalg.lanczos_block_size(k)  # the basis and a block's (p, 2^d n) complex transform
        return _linalg.lanczos_memory(self.n, k) + 2 * 16 * p * math.prod(self.ext) // 2

    def eigenpairs_tensor(self, k):
        return _iterative_pairs(self, k)


def _iterative_pairs(solver, k):
    k = min(int(k), solver.n - 1)
    if k < 1:
        raise ValueError(f"solver={solver.name!r} needs n_terms in [1, n_cells - 1]")
    solver._check(k)
    return lanczos_eigsh(solver.matmat, solver.n, k, solver.device)


class MatfreeDevice(DeviceSolver):
    """Leading eigenpairs with ``C X`` by the tiled custom kernel (``ops.covariance_matvec`` on
    the offset table, C never stored) inside :func:`lanczos_eigsh`. ``backend`` is passed to
    ``ops.covariance_matvec`` (``"auto"``: the CUDA kernel for CUDA tensors, Numba on the host)."""

    name = "matfree"

    def __init__(self, grid, model, device="cuda", backend="auto"):
        super().__init__(grid, model, device)
        self.backend = backend

    def matmat(self, x):
        return ops.covariance_matvec(self.grid, self.model, x.contiguous(),
                                     backend=self.backend)

    def memory_bytes(self, k):
        return _linalg.lanczos_memory(self.n, k)  # the Krylov basis; C never stored

    def eigenpairs_tensor(self, k):
        return _iterative_pairs(self, k)


DEVICE_SOLVERS = {cls.name: cls for cls in (DenseDevice, ParityDevice, KronDevice, FFTDevice,
                                            MatfreeDevice)}


def make_device_solver(name: str, grid: Grid, model: CovarianceModel, device="cuda"):
    """A device solver by name; ``"auto"``: kron if separable, else parity while its largest
    block (float64, three copies) fits in a third of the device memory, else fft."""
    if name not in ("auto", *DEVICE_SOLVERS):
        raise ValueError(f"solver must be one of {('auto', *DEVICE_SOLVERS)}, got {name!r}")
    if name == "auto":
        if model.separable:
            name = "kron"
        else:
            device = torch.device(device)
            free = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else 2**34
            largest = -(-grid.n_cells // 2**grid.ndim)
            name = "parity" if 3 * 8 * largest**2 < free // 3 else "fft"
    return DEVICE_SOLVERS[name](grid, model, device)


# ---- sampling -----------------------------------------------------------------------------------
class DeviceSampler:
    """Batched-GEMM sampling of a :class:`~porevae.kle.expansion.KLE` on a torch device.

    ``B = Phi diag(sqrt(lambda))`` (n_cells, M) is formed once in float64 and kept on ``device``
    in ``dtype``; realization ``i`` is ``mean + B xi_i`` with ``xi_i = kle.coefficients(1, seed,
    i)`` (the CPU's stream: same coefficients, so the same field up to rounding).
    """

    def __init__(self, kle, device="cuda", dtype=torch.float32):
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.kle, self.device, self.dtype = kle, torch.device(device), dtype
        phi = torch.as_tensor(np.asarray(kle.eigenvectors), device=self.device,
                              dtype=torch.float64)
        sq = torch.as_tensor(np.sqrt(np.clip(kle.eigenvalues, 0, None)), device=self.device)
        self.basis = (phi * sq).to(dtype).T.contiguous()  # (M, n_cells): fields = xi @ basis

    def coefficients(self, n: int, seed, start: int = 0) -> torch.Tensor:
        """``xi`` (n, M) of realizations ``start .. start + n - 1`` on the device."""
        xi = torch.from_numpy(self.kle.coefficients(n, seed, start))
        if self.device.type == "cuda":
            xi = xi.pin_memory()
        return xi.to(device=self.device, dtype=self.dtype, non_blocking=True)

    def fields(self, xi: torch.Tensor) -> torch.Tensor:
        """Flat fields (n, n_cells) = ``mean + xi @ B^T`` (one GEMM)."""
        return torch.addmm(torch.full((1,), self.kle.mean, dtype=self.dtype, device=self.device),
                           xi, self.basis)

    def sample(self, n: int, seed=None, start: int = 0, chunk: int = 2048) -> torch.Tensor:
        """``n`` realizations (n, *grid.shape) on the device, ``chunk`` per GEMM."""
        if seed is None:
            seed = np.random.SeedSequence().entropy  # one seed for every chunk
        grid = self.kle.grid
        out = torch.empty((n, *grid.shape), dtype=self.dtype, device=self.device)
        for c0 in range(0, n, chunk):
            c1 = min(c0 + chunk, n)
            out[c0:c1] = grid.unflatten(self.fields(self.coefficients(c1 - c0, seed, start + c0)))
        return out


def sample(kle, n: int, seed=None, start: int = 0, device="cuda", dtype=torch.float32):
    """``n`` realizations (n, *grid.shape) of ``kle`` on ``device`` (see :class:`DeviceSampler`)."""
    return DeviceSampler(kle, device, dtype).sample(n, seed, start)
