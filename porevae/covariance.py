"""Stationary covariance models of Gaussian random fields.

A model is ``C(h) = variance * rho(r)`` with ``h`` the offset between two points (length units of
the grid) and ``r`` the dimensionless scaled distance

* ``metric="euclidean"`` (default): ``r = sqrt(sum_a (h_a / l_a)**2)``
* ``metric="l1"``: ``r = sum_a |h_a| / l_a``

where ``h_a`` are the offset's components along the model's principal axes and ``l_a`` the length
scale of axis ``a`` (a scalar ``length_scale`` is isotropic). The principal axes are the grid
axes, or rotated by ``azimuth`` / ``dip`` / ``rake`` (:meth:`CovarianceModel.rotation`). All models
depend on ``|h_a|`` only, so they are symmetric under each axis reflection (the ``parity`` solver
uses this). A model is *separable* when ``C(h) = variance * prod_a rho(|h_a| / l_a)``: the squared
exponential with the Euclidean metric and the exponential with the L1 metric (``kron`` solver).
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import math

import numpy as np

from porevae._validation import check_choice, check_positive_finite

METRICS = ("euclidean", "l1")


class KernelCode(enum.IntEnum):
    """Closed forms the compiled kernels know, on the scaled distance ``r`` (``p`` is
    :attr:`CovarianceModel.kernel_param`, ``s = sqrt(2 nu) r``).

    The one list of codes: the Numba kernels (``porevae.ops.covariance.formula``) and the CUDA
    kernels (``csrc/ops/cuda/kernel_codes.h``, checked against this enum by a test) switch on these
    values, and every backend raises on a code it does not know.
    """

    EXPONENTIAL = 0          #: exp(-r)
    SQUARED_EXPONENTIAL = 1  #: exp(-p r^2)
    MATERN32 = 2             #: (1 + s) exp(-s), s = sqrt(3) r
    MATERN52 = 3             #: (1 + s + s^2/3) exp(-s), s = sqrt(5) r


@dataclasses.dataclass(frozen=True)
class Parameter:
    """An extra parameter of a covariance model (beyond length scale, variance, metric and
    orientation): its one-line ``help``, its ``type`` and its allowed ``choices`` (None: any value
    the class accepts). Its default is the one of the class's ``__init__`` signature
    (:meth:`CovarianceModel.defaults`): the CLI (``porevae kle --nu``) builds its flags, help and
    defaults from these."""

    help: str
    type: type = float
    choices: tuple | None = None


def _namespace(r):
    """``(module, r)``: torch for a torch tensor (formulas then run on its device), else NumPy
    with ``r`` as a float64 array."""
    if type(r).__module__.startswith("torch"):
        import torch

        return torch, r
    return np, np.asarray(r, dtype=float)


class CovarianceModel:
    """Base class. Subclasses define :meth:`correlation` (``rho`` of the scaled distance).

    Parameters
    ----------
    length_scale : float or sequence of float
        Correlation length ``l`` (> 0, finite), scalar or one per axis, in grid length units.
        The only positional parameter of every model; the others are keyword-only, so that
        ``Matern(0.1)`` means a length scale of 0.1 in every model.
    variance : float
        Point variance ``sigma**2`` (> 0, finite).
    metric : {"euclidean", "l1"}
        How per-axis scaled offsets combine into ``r``.
    azimuth, dip, rake : float, degrees, optional
        Orientation of the principal axes of an anisotropic model, the geologists' convention
        (:meth:`rotation`): ``azimuth`` is the bearing of the first principal axis (the one of
        ``length_scale[0]``), clockwise from north (+y); ``dip`` tilts it down, ``rake`` turns
        the other two about it (3-D). Default: no rotation, the principal axes are the grid
        axes (then ``length_scale[0]`` is along x). ``dip`` and ``rake`` need an ``azimuth``.
        A scalar (isotropic) length scale ignores them: no rotation changes it.
    """

    #: name used in files and the CLI (the CLI hyphenates it: ``squared-exponential``)
    name = "base"
    #: ``rho(r)`` in words, for the CLI's help of ``--cov``
    formula = ""
    #: extra keyword parameters ``{name: Parameter}``: kept as attributes of the same name,
    #: written to files (:meth:`to_dict`), and offered by the CLI as ``--name``
    parameters: dict = {}
    #: closed form the compiled kernels know (None: only the offset-table and reference paths,
    #: which evaluate :meth:`correlation` itself)
    kernel_code: KernelCode | None = None

    def __init__(self, length_scale=1.0, *, variance=1.0, metric="euclidean", azimuth=None,
                 dip=0.0, rake=0.0):
        ls = np.atleast_1d(np.asarray(length_scale, dtype=float))
        if ls.ndim != 1 or not 1 <= ls.size <= 3:
            raise ValueError(f"length_scale must be a scalar or 1 to 3 values (one per axis), got "
                             f"{np.asarray(length_scale).tolist()}")
        check_positive_finite(ls, "length_scale")
        check_positive_finite(variance, "variance")
        self.length_scale = float(ls[0]) if ls.size == 1 and np.ndim(length_scale) == 0 \
            else tuple(float(v) for v in ls)
        self.variance = float(variance)
        self.metric = check_choice(metric, "metric", METRICS)
        for name, value, low, high in (("azimuth", azimuth, -360.0, 360.0),
                                       ("dip", dip, -90.0, 90.0), ("rake", rake, -90.0, 90.0)):
            if value is None:
                continue
            v = float(value) if isinstance(value, (int, float, np.number)) else math.nan
            if not (math.isfinite(v) and low <= v <= high):
                raise ValueError(f"{name} must be in [{low:g}, {high:g}] degrees, got {value!r}")
        if azimuth is None and (dip or rake):
            raise ValueError(f"dip and rake orient the first principal axis: give its azimuth "
                             f"too (got dip={dip}, rake={rake})")
        if ls.size == 2 and (dip or rake):
            raise ValueError(f"a 2-D model has an azimuth only, got dip={dip}, rake={rake}")
        if ls.size == 1:
            azimuth = None  # no rotation changes an isotropic model
        self.azimuth = None if azimuth is None else float(azimuth)
        self.dip = float(dip) if azimuth is not None else 0.0
        self.rake = float(rake) if azimuth is not None else 0.0

    # ---- the formula -------------------------------------------------------------------------
    def correlation(self, r):
        """``rho(r)`` for scaled distances ``r >= 0``: a NumPy array (float64) or a torch tensor
        (same dtype and device). A new model defines this one formula; ``kernel_code`` (compiled
        speed) is optional."""
        raise NotImplementedError

    @property
    def kernel_param(self) -> float:
        """Extra scalar for the compiled kernels (the squared exponential's ``r**2`` factor)."""
        return 0.0

    # ---- geometry ----------------------------------------------------------------------------
    def length_scales(self, ndim: int) -> np.ndarray:
        """Per-axis length scales for a ``ndim``-dimensional domain, shape ``(ndim,)``."""
        if isinstance(self.length_scale, float):
            return np.full(ndim, self.length_scale)
        if len(self.length_scale) != ndim:
            raise ValueError(f"length_scale has {len(self.length_scale)} values but the points "
                             f"have {ndim} axes")
        return np.asarray(self.length_scale)

    @property
    def rotated(self) -> bool:
        """True when the principal axes are oriented by ``azimuth`` (not the grid axes)."""
        return self.azimuth is not None

    def rotation(self, ndim: int) -> np.ndarray:
        """Principal axes as the columns of a rotation matrix ``P`` (ndim, ndim).

        Not rotated: the identity. Rotated: the first axis points at ``azimuth`` degrees
        clockwise from north (+y) in the x-y plane, tilted ``dip`` degrees below it (towards
        -z); ``rake`` turns the other two about it. As intrinsic rotations: ``P = Rz(90 -
        azimuth) Ry(dip) Rx(rake)`` (standard right-handed matrices). GSTools takes ``angles``
        in another convention (extrinsic, radians): :meth:`gstools_angles` converts, and a test
        checks the two covariances agree. A principal-axis offset is ``P^T h``.
        """
        self.length_scales(ndim)
        if ndim == 1 or self.azimuth is None:
            return np.eye(ndim)
        t = math.radians(90.0 - self.azimuth)
        ct, st = math.cos(t), math.sin(t)
        rz = np.array([[ct, -st, 0.0], [st, ct, 0.0], [0.0, 0.0, 1.0]])
        if ndim == 2:
            return rz[:2, :2]
        b, g = math.radians(self.dip), math.radians(self.rake)
        ry = np.array([[math.cos(b), 0.0, math.sin(b)], [0.0, 1.0, 0.0],
                       [-math.sin(b), 0.0, math.cos(b)]])
        rx = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(g), -math.sin(g)],
                       [0.0, math.sin(g), math.cos(g)]])
        return rz @ ry @ rx

    def gstools_angles(self, ndim: int) -> list:
        """The ``angles`` (radians) of a GSTools model with the same principal axes.

        GSTools rotates by ``Rx(c) Ry(b) Rz(a)`` (extrinsic z, y, x), ``angles = (a, b, c)``;
        this decomposes :meth:`rotation` so.
        """
        p = self.rotation(ndim)
        if ndim == 2:
            return [math.atan2(p[1, 0], p[0, 0])]
        if ndim == 1:
            return []
        b = math.asin(max(-1.0, min(1.0, p[0, 2])))
        return [math.atan2(-p[0, 1], p[0, 0]), b, math.atan2(-p[1, 2], p[2, 2])]

    def scaled_distance(self, offsets: np.ndarray) -> np.ndarray:
        """``r`` for offsets of shape ``(..., ndim)`` -> shape ``(...)``."""
        offsets = np.asarray(offsets, dtype=float)
        ndim = offsets.shape[-1]
        if self.rotated:
            offsets = offsets @ self.rotation(ndim)  # components along the principal axes
        s = np.abs(offsets) / self.length_scales(ndim)
        return np.sqrt(np.sum(s * s, axis=-1)) if self.metric == "euclidean" else s.sum(axis=-1)

    def __call__(self, offsets: np.ndarray) -> np.ndarray:
        """Covariance ``C(h)`` for offsets of shape ``(..., ndim)``."""
        return self.variance * self.correlation(self.scaled_distance(offsets))

    @property
    def separable(self) -> bool:
        """True when ``C(h) = variance * prod_a rho(|h_a| / l_a)`` in the grid axes (the
        ``kron`` solver applies): a separable form, not rotated."""
        return False

    @property
    def reflection_symmetric(self) -> bool:
        """True when ``C`` is unchanged by reflecting any one grid axis (``C(h) = C(|h_x|, |h_y|,
        |h_z|)``): the grid offset table and the ``parity`` solver rely on it. A rotated model
        is symmetric only under ``h -> -h``."""
        return not self.rotated

    def is_isotropic(self, ndim: int) -> bool:
        ls = self.length_scales(ndim)
        return bool(np.all(ls == ls[0]))

    # ---- persistence -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        ls = self.length_scale
        rot = {"azimuth": self.azimuth, "dip": self.dip, "rake": self.rake} if self.rotated \
            else {}
        return {"model": self.name, "length_scale": list(ls) if isinstance(ls, tuple) else ls,
                "variance": self.variance, "metric": self.metric, **rot, **self._extra()}

    def _extra(self) -> dict:
        return {name: getattr(self, name) for name in self.parameters}

    @classmethod
    def defaults(cls) -> dict:
        """``{name: default}`` of the extra :attr:`parameters`, from the ``__init__`` signature."""
        sig = inspect.signature(cls.__init__).parameters
        return {name: sig[name].default for name in cls.parameters}

    def __repr__(self):
        rot = {"azimuth": self.azimuth, "dip": self.dip, "rake": self.rake} if self.rotated \
            else {}
        extra = "".join(f", {k}={v!r}" for k, v in {**rot, **self._extra()}.items())
        return (f"{type(self).__name__}(length_scale={self.length_scale!r}, "
                f"variance={self.variance!r}, metric={self.metric!r}{extra})")

    def __eq__(self, other):
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    def __hash__(self):
        return hash(repr(self))


