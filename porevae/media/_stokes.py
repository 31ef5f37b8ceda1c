"""D3Q19 two-relaxation-time lattice Boltzmann solver of steady Stokes flow on the pore voxels.

The kernel behind :func:`porevae.media.permeability`; see its docstring for the method, the
boundary conditions and the validation. Layout: the flow axis is axis 0 of a C-ordered lattice;
only fluid nodes are stored (a compact node list in C order, so the node number grows with the
axial position) with a pull table ``src`` of shape (18, n): ``src[i - 1, n]`` is the flat index
``d * n_nodes + m`` in the post-collision populations that stream into node ``n`` along
direction ``i`` (the neighbour ``m`` upstream, or node ``n`` itself with the opposite direction
``d`` for a bounce-back link at a solid face).

The populations are stored as deviations from the fluid at rest (f_i - w_i): the Stokes
collision (linear equilibrium) is linear in them, so float32 keeps its relative precision on the
flow itself and the result does not depend on the magnitude of the body force.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from porevae._threads import start_numba_threads

start_numba_threads()

#: D3Q19 velocities: rest, 6 faces, 12 edges; direction 2j-1 and 2j are opposite.
C = np.array([[0, 0, 0],
              [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1],
              [1, 1, 0], [-1, -1, 0], [1, -1, 0], [-1, 1, 0],
              [1, 0, 1], [-1, 0, -1], [1, 0, -1], [-1, 0, 1],
              [0, 1, 1], [0, -1, -1], [0, 1, -1], [0, -1, 1]], dtype=np.int64)
W = np.array([1 / 3] + [1 / 18] * 6 + [1 / 36] * 12)
OPP = np.array([0] + [i + 1 if i % 2 == 1 else i - 1 for i in range(1, 19)], dtype=np.int64)
Q = 19






#: Lateral boundary codes of :func:`build_table`.
LATERAL = {"wall": 0, "periodic": 1, "mirror": 2}


def _reflect_table() -> np.ndarray:
    """``REFLECT[a, i]``: the direction of ``C[i]`` with its component ``a`` negated."""
    out = np.empty((3, Q), dtype=np.int64)
    for a in range(3):
        for i in range(Q):
            c = C[i].copy()
            c[a] = -c[a]
            out[a, i] = int(np.flatnonzero((C == c).all(axis=1))[0])
    return out


REFLECT = _reflect_table()

#: Bytes per fluid node: two float32 population sets (19 each) and the int32 pull table (18).
BYTES_PER_NODE = 2 * Q * 4 + (Q - 1) * 4


@nb.njit(cache=True)
def _number_nodes(fluid):
    """Node number of each fluid voxel in C order (-1 for solid) and the node count."""
    ids = np.full(fluid.shape, -1, dtype=np.int32)
    k = 0
    for x in range(fluid.shape[0]):
        for y in range(fluid.shape[1]):
            for z in range(fluid.shape[2]):
                if fluid[x, y, z]:
                    ids[x, y, z] = k
                    k += 1
    return ids, k


@nb.njit(parallel=True, cache=True)
def _fill_table(ids, coords, lateral, c, opp, reflect, src):
    n = coords.shape[0]
    shape = ids.shape
    for node in nb.prange(n):
        for i in range(1, 19):
            s = np.empty(3, dtype=np.int64)
            d = i
            bounce = False
            for a in range(3):
                s[a] = coords[node, a] - c[i, a]
            s[0] = s[0] % shape[0]  # the flow axis is periodic
            for a in range(1, 3):
                if s[a] < 0 or s[a] >= shape[a]:
                    if lateral[a] == 0:
                        bounce = True
                    elif lateral[a] == 1:
                        s[a] = s[a] % shape[a]
                    else:
                        s[a] = 0 if s[a] < 0 else shape[a] - 1
                        d = reflect[a, d]
            m = -1 if bounce else ids[s[0], s[1], s[2]]
            if m < 0:
                src[i - 1, node] = opp[i] * n + node
            else:
                src[i - 1, node] = d * n + m


def build_table(fluid: np.ndarray, lateral: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Node coordinates (n, 3) int32 and the pull table (18, n) int32 of a fluid mask whose
    axis 0 is the (periodic) flow axis; ``lateral``: the boundary of axes 1 and 2, each
    ``"wall"`` (no-slip: bounce-back off the face), ``"periodic"`` or ``"mirror"`` (free slip:
    specular reflection at the face, the image mirrored about it)."""
    ids, n = _number_nodes(fluid)
    coords = np.argwhere(fluid).astype(np.int32)  # C order: the node numbering of _number_nodes
    if n * Q >= 2**31:
        raise ValueError(f"{n} fluid nodes exceed the int32 pull table (at most {2**31 // Q - 1})")
    codes = np.array([0, LATERAL[lateral[0]], LATERAL[lateral[1]]], dtype=np.int64)
    src = np.empty((Q - 1, n), dtype=np.int32)
    _fill_table(ids, coords, codes, C, OPP, REFLECT, src)
    return coords, src


