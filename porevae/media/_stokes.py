"""D3Q19 two-relaxation-time lattice Boltzmann solver of steady Stokes flow on the pore voxels.

The kernel behind :func:`porevae.media.permeability`; see its docstring for the method, the
boundary conditions and the validation. Layout: the flow axis is axis 0 of a C-ordered lattice;
only fluid nodes are stored (a compact node list in C order, so the node number grows with the
axial position) with a pull table ``src`` of shape (18, n): ``src[i - 1, n]`` is the flat index
``d * n_nodes + m`` in the post-collision populations that stream into node ``n`` along
direction ``i`` (the neighbour ``m`` upstream, or node ``n`` itself with the opposite direction
``d`` for a bounce-back link at a solid face).

The host solve uses the AA pattern (Bailey et al. 2009, "Accelerating lattice Boltzmann fluid
flow simulations using graphics processors"): one population set updated in place, even steps
purely local (no table read), odd steps pulling and pushing through the table; 148 bytes per
fluid node (float32) instead of 224, and about 190 instead of 300 bytes of memory traffic per node
and step. The two-lattice pull step (:class:`PullStepper`, the CUDA kernel) is the reference it is
tested against.

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

#: Host bytes per fluid node of the CPU solve (AA pattern): one float32 population set (19) and
#: the int32 table (18); float64 populations add 4 bytes per population.
BYTES_PER_NODE = Q * 4 + (Q - 1) * 4


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
def _fill_table(ids, coords, lateral, c, opp, reflect, aa, src):
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
            if aa:  # the slots where the AA pattern's even step leaves these populations
                src[i - 1, node] = i * n + node if m < 0 else opp[d] * n + m
            elif m < 0:
                src[i - 1, node] = opp[i] * n + node
            else:
                src[i - 1, node] = d * n + m


def build_table(fluid: np.ndarray, lateral: tuple[str, str],
                aa: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Node coordinates (n, 3) int32 and the pull table (18, n) int32 of a fluid mask whose
    axis 0 is the (periodic) flow axis; ``lateral``: the boundary of axes 1 and 2, each
    ``"wall"`` (no-slip: bounce-back off the face), ``"periodic"`` or ``"mirror"`` (free slip:
    specular reflection at the face, the image mirrored about it).

    Two-lattice table (``aa=False``): ``src[i - 1, n] = d * n_nodes + m`` (upstream neighbour
    ``m``, its direction ``d``: ``i``, or ``i`` reflected at a mirror face), or
    ``opp(i) * n_nodes + n`` at a bounce-back link. AA table (``aa=True``): ``opp(d) * n_nodes +
    m``, or ``i * n_nodes + n`` at a bounce-back link."""
    ids, n = _number_nodes(fluid)
    coords = np.argwhere(fluid).astype(np.int32)  # C order: the node numbering of _number_nodes
    if n * Q >= 2**31:
        raise ValueError(f"{n} fluid nodes exceed the int32 pull table (at most {2**31 // Q - 1})")
    codes = np.array([0, LATERAL[lateral[0]], LATERAL[lateral[1]]], dtype=np.int64)
    src = np.empty((Q - 1, n), dtype=np.int32)
    _fill_table(ids, coords, codes, C, OPP, REFLECT, aa, src)
    return coords, src


