"""The one sampling loop of the KLE (prior, conditional, on the host or a torch device).

Realization ``i`` of seed ``s`` is ``mean + B xi_i`` with ``B = Phi diag(sqrt(lambda))``
(n_cells, M) and ``xi_i`` from its own stream (:meth:`porevae.kle.expansion.KLE.coefficients`;
a conditional KLE maps it to its posterior first). :func:`draw` fills the output chunk by chunk
(:func:`fill`) for :meth:`KLE.sample <porevae.kle.expansion.KLE.sample>`,
:meth:`ConditionalKLE.sample <porevae.kle.conditioning.ConditionalKLE.sample>` and
:meth:`DeviceSampler.sample`: on the host each realization is computed at its row of the
aligned chunk ``[i - i % CHUNK, ...)`` of ``CHUNK`` rows, so that its bits do not depend on how
many are drawn at once; on a GPU the chunks are not padded (the same field up to rounding).
"""

from __future__ import annotations

import numpy as np

from porevae._lazy import lazy_module
from porevae._progress import progress as progress_bar
from porevae._validation import check_int, check_memory

torch = lazy_module("torch")

DTYPES = {"float64": np.float64, "float32": np.float32}
CHUNK = 64  # realizations per host GEMM, aligned to absolute realization indices


def fill(out, start: int, n_terms: int, coefficients, field, convert=None,
         progress: bool = False, chunk: int = CHUNK, aligned: bool = True):
    """``out[r]`` = the field of realization ``start + r`` for ``r < len(out)``.

    ``coefficients(m, lo)`` gives the (m, n_terms) coefficients of realizations
    ``lo .. lo + m - 1``; ``field`` maps (rows, n_terms) coefficients (after ``convert``, e.g.
    to a tensor) to (rows, *field_shape) fields. ``aligned``: each realization is computed at
    its row of the chunk ``[i - i % chunk, ...)`` of ``chunk`` rows (rows outside the request
    are zero coefficients), so that its bits do not depend on ``start`` and ``len(out)``; else
    chunks of up to ``chunk`` rows from ``start``. Returns ``out``."""
    n = len(out)
    first = start - start % chunk if aligned else start
    for c0 in progress_bar(range(first, start + n, chunk), enable=progress, desc="sampling",
                           leave=False):
        lo, hi = max(c0, start), min(c0 + chunk, start + n)
        if aligned:
            xi = np.zeros((chunk, n_terms))
            xi[lo - c0:hi - c0] = coefficients(hi - lo, lo)
        else:
            xi = coefficients(hi - lo, lo)
        rows = field(xi if convert is None else convert(xi))
        out[lo - start:hi - start] = rows[lo - c0:hi - c0] if aligned else rows
    return out


def draw(n: int, seed, start: int, *, grid, n_terms: int, coefficients, field, dtype,
         device=None, convert=None, progress: bool = False, chunk: int = CHUNK,
         aligned: bool = True):
    """``n`` realizations ``start .. start + n - 1`` (n, *grid.shape) of seed ``seed`` (None: a
    fresh one, the same for every chunk): checked (``n``, ``start``, the host memory of the
    output) before any work, then :func:`fill`. ``coefficients(m, seed, lo)`` (host NumPy);
    ``dtype`` a NumPy dtype (host output) or a torch dtype (a tensor on ``device``)."""
    check_int(n, "n", 0)
    check_int(start, "start", 0)
    if seed is None:
        seed = np.random.SeedSequence().entropy
    tensor = isinstance(dtype, torch.dtype)
    itemsize = torch.empty((), dtype=dtype).element_size() if tensor else np.dtype(dtype).itemsize
    if not tensor or torch.device(device).type == "cpu":
        check_memory(n * grid.n_cells * itemsize, f"{n} realizations")
    out = torch.empty((n, *grid.field_shape), dtype=dtype, device=device) if tensor else \
        np.empty((n, *grid.field_shape), dtype=dtype)
    return fill(out, start, n_terms, lambda m, lo: coefficients(m, seed, lo), field,
                convert=convert, progress=progress, chunk=chunk, aligned=aligned)


class DeviceSampler:
    """Batched-GEMM sampling on a torch device (a GPU; also runs on CPU tensors): ``B`` formed
    once in float64 and kept on ``device`` in ``dtype`` (float32 or float64); fields by one
    GEMM per ``chunk`` realizations, with the coefficient stream of the host
    (:meth:`porevae.kle.expansion.KLE.coefficients`)."""

    def __init__(self, kle, device="cuda", dtype=None):
        dtype = torch.float32 if dtype is None else dtype
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.kle, self.device, self.dtype = kle, torch.device(device), dtype
        phi = torch.as_tensor(np.asarray(kle.eigenvectors), device=self.device,
                              dtype=torch.float64)
        sq = torch.as_tensor(np.sqrt(np.clip(kle.eigenvalues, 0, None)), device=self.device)
        self.basis = (phi * sq).to(dtype).T.contiguous()  # (M, n_cells): fields = xi @ basis

    def coefficients(self, n: int, seed, start: int = 0) -> torch.Tensor:
        """``xi`` (n, M) of realizations ``start .. start + n - 1`` on the device."""
        return self._upload(self.kle.coefficients(n, seed, start))

    def _upload(self, xi: np.ndarray) -> torch.Tensor:
        xi = torch.from_numpy(xi)
        if self.device.type == "cuda":
            xi = xi.pin_memory()
        return xi.to(device=self.device, dtype=self.dtype, non_blocking=True)

    def fields(self, xi: torch.Tensor) -> torch.Tensor:
        """Flat fields (n, n_cells) = ``mean + xi @ B^T`` (one GEMM)."""
        return torch.addmm(torch.full((1,), self.kle.mean, dtype=self.dtype, device=self.device),
                           xi, self.basis)

    def sample(self, n: int, seed=None, start: int = 0, chunk: int = 2048,
               progress: bool = False) -> torch.Tensor:
        """``n`` realizations (n, *grid.shape) on the device, ``chunk`` per GEMM (:func:`draw`,
        not padded)."""
        grid = self.kle.grid
        return draw(n, seed, start, grid=grid, n_terms=self.kle.n_terms,
                    coefficients=self.kle.coefficients,
                    field=lambda xi: grid.unflatten(self.fields(xi)), dtype=self.dtype,
                    device=self.device, convert=self._upload, progress=progress, chunk=chunk,
                    aligned=False)


def sample(kle, n: int, seed=None, start: int = 0, device="cuda", dtype=None):
    """``n`` realizations (n, *grid.shape) of ``kle`` on ``device`` (see :class:`DeviceSampler`;
    ``dtype`` default torch.float32)."""
    return DeviceSampler(kle, device, torch.float32 if dtype is None else dtype).sample(
        n, seed, start)
