"""Symmetric eigen-solves shared by the solvers: LAPACK (SciPy, PyTorch/MKL) and a GEMM-bound
block Lanczos that works on any device."""

from __future__ import annotations

import math

import numpy as np

from porevae._lazy import lazy_module
from porevae._validation import check_choice

scipy_linalg = lazy_module("scipy.linalg")
torch = lazy_module("torch")


def eigvalsh_desc(a):
    """All eigenvalues of the symmetric matrix ``a`` (n, n), descending, as a float64 NumPy array.

    ``a``: a NumPy array (PyTorch's LAPACK, MKL in the CPU wheels, tridiagonalises about twice
    as fast as OpenBLAS) or a tensor on any device (cuSOLVER on CUDA).
    """
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)) if isinstance(
        a, np.ndarray) else a
    return torch.linalg.eigvalsh(t).cpu().numpy()[::-1].copy()


def eigh_leading(a, k: int, method: str = "auto"):
    """Leading ``k`` eigenpairs of the symmetric matrix ``a`` (n, n): ``(w (k,), v (n, k))``.

    ``a`` is a NumPy array (host) or a torch tensor (any device); ``w`` is a float64 NumPy array
    and ``v`` of the type and device of ``a``. Descending eigenvalues, orthonormal eigenvectors
    with a deterministic sign (:func:`fix_signs`). ``method="lapack"``: on the host ``syevr`` on
    a subset (SciPy), ``syevd`` (MKL through PyTorch) for more than half the spectrum; on a
    device ``torch.linalg.eigh``. ``method="lanczos"``: :func:`lanczos_eigsh` with GEMMs on
    ``a`` (residuals ``<= 1e-12 |a|``; 4x faster than ``syevr`` on the 7,569-row block of the
    174 x 174 parity solve, bench/RESULTS.md). ``"auto"``: Lanczos for ``n >= 2000`` and
    ``4 k <= n``, else LAPACK. ``a`` may be overwritten.
    """
    check_choice(method, "method", ("auto", "lapack", "lanczos"))
    host = isinstance(a, np.ndarray)
    n = a.shape[0]
    k = min(int(k), n)
    if k == 0:
        return np.empty(0), (np.empty((n, 0)) if host else a.new_empty((n, 0)))
    if method == "lanczos" or (method == "auto" and n >= 2000 and 4 * k <= n):
        if host:
            a = np.ascontiguousarray(a, dtype=np.float64)
            w, v = lanczos_eigsh(lambda x: torch.from_numpy(a @ x.numpy()), n, k)
            v = v.numpy()
        else:
            w, v = lanczos_eigsh(lambda x: a @ x, n, k, dtype=a.dtype, device=a.device)
        fix_signs(v)
        return w.cpu().numpy(), v
    if host and 2 * k < n:
        w, v = scipy_linalg.eigh(a, subset_by_index=[n - k, n - 1], driver="evr",
                                 overwrite_a=True, check_finite=False)
        w, v = w[::-1].copy(), np.ascontiguousarray(v[:, ::-1])
    else:
        t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)) if host else a
        wt, vt = torch.linalg.eigh(t)
        w = wt[n - k:].flip(0).cpu().numpy()
        v = vt[:, n - k:].flip(1).contiguous()  # a copy: the full set is released
        v = v.numpy() if host else v
    fix_signs(v)
    return w, v


def n_terms_for_energy(eigenvalues, level: float, trace: float, n_cells: int) -> int | None:
    """Smallest M with ``E(M) = sum_{k <= M} lambda_k / trace >= level`` from leading
    eigenvalues (descending); None if they do not reach it. ``level = 1.0`` means the whole
    spectrum: ``n_cells``."""
    if level >= 1.0:
        return n_cells
    cum = np.cumsum(eigenvalues) / trace
    idx = int(np.searchsorted(cum, level, side="left"))
    return idx + 1 if idx < len(cum) else None


def _mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b``; on the CPU through NumPy's BLAS (zero-copy views), which runs the tall-skinny
    products of the Krylov basis 1.5-2x faster than PyTorch's MKL on the AMD hosts measured."""
    if a.device.type == "cpu":
        return torch.from_numpy(a.numpy() @ b.numpy())
    return a @ b


def lanczos_block_size(k: int) -> int:
    """Default block of :func:`lanczos_eigsh`: about ``k / 5`` in multiples of 16, 16 to 64.

    Measured on the 174 x 174 parity blocks (2 cores): k = 172 took 2.0 s with p = 32, 2.6 s
    with 64 and 3.9 s with 128; k = 333 took 7.9 s with 64 and 9.0 s with 32.
    """
    return int(min(64, max(16, 16 * round(k / 80))))


def lanczos_max_dim(n: int, k: int, block: int | None = None) -> int:
    """Default basis size of :func:`lanczos_eigsh` before a restart: ``max(6 k, k + 8 p)``."""
    p = min(int(block or lanczos_block_size(k)), n)
    return max(6 * k, k + 8 * p)