def _collide(p0, p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11, p12, p13, p14, p15, p16, p17, p18,
             half_fx, kf, om_p, om_m, three_om_m, half, w0, w1, w2):
    """The TRT collision of one node with its 19 incoming populations ``p0..p18`` (deviations
    from rest); returns the 19 post-collision populations and the axial momentum j_0.

    Two relaxation times on the linear (Stokes) equilibrium e_i = w_i (rho + 3 c_i . j),
    j = sum_i c_i f_i + F / 2 (``half_fx`` = F_0 / 2): the even part relaxed with ``om_p``, the
    odd part with ``om_m`` and forced by (1 - om_m / 2) 3 w_i c_i . F (``kf`` =
    (1 - om_m / 2) 3 F_0). All floats in the populations' dtype. The one source of the update:
    every CPU step and the CUDA kernel call it.
    """
    rho = (p0 + p1 + p2 + p3 + p4 + p5 + p6 + p7 + p8 + p9 + p10 + p11 + p12 + p13 + p14
           + p15 + p16 + p17 + p18)
    jx = p1 - p2 + p7 - p8 + p9 - p10 + p11 - p12 + p13 - p14 + half_fx
    jy = p3 - p4 + p7 - p8 - p9 + p10 + p15 - p16 + p17 - p18
    jz = p5 - p6 + p11 - p12 - p13 + p14 + p15 - p16 - p17 + p18
    rp = om_p * rho
    bx = three_om_m * jx + kf
    by = three_om_m * jy
    bz = three_om_m * jz
    q0 = p0 - om_p * p0 + w0 * rp
    fp = half * (p1 + p2)
    fm = half * (p1 - p2)
    dp = om_p * fp - w1 * rp
    dm = om_m * fm - w1 * (bx)
    q1 = p1 - dp - dm
    q2 = p2 - dp + dm
    fp = half * (p3 + p4)
    fm = half * (p3 - p4)
    dp = om_p * fp - w1 * rp
    dm = om_m * fm - w1 * (by)
    q3 = p3 - dp - dm
    q4 = p4 - dp + dm
    fp = half * (p5 + p6)
    fm = half * (p5 - p6)
    dp = om_p * fp - w1 * rp
    dm = om_m * fm - w1 * (bz)
    q5 = p5 - dp - dm
    q6 = p6 - dp + dm
    fp = half * (p7 + p8)
    fm = half * (p7 - p8)
    dp = om_p * fp - w2 * rp
    dm = om_m * fm - w2 * (bx + by)
    q7 = p7 - dp - dm
    q8 = p8 - dp + dm
    fp = half * (p9 + p10)
    fm = half * (p9 - p10)
    dp = om_p * fp - w2 * rp
    dm = om_m * fm - w2 * (bx - by)
    q9 = p9 - dp - dm
    q10 = p10 - dp + dm
    fp = half * (p11 + p12)
    fm = half * (p11 - p12)
    dp = om_p * fp - w2 * rp
    dm = om_m * fm - w2 * (bx + bz)
    q11 = p11 - dp - dm
    q12 = p12 - dp + dm
    fp = half * (p13 + p14)
    fm = half * (p13 - p14)
    dp = om_p * fp - w2 * rp
    dm = om_m * fm - w2 * (bx - bz)
    q13 = p13 - dp - dm
    q14 = p14 - dp + dm
    fp = half * (p15 + p16)
    fm = half * (p15 - p16)
    dp = om_p * fp - w2 * rp
    dm = om_m * fm - w2 * (by + bz)
    q15 = p15 - dp - dm
    q16 = p16 - dp + dm
    fp = half * (p17 + p18)
    fm = half * (p17 - p18)
    dp = om_p * fp - w2 * rp
    dm = om_m * fm - w2 * (by - bz)
    q17 = p17 - dp - dm
    q18 = p18 - dp + dm
    return (q0, q1, q2, q3, q4, q5, q6, q7, q8, q9, q10, q11, q12, q13, q14, q15, q16, q17, q18, jx)



