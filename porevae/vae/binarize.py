"""Binary media from the pore probabilities a Bernoulli decoder returns."""

from __future__ import annotations

import torch

from porevae._validation import check_choice

CUT_RULES = ("half", "mean")


def cut_probabilities(prob: torch.Tensor, rule: str = "mean") -> torch.Tensor:
    """Binary samples (bool, 1 = pore) from decoded pore probabilities ``prob`` (n, ...).

    ``rule="half"``: pore where ``p >= 1/2``, the most probable phase voxel by voxel. A decoder
    that blurs the interfaces (every short training run) leaves the minority phase below 1/2
    nearly everywhere, so this cut loses porosity (0.19 for a medium of 0.40, bench/RESULTS.md).
    ``rule="mean"``: volume-preserving cut, per sample: the ``round(mean(p) * size)`` voxels of
    highest ``p`` are pore (ties by position), so each sample's porosity is the model's own
    expected porosity ``mean(p)``; the training porosity is never used.
    """
    check_choice(rule, "rule", CUT_RULES)
    if rule == "half":
        return prob >= 0.5
    flat = prob.reshape(prob.shape[0], -1)
    n_pore = torch.round(flat.double().mean(dim=1) * flat.shape[1]).long()
    order = torch.argsort(flat, dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(flat.shape[1], device=flat.device).expand_as(order))
    return (ranks < n_pore[:, None]).reshape(prob.shape)