def lanczos_memory(n: int, k: int, block: int | None = None, itemsize: int = 8) -> int:
    """Bytes :func:`lanczos_eigsh` allocates (not counting ``matmat``'s): the basis, three blocks
    and ``H``; or, when the basis would fill the space, ``A`` and its eigenvectors."""
    p = min(int(block or lanczos_block_size(k)), n)
    m = lanczos_max_dim(n, k, p)
    if m + p >= n:
        return 2 * itemsize * n * n
    return itemsize * (n * (m + 4 * p) + 2 * m * m)


def lanczos_eigsh(matmat, n: int, k: int, *, dtype=None, device="cpu",
                  tol: float = 1e-12, block: int | None = None, max_dim: int | None = None,
                  seed: int = 0):
    """Leading ``k`` eigenpairs of a symmetric operator on R^n, by products with it only.

    ``matmat(x)`` returns ``A @ x`` for a tensor x of shape (n, p) on ``device`` (a GEMM with a
    stored block, an FFT product, a tiled kernel). Block Lanczos with full re-orthogonalisation
    and thick restart: the basis ``V`` (n, m) grows by ``p`` vectors per product ``A V_j``;
    ``H = V^T A V`` comes out of the Gram-Schmidt coefficients (:func:`_orthogonalise`). Ritz
    pair ``(theta_i, V s_i)`` has the residual norm ``|R_{j+1} s_i[last p rows]|`` (R from the
    QR of the next block), so convergence (``residual <= tol * max |theta|`` for the leading
    ``k``; eigenvalue errors are then below that residual) is checked without touching n-sized
    data, at basis sizes extrapolated from the last two checks. When ``m`` would pass ``max_dim``
    (default :func:`lanczos_max_dim`), the basis restarts from the leading ``k + p`` Ritz vectors
    (the block products then go on from the last block). If the basis would fill R^n, ``A`` is
    formed from ``matmat(I)`` and diagonalised instead. Memory: :func:`lanczos_memory`. Returns
    ``(w (k,), v (n, k))``, descending, as tensors on ``device``; ``dtype`` default float64.
    """
    dtype = torch.float64 if dtype is None else dtype
    k = int(k)
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, n={n}], got {k}")
    if torch.device(device).type != "cpu":
        return _lanczos(matmat, n, k, dtype, device, tol, block, max_dim, seed)
    # On the CPU the GEMMs run in NumPy's BLAS (:func:`_mm`); PyTorch keeps only the small QR
    # and eigh steps, single-threaded: its idle OpenMP threads would otherwise spin against the
    # BLAS threads (measured 4x slower on a loaded 2-core host).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _lanczos(matmat, n, k, dtype, device, tol, block, max_dim, seed)
    finally:
        torch.set_num_threads(threads)


def _lanczos(matmat, n, k, dtype, device, tol, block, max_dim, seed):
    """The body of :func:`lanczos_eigsh` (same arguments)."""
    p = min(int(block or lanczos_block_size(k)), n)
    m_max = max(int(max_dim or lanczos_max_dim(n, k, p)), k + 2 * p)
    if m_max + p >= n:  # the basis would fill the space: diagonalise A itself
        a = torch.empty(n, n, dtype=dtype, device=device)
        for j in range(0, n, p):  # A (I[:, j:j + p]), one block at a time
            e = torch.zeros(n, min(p, n - j), dtype=dtype, device=device)
            e[j:j + p] = torch.eye(e.shape[1], dtype=dtype, device=device)
            a[:, j:j + p] = matmat(e)
        theta, s = torch.linalg.eigh(0.5 * (a + a.T))
        return theta.flip(0)[:k], s.flip(1)[:, :k]
    gen = torch.Generator(device=device).manual_seed(seed)
    v = torch.empty(n, m_max + p, dtype=dtype, device=device)
    h = torch.zeros(m_max, m_max, dtype=dtype, device=device)
    v[:, :p] = torch.linalg.qr(torch.randn(n, p, generator=gen, dtype=dtype, device=device))[0]
    m, scale = 0, 0.0          # basis vectors multiplied by A so far; scale ~ |A|
    checks, next_check, restarts = [], max(3 * k, k + 2 * p), 0
    while True:
        # one block step: W = A V_j, orthogonalised against V[:, :m + p]
        basis = v[:, :m + p]
        w = matmat(v[:, m:m + p])
        w, coef = _orthogonalise(w, basis, max(0, m - p))
        h[:m + p, m:m + p] = coef
        h[m:m + p, :m] = coef[:m].T
        h[m:m + p, m:m + p] = 0.5 * (coef[m:] + coef[m:].T)
        m += p
        scale = max(scale, float(torch.linalg.matrix_norm(h[m - p:m, m - p:m], ord=2)))
        q, r = _next_block(w, v[:, :m], scale, gen)
        v[:, m:m + p] = q
        if m < next_check and m + p <= m_max:
            continue
        theta, s = torch.linalg.eigh(h[:m, :m])
        theta, s = theta.flip(0), s.flip(1)
        res = torch.linalg.vector_norm(r @ s[m - p:m, :k], dim=0)
        worst = float(res.max()) / max(float(theta.abs().max()), 1e-300)
        if worst <= tol:
            return theta[:k], _mm(v[:, :m], s[:, :k])
        checks.append((m, worst))
        next_check = _next_check(checks, tol, p)
        if m + p > m_max:  # thick restart from the leading Ritz vectors
            restarts += 1
            if restarts * m_max > 50 * n:
                raise RuntimeError(f"lanczos_eigsh: {k} pairs not within tol={tol} after "
                                   f"{restarts} restarts (worst residual {worst:.1e})")
            keep = min(k + p, m - p)
            v[:, :keep] = _mm(v[:, :m], s[:, :keep])
            v[:, keep:keep + p] = q  # its couplings to the Ritz vectors come with its product
            h.zero_()
            h[:keep, :keep] = torch.diag(theta[:keep])
            m, checks, next_check = keep, [], min(m_max, keep + max(2 * p, 2 * k))