class Exponential(CovarianceModel):
    r"""Exponential covariance ``C(h) = sigma^2 exp(-r)``, ``r = |h| / l``.

    Rough (non-differentiable) fields; the Matérn model with ``nu = 1/2``. Its KLE spectrum decays
    slowly (``lambda_k ~ k**(-(1 + 1/d))``): thousands of terms for 90 % energy in 2D.
    With ``metric="l1"`` it is separable.
    """

    name = "exponential"
    formula = "exp(-r)"
    kernel_code = KernelCode.EXPONENTIAL

    def correlation(self, r):
        xp, r = _namespace(r)
        return xp.exp(-r)

    @property
    def separable(self):
        return self.metric == "l1" and not self.rotated


class SquaredExponential(CovarianceModel):
    r"""Squared-exponential (Gaussian) covariance.

    * ``convention="porevae"`` (default): ``C(h) = sigma^2 exp(-r^2)``, ``r = |h| / l``
    * ``convention="sklearn"``: ``C(h) = sigma^2 exp(-r^2 / 2)`` (scikit-learn's RBF, GSTools'
      ``Gaussian`` with ``rescale``)

    Infinitely smooth fields; the spectrum decays super-exponentially (about a hundred terms for
    98 % energy in 2D at ``l = 0.1`` on the unit square). Separable with the Euclidean metric.
    """

    name = "squared_exponential"
    formula = "exp(-r^2) (convention porevae) or exp(-r^2/2) (sklearn)"
    kernel_code = KernelCode.SQUARED_EXPONENTIAL
    CONVENTIONS = ("porevae", "sklearn")
    parameters = {"convention": Parameter(
        "porevae: exp(-r^2/l^2); sklearn: exp(-r^2/(2 l^2))", str, CONVENTIONS)}

    def __init__(self, length_scale=1.0, *, variance=1.0, metric="euclidean",
                 convention="porevae", **orientation):
        super().__init__(length_scale, variance=variance, metric=metric, **orientation)
        self.convention = check_choice(convention, "convention", self.CONVENTIONS)

    @property
    def kernel_param(self):
        return 1.0 if self.convention == "porevae" else 0.5

    def correlation(self, r):
        xp, r = _namespace(r)
        return xp.exp(-self.kernel_param * r * r)

    @property
    def separable(self):
        return self.metric == "euclidean" and not self.rotated


