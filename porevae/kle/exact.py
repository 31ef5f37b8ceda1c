"""Exact stationary Gaussian fields on regular grids by circulant embedding, and their
conditioning on point data by kriging the residuals.

Circulant embedding (Dietrich & Newsam 1997; Wood & Chan 1994). The covariance matrix C of the
cell centres of a regular grid of shape ``(n_1, .., n_d)`` is block Toeplitz. It is the top-left
block of the block-circulant matrix S of a periodic grid of shape ``m = (m_1, .., m_d)``,
``m_a >= 2 (n_a - 1)`` (``2 n_a - 1`` for a rotated model), whose first row is

    c(k) = C(o(k)),   o_a(k_a) = h_a k_a           for k_a <  m_a / 2
                      o_a(k_a) = h_a (k_a - m_a)   for k_a >  m_a / 2

(``h_a`` the spacing; at ``k_a = m_a / 2``, the mean of the two signs, so that S is symmetric for
any model with ``C(h) = C(-h)``). S is diagonalised by the d-D DFT: its eigenvalues are
``lambda = DFT(c)`` (real). When every ``lambda >= 0``, a field with covariance S is
``Y = IDFT(sqrt(lambda) W)`` with ``W`` the DFT of white noise, and its restriction to the grid
has covariance C exactly. ``W`` is drawn in the frequency domain (half spectrum, ``rfftn``
layout): i.i.d. standard complex normals of variance ``M`` (``M = prod m``), the planes whose
last index is 0 or ``m_d / 2`` scaled by sqrt(2), of which the real inverse transform keeps the
Hermitian part; this is the distribution of the DFT of white noise. One realization costs M
normal draws and one real inverse FFT of M points, pruned to the grid's rows after each axis
(:meth:`ExactSampler.fields_from_noise`).

Padding. The minimal embedding need not give ``lambda >= 0``. The embedding grows until the
negative eigenvalues, set to 0, change the covariance by at most ``tol`` times the variance (the
change of every covariance entry is bounded by ``sum |lambda_-| / M``, which the variance's
change nearly reaches). The default ``tol`` (:data:`TOL`, 1e-3) lies below the sampling error
of any ensemble smaller than about a million realizations; ``tol=1e-10`` asks for an embedding
with no clipped eigenvalue to speak of, at up to 4x its cost in 3-D. At each try, the axes
where the model's correlation at half the period is largest (within a factor 2) grow by 1.25x
(:func:`_grown`: padding goes where the embedding wraps too early, e.g. the long horizontal
axes of a reservoir box, not the vertical one). A model that does not reach ``tol`` within 16
times the minimal padding per axis and :data:`MAX_POINTS` points is refused with one line (a
correlation too long for the grid, or a model that is not positive definite, such as a Matern
model with the L1 metric: use the KLE). Rotated models are allowed (the embedding is
symmetric whenever ``C(h) = C(-h)``).

Seeding: realization ``i`` of seed ``s`` draws its normals from
``SeedSequence(s, spawn_key=(i,))``, as :meth:`porevae.KLE.coefficients`, and is computed by its
own inverse FFT: it is the same whether drawn alone or in a batch, whatever ``start``.

Conditioning (:meth:`ExactSampler.condition`, as GSTools' ``CondSRF``): a conditional
realization is ``Y_c = Y + C_xd (C_dd + R)^-1 (d - Y_d - e)``, with ``Y`` the unconditional
realization, ``Y_d`` its values in the data cells, ``e ~ N(0, R)`` simulated data errors
(``R = diag(noise^2)``; drawn from ``SeedSequence(s, spawn_key=(i, 1))``), ``C_dd`` the model
covariance between the data cells and ``C_xd`` between every cell and the data cells. It is
Gaussian with the kriging mean and covariance: noise-free data are honoured exactly.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.fft
import scipy.linalg

from porevae._progress import progress as _progress
from porevae._validation import check_choice, check_int, check_memory
from porevae.covariance import CovarianceModel, model_from_dict
from porevae.grid import Grid
from porevae.kle.conditioning import cell_indices, data_cells

DTYPES = {"float64": np.float64, "float32": np.float32}
#: growth of an axis's padding per try, and its bound (times the minimal padding)
GROWTH, MAX_FACTOR = 1.25, 16
#: largest embedding tried beyond the minimal one (points; 1 GiB of set-up)
MAX_POINTS = 2**26
#: default tolerance: largest change of a covariance entry by the clipped negative eigenvalues,
#: relative to the variance. 1e-3 is below the sampling error of a covariance estimated from a
#: million realizations (about 1.4e-3 of the variance) and keeps the minimal embedding of most
#: grids: the 92 x 146 x 66 exponential box embeds in 192 x 300 x 135 (covariance change
#: 2.2e-4) where tol 1e-10 needs 375 x 600 x 135 (3.9x the points and the time)
TOL = 1e-3
#: working memory of one batch of realizations (the half spectra and their inverse FFTs)
BATCH_BYTES = 256 * 2**20
#: offsets evaluated at a time when the embedding's first row is formed
SLAB = 2**20


def _minimal_embedding(shape, rotated: bool) -> tuple:
    """Smallest periodic grid whose circulant holds the grid's covariance matrix: ``2 (n - 1)``
    per axis (``2 n - 1`` for a rotated model, whose offsets ``+-(n - 1)`` differ), at least 1,
    rounded up to fast real-FFT lengths."""
    return tuple(1 if n == 1 else scipy.fft.next_fast_len(2 * n - 1 if rotated else 2 * (n - 1),
                                                          real=True) for n in shape)


def _grown(grid, cov, emb, minimal):
    """The next embedding to try, or None past the bounds: the axes whose correlation at half
    the period (where the embedding wraps) is at least half the largest one grow by
    :data:`GROWTH` (to a fast FFT length), each to at most :data:`MAX_FACTOR` times its
    minimum, the whole to at most :data:`MAX_POINTS` points."""
    wrap = []
    for a, (m, n) in enumerate(zip(emb, grid.shape)):
        off = np.zeros(grid.ndim)
        off[a] = (m // 2) * grid.spacing[a]
        wrap.append(float(cov(off)) if n > 1 else -1.0)
    top = max(wrap)
    new = list(emb)
    for a, w in enumerate(wrap):
        if w >= 0.5 * top and grid.shape[a] > 1 and emb[a] < MAX_FACTOR * minimal[a]:
            new[a] = scipy.fft.next_fast_len(math.ceil(GROWTH * emb[a]), real=True)
    new = tuple(new)
    return None if new == tuple(emb) or math.prod(new) > MAX_POINTS else new


def _set_up_bytes(emb) -> int:
    """Memory of one embedding's set-up: the first row (float64), its half spectrum (complex128)
    and a slab of offsets."""
    m = math.prod(emb)
    return 8 * m + 16 * (m // emb[-1]) * (emb[-1] // 2 + 1) + 16 * len(emb) * SLAB


def circulant_row(grid: Grid, cov: CovarianceModel, emb) -> np.ndarray:
    """First row ``c`` of the block-circulant embedding, shape ``emb`` (float64): see the module
    docstring (the mean of both signs at ``k_a = m_a / 2``). Evaluated by ``cov`` itself, in
    slabs of about :data:`SLAB` offsets along the first axis."""
    axes = []
    for a in range(grid.ndim):
        k = np.arange(emb[a])
        axes.append(np.where(k <= emb[a] // 2, k, k - emb[a]) * grid.spacing[a])
    c = np.empty(emb)
    step = max(1, SLAB // math.prod(emb[1:]))
    for i in range(0, emb[0], step):
        part = [axes[0][i:i + step], *axes[1:]]
        c[i:i + step] = cov(np.stack(np.meshgrid(*part, indexing="ij"), axis=-1))
    if cov.rotated:  # symmetrise: c(k) = c(-k mod m) (offsets at m_a / 2 met with both signs)
        rev = c
        for a in range(grid.ndim):
            rev = np.roll(np.flip(rev, axis=a), 1, axis=a)
        c = 0.5 * (c + rev)
    return c


def _nonnegative_spectrum(grid, cov, tol):
    """``(emb, lam, clip)``: the first embedding (the minimal one, then grown by :func:`_grown`)
    whose clipped eigenvalues ``lam`` (rfftn layout, float64, >= 0) change the covariance by
    ``clip <= tol * variance``; memory is refused before each try; ValueError when none
    does within the bounds."""
    minimal = emb = _minimal_embedding(grid.shape, cov.rotated)
    while True:
        check_memory(_set_up_bytes(emb), f"the circulant embedding {emb} of the {grid.shape} grid")
        lam = scipy.fft.rfftn(circulant_row(grid, cov, emb), workers=-1).real
        neg = np.minimum(lam, 0.0)
        clip = max(0.0, -2.0 * float(neg.sum()) / math.prod(emb))  # bound on the change
        if clip <= tol * cov.variance:
            np.maximum(lam, 0.0, out=lam)
            return emb, lam, clip
        low, high = float(neg.min()), float(lam.max())
        nxt = _grown(grid, cov, emb, minimal)
        if nxt is None:
            break
        emb = nxt
    raise ValueError(f"the circulant embedding of {cov!r} on the {grid.shape} grid is not "
                     f"positive definite up to {emb} ({MAX_FACTOR}x the minimal padding per "
                     f"axis, at most {MAX_POINTS} points; there the smallest eigenvalue is "
                     f"{low:.3g} of largest {high:.3g}, a covariance error "
                     f"{clip / cov.variance:.2g} of the variance > tol={tol:g}): the correlation "
                     f"is too long for the grid (or the model is not positive definite); use "
                     f"porevae.KLE")


class ExactSampler:
    """Exact stationary Gaussian fields on a regular grid by circulant embedding (module
    docstring): the same ``sample`` / ``lognormal`` / ``condition`` / ``params`` as
    :class:`porevae.KLE`, so that :func:`porevae.export.samples.write_samples` and the ensemble
    writers take it in place of a KLE.

    Parameters
    ----------
    grid : Grid
        A regular grid, 1 to 3 axes, any sizes (corner-point grids: use the KLE).
    cov : CovarianceModel
        Any model of :mod:`porevae.covariance`, rotated or not.
    mean : float
        Mean of the field ``mu``.
    dtype : {"float64", "float32"}
        Precision of the normals, the FFTs and the fields. Realizations in float32 are other
        draws than in float64 (the normals are drawn in that precision).
    tol : float
        Largest change of a covariance entry, relative to the variance, that the clipped
        negative eigenvalues of the embedding may cause (default :data:`TOL`); the padding grows
        until it holds.

    Attributes
    ----------
    embedding : tuple of int
        The periodic grid ``m`` (FFT lengths).
    clip_error : float
        Bound on the change of any covariance entry by the clipped eigenvalues (units of the
        variance: at most ``tol * variance``).
    energy : float
        1.0: every term is kept (what a KLE reports as its truncation's energy).

    Memory: the set-up needs about ``16 M`` bytes (``M = prod(embedding)``: the first row and
    its spectrum, float64) and keeps ``M / 2`` amplitudes; ``sample(n)`` needs the ``n`` fields
    and one batch of work arrays (``3 M`` values per realization, batches of at most
    :data:`BATCH_BYTES`): both are refused before allocation when they do not fit
    (:meth:`memory_bytes`).
    """

    energy = 1.0

    def __init__(self, grid, cov, mean=0.0, dtype="float64", tol=TOL):
        if not isinstance(grid, Grid):
            raise TypeError(f"grid must be a regular porevae.Grid (circulant embedding needs "
                            f"one; a corner-point grid takes the KLE), got {type(grid).__name__}")
        if not isinstance(cov, CovarianceModel):
            raise TypeError(f"cov must be a porevae covariance model, got {type(cov).__name__}")
        cov.length_scales(grid.ndim)
        check_choice(dtype, "dtype", tuple(DTYPES))
        if not math.isfinite(float(mean)):
            raise ValueError(f"mean must be finite, got {mean}")
        if not (isinstance(tol, (int, float)) and 0 < tol < 1):
            raise ValueError(f"tol must be in (0, 1), got {tol!r}")
        self.grid, self.cov = grid, cov
        self.mean, self.dtype, self.tol = float(mean), dtype, float(tol)
        self.embedding, lam, self.clip_error = _nonnegative_spectrum(grid, cov, self.tol)
        m = math.prod(self.embedding)
        amp = np.sqrt(lam * (m / 2.0))
        amp[..., 0] *= math.sqrt(2.0)  # planes kept Hermitian by the real inverse FFT
        if self.embedding[-1] % 2 == 0 and self.embedding[-1] > 1:
            amp[..., -1] *= math.sqrt(2.0)
        self._amp = amp.astype(DTYPES[dtype])

    @property
    def _itemsize(self) -> int:
        return np.dtype(DTYPES[self.dtype]).itemsize

    def _batch(self) -> int:
        """Realizations per inverse FFT call: their half spectra and full periodic fields fit in
        :data:`BATCH_BYTES`."""
        return max(1, BATCH_BYTES // (3 * math.prod(self.embedding) * self._itemsize))

    def memory_bytes(self, n: int) -> int:
        """Bytes that ``sample(n)`` allocates: the ``n`` fields and one batch's work arrays."""
        per = math.prod(self.embedding) * self._itemsize
        return n * self.grid.n_cells * self._itemsize + 3 * min(n, self._batch()) * per

    def fields_from_noise(self, z) -> np.ndarray:
        """Fields without the mean from half-spectrum noise ``z`` (b, *half) complex, ``half =
        (*embedding[:-1], embedding[-1] // 2 + 1)``: ``irfftn(amplitude * z)`` cropped to the
        grid, (b, *grid.shape). The sampler's linear map: i.i.d. standard normal real and
        imaginary parts give the model's covariance. ``z`` is overwritten.

        The inverse transform is pruned: the complex inverse FFT along each axis but the last
        is followed at once by the crop of that axis, so that the later stages (the real inverse
        FFT along the last axis included) run on the grid's rows only (``irfftn`` does the same
        stages on the whole embedding)."""
        z *= self._amp
        for a, n in enumerate(self.grid.shape[:-1], start=1):
            z = scipy.fft.ifft(z, axis=a, workers=-1, overwrite_x=True)[
                (slice(None),) * a + (slice(0, n),)]
        y = scipy.fft.irfft(z, n=self.embedding[-1], axis=-1, workers=-1)
        return y[..., :self.grid.shape[-1]]

    def _fill(self, out, seed, start, progress=False):
        """``out[r]`` = realization ``start + r`` (without the mean), batch by batch; the normals
        of a batch are drawn in threads (one stream per realization, NumPy releases the GIL)."""
        n, real = len(out), DTYPES[self.dtype]
        b = self._batch()
        buf = np.empty((min(b, n), *self._amp.shape),
                       dtype=np.complex64 if self.dtype == "float32" else np.complex128)

        def normals(r, z):
            ss = np.random.SeedSequence(seed, spawn_key=(start + r,))
            np.random.Generator(np.random.PCG64(ss)).standard_normal(out=z.view(real), dtype=real)

        with ThreadPoolExecutor(min(b, os.cpu_count() or 1)) as pool, \
                _progress(total=n, enable=progress, desc="sampling", unit="real",
                          leave=False) as bar:
            for c0 in range(0, n, b):
                c1 = min(c0 + b, n)
                z = buf[:c1 - c0]
                list(pool.map(normals, range(c0, c1), z))
                out[c0:c1] = self.fields_from_noise(z)
                bar.update(c1 - c0)
        return out

    def sample(self, n: int, seed=None, start: int = 0, progress: bool = False) -> np.ndarray:
        """``n`` Gaussian realizations ``start .. start + n - 1``, shape (n, *grid.shape),
        ``dtype``; realization ``i`` is the same whatever ``start`` and ``n`` (module
        docstring). Refused before allocation when :meth:`memory_bytes` does not fit."""
        check_int(n, "n", 0)
        check_int(start, "start", 0)
        check_memory(self.memory_bytes(n), f"{n} exact realizations of the {self.grid.shape} "
                                           f"grid (embedding {self.embedding})")
        if seed is None:
            seed = np.random.SeedSequence().entropy
        out = np.empty((n, *self.grid.shape), dtype=DTYPES[self.dtype])
        self._fill(out, seed, start, progress)
        if self.mean:
            out += out.dtype.type(self.mean)
        return out

    def lognormal(self, n: int, seed=None, start: int = 0, **kwargs) -> np.ndarray:
        """Log-normal realizations ``exp(Y)``, shape (n, *grid.shape) (e.g. permeability)."""
        y = self.sample(n, seed, start, **kwargs)
        return np.exp(y, out=y)

    def covariance_row(self, cell) -> np.ndarray:
        """Model covariance between every cell and the cell ``cell`` (ndim indices from 0),
        shape ``grid.shape`` (float64)."""
        g = self.grid
        axes = [(np.arange(n) - int(k)) * h for n, k, h in zip(g.shape, cell, g.spacing)]
        return self.cov(np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1))

    def condition(self, locations, values, noise=0.0, *, cells=None,
                  labels=None) -> ConditionalExact:
        """The sampler conditioned on ``values`` (m,) observed at ``locations`` (m, ndim
        coordinates; or ``cells`` (m, ndim) indices from 0) with Gaussian errors of standard
        deviation ``noise`` (>= 0, one number or one per datum, units of the field), by kriging
        the residuals (module docstring). Same arguments and refusals as
        :func:`porevae.kle.conditioning.condition`; ``labels`` name the data in messages."""
        return ConditionalExact(self, locations, values, noise, cells=cells, labels=labels)

    def params(self) -> dict:
        """All parameters, JSON-serialisable (kept in stack files and manifests)."""
        from porevae._version import __version__

        return {"method": "exact", "grid": self.grid.to_dict(), "cov": self.cov.to_dict(),
                "mean": self.mean, "dtype": self.dtype, "embedding": list(self.embedding),
                "tol": self.tol, "clip_error": self.clip_error, "energy": 1.0,
                "porevae_version": __version__}

    @classmethod
    def from_params(cls, params: dict):
        """The sampler again from :meth:`params` (as kept in a stack file or a manifest), or
        the conditional one from :meth:`ConditionalExact.params` (its ``"conditioning"``):
        how ensemble workers rebuild it (the same realizations for the same seed)."""
        s = cls(Grid(**params["grid"]), model_from_dict(params["cov"]), mean=params["mean"],
                dtype=params["dtype"], tol=params["tol"])
        data = params.get("conditioning")
        return s if data is None else s.condition(None, data["values"], np.asarray(data["noise"]),
                                                  cells=np.asarray(data["cells"]))

    def __repr__(self):
        return (f"ExactSampler(grid={self.grid.shape}, cov={self.cov!r}, mean={self.mean!r}, "
                f"dtype={self.dtype!r}, embedding={self.embedding})")