def _node(f, g, src, node, n, half_fx, kf, om_p, om_m, three_om_m, half, w0, w1, w2):
    """Stream into fluid node ``node`` and collide: reads the post-collision populations ``f``
    (flat, direction-major: f[d * n + m]) through the pull table, writes the node's 19
    post-collision populations into ``g`` (same layout); returns its axial momentum j_0.

    Collision: two relaxation times on the linear (Stokes) equilibrium
    e_i = w_i (rho + 3 c_i . j), j = sum_i c_i f_i + F / 2 (``half_fx`` = F_0 / 2), even part
    relaxed with ``om_p``, odd part with ``om_m`` and forced by (1 - om_m / 2) 3 w_i c_i . F
    (``kf`` = (1 - om_m / 2) 3 F_0). All floats in the populations' dtype. One source for the
    CPU step and the CUDA kernel.
    """
    p0 = f[node]
    p1 = f[src[0, node]]
    p2 = f[src[1, node]]
    p3 = f[src[2, node]]
    p4 = f[src[3, node]]
    p5 = f[src[4, node]]
    p6 = f[src[5, node]]
    p7 = f[src[6, node]]
    p8 = f[src[7, node]]
    p9 = f[src[8, node]]
    p10 = f[src[9, node]]
    p11 = f[src[10, node]]
    p12 = f[src[11, node]]
    p13 = f[src[12, node]]
    p14 = f[src[13, node]]
    p15 = f[src[14, node]]
    p16 = f[src[15, node]]
    p17 = f[src[16, node]]
    p18 = f[src[17, node]]
    rho = (p0 + p1 + p2 + p3 + p4 + p5 + p6 + p7 + p8 + p9 + p10 + p11 + p12 + p13 + p14
           + p15 + p16 + p17 + p18)
    jx = p1 - p2 + p7 - p8 + p9 - p10 + p11 - p12 + p13 - p14 + half_fx
    jy = p3 - p4 + p7 - p8 - p9 + p10 + p15 - p16 + p17 - p18
    jz = p5 - p6 + p11 - p12 - p13 + p14 + p15 - p16 - p17 + p18
    rp = om_p * rho
    bx = three_om_m * jx + kf
    by = three_om_m * jy
    bz = three_om_m * jz
    g[node] = p0 - om_p * p0 + w0 * rp
    fp = half * (p1 + p2)
    fm = half * (p1 - p2)
    dp = om_p * fp - w1 * rp
    dm = om_m * fm - w1 * (bx)
    g[1 * n + node] = p1 - dp - dm
    g[2 * n + node] = p2 - dp + dm
    fp = half * (p3 + p4)
    fm = half * (p3 - p4)
    dp = om_p * fp - w1 * rp
    dm = om_m * fm - w1 * (by)
    g[3 * n + node] = p3 - dp - dm
    g[4 * n + node] = p4 - dp + dm
    fp = half * (p5 + p6)
    fm = half * (p5 - p6)
    dp = om_p * fp - w1 * rp
    dm = om_m * fm - w1 * (bz)
    g[5 * n + node] = p5 - dp - dm
    g[6 * n + node] = p6 - dp + dm
    fp = half * (p7 + p8)
    fm = half * (p7 - p8)
    dp = om_p * fp - w2 * rp
    dm = om_m * fm - w2 * (bx + by)
    g[7 * n + node] = p7 - dp - dm
    g[8 * n + node] = p8 - dp + dm
    fp = half * (p9 + p10)
    fm = half * (p9 - p10)
    dp = om_p * fp - w2 * rp
    dm = om_m * fm - w2 * (bx - by)
    g[9 * n + node] = p9 - dp - dm
    g[10 * n + node] = p10 - dp + dm
    fp = half * (p11 + p12)
    fm = half * (p11 - p12)
    dp = om_p * fp - w2 * rp
    dm = om_m * fm - w2 * (bx + bz)
    g[11 * n + node] = p11 - dp - dm
    g[12 * n + node] = p12 - dp + dm
    fp = half * (p13 + p14)
    fm = half * (p13 - p14)
    dp = om_p * fp - w2 * rp
    dm = om_m * fm - w2 * (bx - bz)
    g[13 * n + node] = p13 - dp - dm
    g[14 * n + node] = p14 - dp + dm
    fp = half * (p15 + p16)
    fm = half * (p15 - p16)
    dp = om_p * fp - w2 * rp
    dm = om_m * fm - w2 * (by + bz)
    g[15 * n + node] = p15 - dp - dm
    g[16 * n + node] = p16 - dp + dm
    fp = half * (p17 + p18)
    fm = half * (p17 - p18)
    dp = om_p * fp - w2 * rp
    dm = om_m * fm - w2 * (by - bz)
    g[17 * n + node] = p17 - dp - dm
    g[18 * n + node] = p18 - dp + dm
    return jx


_node_cpu = nb.njit(inline="always", fastmath=True, cache=True)(_node)


