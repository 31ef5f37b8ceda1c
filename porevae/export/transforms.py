"""Property transforms: Gaussian field -> permeability, porosity, bounds and anisotropy.

The KLE gives a Gaussian field ``Y`` with mean ``mu`` and variance ``sigma^2`` (``kle.mean``,
``kle.cov.variance``); ``Z = (Y - mu) / sigma`` is its standard normal version. Units:
permeability in millidarcy (mD, 1 mD = 9.869233e-16 m^2), porosity as a fraction.

Log-normal permeability
    - ``"exp"``: ``K = exp(Y)`` (the raw field is ``ln K``; docs/formulas.md).
    - ``"geometric"``: ``K = K_g * exp(s * Z)`` with geometric mean (= median) ``K_g`` [mD] and
      log-standard deviation ``s`` (of ``ln K``).
    - ``"arithmetic"``: ``K`` has arithmetic mean ``m`` [mD] and standard deviation ``sd`` [mD]:
      ``s^2 = ln(1 + sd^2 / m^2)``, ``mu_ln = ln m - s^2 / 2``, ``K = exp(mu_ln + s * Z)``.
    - ``"gaussian"``: no transform, ``Y`` is written as it is (e.g. for a ``FIELD`` in ERT).

Porosity from permeability
    - Kozeny-Carman: ``K = C * phi^3 / (1 - phi)^2`` with ``C`` in mD (for grains of diameter
      ``d`` [m], ``C = d^2 / 180 / 9.869233e-16``); inverted for ``phi`` in (0, 1) by bisection
      (the right side increases monotonically from 0 to infinity on (0, 1)).
    - Power law: ``phi = a * K^b`` (``K`` in mD, ``a`` > 0, ``b`` > 0 given).

Bounds and anisotropy
    Truncation ``clip(x, low, high)`` (either bound optional) after each transform;
    ``PERMY = (ky/kx) * PERMX`` and ``PERMZ = (kv/kh) * PERMX`` for given ratios.

:class:`Transform` bundles these into one JSON-serialisable recipe (kept in ensemble manifests)
that maps a Gaussian field to ``{"PERMX": ..., "PERMY": ..., "PERMZ": ..., "PORO": ...}``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from porevae._validation import check_choice, check_real

MD_M2 = 9.869233e-16  # one millidarcy in m^2
PERM_MODES = ("exp", "geometric", "arithmetic", "gaussian")
PORO_MODES = (None, "kozeny-carman", "power-law")
DEFAULT_PERM_MEAN = 100.0  # mD: geometric / arithmetic mean when none is given
DEFAULT_PERM_STD = 1.0


def _positive(value, name) -> float:
    """A finite number > 0 (:func:`porevae._validation.check_real`)."""
    return check_real(value, name, 0.0, low_open=True)


def standardize(y, mean: float, variance: float) -> np.ndarray:
    """``Z = (Y - mean) / sqrt(variance)``: the standard normal version of a Gaussian field."""
    return (np.asarray(y, dtype=np.float64) - mean) / math.sqrt(_positive(variance, "variance"))


def lognormal_geometric(z, geometric_mean: float, log_std: float) -> np.ndarray:
    """``K = K_g exp(s Z)``: median/geometric mean ``K_g`` [mD], log-std ``s`` [-]."""
    kg = _positive(geometric_mean, "geometric_mean")
    check_real(log_std, "log_std", 0.0)
    return kg * np.exp(log_std * np.asarray(z, dtype=np.float64))


def lognormal_arithmetic(z, mean: float, std: float) -> np.ndarray:
    """``K`` with arithmetic mean ``m`` and std ``sd`` [mD] from a standard normal ``Z``.

    ``s^2 = ln(1 + sd^2/m^2)``, ``K = exp(ln m - s^2/2 + s Z)``, so ``E[K] = m``, ``sd(K) = sd``.
    """
    m = _positive(mean, "mean")
    check_real(std, "std", 0.0)
    s2 = math.log1p((std / m) ** 2)
    return np.exp(math.log(m) - 0.5 * s2 + math.sqrt(s2) * np.asarray(z, dtype=np.float64))


def porosity_kozeny_carman(k, constant: float) -> np.ndarray:
    """Porosity ``phi`` in (0, 1) with ``k = C phi^3 / (1 - phi)^2`` (``k``, ``C`` in mD).

    Solved by 100 bisection steps on ``ln(phi^3/(1-phi)^2) = ln(k/C)`` (monotone in ``phi``):
    the result is exact to the last bits of float64. ``k`` must be > 0.
    """
    c = _positive(constant, "constant")
    k = np.asarray(k, dtype=np.float64)
    if np.any(~(k > 0)):
        raise ValueError("Kozeny-Carman porosity needs permeability > 0 everywhere")
    target = np.log(k / c)
    lo, hi = np.zeros_like(k), np.ones_like(k)
    with np.errstate(divide="ignore"):
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            above = 3 * np.log(mid) - 2 * np.log1p(-mid) > target
            hi = np.where(above, mid, hi)
            lo = np.where(above, lo, mid)
    return 0.5 * (lo + hi)


def porosity_power_law(k, a: float, b: float) -> np.ndarray:
    """Porosity ``phi = a k^b`` (``k`` in mD, ``a``, ``b`` > 0)."""
    a, b = _positive(a, "a"), _positive(b, "b")
    k = np.asarray(k, dtype=np.float64)
    if np.any(k < 0):
        raise ValueError("power-law porosity needs permeability >= 0")
    return a * k**b


def truncate(x, low: float | None = None, high: float | None = None) -> np.ndarray:
    """``clip(x, low, high)``; a bound of None is not applied."""
    if low is not None and high is not None and low > high:
        raise ValueError(f"lower bound {low} is above upper bound {high}")
    return np.clip(np.asarray(x, dtype=np.float64), low, high)


def anisotropy(permx, ratio: float) -> np.ndarray:
    """``ratio * PERMX`` (e.g. ``PERMZ`` for a vertical-to-horizontal ratio ``kv/kh``)."""
    return _positive(ratio, "ratio") * np.asarray(permx, dtype=np.float64)


@dataclass(frozen=True)
class Transform:
    """Recipe from a Gaussian KLE field to simulator keywords (JSON-serialisable).

    Parameters
    ----------
    perm : {"exp", "geometric", "arithmetic", "gaussian"}
        Log-normal mapping (see the module docstring); ``"gaussian"`` writes ``Y`` unchanged.
    perm_mean : float, optional
        ``K_g`` for ``"geometric"``, ``m`` for ``"arithmetic"`` [mD] (default 100 mD for these);
        refused with ``"exp"`` and ``"gaussian"``, which take no mean.
    perm_std : float, optional
        Log-std ``s`` for ``"geometric"``, std ``sd`` [mD] for ``"arithmetic"`` (default 1);
        refused with ``"exp"`` and ``"gaussian"``.
    perm_bounds : (low, high)
        Truncation of the permeability [mD]; None for no bound.
    keyword : str
        Name of the main field (``"PERMX"``; e.g. ``"LOGPERM"`` with ``"gaussian"``).
    ky_kx, kv_kh : float, optional
        Add ``PERMY = ky_kx * PERMX`` and ``PERMZ = kv_kh * PERMX``.
    poro : {None, "kozeny-carman", "power-law"}
        Add ``PORO`` from the (truncated) permeability.
    poro_params : dict
        ``{"constant": C}`` [mD] for Kozeny-Carman, ``{"a": a, "b": b}`` for the power law.
    poro_bounds : (low, high)
        Truncation of the porosity (fraction).
    """

    perm: str = "exp"
    perm_mean: float | None = None
    perm_std: float | None = None
    perm_bounds: tuple = (None, None)
    keyword: str = "PERMX"
    ky_kx: float | None = None
    kv_kh: float | None = None
    poro: str | None = None
    poro_params: dict = field(default_factory=dict)
    poro_bounds: tuple = (None, None)

    def __post_init__(self):
        check_choice(self.perm, "perm", PERM_MODES)
        check_choice(self.poro, "poro", PORO_MODES)
        if self.perm in ("exp", "gaussian"):
            given = [n for n in ("perm_mean", "perm_std") if getattr(self, n) is not None]
            if given:
                raise ValueError(f"{' and '.join(given)} set, but perm={self.perm!r} takes none "
                                 f"(K = exp(Y) or Y itself): use perm='geometric' (median "
                                 f"perm_mean [mD], log-std perm_std) or 'arithmetic'")
        else:  # record the values used, so that a manifest describes what was done
            if self.perm_mean is None:
                object.__setattr__(self, "perm_mean", DEFAULT_PERM_MEAN)
            if self.perm_std is None:
                object.__setattr__(self, "perm_std", DEFAULT_PERM_STD)
            _positive(self.perm_mean, "perm_mean")
            check_real(self.perm_std, "perm_std", 0.0)
        object.__setattr__(self, "perm_bounds", tuple(self.perm_bounds))
        object.__setattr__(self, "poro_bounds", tuple(self.poro_bounds))
        object.__setattr__(self, "poro_params", dict(self.poro_params))
        for bounds in (self.perm_bounds, self.poro_bounds):
            if len(bounds) != 2:
                raise ValueError(f"bounds must be (low, high), got {bounds!r}")
        if self.perm == "gaussian" and (self.ky_kx or self.kv_kh or self.poro):
            raise ValueError("perm='gaussian' writes the Gaussian field only: no anisotropy "
                             "ratios or porosity")
        if self.poro is None and self.poro_bounds != (None, None):
            raise ValueError("poro_bounds set without poro: there is no porosity to truncate")
        needed = {"kozeny-carman": {"constant"}, "power-law": {"a", "b"}}.get(self.poro, set())
        if set(self.poro_params) != needed:
            raise ValueError(f"poro={self.poro!r} takes poro_params with keys {sorted(needed)}, "
                             f"got {sorted(self.poro_params)}")

    def to_dict(self) -> dict:
        return asdict(self) | {"perm_bounds": list(self.perm_bounds),
                               "poro_bounds": list(self.poro_bounds)}

    @classmethod
    def from_dict(cls, d: dict) -> Transform:
        return cls(**d)

    @property
    def keywords(self) -> list[str]:
        """The keywords :meth:`apply` returns, in its order."""
        if self.perm == "gaussian":
            return [self.keyword]
        return [self.keyword] + ["PERMY"] * (self.ky_kx is not None) + \
            ["PERMZ"] * (self.kv_kh is not None) + ["PORO"] * (self.poro is not None)

    def apply(self, y, mean: float = 0.0, variance: float = 1.0) -> dict[str, np.ndarray]:
        """``{keyword: array}`` from a Gaussian field ``y`` of mean ``mean``, variance ``variance``.

        ``y`` has any shape (one field or a batch); float64 arrays of the same shape come back.
        """
        y = np.asarray(y, dtype=np.float64)
        if self.perm == "gaussian":
            return {self.keyword: truncate(y, *self.perm_bounds)}
        if self.perm == "exp":
            k = np.exp(y)
        elif self.perm == "geometric":
            k = lognormal_geometric(standardize(y, mean, variance), self.perm_mean, self.perm_std)
        else:
            k = lognormal_arithmetic(standardize(y, mean, variance), self.perm_mean,
                                     self.perm_std)
        k = truncate(k, *self.perm_bounds)
        out = {self.keyword: k}
        if self.ky_kx is not None:
            out["PERMY"] = anisotropy(k, self.ky_kx)
        if self.kv_kh is not None:
            out["PERMZ"] = anisotropy(k, self.kv_kh)
        if self.poro == "kozeny-carman":
            phi = porosity_kozeny_carman(k, self.poro_params["constant"])
        elif self.poro == "power-law":
            phi = porosity_power_law(k, self.poro_params["a"], self.poro_params["b"])
        if self.poro is not None:
            out["PORO"] = truncate(phi, *self.poro_bounds)
        return out

    def apply_kle(self, y, kle) -> dict[str, np.ndarray]:
        """:meth:`apply` with the KLE's mean and variance (``kle.mean``, ``kle.cov.variance``)."""
        return self.apply(y, kle.mean, kle.cov.variance)

    def field_from_perm(self, k, mean: float = 0.0, variance: float = 1.0) -> np.ndarray:
        """The Gaussian field value ``y`` that :meth:`apply` maps to permeability ``k`` [mD]
        (any shape; float64 of that shape): the inverse of the log-normal map, with
        ``sigma = sqrt(variance)``:

        - ``"exp"``: ``y = ln k``;
        - ``"geometric"``: ``y = mean + sigma ln(k / K_g) / s``;
        - ``"arithmetic"``: ``y = mean + sigma (ln k - mu_ln) / s``, ``s^2 = ln(1 + sd^2/m^2)``,
          ``mu_ln = ln m - s^2 / 2``.

        Refused: ``perm="gaussian"`` (no permeability), a log-std of 0 (every ``y`` gives the
        same ``k``), and ``k`` not > 0 or outside ``perm_bounds`` (values the truncated field
        never takes; a bound itself is allowed).
        """
        k = np.asarray(k, dtype=np.float64)
        if self.perm == "gaussian":
            raise ValueError("perm='gaussian' writes the Gaussian field: there is no "
                             "permeability to map back (give the data as field values)")
        low, high = self.perm_bounds
        bad = ~(k > 0) | ~np.isfinite(k) | (low is not None and k < low) | \
            (high is not None and k > high)
        if np.any(bad):
            raise ValueError(f"permeability {float(k[bad].flat[0]):g} mD is not one the "
                             f"transform gives: it must be finite, > 0 and within perm_bounds "
                             f"{list(self.perm_bounds)}")
        if self.perm == "exp":
            return np.log(k)
        if self.perm == "geometric":
            s, ln_mid = self.perm_std, math.log(self.perm_mean)
        else:
            s2 = math.log1p((self.perm_std / self.perm_mean) ** 2)
            s, ln_mid = math.sqrt(s2), math.log(self.perm_mean) - 0.5 * s2
        if s == 0:
            raise ValueError(f"perm_std = 0: every field value gives {self.perm_mean:g} mD, so "
                             f"permeability data cannot be mapped back")
        return mean + math.sqrt(_positive(variance, "variance")) * (np.log(k) - ln_mid) / s
