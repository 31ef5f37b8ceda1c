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
    False, marking nothing, when ``order`` ends before that rank. Memory: 9 bytes per voxel
    (parent, size, flag)."""
    size = nx * ny * nz
    parent = np.full(size, -1, np.int32)
    count = np.zeros(size, np.int32)
    seeded = np.zeros(size, np.bool_)
    kept = 0
    m = -1
    for r in range(order.size):
        v = order[r]
        parent[v] = v
        count[v] = 1
        if r < n_seed:
            seeded[v] = True
            kept += 1
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
            if seeded[a] != seeded[b]:
                kept += count[b] if seeded[a] else count[a]
            if count[a] < count[b]:
                a, b = b, a
            parent[b] = a
            count[a] += count[b]
            seeded[a] = seeded[a] or seeded[b]
        if kept >= n_pore:
            m = r + 1
            break
    if m < 0:
        return False
    marked = 0
    for r in range(m):
        if marked == n_pore:
            break
        v = order[r]
        if seeded[_find(parent, v)]:
            out[v] = True
            marked += 1
    return True
