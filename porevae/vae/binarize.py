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


def cut_probabilities(prob, rule: str = "mean", porosity: float | None = None,
                      generator: torch.Generator | None = None):
    """Binary samples (bool, 1 = pore) from decoded pore probabilities ``prob`` (n, ...);
    NumPy in, NumPy out; torch in, torch out (same device).

    ``rule="data"``: the exact cut at ``porosity`` (required; generation passes the training
    data's porosity, :func:`porevae.vae.generation.resolve_cut`): the ``round(porosity * size)``
    voxels of highest ``p`` of each sample are pore (ties by position).
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
    if rule == "data" and porosity is None:
        raise ValueError("rule='data' needs porosity (the training data's, in (0, 1))")
    if porosity is not None:
        if rule not in ("data", "mean"):
            raise ValueError(f"porosity needs rule='mean' or 'data', got rule={rule!r}")
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
        out[i] = exact_cut(p, round(frac * p.size))
    return torch.from_numpy(out).to(prob.device) if is_torch else out
