"""Binary media from the pore probabilities a Bernoulli decoder returns."""

from __future__ import annotations

import numpy as np
import torch

from porevae._validation import check_choice
from porevae.vae.config import CUT_RULES


def exact_cut(prob: np.ndarray, n_pore: int) -> np.ndarray:
    """Bool array like ``prob`` (any shape) with exactly ``n_pore`` pore voxels: those of
    highest probability, ties broken by position (C order). One float32 copy of ``prob``
    (np.partition) besides the output; no sort."""
    flat = np.ascontiguousarray(prob, dtype=np.float32).reshape(-1)
    size = flat.size
    if not 0 <= n_pore <= size:
        raise ValueError(f"n_pore must be in [0, {size}], got {n_pore}")
    if n_pore == 0:
        return np.zeros(prob.shape, dtype=bool)
    if n_pore == size:
        return np.ones(prob.shape, dtype=bool)
    t = np.partition(flat, size - n_pore)[size - n_pore]  # n_pore-th largest value
    out = flat > t
    missing = n_pore - int(np.count_nonzero(out))
    if missing:
        out[np.flatnonzero(flat == t)[:missing]] = True
    return out.reshape(prob.shape)


#: Fraction of the pore voxels of the connected cut that seed it (its most probable voxels).
SEED_FRACTION = 0.7
#: The cuts that make an exact number of pore voxels (``porosity`` applies to them).
EXACT_CUTS = ("connected", "data", "mean")


def cut_bytes(rule: str, voxels: int, porosity: float | None = None) -> int:
    """Bytes that cutting one sample of ``voxels`` by ``rule`` needs besides its float32
    probabilities and the output (a bound): the exact cuts' float32 partition copy (4 per
    voxel); the connected cut instead its rank key and temporaries (9), its union-find (8) and
    the sorted candidates (26 per candidate, up to 2.5 x porosity of the voxels; ``porosity``
    None: 0.5).
    """
    if rule != "connected":
        return 4 * voxels
    share = min(1.0, 2.5 * (0.5 if porosity is None else porosity))
    return int(voxels * (17 + 26 * share))


