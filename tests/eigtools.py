"""Shared checks of eigen-solvers against a dense float64 LAPACK reference."""

import numpy as np
import scipy.linalg


def dense_reference(grid, model):
    """``(C, w, V)``: the cell-centre covariance and its eigenpairs, descending (NumPy LAPACK)."""
    pts = grid.cell_centers()
    c = model(pts[:, None, :] - pts[None, :, :])
    w, v = np.linalg.eigh(c)
    return c, w[::-1], v[:, ::-1]


def subspace_angle(v, vref, w_ref, k, accuracy=1e-14):
    """Largest principal angle between the leading-k subspaces, over its allowance (pass: < 1).

    The cut moves down to a gap ``g >= 1e-9 w_1`` so that the subspace is well defined. A solver
    whose pairs are accurate to ``accuracy * w_1`` (rounding for LAPACK, the residual tolerance
    of an iterative solver) resolves it only to about ``accuracy * w_1 / g``; the allowance is
    ``max(1e-7, 100 accuracy w_1 / g)``.
    """
    m = k
    while 1 < m < len(w_ref) and abs(w_ref[m - 1] - w_ref[m]) < 1e-9 * w_ref[0]:
        m -= 1
    gap = abs(w_ref[m - 1] - w_ref[m]) if m < len(w_ref) else np.inf
    angle = np.max(scipy.linalg.subspace_angles(v[:, :m], vref[:, :m]))
    return angle / max(1e-7, 100 * accuracy * w_ref[0] / gap)


def assert_eigenpairs(w, v, c, w_ref, v_ref, k):
    """The leading ``k`` pairs ``(w (k,), v (n, k))`` of ``c`` against the dense LAPACK
    reference: eigenvalues to 1e-10 relative, orthonormal vectors, the subspace (to residual /
    gap), residuals relative to the largest eigenvalue, and the sign convention."""
    assert w.shape == (k,) and v.shape == (c.shape[0], k)
    assert w.dtype == v.dtype == np.float64
    np.testing.assert_allclose(w, w_ref[:k], rtol=1e-10, atol=1e-12 * w_ref[0])
    np.testing.assert_allclose(v.T @ v, np.eye(k), atol=1e-10)
    # residual-converged iterative solvers (tol 1e-12 theta_1) resolve the subspace to
    # residual / gap
    assert subspace_angle(v, v_ref, w_ref, k, accuracy=1e-12) < 1
    assert np.max(np.abs(c @ v - v * w)) < 1e-10 * w_ref[0]
    idx = np.argmax(np.abs(v), axis=0)
    assert np.all(v[idx, np.arange(k)] > 0)  # signs fixed