def node_updates(collide):
    """The three node updates around ``collide`` (:func:`_collide` compiled for one target, the
    host or a CUDA device); each updates fluid node ``node`` of ``n`` and returns its j_0.

    * ``pull(f, g, src, node, n, ...)``: two lattices; pull the populations from ``f`` (flat,
      direction-major: f[d n + m]) through the pull table ``src``, collide, write into ``g``.
    * ``aa_even(a, node, n, ...)``: AA pattern (one lattice), even step: read the node's own
      slots, write each result i into the node's slot opp(i).
    * ``aa_odd(a, tab, node, n, ...)``: AA pattern, odd step: pull through the AA table ``tab``
      (direction i: the upstream neighbour's slot opp(i), or at a bounce-back link the node's
      own slot i: exactly where the even step left those populations), collide, and write
      result i to ``tab[opp(i)]`` (the downstream neighbour's slot i, or the node's own slot
      opp(i) at a bounce-back link), where the next even step reads it. Every slot is read and
      written by one node only, so the nodes update in parallel in place.
    """

    def pull(f, g, src, node, n, half_fx, kf, om_p, om_m, three_om_m, half, w0, w1, w2):
        q = collide(
            f[node],
            f[src[0, node]],
            f[src[1, node]],
            f[src[2, node]],
            f[src[3, node]],
            f[src[4, node]],
            f[src[5, node]],
            f[src[6, node]],
            f[src[7, node]],
            f[src[8, node]],
            f[src[9, node]],
            f[src[10, node]],
            f[src[11, node]],
            f[src[12, node]],
            f[src[13, node]],
            f[src[14, node]],
            f[src[15, node]],
            f[src[16, node]],
            f[src[17, node]],
            half_fx, kf, om_p, om_m, three_om_m, half, w0, w1, w2)
        g[node] = q[0]
        g[1 * n + node] = q[1]
        g[2 * n + node] = q[2]
        g[3 * n + node] = q[3]
        g[4 * n + node] = q[4]
        g[5 * n + node] = q[5]
        g[6 * n + node] = q[6]
        g[7 * n + node] = q[7]
        g[8 * n + node] = q[8]
        g[9 * n + node] = q[9]
        g[10 * n + node] = q[10]
        g[11 * n + node] = q[11]
        g[12 * n + node] = q[12]
        g[13 * n + node] = q[13]
        g[14 * n + node] = q[14]
        g[15 * n + node] = q[15]
        g[16 * n + node] = q[16]
        g[17 * n + node] = q[17]
        g[18 * n + node] = q[18]
        return q[19]

    def aa_even(a, node, n, half_fx, kf, om_p, om_m, three_om_m, half, w0, w1, w2):
        q = collide(
            a[node],
            a[1 * n + node],
            a[2 * n + node],
            a[3 * n + node],
            a[4 * n + node],
            a[5 * n + node],
            a[6 * n + node],
            a[7 * n + node],
            a[8 * n + node],
            a[9 * n + node],
            a[10 * n + node],
            a[11 * n + node],
            a[12 * n + node],
            a[13 * n + node],
            a[14 * n + node],
            a[15 * n + node],
            a[16 * n + node],
            a[17 * n + node],
            a[18 * n + node],
            half_fx, kf, om_p, om_m, three_om_m, half, w0, w1, w2)
        a[node] = q[0]
        a[2 * n + node] = q[1]
        a[1 * n + node] = q[2]
        a[4 * n + node] = q[3]
        a[3 * n + node] = q[4]
        a[6 * n + node] = q[5]
        a[5 * n + node] = q[6]
        a[8 * n + node] = q[7]
        a[7 * n + node] = q[8]
        a[10 * n + node] = q[9]
        a[9 * n + node] = q[10]
        a[12 * n + node] = q[11]
        a[11 * n + node] = q[12]
        a[14 * n + node] = q[13]
        a[13 * n + node] = q[14]
        a[16 * n + node] = q[15]
        a[15 * n + node] = q[16]
        a[18 * n + node] = q[17]
        a[17 * n + node] = q[18]
        return q[19]

    def aa_odd(a, tab, node, n, half_fx, kf, om_p, om_m, three_om_m, half, w0, w1, w2):
        q = collide(
            a[node],
            a[tab[0, node]],
            a[tab[1, node]],
            a[tab[2, node]],
            a[tab[3, node]],
            a[tab[4, node]],
            a[tab[5, node]],
            a[tab[6, node]],
            a[tab[7, node]],
            a[tab[8, node]],
            a[tab[9, node]],
            a[tab[10, node]],
            a[tab[11, node]],
            a[tab[12, node]],
            a[tab[13, node]],
            a[tab[14, node]],
            a[tab[15, node]],
            a[tab[16, node]],
            a[tab[17, node]],
            half_fx, kf, om_p, om_m, three_om_m, half, w0, w1, w2)
        a[node] = q[0]
        a[tab[1, node]] = q[1]
        a[tab[0, node]] = q[2]
        a[tab[3, node]] = q[3]
        a[tab[2, node]] = q[4]
        a[tab[5, node]] = q[5]
        a[tab[4, node]] = q[6]
        a[tab[7, node]] = q[7]
        a[tab[6, node]] = q[8]
        a[tab[9, node]] = q[9]
        a[tab[8, node]] = q[10]
        a[tab[11, node]] = q[11]
        a[tab[10, node]] = q[12]
        a[tab[13, node]] = q[13]
        a[tab[12, node]] = q[14]
        a[tab[15, node]] = q[15]
        a[tab[14, node]] = q[16]
        a[tab[17, node]] = q[17]
        a[tab[16, node]] = q[18]
        return q[19]

    return pull, aa_even, aa_odd


_collide_cpu = nb.njit(inline="always", fastmath=True, cache=True)(_collide)
_pull_cpu, _aa_even_cpu, _aa_odd_cpu = (nb.njit(inline="always", fastmath=True, cache=True)(f)
                                        for f in node_updates(_collide_cpu))


