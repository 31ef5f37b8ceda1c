"""Connectivity of the pore space across the sample (percolation between opposite faces) and
its isolated part (clusters that reach no face)."""

from __future__ import annotations

import numpy as np
import scipy.ndimage

from porevae.media._checks import as_binary, check_axis, check_connectivity, from_torch


def connected_fraction(image, axis=None, connectivity=None):
    """Fraction of the pore space connected between the two faces perpendicular to an axis.

    A pore voxel counts when its cluster (``scipy.ndimage.label``) touches both the first and
    the last slice along ``axis``.

    Parameters
    ----------
    axis : int or None
        One axis -> float; ``None`` -> (ndim,) float64 array, one value per axis.
    connectivity : int, optional
        Pore adjacency: 6 (default, voxels sharing a face: the paths a fluid can take) or 26 in
        3D; 4 (default) or 8 in 2D.

    Returns
    -------
    Fraction of pore voxels in [0, 1] (0 when there is no pore voxel).
    """
    img = as_binary(from_torch(image))
    connectivity = check_connectivity(connectivity, img.ndim, "face")
    axes = range(img.ndim) if axis is None else (check_axis(axis, img.ndim),)
    n_pore = np.count_nonzero(img)
    structure = scipy.ndimage.generate_binary_structure(img.ndim, 1 if connectivity in (4, 6)
                                                        else img.ndim)
    labels, n = scipy.ndimage.label(img, structure=structure)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    out = []
    for a in axes:
        first = np.unique(np.take(labels, 0, axis=a))
        last = np.unique(np.take(labels, -1, axis=a))
        both = np.intersect1d(first, last)
        both = both[both > 0]
        out.append(sizes[both].sum() / n_pore if n_pore else 0.0)
    return float(out[0]) if axis is not None else np.asarray(out, dtype=float)


def isolated_fraction(image, connectivity=None) -> float:
    """Fraction of the pore space in clusters that touch none of the image's faces: pore that
    no flow through the sample can reach, whatever the direction.

    A pore voxel counts when its cluster (``scipy.ndimage.label``, face adjacency by default:
    ``connectivity`` 6 or 26 in 3D, 4 or 8 in 2D) has no voxel in the first or last slice along
    any axis. Returns a fraction of the pore voxels in [0, 1] (0 when there is no pore voxel).
    """
    img = as_binary(from_torch(image))
    connectivity = check_connectivity(connectivity, img.ndim, "face")
    n_pore = np.count_nonzero(img)
    if n_pore == 0:
        return 0.0
    structure = scipy.ndimage.generate_binary_structure(img.ndim, 1 if connectivity in (4, 6)
                                                        else img.ndim)
    labels, n = scipy.ndimage.label(img, structure=structure)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    touching = np.zeros(n + 1, bool)
    for a in range(img.ndim):
        touching[np.take(labels, 0, axis=a)] = True
        touching[np.take(labels, -1, axis=a)] = True
    touching[0] = True  # the solid
    return float(sizes[~touching].sum() / n_pore)
