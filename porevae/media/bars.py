"""The one table of bars by which porevae judges generated media against a reference medium
(issues 10, 25 and 26): the rock demo (:mod:`porevae.vae.demo`), the reconstruction study
(:mod:`porevae.studies.reconstruction`) and the model cards use it, and nothing else defines a
tolerance.

Each bar compares the mean of a statistic over the generated samples, m, with its mean over the
reference (the whole medium, or crops of it), r:

- ``"abs"`` bars on the difference m - r (porosity +-0.01, connected fraction +-0.05);
- ``"rel"`` bars on (m - r) / |r| (specific surface and mean chords +-5 %, Euler density
  +-20 %);
- radial S2 (:data:`S2_BAR`): the mean over lags 0..32 of |S2_m(r) - S2_ref(r)| <= 0.005;
- flow (:data:`FLOW_BARS`, issue 26; judged when a comparison computes them, for they cost
  Stokes and diffusion solves: :func:`porevae.media.report.flow_statistics`): permeability
  along each axis and TauFactor's tortuosity factor +-15 %, isolated pore fraction +-0.01.

A comparison of a few small volumes is noisy: :func:`verdict` says "yes" or "no" only when the
difference is beyond twice its standard error from the bar, and "noise" otherwise (the sample is
too small to tell).
"""

from __future__ import annotations

import math

import numpy as np

#: statistic (a key of :func:`porevae.media.scalar_statistics`) -> ("abs" | "rel", tolerance).
BARS = {"porosity": ("abs", 0.01), "specific_surface": ("rel", 0.05),
        "mean_pore_chord": ("rel", 0.05), "mean_solid_chord": ("rel", 0.05),
        "euler_density": ("rel", 0.20), "connected_fraction": ("abs", 0.05)}
#: flow statistic (a key of :func:`porevae.media.report.flow_statistics`) -> bar, as above.
FLOW_BARS = {"permeability_x": ("rel", 0.15), "permeability_y": ("rel", 0.15),
             "permeability_z": ("rel", 0.15), "tortuosity_factor": ("rel", 0.15),
             "isolated_fraction": ("abs", 0.01)}
_ALL = {**BARS, **FLOW_BARS}
#: Radial S2 up to lag ``S2_BAR[0]`` (voxels): mean absolute difference <= ``S2_BAR[1]``.
S2_BAR = (32, 0.005)
#: Standard errors between a difference and its bar for :func:`verdict` to decide.
Z = 2.0


def difference(statistic: str, mean: float, reference: float) -> float:
    """m - r (an "abs" bar) or (m - r) / |r| (a "rel" bar) for ``statistic`` of :data:`BARS`
    or :data:`FLOW_BARS`."""
    kind, _ = _ALL[statistic]
    return mean - reference if kind == "abs" else (mean - reference) / abs(reference)


def standard_error(statistic: str, model, reference) -> float:
    """Standard error of :func:`difference` from the per-volume values ``model`` and
    ``reference`` (1-D arrays; one value stands for a whole medium, which adds no sampling
    noise), on the bar's scale (divided by |mean of reference| for a "rel" bar).

    Under the hypothesis the bar tests -- generated volumes vary like volumes of the rock -- both
    sides share one per-volume standard deviation s; the larger of the two sample estimates
    (ddof 1) is taken, so that a handful of samples whose values happen to agree cannot make
    the spread look small: ``se = s sqrt(1 / n_model + 1 / n_reference)`` (the reference term
    dropped for a whole medium).
    """
    m, r = np.asarray(model, float), np.asarray(reference, float)
    s = max([float(v.std(ddof=1)) for v in (m, r) if v.size > 1], default=0.0)
    se = s * math.sqrt(1.0 / m.size + (1.0 / r.size if r.size > 1 else 0.0))
    kind, _ = _ALL[statistic]
    return se if kind == "abs" else se / abs(float(r.mean()))


def verdict(diff: float, tolerance: float, se: float = 0.0) -> str:
    """"yes" when ``|diff| + Z se <= tolerance``, "no" when ``|diff| - Z se > tolerance``,
    "noise" otherwise (the bar lies within the difference's spread)."""
    if abs(diff) + Z * se <= tolerance:
        return "yes"
    if abs(diff) - Z * se > tolerance:
        return "no"
    return "noise"


def describe(statistic: str) -> str:
    """The bar as text: "±0.01" or "±5%"."""
    kind, tol = _ALL[statistic]
    return f"±{tol:g}" if kind == "abs" else f"±{tol:.0%}"


def judge(statistic: str, model, reference) -> dict:
    """One row: per-volume values ``model`` and ``reference`` (sequences; one value for a whole
    medium) -> ``{"statistic", "kind", "bar", "reference", "mean", "diff", "se", "met",
    "verdict"}``; ``met``: the mean difference meets the bar; ``verdict``: :func:`verdict`."""
    kind, tol = _ALL[statistic]
    m, r = np.asarray(model, float), np.asarray(reference, float)
    diff = difference(statistic, float(m.mean()), float(r.mean()))
    se = standard_error(statistic, m, r)
    return {"statistic": statistic, "kind": kind, "bar": tol, "reference": float(r.mean()),
            "mean": float(m.mean()), "diff": float(diff), "se": se,
            "met": bool(abs(diff) <= tol), "verdict": verdict(diff, tol, se)}


def judge_s2(model_curves, reference_curves) -> dict:
    """The radial S2 bar from per-volume curves ``(n, k)`` (lags 0..k - 1, k - 1 <=
    ``S2_BAR[0]``): ``{"mad", "se", "bar", "met", "verdict"}``. ``mad``: mean over lags of
    |mean model curve - mean reference curve|; ``se``: the mean over lags of the standard error
    of that difference (per lag as :func:`standard_error`). Noise only inflates ``mad``, so
    "yes" when ``mad <= bar``, "no" when ``mad - Z se > bar``, "noise" otherwise."""
    m, r = np.atleast_2d(np.asarray(model_curves, float)), \
        np.atleast_2d(np.asarray(reference_curves, float))
    mad = float(np.mean(np.abs(m.mean(0) - r.mean(0))))
    s = np.max([c.std(0, ddof=1) for c in (m, r) if len(c) > 1] or [np.zeros(m.shape[1])], 0)
    se = float(np.mean(s) * math.sqrt(1.0 / len(m) + (1.0 / len(r) if len(r) > 1 else 0.0)))
    bar = S2_BAR[1]
    out = "yes" if mad <= bar else "no" if mad - Z * se > bar else "noise"
    return {"mad": mad, "se": se, "bar": bar, "met": bool(mad <= bar), "verdict": out}
