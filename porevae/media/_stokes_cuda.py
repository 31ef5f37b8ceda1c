"""CUDA path of the permeability solve: the lattice Boltzmann step of :mod:`._stokes` as a
``numba.cuda`` kernel, one thread per fluid node, compiled from the same collision
(:func:`porevae.media._stokes._collide`) in the two-lattice pull update of
:func:`porevae.media._stokes.node_updates`. Populations and the pull table live on the device
(224 bytes per fluid node); the axial momentum is reduced per block and summed on the host only
at the convergence checks. Tested in Numba's CUDA simulator on small lattices against the CPU
step; run on a device with ``permeability(..., device="cuda")``.
"""

from __future__ import annotations

import numpy as np
from numba import cuda, float64

from porevae.media._stokes import Q, _collide, node_updates

#: Threads per block (a power of two: the block reduction halves it).
THREADS = 128

_collide_gpu = cuda.jit(device=True, inline=True)(_collide)
_node_gpu = cuda.jit(device=True, inline=True)(node_updates(_collide_gpu)[0])


@cuda.jit(fastmath=True)
def _step_kernel(f, g, src, n_lo, n_hi, half_f, kf, zero, om_p, om_m, three_om_m, half, w0, w1,
                 w2, partial):
    node = cuda.grid(1)
    n = src.shape[1]
    acc = cuda.shared.array(THREADS, dtype=float64)
    tid = cuda.threadIdx.x
    value = 0.0
    if node < n:
        if n_lo <= node < n_hi:
            value = _node_gpu(f, g, src, node, n, half_f, kf, om_p, om_m, three_om_m, half, w0,
                              w1, w2)
        else:
            _node_gpu(f, g, src, node, n, zero, zero, om_p, om_m, three_om_m, half, w0, w1, w2)
    acc[tid] = value
    cuda.syncthreads()
    width = THREADS // 2
    while width > 0:
        if tid < width:
            acc[tid] += acc[tid + width]
        cuda.syncthreads()
        width //= 2
    if tid == 0:
        partial[cuda.blockIdx.x] = acc[0]


class CudaStepper:
    """The :class:`porevae.media._stokes.CpuStepper` interface on the current CUDA device (the
    two-lattice pull table: ``AA`` False)."""

    AA = False

    def __init__(self, src: np.ndarray, dtype):
        n = src.shape[1]
        self.n = n
        self.dt = np.dtype(dtype).type
        self.blocks = (n + THREADS - 1) // THREADS
        self.src = cuda.to_device(src)
        self.f = cuda.to_device(np.zeros(Q * n, dtype=dtype))
        self.g = cuda.to_device(np.zeros(Q * n, dtype=dtype))
        self.partial = cuda.device_array(self.blocks, dtype=np.float64)

    def __call__(self, n_lo, n_hi, force, om_p, om_m, want=True) -> float:
        dt = self.dt
        half = dt(0.5)
        om_p, om_m = dt(om_p), dt(om_m)
        kf = (dt(1.0) - half * om_m) * dt(3.0) * dt(force)
        _step_kernel[self.blocks, THREADS](
            self.f, self.g, self.src, n_lo, n_hi, half * dt(force), kf, dt(0.0), om_p, om_m,
            dt(3.0) * om_m, half, dt(1.0 / 3.0), dt(1.0 / 18.0), dt(1.0 / 36.0), self.partial)
        self.f, self.g = self.g, self.f
        return float(self.partial.copy_to_host().sum()) if want else 0.0

    #: :meth:`populations` are post-collision.
    post = True

    def populations(self) -> np.ndarray:
        """(19, n) float64 on the host: each node's post-collision populations of the last
        step."""
        return self.f.copy_to_host().reshape(Q, self.n).astype(np.float64)