@nb.njit(inline="always", cache=True)
def _constants(f, force, om_p, om_m):
    """The collision's constants in the scalar type of the populations ``f``: (half_f, kf, zero,
    om_p, om_m, three_om_m, half, w0, w1, w2)."""
    dt = f.dtype.type
    half = dt(0.5)
    om_p = dt(om_p)
    om_m = dt(om_m)
    return (half * dt(force), (dt(1.0) - half * om_m) * dt(3.0) * dt(force), dt(0.0), om_p,
            om_m, dt(3.0) * om_m, half, dt(1.0 / 3.0), dt(1.0 / 18.0), dt(1.0 / 36.0))


def _pull_step_impl(f, g, src, n_lo, n_hi, force, om_p, om_m):
    """One pull-stream-collide step ``f -> g`` on two lattices (flat, 19 n, deviations from rest);
    the body force F = (force, 0, 0) acts on the nodes [n_lo, n_hi). Returns the sum of j_0 over
    those nodes (float64)."""
    n = src.shape[1]
    half_f, kf, zero, om_p, om_m, three_om_m, half, w0, w1, w2 = _constants(f, force,
                                                                            om_p, om_m)
    total = 0.0
    for node in nb.prange(n):
        if n_lo <= node < n_hi:
            total += _pull_cpu(f, g, src, node, n, half_f, kf, om_p, om_m, three_om_m, half,
                               w0, w1, w2)
        else:
            _pull_cpu(f, g, src, node, n, zero, zero, om_p, om_m, three_om_m, half, w0, w1, w2)
    return total


def _aa_even_impl(a, n, n_lo, n_hi, force, om_p, om_m):
    """The AA pattern's even step on the lattice ``a`` (flat, 19 n) in place; see
    :func:`_pull_step_impl` for the force and the returned sum."""
    half_f, kf, zero, om_p, om_m, three_om_m, half, w0, w1, w2 = _constants(a, force,
                                                                            om_p, om_m)
    total = 0.0
    for node in nb.prange(n):
        if n_lo <= node < n_hi:
            total += _aa_even_cpu(a, node, n, half_f, kf, om_p, om_m, three_om_m, half, w0, w1,
                                  w2)
        else:
            _aa_even_cpu(a, node, n, zero, zero, om_p, om_m, three_om_m, half, w0, w1, w2)
    return total


def _aa_odd_impl(a, tab, n_lo, n_hi, force, om_p, om_m):
    """The AA pattern's odd step (streaming through the AA table ``tab``) in place."""
    n = tab.shape[1]
    half_f, kf, zero, om_p, om_m, three_om_m, half, w0, w1, w2 = _constants(a, force,
                                                                            om_p, om_m)
    total = 0.0
    for node in nb.prange(n):
        if n_lo <= node < n_hi:
            total += _aa_odd_cpu(a, tab, node, n, half_f, kf, om_p, om_m, three_om_m, half, w0,
                                 w1, w2)
        else:
            _aa_odd_cpu(a, tab, node, n, zero, zero, om_p, om_m, three_om_m, half, w0, w1, w2)
    return total


def _compile(impl):
    """(parallel, serial) compiled versions of a step: the serial one for lattices too small to
    repay the start of a parallel region."""
    return (nb.njit(parallel=True, fastmath=True, cache=True)(impl),
            nb.njit(fastmath=True, cache=True)(impl))


#: (parallel, serial) steps, indexed by ``serial``.
_pull_step = _compile(_pull_step_impl)
_aa_even = _compile(_aa_even_impl)
_aa_odd = _compile(_aa_odd_impl)
#: Below this many fluid nodes the serial steps run.
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
    """Populations on the host, the AA pattern (one lattice updated in place, even and odd
    steps alternating; Numba, parallel over the nodes, serial below :data:`SERIAL_NODES`).
    ``stepper(n_lo, n_hi, force, om_p, om_m, want)`` runs one step and returns the sum of j_0
    over the forced nodes (``want`` is for device steppers, which only reduce when asked).
    ``AA``: which table :func:`build_table` makes for it."""

    AA = True

    def __init__(self, tab: np.ndarray, dtype):
        self.n = tab.shape[1]
        self.tab = tab
        self.a = np.zeros(Q * self.n, dtype=dtype)
        self.odd = False
        self.serial = self.n < SERIAL_NODES

    def __call__(self, n_lo, n_hi, force, om_p, om_m, want=True) -> float:
        if self.odd:
            total = _aa_odd[self.serial](self.a, self.tab, n_lo, n_hi, force, om_p, om_m)
        else:
            total = _aa_even[self.serial](self.a, self.n, n_lo, n_hi, force, om_p, om_m)
        self.odd = not self.odd
        return total

    @property
    def post(self) -> bool:
        """Whether :meth:`populations` are post-collision (after an even step) or streamed-in,
        pre-collision ones (after an odd step)."""
        return self.odd

    def populations(self) -> np.ndarray:
        """(19, n) float64: each node's populations after the last step (deviations from rest):
        after an even step slot opp(i) holds the post-collision f_i; after an odd one slot i
        holds the f_i streamed in (pre-collision)."""
        a = self.a.reshape(Q, self.n).astype(np.float64)
        return a[OPP] if self.odd else a


