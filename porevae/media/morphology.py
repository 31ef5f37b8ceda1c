"""Specific surface area and Euler characteristic of binary media (1/True = pore).

Lengths are in voxels: a specific surface is per voxel length (multiply by 1/voxel_size for
physical units), an Euler characteristic density is per voxel volume.
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np

from porevae._validation import check_choice
from porevae.media._checks import as_binary, check_connectivity, from_torch

SURFACE_METHODS = ("s2", "faces")


def _differing_pairs(img, axis, periodic):
    """Number of neighbour pairs along ``axis`` with one pore and one solid voxel, and of pairs."""
    if periodic:
        return np.count_nonzero(img != np.roll(img, -1, axis)), img.size
    lo = [slice(None)] * img.ndim
    hi = [slice(None)] * img.ndim
    lo[axis], hi[axis] = slice(0, -1), slice(1, None)
    return np.count_nonzero(img[tuple(lo)] != img[tuple(hi)]), img.size // img.shape[axis] * (
        img.shape[axis] - 1)


def specific_surface(image, periodic=False, method="s2") -> float:
    """Pore-solid interface area per unit volume (3D) or perimeter per unit area (2D), 1/voxel.

    ``method="s2"`` (default) is the stereological (Crofton) estimator ``Sv = -4 S2'(0)`` in 3D
    and ``LA = -pi S2'(0)`` in 2D, with the slope taken over one voxel and averaged over the axes:
    ``-S2'(0) = mean_a P(x pore, x + e_a solid)``, estimated symmetrically as half the fraction
    of axis-neighbour pairs of different phase. Unbiased for isotropic media whose interface
    is smooth on the voxel scale; with only three (two) test directions it is biased for strongly
    anisotropic media. Pores or grains a few voxels wide make it depend on the resolution.

    ``method="faces"``: number of voxel faces between a pore and a solid voxel per voxel volume
    (the surface of the voxelised body). It over-estimates a smooth isotropic interface by the
    factor 3/2 in 3D (4/pi in 2D).

    ``periodic`` also counts the pairs that wrap around the box. Raises ValueError for an image
    with fewer than 2 voxels along an axis (non-periodic).
    """
    img = as_binary(from_torch(image))
    check_choice(method, "method", SURFACE_METHODS)
    if not periodic and min(img.shape) < 2:
        raise ValueError(f"specific_surface needs at least 2 voxels per axis, got {img.shape}")
    counts = [_differing_pairs(img, a, periodic) for a in range(img.ndim)]
    if method == "faces":
        return sum(d for d, _ in counts) / img.size
    slope = float(np.mean([0.5 * d / p for d, p in counts]))
    return (4.0 if img.ndim == 3 else math.pi) * slope


def _windows(arr, axes, op, periodic) -> int:
    """Number of windows of extent 2 along each of ``axes`` where ``op`` (logical and/or) over
    the window's voxels is True (windows wrap round when periodic)."""
    for a in axes:
        if periodic:
            arr = op(arr, np.roll(arr, -1, a))
        else:
            lo = [slice(None)] * arr.ndim
            hi = [slice(None)] * arr.ndim
            lo[a], hi[a] = slice(0, -1), slice(1, None)
            arr = op(arr[tuple(lo)], arr[tuple(hi)])
    return int(np.count_nonzero(arr))


def euler_characteristic(image, connectivity=None, periodic=False) -> int:
    """Euler characteristic of the pore space (components - tunnels + cavities in 3D,
    components - holes in 2D).

    Parameters
    ----------
    connectivity : int, optional
        Adjacency of pore voxels: 26 (default) or 6 in 3D, 8 (default) or 4 in 2D. The solid
        then has the complementary adjacency (6 / 26, 4 / 8).
    periodic : bool
        Count on the torus (the box glued to itself); otherwise the pore space is cut at the box.

    Notes
    -----
    Counted exactly from the cells of a cubical complex, ``chi = V - E + F - C`` (``V - E + F``
    in 2D), by vectorised 2x2(x2) window counts. Full adjacency (26 / 8): each pore voxel is a
    closed unit cube and the cells are the lattice vertices, edges, faces and cubes of their
    union (a vertex counts when any of the 2x2x2 voxels around it is pore, and so on). Face
    adjacency (6 / 4): the voxel centres are vertices, pore neighbour pairs edges, all-pore 2x2
    squares faces and all-pore 2x2x2 cubes cells. Divide by ``image.size`` for a density.
    """
    img = as_binary(from_torch(image))
    connectivity = check_connectivity(connectivity, img.ndim, "full")
    axes = tuple(range(img.ndim))
    if connectivity in (8, 26):  # full adjacency
        op = np.logical_or
        arr = img if periodic else np.pad(img, 1)
        dims = [img.ndim - k for k in range(img.ndim + 1)]  # window dimension of V, E, F, C
    else:
        op = np.logical_and
        arr = img
        dims = list(range(img.ndim + 1))
    chi = 0
    for sign, k in zip((1, -1, 1, -1), dims):
        chi += sign * sum(_windows(arr, sub, op, periodic) for sub in combinations(axes, k))
    return chi

