"""Symmetric eigen-solves shared by the solvers: LAPACK (SciPy, PyTorch/MKL) and a GEMM-bound
Chebyshev-filtered subspace iteration that works on any device."""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import torch


def eigvalsh_desc(a: np.ndarray) -> np.ndarray:
    """All eigenvalues of the symmetric matrix ``a`` (float64), descending.

    PyTorch's LAPACK (MKL in the CPU wheels) tridiagonalises about twice as fast as OpenBLAS.
    """
    w = torch.linalg.eigvalsh(torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)))
    return w.numpy()[::-1].copy()




def eigh_leading(a: np.ndarray, k: int, method: str = "auto"):
    """Leading ``k`` eigenpairs of the symmetric matrix ``a`` (n, n): ``(w (k,), v (n, k))``.

    Descending eigenvalues, orthonormal eigenvectors with a deterministic sign (largest-magnitude
    entry positive). ``method="auto"`` / ``"lapack"``: ``syevr`` on a subset (SciPy), ``syevd``
    (MKL through PyTorch) for more than half the spectrum. ``method="filtered"``:
    :func:`chebyshev_eigsh` (GEMMs only; ``a`` must be positive semi-definite) — measured slower
    than ``syevr`` for the 174 x 174 parity blocks on a 2-core CPU (bench/RESULTS.md), so not the
    default on the host; the device solvers use it. ``a`` may be overwritten.
    """
    n = a.shape[0]
    k = min(int(k), n)
    if k == 0:
        return np.empty(0), np.empty((n, 0))
    if method == "filtered":
        at = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))
        w, v = chebyshev_eigsh(lambda x: at @ x, n, k)
        v = v.numpy()
        fix_signs(v)
        return w.numpy(), v
    if 2 * k < n:
        w, v = scipy.linalg.eigh(a, subset_by_index=[n - k, n - 1], driver="evr",
                                 overwrite_a=True, check_finite=False)
    else:
        wt, vt = torch.linalg.eigh(torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)))
        w, v = wt.numpy()[n - k:], vt.numpy()[:, n - k:]
    w, v = w[::-1].copy(), np.ascontiguousarray(v[:, ::-1])
    fix_signs(v)
    return w, v


def chebyshev_eigsh(matmat, n: int, k: int, *, dtype=torch.float64, device="cpu",
                    tol: float = 1e-12, block: int | None = None, max_iter: int = 200,
                    seed: int = 0):
    """Leading ``k`` eigenpairs of a symmetric positive semi-definite operator, by products only.

    ``matmat(x)`` returns ``A @ x`` for a tensor x of shape (n, m) (a GEMM, an FFT product, a
    tiled kernel; any device). Chebyshev-filtered subspace iteration (Zhou & Saad 2007) with
    locking: a block of ``p > k`` vectors (default ``max(k + 32, 1.5 k)``) is multiplied by the
    Chebyshev polynomial ``T_m`` that damps ``[0, b]`` (``b`` the smallest Ritz value of the block)
    and amplifies what lies above, then Rayleigh-Ritz. Converged leading pairs (residual
    ``|A x - theta x| <= tol * theta_1``) are locked and deflated: the filter then runs on
    ``(I - L L^T) A (I - L L^T)``, so the locked top of the spectrum is damped instead of swamping
    the rest (covariance spectra span many decades), and the degree ``m`` keeps the amplification
    across the active block below 1e8. Returns ``(w (k,), v (n, k))`` descending (tensors).
    """
    p = min(n, block or max(k + 32, int(1.5 * k)))
    gen = torch.Generator(device=device).manual_seed(seed)
    x = torch.randn(n, p, generator=gen, dtype=dtype, device=device)
    theta, x, ax = _rayleigh_ritz(matmat, matmat(x))
    scale = float(theta[0])
    locked_x, locked_w = [], []
    n_locked = 0
    for _ in range(max_iter):
        res = torch.linalg.vector_norm(ax - x * theta, dim=0)
        ok = (res <= tol * scale).tolist() + [False]
        n_new = min(ok.index(False), k - n_locked)
        if n_new:
            locked_x.append(x[:, :n_new])
            locked_w.append(theta[:n_new])
            x, theta, n_locked = x[:, n_new:], theta[n_new:], n_locked + n_new
        if n_locked >= k:
            break
        cut, top = max(float(theta[-1]), 1e-13 * scale), float(theta[0])
        wanted = float(theta[min(k - n_locked, theta.numel()) - 1])
        spread = math.acosh(max((2 * top - cut) / cut, 1.0)) - \
            math.acosh(max((2 * wanted - cut) / cut, 1.0))
        degree = int(min(16, max(1, math.log(1e8) / max(spread, 1e-12))))
        if locked_x:
            lk = torch.cat(locked_x, dim=1)

            def project(z, lk=lk):
                return z - lk @ (lk.T @ z)

            def op(z, project=project):
                return project(matmat(z))
        else:
            def project(z):
                return z

            op = matmat
        y = _chebyshev_filter(op, project(x), degree, cut, top)
        theta, x, ax = _rayleigh_ritz(matmat, project(project(y)))
    else:
        raise RuntimeError(f"chebyshev_eigsh: {n_locked} of {k} eigenpairs reached tol={tol} in "
                           f"{max_iter} rounds")
    return torch.cat(locked_w), torch.cat(locked_x, dim=1)


def _rayleigh_ritz(matmat, y):
    """Orthonormalise the block ``y``, diagonalise the operator on it: ``(theta desc, x, A x)``."""
    q, _ = torch.linalg.qr(y)
    aq = matmat(q)
    h = q.T @ aq
    theta, s = torch.linalg.eigh(0.5 * (h + h.T))
    theta, s = theta.flip(0), s.flip(1)
    return theta, q @ s, aq @ s


def _chebyshev_filter(matmat, x, degree, cut, top):
    """``T_m(L(A)) x / T_m(L(top))``, ``L(t) = (2 t - cut) / cut`` mapping ``[0, cut]`` to [-1, 1].

    The scaled three-term recurrence keeps the amplified components of order one.
    """
    e = c = 0.5 * cut
    sigma1 = e / (top - c)
    sigma = sigma1
    y_prev, y = x, (matmat(x) - c * x) * (sigma1 / e)
    for _ in range(1, degree):
        sigma_next = 1.0 / (2.0 / sigma1 - sigma)
        y_next = (matmat(y) - c * y) * (2.0 * sigma_next / e) - (sigma * sigma_next) * y_prev
        y_prev, y, sigma = y, y_next, sigma_next
    return y


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