def connected_cut(prob: np.ndarray, n_pore: int, seed_fraction: float = SEED_FRACTION
                  ) -> np.ndarray:
    """Bool array like ``prob`` (1-, 2- or 3-D, values in [0, 1]) with exactly ``n_pore`` pore
    voxels, grown from the most probable ones through face-connected voxels (hysteresis
    thresholding at an exact count).

    Voxels are ranked by decreasing ``p`` read to 2^-16 (the key ``floor(p * 65535)``; ties,
    i.e. values closer than 1.5e-5, by position in C order: the bins of the streamed cut of
    :func:`porevae.vae.generation.generate_volume`); the first ``s = max(1, round(seed_fraction
    * n_pore))`` are seeds. For a rank m, the candidates are the first m voxels and the kept set
    K_m is the union of their face-connected clusters that hold a seed. With m* the least m
    where |K_m| >= n_pore, the result is the first ``n_pore`` voxels of K_m* in rank order. So a
    cluster of voxels above the final threshold that no seed reaches (a speck of moderate
    ``p``: a pore the model is unsure of) stays solid, and its volume goes to the voxels that
    extend the seeded pore space. ``seed_fraction`` 1 is the global threshold (:func:`exact_cut`
    up to the 2^-16 ranking); smaller values remove more of the unsure clusters.
    Cost: a histogram and a radix sort of the 1.25 n_pore most probable voxels, one union-find
    sweep over the ranks past the seeds (Numba, :mod:`porevae.vae._connected_cut`); memory ~ 17
    bytes per voxel and 26 per candidate besides the output (:func:`cut_bytes`).
    """
    from porevae.vae import _connected_cut

    arr = np.asarray(prob, dtype=np.float32)
    size = arr.size
    if not 0 <= n_pore <= size:
        raise ValueError(f"n_pore must be in [0, {size}], got {n_pore}")
    if not 0.0 < seed_fraction <= 1.0:
        raise ValueError(f"seed_fraction must be in (0, 1], got {seed_fraction!r}")
    if arr.ndim not in (1, 2, 3):
        raise ValueError(f"prob must be 1-, 2- or 3-D, got shape {arr.shape}")
    if size >= 2**31 - 1:  # the union-find's int32 indices (and its one extra root)
        raise ValueError(f"prob has {size} voxels; the connected cut takes fewer than 2**31 - 1 "
                         f"(cut='data' takes any size)")
    out = np.zeros(size, dtype=bool)
    if not n_pore:
        return out.reshape(arr.shape)
    key = rank_key(arr).reshape(-1)  # ascending key = decreasing p
    above = np.cumsum(np.bincount(key, minlength=1 << 16))  # voxels with key <= k
    n_seed = max(1, round(seed_fraction * n_pore))
    nx, ny, nz = (1,) * (3 - arr.ndim) + arr.shape
    take = min(size, n_pore + n_pore // 4)  # the rank m* is ~ 1.0-1.1 n_pore on decoded media
    while True:
        # every voxel of the bins that hold the `take` most probable ones, in rank order
        top = np.flatnonzero(key <= np.searchsorted(above, take))
        order = top[np.argsort(key[top], kind="stable")]
        if _connected_cut.sweep(order, nx, ny, nz, n_seed, n_pore, out) or take == size:
            return out.reshape(arr.shape)
        take = min(size, 2 * take)


def rank_key(prob: np.ndarray) -> np.ndarray:
    """uint16 ``65535 - floor(p * 65535)`` (p clipped to [0, 1]): the connected cut's ranking
    key, ascending from the most probable voxel."""
    q = np.clip(np.asarray(prob, dtype=np.float32), 0.0, 1.0) * np.float32(65535)
    return (np.uint16(65535) - q.astype(np.uint16)).astype(np.uint16)


def cut_probabilities(prob, rule: str = "mean", porosity: float | None = None,
                      generator: torch.Generator | None = None):
    """Binary samples (bool, 1 = pore) from decoded pore probabilities ``prob`` (n, ...);
    NumPy in, NumPy out; torch in, torch out (same device).

    ``rule="connected"``: the connected cut (:func:`connected_cut`) of each sample at
    ``porosity`` (required; generation passes the training data's porosity,
    :func:`porevae.vae.generation.resolve_cut`): exactly ``round(porosity * size)`` pore voxels,
    grown from the most probable 70 % of them through face-connected voxels.
    ``rule="data"``: the exact cut at ``porosity`` (required): the ``round(porosity * size)``
    voxels of highest ``p`` of each sample are pore (ties by position), a global threshold.
    ``rule="half"``: pore where ``p >= 1/2``, the most probable phase voxel by voxel. A decoder
    that blurs the interfaces leaves the minority phase below 1/2 nearly everywhere, so this cut
    loses porosity (bench/RESULTS.md).
    ``rule="mean"``: volume-preserving cut, per sample: the ``round(mean(p) * size)`` voxels of
    highest ``p`` are pore (ties by position), so each sample's porosity is the model's own
    expected porosity ``mean(p)``; with ``porosity`` P it is exactly ``round(P * size)`` voxels.
    ``rule="sample"``: an independent Bernoulli(p) draw per voxel (``generator``: a CPU
    torch.Generator).
    ``rule="none"`` is not a cut: it raises here (callers keep the probabilities).
    """
    check_choice(rule, "rule", CUT_RULES)
    if rule == "none":
        raise ValueError("rule='none' keeps the probabilities: there is nothing to cut")
    if rule in ("connected", "data") and porosity is None:
        raise ValueError(f"rule={rule!r} needs porosity (the training data's, in (0, 1))")
    if porosity is not None:
        if rule not in EXACT_CUTS:
            raise ValueError(f"porosity needs rule='connected', 'data' or 'mean', got "
                             f"rule={rule!r}")
        if not 0.0 < float(porosity) < 1.0:
            raise ValueError(f"porosity must be in (0, 1), got {porosity!r}")
    is_torch = isinstance(prob, torch.Tensor)
    if rule == "half":
        return prob >= 0.5
    if rule == "sample":
        p = prob.detach().cpu().double() if is_torch else torch.from_numpy(np.asarray(prob,
                                                                                       float))
        drawn = torch.bernoulli(p.clamp(0, 1), generator=generator).bool()
        return drawn.to(prob.device) if is_torch else drawn.numpy()
    arr = prob.detach().cpu().numpy() if is_torch else np.asarray(prob)
    out = np.empty(arr.shape, dtype=bool)
    for i, p in enumerate(arr):
        frac = float(np.mean(p, dtype=np.float64)) if porosity is None else float(porosity)
        cut = connected_cut if rule == "connected" else exact_cut
        out[i] = cut(p, round(frac * p.size))
    return torch.from_numpy(out).to(prob.device) if is_torch else out
