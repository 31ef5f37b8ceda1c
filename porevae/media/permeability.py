"""Absolute permeability of a binary volume by a Stokes-flow lattice Boltzmann solve on its voxels.

Method
------
Single-phase, steady, creeping (Stokes) flow through the pore voxels (1 = pore), solved by a
D3Q19 two-relaxation-time (TRT) lattice Boltzmann scheme with the linear (Stokes) equilibrium
(:mod:`porevae.media._stokes`). Chosen because it is the standard voxel-based Stokes solver of
digital rock physics: it needs no mesh, one fluid node per pore voxel (stored as a compact node
list with an int32 pull table: no solid voxel costs memory or time), and every step is a local
update that Numba runs in parallel over the nodes, in place on one population set (the AA
pattern: 148 bytes per fluid node). The TRT "magic" parameter
Lambda = 3/16 places the no-slip (bounce-back) wall exactly half-way between a pore voxel and a
solid voxel for Poiseuille flow and makes k independent of the lattice viscosity, so the
viscosity is chosen for speed (tau = 0.57). Populations are float32 deviations from rest.

Flow along ``axis`` is driven by a uniform body force F on the fluid of the sample, which is
equivalent to a mean pressure gradient; k = mu <u> / F, with <u> the superficial velocity along
the axis (flux over the whole cross-section, solid included, averaged over the sample).

Boundary conditions (keyword-only parameters)
---------------------------------------------
* ``reservoir`` (default 4): free-fluid layers added before the inlet face and after the outlet
  face, and the lattice is periodic along ``axis``: the sample sits between two reservoirs (as
  in a core holder), every pore of a face is fed, and nothing of the outlet face is forced onto
  the inlet face. The body force acts only on the sample. Thin reservoirs add the resistance of
  the lateral flow from the outlet's pores to the inlet's (measured on a 64^3 Berea crop, k
  against 8 layers: 1 layer -11 %, 2 layers -2.8 %, 4 layers -0.4 %; the mean pressure
  difference between the reservoirs is < 2e-4 of the driving force, so their own resistance is
  negligible). ``reservoir=0``: the image itself is periodic along the axis (a unit cell of a
  periodic medium; on a non-periodic crop the seam blocks pores: -63 % on that crop).
* ``lateral`` (default ``"wall"``): the four faces parallel to the flow are no-slip walls
  (``"wall"``, a sealed sleeve), or the image is periodic across them (``"periodic"``), or mirrored
  about them (``"mirror"``: free slip). 2-D images are treated as one voxel thick, periodic
  across that voxel (2-D flow).

Connected pore space
--------------------
Only pore space connected (through voxel faces) from the inlet face to the outlet face carries
flow; isolated pores and clusters touching one face only are removed before the solve and
reported as ``1 - connected_fraction`` (with ``reservoir=0`` a cluster reached through the
periodic seam between the end faces counts as connected). With no such path the result is k = 0 with
``percolating=False`` (said in the result, not in a log).

Accuracy (measured; the tests hold these)
-----------------------------------------
* slit of h voxels: k = h^2 / 12 times the open fraction, exact at the nodes; the flux summed over
  the voxels exceeds the integral by 1 / (2 h^2) (0.8 % at h = 8, 2 % at h = 5);
* square duct of s voxels against the series solution: +4.9 % at s = 4, +2.4 % at 6, +1.4 % at
  8, +0.37 % at 16 (5 % needs ~4 voxels across a throat, 2 % ~7);
* simple cubic array of spheres (voxel spheres; c their voxels' solid fraction, a the radius of
  the sphere of their volume) against Zick & Homsy (1982, Table 2), carried to the voxel c by
  the Sangani & Acrivos series: drag K +0.3 to +3.2 % for a = 4 to 18 voxels, then falling as
  nearly 1/a: c = 0.125 +1.66 / +1.39 / +1.01 / +0.76 % at a = 15 / 20 / 30 / 40; c = 0.216
  +2.14 / +1.64 / +1.15 / +0.90 % at a = 18 / 24 / 36 / 48; c = 0.064 +1.45 / +0.87 % at a = 12
  / 24; c = 0.343 +2.34 / +2.00 / +1.33 % at a = 21 / 28 / 42. Within 2 % (the closed-form bar)
  at a >= 15 voxels for c <= 0.125 and a >= 24 for c = 0.216; at c = 0.343 a = 28 sits at the
  bar's edge and a = 42 is under it. Why: the voxel sphere drags like a smooth sphere larger
  than its volume's by delta = 0.01 to 0.03 voxel at a = 4 to 6, rising to 0.07 to 0.08 at a =
  12 to 24 and levelling at 0.09 to 0.095 for a = 30 to 48 (a near-constant offset there, hence
  the 1/a fall); the drag multiplies the relative radius error by 1 + 3 c dlnK/dc (2.5 / 3.4 /
  4.7 / 5.8 at c = 0.064 / 0.125 / 0.216 / 0.343), so error ~ (1 + 3 c dlnK/dc) delta / a, and
  over a = 4 to 18 the rise of delta cancels the 1/a (the plateau seen there). The equal-volume
  sphere is the comparison that keeps the cell's c exact; the radius of the voxel-centre shell
  is 0 to 0.22 voxel smaller (worse, and arbitrary). The reference's carriage from the table's c
  to the voxels' (|dc| <= 0.007, <= 0.002 from side 32 on) moves it < 0.05 %: Zick & Homsy /
  series = 1.0006 at c = 0.125 and 1.008 at 0.216, nearly constant over such a step. The offset
  depends on the TRT parameter (at a = 10, Lambda 1/4 gives +1.4 %, 1/12 +3.9 %); Lambda stays
  3/16, which makes the slit exact. This study solved each cell as the quarter between the
  symmetry planes with free-slip faces, at tau 5 (the same k as tau 0.57 and 1.5 to 2e-5,
  float64 to 1e-5, tol 1e-7 to 2e-6: the tests hold the quarter and tau at side 16; ``python -m
  bench.bench_permeability --spheres``);
  (these solved to tol 1e-6; at the default tol 1e-3 the slow modes of wide channels stop
  early: the slit at h = 8 +0.62 % instead of +0.78 %, the duct at s = 16 -0.03 %);
* real rock at its scan resolution: the error sits in the throats of 1 to 3 voxels (square duct
  of 1 voxel +256 %, 2 voxels +11 %, 3 voxels +7.5 %). Resolution study on two 64^3 sub-crops of
  the shipped Berea image, corners (0,0,0) and (64,64,64), periodic on all sides, tol 1e-4, each
  voxel split into r^3 (the same geometry) and k given in native voxel^2: k(r) / k(1) = 0.818 /
  0.762 / 0.737 and 0.792 / 0.726 / 0.695 at r = 2 / 3 / 4. The convergence is close to first
  order, not the duct's second (the order fitted to r = 1, 2, 3 is 1.15 and 1.09, to 2, 3, 4
  1.27 and 1.09), and Richardson's limit k_inf (order and limit from r = 2, 3, 4) is 0.0180 and
  0.00895 voxel^2: this image's k at its scan resolution is +47 % and +64 % above the converged
  value, refined 2x +20 % and +30 %, 4x +8.5 % and +14 % (``python -m bench.bench_permeability
  --refine 1 2 3 4``, 26 min on one shared core). k_inf is uncertain by a few per cent (the
  fitted orders do not support 2): the order 2 assumed instead gives a k_inf 3.7 % and 7.5 %
  higher, while tol 1e-4 is enough: solved to tol 1e-5, k at r = 2 / 3 / 4 on (0,0,0) rises by
  0.07 / 0.12 / 0.09 % and k_inf moves by -0.3 % (order 1.23);
* against NASA PuMA (Q1-Q1 finite elements, minres tol 1e-8) on four 128^3 Berea crops, both
  periodic on all sides (``reservoir=0, lateral="periodic"``): porevae -13 to -27 % at the scan
  resolution. Neither is converged there, PuMA less: on the sub-crop (0,0,0) PuMA's k is +118 %
  above k_inf at the scan resolution (0.0392) and +35 % refined 2x (0.0244), porevae's +47 % and
  +20 %. Both solve the same Stokes problem on the same voxels, so a 5 % agreement at the scan
  resolution would need both throat errors to agree, which they do not; the gap closes with
  refinement (-32 % native, -11 % at 2x). PuMA was refined once only (2x: 418 s against 61 s);
  its errors +118 % and +35 % fit an order of 1.7 if it tends to the same k_inf. PuMA also gives
  a channel closed along the flow k = 0.0113 against 0.0569 open (exactly 0 here):
  bench/puma_reference.py --checks;
* float32 against float64 populations: 4e-7 relative on a random medium; the AA step against
  the two-lattice pull step in float64: 2e-6 (float32), 1e-12 (float64).

Cost (default tol 1e-3): 1150 to 1650 steps on four 128^3 Berea crops, ~550,000 fluid nodes
each, 16 to 23 s per crop on the shared 2-core machine (13 ms per step; PuMA: 12 to 16 min and
17.6 GiB per crop); memory ~ 148 bytes per pore voxel (one float32 population set of 19 and the
int32 AA table of 18) plus ~ 13 bytes per voxel during set-up; see :func:`permeability_memory`.
Times: bench/bench_permeability.py and bench/RESULTS.md.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.ndimage
import scipy.sparse
import scipy.sparse.csgraph

from porevae._validation import check_int, check_memory, check_positive_finite
from porevae.media import _stokes
from porevae.media._checks import as_binary, check_axis, from_torch

#: One millidarcy in m^2.
MILLIDARCY = 9.869233e-16
LATERAL = tuple(_stokes.LATERAL)


@dataclasses.dataclass(frozen=True)
class Permeability:
    """Result of :func:`permeability`; ``float(result)`` is ``value`` (in ``units``).

    Attributes
    ----------
    value : k in ``units``: voxel^2 without a voxel size, m^2 with one.
    units : ``"voxel^2"`` or ``"m^2"``.
    k_voxel2 : k in voxel^2 (always).
    k_m2, k_mD : k in m^2 and millidarcy (None without a voxel size).
    axis : flow axis of the input image.
    porosity : pore fraction of the image.
    connected_fraction : fraction of the pore voxels connected from the inlet face to the outlet
        face (the ones that carry flow).
    percolating : whether any pore path joins the two faces; False means k = 0 (no solve).
    converged : whether the relative change of k fell below ``tol`` (False: ``max_steps`` hit).
    steps : lattice Boltzmann steps run (0 without a percolating path).
    change : relative change of k over the last convergence window.
    voxel_size : voxel edge in micrometres, or None.
    boundary : the boundary conditions, in words.
    """

    value: float
    units: str
    k_voxel2: float
    k_m2: float | None
    k_mD: float | None
    axis: int
    porosity: float
    connected_fraction: float
    percolating: bool
    converged: bool
    steps: int
    change: float
    voxel_size: float | None
    boundary: str

    def __float__(self) -> float:
        return float(self.value)


def permeability_memory(shape, n_pore: int, reservoir: int = 4, axis: int = 0) -> int:
    """Bytes :func:`permeability` needs at most for an image of ``shape`` with ``n_pore`` pore
    voxels, flow along ``axis``: 148 + 12 bytes per fluid node (one float32 population set, the
    AA table, coordinates), fluid nodes <= n_pore + the reservoir voxels, plus 13 bytes per voxel
    of set-up (labels, node numbers, masks). A 128^3 crop of porosity 0.2, 4 layers: 112 MiB."""
    shape = tuple(int(s) for s in shape)
    area = int(np.prod(shape)) // shape[axis]
    nodes = int(n_pore) + 2 * int(reservoir) * area
    voxels = (shape[axis] + 2 * int(reservoir)) * area
    return nodes * (_stokes.BYTES_PER_NODE + 12) + 13 * voxels


def _percolating(img: np.ndarray, periodic_lateral: bool, periodic_axial: bool) -> np.ndarray:
    """Mask of the pore voxels whose face-connected cluster touches the first and the last slice
    along axis 0 (clusters joined across the lateral faces when those are periodic, and across
    the two end faces when axis 0 is periodic: then a pocket reached through that seam counts as
    part of the cluster it joins, as the solve sees it)."""
    labels, n = scipy.ndimage.label(img)
    if n == 0:
        return np.zeros_like(img)
    pairs = []
    for a in ((0,) if periodic_axial else ()) + ((1, 2) if periodic_lateral else ()):
        if img.shape[a] > 1:
            lo, hi = np.take(labels, 0, axis=a).ravel(), np.take(labels, -1, axis=a).ravel()
            both = (lo > 0) & (hi > 0)
            pairs.append(np.stack([lo[both], hi[both]]))
    if pairs:
        edges = np.concatenate(pairs, axis=1)
        graph = scipy.sparse.coo_matrix((np.ones(edges.shape[1]), (edges[0], edges[1])),
                                        shape=(n + 1, n + 1))
        _, root = scipy.sparse.csgraph.connected_components(graph, directed=False)
        root = root.astype(np.int64)
    else:
        root = np.arange(n + 1, dtype=np.int64)
    root[0] = -1
    first = np.unique(root[np.unique(labels[0])])
    last = np.unique(root[np.unique(labels[-1])])
    spanning = np.intersect1d(first[first >= 0], last[last >= 0])
    keep = np.isin(root, spanning)
    keep[0] = False
    return keep[labels]


def permeability(image, axis: int = 0, voxel_size: float | None = None, *,
                 lateral: str = "wall", reservoir: int = 4, tol: float = 1e-3,
                 max_steps: int = 100_000, dtype=np.float32, device: str = "cpu") -> Permeability:
    """Absolute permeability of a binary image (1/True = pore) along ``axis``.

    Parameters
    ----------
    image : (n0, n1, n2) or (n0, n1) array of 0/1 or bool (NumPy or torch).
    axis : flow axis.
    voxel_size : voxel edge in micrometres (> 0); then k is also given in m^2 and mD.
    lateral : ``"wall"`` (no slip, default), ``"periodic"`` or ``"mirror"`` (free slip): the
        faces parallel to the flow (see the module docstring).
    reservoir : free-fluid layers (voxels) before the inlet and after the outlet, >= 0; 0 treats
        the image as periodic along ``axis``.
    tol : stop when the relative change of k over each of the last two windows of 100 steps is
        at most ``tol`` (in (0, 0.1]). The error left is about ``tol`` times the flow's
        relaxation time in units of 100 steps: measured against 5000-step solves of four 128^3
        Berea crops, |error| <= 1.8e-3 at tol 1e-3 (1150 to 1650 steps) and <= 3e-4 at tol 1e-4
        (1800 to 2450 steps); slow-relaxing media (wide open pores, e.g. a dilute sphere array
        of 16^3 voxels at solid fraction 0.064) keep 0.7 % at tol 1e-3: lower ``tol`` there.
    max_steps : at most this many steps (>= 200); ``converged`` says whether ``tol`` was met.
    dtype : ``np.float32`` (default) or ``np.float64`` populations.
    device : ``"cpu"`` (Numba, parallel over the fluid nodes) or ``"cuda"`` (a ``numba.cuda``
        kernel on the current device; the same update, so the same k to rounding).

    Returns
    -------
    :class:`Permeability`: ``k_voxel2`` = k / dx^2; with ``voxel_size`` (um),
    ``k_m2`` = k_voxel2 (voxel_size 1e-6)^2 and ``k_mD`` = k_m2 / 9.869233e-16. Without a pore
    path between the inlet and outlet faces: k = 0 and ``percolating=False``.

    Raises ValueError / TypeError (one line, before any work) for a non-binary, NaN, empty or
    not 2-D/3-D image, an axis out of range, voxel_size <= 0, or other parameters out of range;
    MemoryError when :func:`permeability_memory` exceeds the available memory.
    """
    return _solve(image, axis, voxel_size, lateral, reservoir, tol, max_steps, dtype, device,
                  field=False)[0]


def permeability_sensitivity(image, axis: int = 0, *, lateral: str = "wall",
                             reservoir: int = 4, tol: float = 1e-2, max_steps: int = 100_000,
                             dtype=np.float32, device: str = "cpu"):
    """Permeability of a binary image along ``axis`` and a first-order estimate of how it
    changes when one voxel changes phase: ``(Permeability, g)``, g float64 like ``image``, >= 0.

    g(x) = |u(x)|^2 on the pore voxels (u the Stokes velocity of :func:`permeability`'s solve,
    0 in pores that carry no flow), and on a solid voxel the mean |u|^2 of its pore face
    neighbours (0 without one); divided by the mean of that field over the image, so the mean
    of g is 1 (all zeros when k = 0). It is the topology derivative of k: a small obstacle at a
    pore voxel x lowers k in proportion to |u(x)|^2 (the Brinkman penalty's derivative,
    dk/d alpha(x) = -|u(x)|^2 / (mean pressure gradient)^2), and opening a solid voxel raises it
    in proportion to the flow beside it. Checked against solves with one voxel flipped
    (tests/test_media_permeability.py): closing a pore voxel lowers k by an amount that grows
    as g(x) (slope 0.8 on log-log axes over two decades of g; on a 48^3 Berea crop the ratio
    of -dk / k to g(x) stayed within a factor 1.25 for seven of eight voxels spanning three
    decades of g), and the ranks of g and of the change agree for opened voxels too. ``tol``
    defaults to 1e-2 (enough for a direction). The other parameters, the checks and the memory
    are those of :func:`permeability` (no ``voxel_size``: g is relative)."""
    result, speed2 = _solve(image, axis, None, lateral, reservoir, tol, max_steps, dtype,
                            device, field=True)
    pore = as_binary(from_torch(image)).astype(bool)
    faces = scipy.ndimage.generate_binary_structure(speed2.ndim, 1)
    faces[(1,) * speed2.ndim] = False  # the 2 ndim face neighbours, not the voxel itself
    total = scipy.ndimage.correlate(speed2, faces.astype(float), mode="constant")
    count = scipy.ndimage.correlate(pore.astype(np.int8), faces.astype(np.int8), mode="constant")
    g = np.where(pore, speed2, total / np.maximum(count, 1))
    mean = g.mean()
    return result, (g / mean if mean > 0 else g)


def _solve(image, axis, voxel_size, lateral, reservoir, tol, max_steps, dtype, device,
           field: bool):
    """:func:`permeability` (checks, memory, percolating cluster, the solve); returns
    ``(Permeability, speed2)``, speed2 the squared velocity per voxel like ``image`` with
    ``field`` (:func:`porevae.media._stokes.run`), else None."""
    img = as_binary(from_torch(image))
    axis = check_axis(axis, img.ndim)
    if voxel_size is not None:
        check_positive_finite(voxel_size, "voxel_size")
        if np.ndim(voxel_size) != 0:
            raise ValueError(f"voxel_size must be one number (um), got {voxel_size!r}")
        voxel_size = float(voxel_size)
    if lateral not in LATERAL:
        raise ValueError(f"lateral must be one of {list(LATERAL)}, got {lateral!r}")
    reservoir = check_int(reservoir, "reservoir", 0, 10_000)
    tol = float(tol)
    if not 0.0 < tol <= 0.1:
        raise ValueError(f"tol must be in (0, 0.1], got {tol}")
    max_steps = check_int(max_steps, "max_steps", 200)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if device == "cuda":
        stepper = _cuda_stepper()
    n_pore = int(np.count_nonzero(img))
    area = img.size // img.shape[axis]  # the cross-section of one reservoir layer
    if (n_pore + 2 * reservoir * area) * _stokes.Q >= 2**31:
        raise ValueError(f"image has too many pore voxels for the int32 pull table: "
                         f"{n_pore} + {2 * reservoir * area} reservoir nodes, at most "
                         f"{2**31 // _stokes.Q - 1}; solve sub-volumes")
    need = permeability_memory(img.shape, n_pore, reservoir, axis)
    if dtype == np.float64:
        need += (n_pore + 2 * reservoir * area) * _stokes.Q * 4
    check_memory(need, f"permeability of a {img.shape} image")

    shape_in = img.shape
    img = np.moveaxis(img, axis, 0)
    shape = img.shape
    if img.ndim == 2:
        img = img[:, :, None]
    img = np.ascontiguousarray(img)
    # a 2-D image is one voxel thick, periodic across it
    lat = (lateral, lateral) if img.shape[2] > 1 else (lateral, "periodic")
    boundary = (f"periodic along axis {axis} with {reservoir} free-fluid reservoir layer(s) at "
                f"each end; lateral faces: {lateral}" if reservoir else
                f"periodic along axis {axis} (no reservoir); lateral faces: {lateral}")
    porosity = n_pore / img.size
    keep = (_percolating(img, lateral == "periodic", reservoir == 0) if n_pore
            else np.zeros_like(img))
    n_keep = int(np.count_nonzero(keep))
    connected = n_keep / n_pore if n_pore else 0.0
    common = dict(axis=axis, porosity=porosity, connected_fraction=connected,
                  voxel_size=voxel_size, boundary=boundary)
    if n_keep == 0:
        return (_result(0.0, percolating=False, converged=True, steps=0, change=0.0, **common),
                np.zeros(shape_in) if field else None)
    fluid = np.zeros((img.shape[0] + 2 * reservoir,) + img.shape[1:], dtype=bool)
    fluid[:reservoir] = True
    fluid[reservoir + img.shape[0]:] = True
    fluid[reservoir:reservoir + img.shape[0]] = keep
    del keep
    k, steps, converged, change, *speed2 = _stokes.run(
        fluid, reservoir, reservoir + img.shape[0], lat, tol=tol, max_steps=max_steps,
        dtype=dtype, stepper=_stokes.CpuStepper if device == "cpu" else stepper, field=field)
    if field:
        speed2 = speed2[0][reservoir:reservoir + img.shape[0]].reshape(shape)
        speed2 = np.moveaxis(speed2, 0, axis)
    return _result(float(k), percolating=True, converged=converged, steps=steps,
                   change=change, **common), speed2 if field else None


def _cuda_stepper():
    """The CUDA stepper class, imported on demand (numba.cuda costs a second at import)."""
    from numba import cuda

    if not cuda.is_available():
        raise RuntimeError("device='cuda' needs a CUDA device visible to numba "
                           "(numba.cuda.is_available() is False); use device='cpu'")
    from porevae.media._stokes_cuda import CudaStepper

    return CudaStepper


def _result(k: float, *, voxel_size, **fields) -> Permeability:
    if voxel_size is None:
        return Permeability(value=k, units="voxel^2", k_voxel2=k, k_m2=None, k_mD=None,
                            voxel_size=None, **fields)
    k_m2 = k * (voxel_size * 1e-6) ** 2
    return Permeability(value=k_m2, units="m^2", k_voxel2=k, k_m2=k_m2,
                        k_mD=k_m2 / MILLIDARCY, voxel_size=voxel_size, **fields)