def _step_impl(f, g, src, n_lo, n_hi, force, om_p, om_m):
    """One pull-stream-collide step ``f -> g`` of the populations (flat, 19 n, deviations from
    rest; see :func:`_node`); the body force F = (force, 0, 0) acts on the nodes [n_lo, n_hi).
    Returns the sum of j_0 over those nodes (float64)."""
    n = src.shape[1]
    dt = f.dtype.type
    half = dt(0.5)
    om_p = dt(om_p)
    om_m = dt(om_m)
    three_om_m = dt(3.0) * om_m
    kf = (dt(1.0) - half * om_m) * dt(3.0) * dt(force)
    half_f = half * dt(force)
    zero = dt(0.0)
    w0 = dt(1.0 / 3.0)
    w1 = dt(1.0 / 18.0)
    w2 = dt(1.0 / 36.0)
    total = 0.0
    for node in nb.prange(n):
        if n_lo <= node < n_hi:
            total += _node_cpu(f, g, src, node, n, half_f, kf, om_p, om_m, three_om_m, half,
                               w0, w1, w2)
        else:
            _node_cpu(f, g, src, node, n, zero, zero, om_p, om_m, three_om_m, half, w0, w1, w2)
    return total


_step = nb.njit(parallel=True, fastmath=True, cache=True)(_step_impl)
#: The same step on one thread, for lattices too small to repay the start of a parallel region.
_step_serial = nb.njit(fastmath=True, cache=True)(_step_impl)
#: Below this many fluid nodes the serial step runs.
SERIAL_NODES = 50_000


#: Relaxation time of the even moments (kinematic viscosity nu = (TAU - 1/2) / 3 = 0.0233): low,
#: so that pressure, which spreads through the pore space by a Darcy-type diffusion with
#: coefficient ~ k c_s^2 / (nu phi), equilibrates over the sample about as fast as the viscous
#: flow forms in the largest pores. Measured on a 128^3 Berea crop (error of k after 1000 steps):
#: tau 0.55: -0.3 %, 0.57: +0.08 %, 0.6: +0.3 %, 1.0: +9 % (> 10,000 steps to 1e-3).
TAU = 0.57
#: TRT magic parameter Lambda = (1/om_p - 1/2)(1/om_m - 1/2): 3/16 puts the bounce-back wall
#: exactly half-way between nodes for Poiseuille flow; with Lambda fixed the steady solution
#: (hence k) does not depend on the viscosity.
MAGIC = 3.0 / 16.0


class CpuStepper:
    """Populations on the host and the Numba step (parallel over the nodes; serial below
    :data:`SERIAL_NODES`). ``stepper(n_lo, n_hi, force, om_p, om_m, want)`` runs one step and
    returns the sum of j_0 over the forced nodes (``want`` is for device steppers, which only
    reduce when asked)."""

    def __init__(self, src: np.ndarray, dtype):
        n = src.shape[1]
        self.src = src
        self.f = np.zeros(Q * n, dtype=dtype)
        self.g = np.zeros_like(self.f)
        self.fn = _step_serial if n < SERIAL_NODES else _step

    def __call__(self, n_lo, n_hi, force, om_p, om_m, want=True) -> float:
        total = self.fn(self.f, self.g, self.src, n_lo, n_hi, force, om_p, om_m)
        self.f, self.g = self.g, self.f
        return total


def run(fluid, n_lo, n_hi, lateral, *, tol=1e-4, window=100, check=50, max_steps=100_000,
        dtype=np.float32, tau=TAU, magic=MAGIC, stepper=CpuStepper):
    """Steady Stokes flow through ``fluid`` (bool (n0, n1, n2), flow along axis 0, periodic)
    driven by a body force on the slabs ``n_lo <= x < n_hi``; returns
    ``(k, steps, converged, change)`` with k = nu <j_0> / F in voxel^2, <j_0> the axial momentum
    summed over the driven slabs divided by their volume (voxels, solid included).

    Stops when the relative change of k over each of the last two windows of ``window`` steps
    is at most ``tol`` (checked every ``check`` steps), or after ``max_steps`` steps
    (``converged`` False). ``change``: the larger of those two relative changes at the stop.
    ``stepper``: :class:`CpuStepper` or ``porevae.media._stokes_cuda.CudaStepper``.
    """
    coords, src = build_table(fluid, lateral)
    lo = int(np.searchsorted(coords[:, 0], n_lo))
    hi = int(np.searchsorted(coords[:, 0], n_hi))
    del coords
    om_p = 1.0 / tau
    om_m = 1.0 / (0.5 + magic / (tau - 0.5))
    nu = (tau - 0.5) / 3.0
    force = 1e-3  # any value: the Stokes lattice is linear in the populations
    scale = nu / force / ((n_hi - n_lo) * fluid.shape[1] * fluid.shape[2])
    advance = stepper(src, dtype)
    back = max(1, window // check)
    history = []
    change = np.inf
    for step in range(1, max_steps + 1):
        want = step % check == 0 or step == max_steps
        total = advance(lo, hi, force, om_p, om_m, want)
        if step % check == 0:
            history.append(scale * total)
            if len(history) > 2 * back:
                k = history[-1]
                change = max(abs(k - history[-1 - back]), abs(history[-1 - back]
                                                               - history[-1 - 2 * back]))
                change = change / abs(k) if k != 0 else np.inf
                if change <= tol:
                    return k, step, True, float(change)
    return scale * total, max_steps, False, float(change)
