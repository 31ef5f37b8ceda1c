"""Synthetic binary media (1/True = pore) on 2D and 3D voxel grids; lengths are in voxels.

* :func:`thresholded_gaussian` -- a stationary Gaussian field on a periodic box (FFT spectral
  sampler, :func:`gaussian_field`) cut at the normal quantile of the target porosity, so that every
  voxel is pore with probability ``porosity`` exactly and ``E[porosity] = porosity``. Per-axis
  correlation lengths give anisotropic media.
* :func:`thresholded_kle` -- the same cut applied to realizations of a :class:`porevae.KLE`.
* :func:`layered` -- stacked layers of different porosity cut from one (usually anisotropic) field.
* :func:`overlapping_spheres` -- the Boolean model: solid balls (disks in 2D) with Poisson centres
  of intensity ``rho`` chosen from ``porosity = exp(-rho E[V])``; :func:`boolean_s2` is its
  two-point correlation in closed form.

Every generator takes ``seed`` (anything :func:`numpy.random.default_rng` accepts, including a
``Generator``) and returns a bool array of the requested ``shape`` with axes (x, y[, z]).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
import scipy.fft
import scipy.special

from porevae._threads import start_numba_threads
from porevae._validation import check_positive_finite
from porevae.covariance import MODELS, model_class
from porevae.media._checks import as3d, check_axis, check_fraction, check_shape

start_numba_threads()

#: ``"gaussian"``: the squared exponential of :data:`porevae.covariance.MODELS` (its default
#: convention, ``exp(-h**2)``); every other model is named as in the registry
ALIASES = {"gaussian": "squared_exponential"}


def _model(covariance):
    """The unit-length correlation model of a ``covariance`` name (the registry's names, with
    their defaults, or an alias of :data:`ALIASES`)."""
    if not isinstance(covariance, str):
        raise TypeError(f"covariance must be a name, got {type(covariance).__name__}")
    try:
        return model_class(ALIASES.get(covariance, covariance))(1.0)
    except ValueError:
        raise ValueError(f"covariance must be one of {', '.join((*ALIASES, *MODELS))}, got "
                         f"{covariance!r}") from None


def _lengths(correlation_length, ndim) -> np.ndarray:
    ls = np.atleast_1d(np.asarray(correlation_length, dtype=float))
    if ls.ndim != 1 or ls.size not in (1, ndim):
        raise ValueError(f"correlation_length must be a scalar or {ndim} values (one per axis), "
                         f"got {np.asarray(correlation_length).tolist()}")
    check_positive_finite(ls, "correlation_length")
    return np.broadcast_to(ls, (ndim,))


def _spectrum(shape, correlation_length, covariance) -> np.ndarray:
    """Half-spectrum (rfftn layout) of the circulant covariance, clipped at 0, unit variance."""
    shape = check_shape(shape)
    ls = _lengths(correlation_length, len(shape))
    model = _model(covariance)
    h2 = np.zeros(shape)
    for a, (n, length) in enumerate(zip(shape, ls)):
        k = np.arange(n)
        d = np.minimum(k, n - k) / length  # periodic (minimum-image) lag, scaled
        h2 = h2 + (d**2).reshape([-1 if b == a else 1 for b in range(len(shape))])
    cov = model.correlation(np.sqrt(h2))
    # the circulant embedding's spectrum may dip below 0: clip it
    lam = np.maximum(scipy.fft.rfftn(cov, workers=-1).real, 0.0)
    return lam / scipy.fft.irfftn(lam, s=shape, workers=-1).flat[0]


def field_correlation(shape, correlation_length, covariance="gaussian") -> np.ndarray:
    """Exact correlation of :func:`gaussian_field` samples at every periodic lag.

    Returns an array of ``shape``: entry ``[i, j(, k)]`` is ``corr(Y(x), Y(x + (i, j, k)))`` with
    lags taken modulo the box (so ``[n - i]`` equals ``[i]``); entry 0 is 1. It is the requested
    covariance on the periodic box, up to the clipping of negative circulant eigenvalues.
    """
    return scipy.fft.irfftn(_spectrum(shape, correlation_length, covariance), s=check_shape(shape))


def gaussian_field(shape, correlation_length, covariance="gaussian", seed=None) -> np.ndarray:
    """Sample a zero-mean, unit-variance stationary Gaussian field on a periodic box.

    Parameters
    ----------
    shape : tuple of 2 or 3 int
        Grid size in voxels, axes (x, y[, z]).
    correlation_length : float or sequence of float
        ``l`` in voxels (> 0), scalar or one per axis (anisotropy). With the scaled lag
        ``h = sqrt(sum_a (d_a / l_a)**2)`` the covariance is ``rho(h)`` of the model named
        ``covariance``: ``exp(-h**2)`` for ``"gaussian"`` (the ``SquaredExponential`` of
        :mod:`porevae.covariance`, its default convention), ``exp(-h)`` for ``"exponential"``,
        any model of :data:`porevae.covariance.MODELS` with its defaults, with lags ``d_a``
        wrapped around the periodic box.
    covariance : str
        ``"gaussian"`` (:data:`ALIASES`) or a name of :data:`porevae.covariance.MODELS`.
    seed : int, Generator or None

    Returns
    -------
    (``shape``) float64 array whose covariance is exactly :func:`field_correlation`.

    Notes
    -----
    Spectral (circulant) sampling: ``Y = irfft(sqrt(lambda) * rfft(W))`` with white noise ``W`` and
    ``lambda`` the FFT of the periodic covariance; cost O(N log N). For the field to look like the
    non-periodic model keep the box several correlation lengths wide.
    """
    shape = check_shape(shape)
    lam = _spectrum(shape, correlation_length, covariance)
    noise = np.random.default_rng(seed).standard_normal(shape)
    return scipy.fft.irfftn(np.sqrt(lam) * scipy.fft.rfftn(noise, workers=-1), s=shape, workers=-1)


def thresholded_gaussian(shape, porosity, correlation_length, covariance="gaussian",
                         seed=None) -> np.ndarray:
    """Binary medium ``Y <= Phi^{-1}(porosity)`` from :func:`gaussian_field` (True = pore).

    Each voxel is pore with probability ``porosity`` (in (0, 1)), so the expected porosity is
    the target; the realised porosity fluctuates with the number of correlation volumes in the
    box. The two-point correlation is the bivariate normal orthant probability
    ``S2(d) = P(Y(0) <= t, Y(d) <= t)`` with the correlation of :func:`field_correlation`.
    Per-axis ``correlation_length`` gives an anisotropic medium. Returns a bool array.
    """
    phi = check_fraction(porosity, "porosity")
    field = gaussian_field(shape, correlation_length, covariance, seed)
    return field <= scipy.special.ndtri(phi)


def thresholded_kle(kle, porosity, n=1, seed=None) -> np.ndarray:
    """Binary media cut from realizations of a :class:`porevae.KLE` Gaussian field (True = pore).

    Each realization ``Y = kle.sample(n, seed)`` is cut at ``mean + s(x) Phi^{-1}(porosity)``
    with ``s(x)**2 = sum_k lambda_k phi_k(x)**2`` the pointwise variance of the truncated
    expansion, so every cell is pore with probability ``porosity`` exactly (truncation lowers
    the variance, differently in each cell). Returns a bool array (n, *kle.grid.shape); a 2D or
    3D grid gives images with axes (x, y[, z]).
    """
    phi = check_fraction(porosity, "porosity")
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    vec = np.asarray(kle.eigenvectors, dtype=np.float64)
    var = kle.grid.unflatten((vec**2) @ np.asarray(kle.eigenvalues, dtype=np.float64))
    cut = kle.mean + np.sqrt(var) * scipy.special.ndtri(phi)
    y = np.asarray(kle.sample(n, seed=seed), dtype=np.float64)
    return y <= cut


def layered(shape, porosities, correlation_length, axis=-1, thicknesses=None,
            covariance="gaussian", seed=None) -> np.ndarray:
    """Stack of layers along ``axis``, layer ``k`` with expected porosity ``porosities[k]``.

    One Gaussian field (:func:`gaussian_field`, usually with a shorter ``correlation_length``
    along ``axis`` than across it) is cut in each layer at that layer's normal quantile.

    Parameters
    ----------
    porosities : sequence of float in (0, 1)
        One value per layer, from the start of ``axis``.
    thicknesses : sequence of int, optional
        Layer thicknesses in voxels (positive, summing to ``shape[axis]``); default: as equal as
        possible.
    """
    shape = check_shape(shape)
    axis = check_axis(axis, len(shape))
    phis = [check_fraction(p, f"porosities[{i}]") for i, p in enumerate(np.atleast_1d(porosities))]
    n = shape[axis]
    if thicknesses is None:
        if len(phis) > n:
            raise ValueError(f"{len(phis)} layers do not fit in shape[{axis}] = {n} voxels")
        thick = [len(part) for part in np.array_split(np.arange(n), len(phis))]
    else:
        thick = [int(t) for t in np.atleast_1d(thicknesses)]
        if len(thick) != len(phis) or min(thick) < 1 or sum(thick) != n:
            raise ValueError(f"thicknesses must be {len(phis)} positive integers summing to "
                             f"shape[{axis}] = {n}, got {list(np.atleast_1d(thicknesses))}")
    thresholds = np.repeat(scipy.special.ndtri(phis), thick)
    field = gaussian_field(shape, correlation_length, covariance, seed)
    return field <= thresholds.reshape([-1 if b == axis else 1 for b in range(len(shape))])


def _ball_volume(r, ndim):
    return math.pi * r**2 if ndim == 2 else 4.0 / 3.0 * math.pi * r**3


def _radius_law(radius, ndim):
    """(draw(rng, n) -> radii, mean ball volume, largest radius that matters)."""
    if hasattr(radius, "rvs") and hasattr(radius, "moment"):  # a frozen scipy.stats distribution
        def draw(rng, n):
            r = np.asarray(radius.rvs(size=n, random_state=rng), dtype=float)
            if n and not np.all(r > 0):
                raise ValueError("radius distribution produced non-positive radii; use one "
                                 "supported on (0, inf)")
            return r
        mean_vol = _ball_volume(1.0, ndim) * float(radius.moment(ndim))
        r_ext = float(radius.ppf(1.0 - 1e-9))
        if not (np.isfinite(mean_vol) and mean_vol > 0 and np.isfinite(r_ext)):
            raise ValueError(f"radius distribution needs a finite positive moment {ndim} and "
                             f"finite quantiles, got mean volume {mean_vol} and r_max {r_ext}")
        return draw, mean_vol, r_ext
    radii = np.atleast_1d(np.asarray(radius, dtype=float))
    if radii.ndim != 1 or radii.size == 0:
        raise ValueError(f"radius must be a number, a 1-D sample of radii or a frozen "
                         f"scipy.stats distribution, got {radius!r}")
    check_positive_finite(radii, "radius")
    if radii.size == 1:
        return (lambda rng, n: np.full(n, radii[0])), _ball_volume(radii[0], ndim), radii[0]
    return ((lambda rng, n: rng.choice(radii, size=n)),
            float(np.mean(_ball_volume(radii, ndim))), float(radii.max()))


def boolean_intensity(porosity, radius, ndim=3) -> float:
    """Poisson intensity ``rho`` (centres per voxel volume) with ``exp(-rho E[V]) = porosity``.

    ``radius`` as in :func:`overlapping_spheres`; ``V`` is the ball (``ndim=3``) or disk volume.
    """
    phi = check_fraction(porosity, "porosity")
    if ndim not in (2, 3):
        raise ValueError(f"ndim must be 2 or 3, got {ndim!r}")
    return -math.log(phi) / _radius_law(radius, ndim)[1]


def boolean_s2(r, porosity, radius, ndim=3) -> np.ndarray:
    """Closed-form two-point correlation of the Boolean model with one fixed ``radius``.

    ``S2(r) = exp(-rho (2V - V_cap(r))) = porosity**2 * exp(rho V_cap(r))``: both points are pore
    when no centre falls in the union of the two balls of radius ``R`` around them; ``V_cap`` is
    the lens (intersection) volume, ``pi (4R + r)(2R - r)**2 / 12`` in 3D and
    ``2R**2 acos(r / 2R) - (r / 2) sqrt(4R**2 - r**2)`` in 2D, zero for ``r >= 2R``.
    ``r`` in voxels (array-like, >= 0); returns float64 of the same shape.
    """
    check_positive_finite(radius, "radius")
    R = float(radius)
    rho = boolean_intensity(porosity, R, ndim)
    r = np.minimum(np.abs(np.asarray(r, dtype=float)), 2.0 * R)
    if ndim == 3:
        cap = math.pi * (4.0 * R + r) * (2.0 * R - r) ** 2 / 12.0
    else:
        cap = 2.0 * R**2 * np.arccos(r / (2.0 * R)) - 0.5 * r * np.sqrt(4.0 * R**2 - r**2)
    return np.exp(-rho * (2.0 * _ball_volume(R, ndim) - cap))


@nb.njit(parallel=True, cache=True)
def _carve_balls(img, centres, radii, periodic):
    """Set ``img`` False at voxels ``x`` with ``|x - c| <= r`` for each centre/radius.

    img: (nx, ny, nz) bool; centres: (n, 3) float64 voxel coordinates; radii: (n,) float64;
    periodic: (3,) bool, wrap that axis instead of clipping. Writes of False commute, so the
    parallel loop over balls needs no locking.
    """
    nx, ny, nz = img.shape
    for s in nb.prange(centres.shape[0]):
        cx, cy, cz, r = centres[s, 0], centres[s, 1], centres[s, 2], radii[s]
        x0, x1 = math.ceil(cx - r), math.floor(cx + r)
        if not periodic[0]:
            x0, x1 = max(x0, 0), min(x1, nx - 1)
        for x in range(x0, x1 + 1):
            rem = r * r - (x - cx) ** 2
            if rem < 0.0:
                continue
            h = math.sqrt(rem)
            y0, y1 = math.ceil(cy - h), math.floor(cy + h)
            if not periodic[1]:
                y0, y1 = max(y0, 0), min(y1, ny - 1)
            for y in range(y0, y1 + 1):
                rem2 = rem - (y - cy) ** 2
                if rem2 < 0.0:
                    continue
                h2 = math.sqrt(rem2)
                z0, z1 = math.ceil(cz - h2), math.floor(cz + h2)
                if not periodic[2]:
                    z0, z1 = max(z0, 0), min(z1, nz - 1)
                for z in range(z0, z1 + 1):
                    img[x % nx, y % ny, z % nz] = False


def overlapping_spheres(shape, porosity, radius, periodic=True, seed=None) -> np.ndarray:
    """Boolean model of overlapping solid spheres (disks in 2D); the pore space is their complement.

    Parameters
    ----------
    shape : tuple of 2 or 3 int
        Voxel grid (x, y[, z]); voxel ``i`` is the point ``i`` (voxel centres at integers).
    porosity : float in (0, 1)
        Target: each voxel is pore with probability ``exp(-rho E[V])`` = ``porosity`` exactly.
    radius : float, 1-D array or frozen scipy.stats distribution
        Solid radius in voxels (> 0): fixed, drawn uniformly from the given sample, or drawn from
        the distribution (which needs ``rvs``, ``moment`` and ``ppf``; balls reaching in from
        beyond its 1 - 1e-9 quantile are ignored in the non-periodic case).
    periodic : bool
        True: centres uniform on the periodic box and balls wrap around. False: centres in the box
        grown by the largest radius, balls clipped at the faces (no edge bias either way).

    Returns
    -------
    bool array of ``shape``. The centres are continuous (not snapped to voxels), so porosity and
    two-point correlation at integer lags match the continuum closed forms (:func:`boolean_s2`).
    """
    shape = check_shape(shape)
    phi = check_fraction(porosity, "porosity")
    ndim = len(shape)
    draw, mean_vol, r_ext = _radius_law(radius, ndim)
    rng = np.random.default_rng(seed)
    rho = -math.log(phi) / mean_vol
    n = np.asarray(shape, dtype=float)
    lo, width = (np.zeros(ndim), n) if periodic else (np.full(ndim, -r_ext), n - 1 + 2 * r_ext)
    count = rng.poisson(rho * float(np.prod(width)))
    centres = np.zeros((count, 3))
    centres[:, :ndim] = lo + width * rng.random((count, ndim))
    radii = draw(rng, count)
    img = np.ones(shape, dtype=bool)
    wrap = np.array([bool(periodic)] * ndim + [False] * (3 - ndim))
    _carve_balls(as3d(img), centres, radii, wrap)
    return img