class PullStepper:
    """The plain two-lattice pull scheme on the host (the reference of :class:`CpuStepper`:
    twice the population memory and traffic, the same k to rounding)."""

    AA = False

    def __init__(self, src: np.ndarray, dtype):
        self.src = src
        self.f = np.zeros(Q * src.shape[1], dtype=dtype)
        self.g = np.zeros_like(self.f)
        self.serial = src.shape[1] < SERIAL_NODES

    def __call__(self, n_lo, n_hi, force, om_p, om_m, want=True) -> float:
        total = _pull_step[self.serial](self.f, self.g, self.src, n_lo, n_hi, force, om_p, om_m)
        self.f, self.g = self.g, self.f
        return total

    #: :meth:`populations` are post-collision.
    post = True

    def populations(self) -> np.ndarray:
        """(19, n) float64: each node's post-collision populations of the last step."""
        return self.f.reshape(Q, -1).astype(np.float64)


def run(fluid, n_lo, n_hi, lateral, *, tol=1e-4, window=100, check=50, max_steps=100_000,
        dtype=np.float32, tau=TAU, magic=MAGIC, stepper=CpuStepper, field=False):
    """Steady Stokes flow through ``fluid`` (bool (n0, n1, n2), flow along axis 0, periodic)
    driven by a body force on the slabs ``n_lo <= x < n_hi``; returns
    ``(k, steps, converged, change)`` with k = nu <j_0> / F in voxel^2, <j_0> the axial momentum
    summed over the driven slabs divided by their volume (voxels, solid included); with
    ``field`` also a fifth item, float64 like ``fluid``: |u|^2 / (F / nu)^2 per voxel (0 in the
    solid), the squared velocity of the flow under a unit body force over the viscosity (voxel^2
    squared; its mean over the driven slabs is >= k^2), where u = j + F/2 (the half-way force
    correction) from the populations of the last step.

    Stops when the relative change of k over each of the last two windows of ``window`` steps
    is at most ``tol`` (checked every ``check`` steps), or after ``max_steps`` steps
    (``converged`` False). ``change``: the larger of those two relative changes at the stop.
    ``stepper``: :class:`CpuStepper`, :class:`PullStepper` or
    ``porevae.media._stokes_cuda.CudaStepper``.
    """
    coords, src = build_table(fluid, lateral, aa=stepper.AA)
    lo = int(np.searchsorted(coords[:, 0], n_lo))
    hi = int(np.searchsorted(coords[:, 0], n_hi))
    if not field:
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
                    out = k, step, True, float(change)
                    return out + (_speed2(advance, coords, fluid.shape, lo, hi, force, nu),) \
                        if field else out
    out = scale * total, max_steps, False, float(change)
    return out + (_speed2(advance, coords, fluid.shape, lo, hi, force, nu),) if field else out


def _speed2(stepper, coords, shape, lo, hi, force, nu) -> np.ndarray:
    """|u|^2 (nu / F)^2 per voxel of ``shape`` (0 off the nodes ``coords``) from the stepper's
    populations: u = sum_i c_i f_i, shifted by F/2 on the driven nodes [lo, hi) to the
    half-way momentum (pre- and post-collision populations differ by F there)."""
    f = stepper.populations()
    u = C.T.astype(np.float64) @ f  # (3, n)
    u[0, lo:hi] += -0.5 * force if stepper.post else 0.5 * force
    out = np.zeros(shape)
    out[tuple(coords.T)] = (u * u).sum(axis=0) * (nu / force) ** 2
    return out
