"""Dense symmetric eigen-solves shared by the solvers (LAPACK through SciPy and PyTorch/MKL)."""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch


def eigvalsh_desc(a: np.ndarray) -> np.ndarray:
    """All eigenvalues of the symmetric matrix ``a`` (float64), descending.

    PyTorch's LAPACK (MKL in the CPU wheels) tridiagonalises about twice as fast as OpenBLAS.
    """
    w = torch.linalg.eigvalsh(torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)))
    return w.numpy()[::-1].copy()


def eigh_leading(a: np.ndarray, k: int):
    """Leading ``k`` eigenpairs of the symmetric matrix ``a`` (n, n): ``(w (k,), v (n, k))``.

    Descending eigenvalues, orthonormal eigenvectors with a deterministic sign (largest-magnitude
    entry positive). A subset (``k < n/2``) uses LAPACK ``syevr`` (SciPy), the full spectrum
    ``syevd`` (MKL through PyTorch). ``a`` may be overwritten.
    """
    n = a.shape[0]
    k = min(int(k), n)
    if k == 0:
        return np.empty(0), np.empty((n, 0))
    if 2 * k < n:
        w, v = scipy.linalg.eigh(a, subset_by_index=[n - k, n - 1], driver="evr",
                                 overwrite_a=True, check_finite=False)
    else:
        wt, vt = torch.linalg.eigh(torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)))
        w, v = wt.numpy()[n - k:], vt.numpy()[:, n - k:]
    w, v = w[::-1].copy(), np.ascontiguousarray(v[:, ::-1])
    fix_signs(v)
    return w, v


def fix_signs(v: np.ndarray) -> None:
    """Flip columns of ``v`` in place so that each column's largest-magnitude entry is > 0."""
    if v.size == 0:
        return
    idx = np.argmax(np.abs(v), axis=0)
    s = np.sign(v[idx, np.arange(v.shape[1])])
    s[s == 0] = 1.0
    v *= s


def merge_desc(values_list, k=None):
    """Merge per-block eigenvalues: ``(order, block_id, index_in_block)`` of the ``k`` largest.

    Ties keep block order, so the merge is deterministic.
    """
    vals = np.concatenate(values_list) if values_list else np.empty(0)
    block = np.concatenate([np.full(len(v), b) for b, v in enumerate(values_list)]) \
        if values_list else np.empty(0, int)
    local = np.concatenate([np.arange(len(v)) for v in values_list]) if values_list else \
        np.empty(0, int)
    order = np.argsort(-vals, kind="stable")
    if k is not None:
        order = order[:k]
    return vals[order], block[order], local[order]
