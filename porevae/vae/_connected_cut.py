"""Numba kernel of the connected cut (:func:`porevae.vae.binarize.connected_cut`): one sweep
over the voxels in decreasing pore probability with a union-find of their face-connected
clusters."""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def _find(parent, v):
    root = v
    while parent[root] != root:
        root = parent[root]
    while parent[v] != root:  # path compression
        parent[v], v = root, parent[v]
    return root


@nb.njit(cache=True, nogil=True)
def sweep(order, nx, ny, nz, n_seed, n_pore, out):
    """Mark in ``out`` (bool, flat, C order of (nx, ny, nz), all False on entry) the connected
    cut: voxels are added in the order ``order`` (flat indices, most probable first: all voxels,
    or the most probable ones only); the first ``n_seed`` are seeds; a cluster (face adjacency)
    holding a seed is kept. The sweep stops at the first rank m where the kept clusters hold
    >= ``n_pore`` voxels and marks the first ``n_pore`` kept voxels of ``order[:m]``. Returns
    False, marking nothing, when ``order`` ends before that rank.

    Every seed is kept whatever its cluster, so the seeds need no union: they all hang from one
    extra root (index nx ny nz), and a later voxel joins them through any seed it touches; the
    kept voxels are then that root's cluster. Memory: 8 bytes per voxel (parent, size)."""
    size = nx * ny * nz
    keep = size  # the root of every seed
    parent = np.full(size + 1, -1, np.int32)
    count = np.zeros(size + 1, np.int32)
    parent[keep] = keep
    n_seed = min(n_seed, order.size)
    for r in range(n_seed):
        parent[order[r]] = keep
    count[keep] = n_seed
    m = n_seed if n_seed >= n_pore else -1
    for r in range(n_seed, order.size if m < 0 else 0):
        v = order[r]
        parent[v] = v
        count[v] = 1
        x, rest = divmod(v, ny * nz)
        y, z = divmod(rest, nz)
        for k in range(6):
            if k == 0:
                if x == 0:
                    continue
                u = v - ny * nz
            elif k == 1:
                if x == nx - 1:
                    continue
                u = v + ny * nz
            elif k == 2:
                if y == 0:
                    continue
                u = v - nz
            elif k == 3:
                if y == ny - 1:
                    continue
                u = v + nz
            elif k == 4:
                if z == 0:
                    continue
                u = v - 1
            else:
                if z == nz - 1:
                    continue
                u = v + 1
            if parent[u] < 0:
                continue
            a = _find(parent, u)
            b = _find(parent, v)
            if a == b:
                continue
            if b == keep or (a != keep and count[a] < count[b]):
                a, b = b, a  # a: the root that stays (the seeds' root whenever it is one)
            parent[b] = a
            count[a] += count[b]
        if count[keep] >= n_pore:
            m = r + 1
            break
    if m < 0:
        return False
    marked = 0
    for r in range(m):
        if marked == n_pore:
            break
        v = order[r]
        if _find(parent, v) == keep:
            out[v] = True
            marked += 1
    return True