class ConditionalExact:
    """An :class:`ExactSampler` conditioned on point data by kriging the residuals (module
    docstring). Built by :meth:`ExactSampler.condition`. Attributes: ``sampler`` (the prior),
    ``cells`` (m,) flat I-fastest indices of the data cells, ``values`` (m,), ``noise`` (m,)
    standard deviations, ``weights`` (m, *grid.shape): ``(C_dd + R)^-1 C_dx``, so that the
    kriging of residuals ``r`` (m,) is ``r @ weights``. Memory: ``m n_cells`` values of
    ``dtype``, refused before allocation when they do not fit."""

    def __init__(self, sampler, locations, values, noise=0.0, *, cells=None, labels=None):
        vals = np.asarray(values, dtype=float)
        if vals.ndim != 1 or vals.size == 0 or not np.all(np.isfinite(vals)):
            raise ValueError(f"values must be a non-empty 1-D array of finite numbers, got "
                             f"shape {vals.shape}")
        r = np.asarray(noise, dtype=float)
        if r.shape not in ((), vals.shape) or not np.all(np.isfinite(r)) or np.any(r < 0):
            raise ValueError(f"noise must be finite standard deviations >= 0, one number or one "
                             f"per datum (shape ({vals.size},)), got {r.tolist()}")
        pos = locations if locations is not None else cells
        if pos is not None and len(pos) != vals.size:
            raise ValueError(f"{vals.size} values for {len(pos)} data positions")
        grid = sampler.grid
        self.sampler = sampler
        self.cells = data_cells(grid, locations, cells, labels)
        self.values = vals
        self.noise = np.broadcast_to(r, vals.shape).astype(np.float64)
        m = vals.size
        check_memory(m * grid.n_cells * (sampler._itemsize + 16),
                     f"kriging weights of {m} data on the {grid.shape} grid")
        idx = cell_indices(grid, self.cells)
        centres = (idx + 0.5) * np.asarray(grid.spacing)
        cdd = sampler.cov(centres[:, None, :] - centres[None, :, :]) + np.diag(self.noise ** 2)
        try:
            factor = scipy.linalg.cho_factor(cdd, lower=True)
        except np.linalg.LinAlgError:
            factor = None
        if factor is None or np.min(np.abs(np.diag(factor[0]))) ** 2 < \
                1e-12 * sampler.cov.variance:
            raise ValueError("data whose covariance matrix is singular (noise-free data in one "
                             "cell, or in cells the model cannot tell apart): give each "
                             "noise-free datum a cell of its own, or a noise > 0")
        self._factor = factor
        rows = np.stack([sampler.covariance_row(k) for k in idx])        # C_dx (m, *shape)
        w = scipy.linalg.cho_solve(factor, rows.reshape(m, -1))
        self.weights = w.reshape(rows.shape).astype(DTYPES[sampler.dtype])
        self._slices = tuple(idx.T)

    @property
    def grid(self):
        return self.sampler.grid

    @property
    def cov(self):
        return self.sampler.cov

    @property
    def dtype(self) -> str:
        return self.sampler.dtype

    @property
    def energy(self) -> float:
        return 1.0

    def sample(self, n: int, seed=None, start: int = 0, progress: bool = False) -> np.ndarray:
        """``n`` conditional realizations (n, *grid.shape): the prior's realizations (same seed
        and indices) plus the kriging of their residuals at the data, ``resid @ weights``
        formed for each realization on its own (a product over the batch would round
        differently from one realization alone): realization ``i`` is the same bits whatever
        ``start`` and ``n``, like the prior's."""
        if seed is None:
            seed = np.random.SeedSequence().entropy
        y = self.sampler.sample(n, seed, start, progress)
        resid = self.values - y[(slice(None), *self._slices)].astype(np.float64)
        if np.any(self.noise > 0):
            for r in range(n):
                rng = np.random.Generator(np.random.PCG64(
                    np.random.SeedSequence(seed, spawn_key=(start + r, 1))))
                resid[r] -= self.noise * rng.standard_normal(len(self.values))
        flat, w = y.reshape(n, -1), self.weights.reshape(len(self.values), -1)
        for r in range(n):  # one product per realization: the same bits alone or in a batch
            flat[r] += resid[r].astype(y.dtype) @ w
        return y

    def lognormal(self, n: int, seed=None, start: int = 0, **kwargs) -> np.ndarray:
        """Conditional log-normal realizations ``exp(Y)``."""
        y = self.sample(n, seed, start, **kwargs)
        return np.exp(y, out=y)

    def mean(self) -> np.ndarray:
        """Kriging mean ``mu + C_xd (C_dd + R)^-1 (d - mu)``, grid.shape (float64)."""
        return self.sampler.mean + np.tensordot(self.values - self.sampler.mean,
                                                self.weights.astype(np.float64), axes=1)

    def std(self) -> np.ndarray:
        """Kriging standard deviation ``sqrt(sigma^2 - diag(C_xd (C_dd + R)^-1 C_dx))``,
        grid.shape (float64)."""
        m = len(self.values)
        rows = np.stack([self.sampler.covariance_row(k)
                         for k in cell_indices(self.grid, self.cells)]).reshape(m, -1)
        var = self.cov.variance - np.einsum("ij,ij->j", rows,
                                            self.weights.reshape(m, -1).astype(np.float64))
        return np.sqrt(np.clip(var, 0.0, None)).reshape(self.grid.shape)

    def params(self) -> dict:
        """The prior's parameters and the data, as :meth:`ConditionalKLE.params`:
        ``"conditioning": {"cells": (m, ndim) indices from 0, "values", "noise"}``."""
        return self.sampler.params() | {"conditioning": {
            "cells": cell_indices(self.grid, self.cells).tolist(),
            "values": self.values.tolist(), "noise": self.noise.tolist()}}

    def __repr__(self):
        lo, hi = float(self.noise.min()), float(self.noise.max())
        noise = f"{lo:g}" if lo == hi else f"{lo:g}..{hi:g}"
        return f"ConditionalExact({len(self.values)} data, noise={noise}, prior={self.sampler!r})"