def _orthogonalise(w, basis, local):
    """Project ``w`` off ``basis``: ``(w', coef)`` with ``w = w' + basis @ coef``.

    First off ``basis[:, local:]`` (the last two blocks, where the three-term recurrence puts
    nearly all of ``A V_j``), then off the whole basis, and once more for the columns that
    this pass shrank below 0.7 of their norm (Daniel-Gragg-Kaufman-Stewart: what remains is
    then orthogonal to rounding).
    """
    coef = torch.zeros(basis.shape[1], w.shape[1], dtype=w.dtype, device=w.device)
    c = _mm(basis[:, local:].T, w)
    w = w - _mm(basis[:, local:], c)  # a new tensor: matmat's output may alias its input
    coef[local:] = c
    for _ in range(2):
        before = torch.linalg.vector_norm(w, dim=0)
        c = _mm(basis.T, w)
        w -= _mm(basis, c)
        coef += c
        if bool((torch.linalg.vector_norm(w, dim=0) >= 0.7 * before).all()):
            break
    return w, coef


def _next_check(checks, tol, p):
    """Basis size at which to look again: extrapolate log(residual) linearly in the basis size
    from the last two checks (at least one block, at most half the basis further on)."""
    m, res = checks[-1]
    if len(checks) < 2 or not checks[-2][1] > res > 0:
        return m + max(p, m // 4)
    m0, res0 = checks[-2]
    slope = (math.log(res0) - math.log(res)) / (m - m0)
    ahead = math.log(res / tol) / slope
    return m + int(min(max(ahead, p), max(p, m // 2)))


def _next_block(w, basis, scale, gen):
    """QR of the orthogonalised block ``w`` = ``q r``, with ``q`` orthogonal to ``basis``.

    Where ``|r_ii| < 1e-4 scale`` (a column that nearly lay in the basis), the rounding left in
    ``w`` is magnified in ``q``: ``q`` goes through one more projection and QR (``r`` picks up
    the new triangle, so ``w = q r`` holds to rounding). A column of ``q`` that lay in the basis
    (an invariant subspace was found: the Krylov space closes) becomes a random direction with
    a zero row of ``r``: no coupling, a fresh start for the rest of the space.
    """
    q, r = torch.linalg.qr(w)
    if float(torch.diagonal(r).abs().min()) >= 1e-4 * scale:
        return q, r
    q = q - _mm(basis, _mm(basis.T, q))
    bad = torch.linalg.vector_norm(q, dim=0) < 1e-3
    if bool(bad.any()):
        z = torch.randn(q.shape[0], int(bad.sum()), generator=gen, dtype=q.dtype,
                        device=q.device)
        for _ in range(2):
            z = z - _mm(basis, _mm(basis.T, z))
        q[:, bad] = z
        r[bad] = 0.0
    q, r2 = torch.linalg.qr(q)
    return q, r2 @ r


def fix_signs(v) -> None:
    """Flip columns of ``v`` (n, k) in place so that each column's largest-magnitude entry is
    > 0. ``v``: a NumPy array or a tensor on any device (the same code: a zero-copy view),
    256 columns at a time (no full-size temporary)."""
    t = torch.from_numpy(v) if isinstance(v, np.ndarray) else v
    for c0 in range(0, t.shape[1], 256):
        blk = t[:, c0:c0 + 256]
        s = torch.sign(blk.gather(0, blk.abs().argmax(dim=0, keepdim=True)))
        s[s == 0] = 1.0
        blk.mul_(s)


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
