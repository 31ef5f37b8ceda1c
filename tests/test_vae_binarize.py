"""Binary media from decoded pore probabilities (porevae.vae.cut_probabilities)."""

import numpy as np
import pytest
import torch

from porevae.vae import cut_probabilities


def test_mean_cut_keeps_the_expected_porosity_and_the_order(rng):
    prob = torch.from_numpy(rng.beta(2.0, 3.0, size=(5, 17, 19, 6)))  # blurry: mostly < 1/2
    cut = cut_probabilities(prob, "mean")
    assert cut.dtype == torch.bool and cut.shape == prob.shape
    flat_p, flat_c = prob.reshape(5, -1), cut.reshape(5, -1)
    n_pore = flat_c.sum(1)
    assert torch.equal(n_pore, torch.round(flat_p.mean(1) * flat_p.shape[1]).long())
    for p_row, c_row in zip(flat_p, flat_c):  # every pore voxel is at least as likely as a solid
        assert p_row[c_row].min() >= p_row[~c_row].max()
    half = cut_probabilities(prob, "half")
    assert torch.equal(half, prob >= 0.5) and half.sum() < cut.sum()


def test_mean_cut_ties_and_bad_rule():
    prob = torch.full((2, 4, 4), 0.25)  # all equal: the first round(0.25 * 16) = 4 by position
    cut = cut_probabilities(prob, "mean")
    assert cut.sum().item() == 8 and cut.reshape(2, -1)[:, :4].all()
    with pytest.raises(ValueError, match="rule must be one of"):
        cut_probabilities(prob, "otsu")


def test_porosity_cut_is_exact_and_numpy_in_numpy_out(rng):
    prob = rng.random((3, 7, 9, 5)).astype(np.float32)
    prob[0, :3] = 0.5  # ties
    cut = cut_probabilities(prob, "mean", porosity=0.23)
    assert isinstance(cut, np.ndarray) and cut.dtype == bool
    want = round(0.23 * prob[0].size)
    assert (cut.reshape(3, -1).sum(1) == want).all()
    for p_row, c_row in zip(prob.reshape(3, -1), cut.reshape(3, -1)):
        assert p_row[c_row].min() >= p_row[~c_row].max()
    with pytest.raises(ValueError, match="porosity needs rule='mean'"):
        cut_probabilities(prob, "half", porosity=0.2)
    with pytest.raises(ValueError, match=r"porosity must be in \(0, 1\)"):
        cut_probabilities(prob, porosity=1.0)


def test_sample_cut_draws_bernoulli(rng):
    prob = torch.full((1, 200, 200), 0.3, dtype=torch.float64)
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    cut = cut_probabilities(prob, "sample", generator=gen)
    assert cut.dtype == torch.bool and abs(cut.double().mean().item() - 0.3) < 0.01