class Matern(CovarianceModel):
    r"""Matérn covariance

    ``C(h) = sigma^2 2^(1-nu) / Gamma(nu) (sqrt(2 nu) r)^nu K_nu(sqrt(2 nu) r)``, ``r = |h| / l``.

    ``nu = 1/2`` is the exponential, ``nu -> inf`` the squared exponential (sklearn convention).
    ``nu`` in {0.5, 1.5, 2.5} uses the closed forms (``exp(-s)``, ``(1 + s) exp(-s)``,
    ``(1 + s + s^2/3) exp(-s)`` with ``s = sqrt(2 nu) r``); any other ``nu > 0`` uses
    :func:`scipy.special.kv`.
    """

    name = "matern"
    formula = "Matern(nu) of r"
    parameters = {"nu": Parameter("Matern smoothness nu > 0 (0.5 is the exponential)")}

    def __init__(self, length_scale=1.0, *, nu=1.5, variance=1.0, metric="euclidean",
                 **orientation):
        super().__init__(length_scale, variance=variance, metric=metric, **orientation)
        check_positive_finite(nu, "nu")
        self.nu = float(nu)

    @property
    def kernel_code(self):
        return {0.5: KernelCode.EXPONENTIAL, 1.5: KernelCode.MATERN32,
                2.5: KernelCode.MATERN52}.get(self.nu)

    def correlation(self, r):
        xp, r = _namespace(r)
        s = math.sqrt(2.0 * self.nu) * r
        if self.nu == 0.5:
            return xp.exp(-s)
        if self.nu == 1.5:
            return (1.0 + s) * xp.exp(-s)
        if self.nu == 2.5:
            return (1.0 + s + s * s / 3.0) * xp.exp(-s)
        if xp is not np:  # no Bessel K_nu in torch: evaluate on the host, back to r's device
            vals = self.correlation(r.detach().cpu().double().numpy())
            return xp.from_numpy(np.ascontiguousarray(vals)).to(device=r.device, dtype=r.dtype)
        import scipy.special  # here: `porevae --help` reads MODELS without SciPy's 0.3 s import

        with np.errstate(invalid="ignore", over="ignore"):
            out = (2.0 ** (1.0 - self.nu) / math.gamma(self.nu)) * s**self.nu \
                * scipy.special.kv(self.nu, s)
        return np.where(s > 0, out, 1.0)

    @property
    def separable(self):
        return self.nu == 0.5 and self.metric == "l1" and not self.rotated


#: the registry of models, the one list every caller reads (the CLI's ``--cov`` choices and
#: extra flags, the studies, the synthetic media, the file format): a new model is one class
#: here, added to this dict
MODELS = {cls.name: cls for cls in (Exponential, SquaredExponential, Matern)}


def model_class(name: str) -> type:
    """The class of ``MODELS`` named ``name`` (``"squared-exponential"`` or
    ``"squared_exponential"``); ``ValueError`` naming the known models otherwise."""
    key = str(name).replace("-", "_")
    if key not in MODELS:
        raise ValueError(f"unknown covariance model {name!r}; known: "
                         f"{', '.join(sorted(MODELS))}")
    return MODELS[key]


def model_from_dict(d: dict) -> CovarianceModel:
    """Inverse of :meth:`CovarianceModel.to_dict`."""
    d = dict(d)
    return model_class(d.pop("model"))(**d)
