"""Batched-GEMM sampling of a KLE on a torch device (a GPU; also runs on CPU tensors).

Realization ``i`` of seed ``s`` is ``mean + B xi_i`` with ``B = Phi diag(sqrt(lambda))``
(n_cells, M) and ``xi_i = kle.coefficients(1, s, i)``: the same coefficient stream as
:meth:`porevae.kle.expansion.KLE.sample` on the host, so the same field up to rounding, whether
drawn alone or in a batch.
"""

from __future__ import annotations

import numpy as np
import torch


class DeviceSampler:
    """``B`` formed once in float64 and kept on ``device`` in ``dtype`` (float32 or float64);
    fields by one GEMM per ``chunk`` realizations."""

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
        out = torch.empty((n, *grid.field_shape), dtype=self.dtype, device=self.device)
        for c0 in range(0, n, chunk):
            c1 = min(c0 + chunk, n)
            out[c0:c1] = grid.unflatten(self.fields(self.coefficients(c1 - c0, seed, start + c0)))
        return out


def sample(kle, n: int, seed=None, start: int = 0, device="cuda", dtype=torch.float32):
    """``n`` realizations (n, *grid.shape) of ``kle`` on ``device`` (see :class:`DeviceSampler`)."""
    return DeviceSampler(kle, device, dtype).sample(n, seed, start)
