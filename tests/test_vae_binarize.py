"""Binary media from decoded pore probabilities (porevae.vae.cut_probabilities)."""

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from porevae.vae import cut_probabilities
from porevae.vae.binarize import connected_cut, exact_cut


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
    with pytest.raises(ValueError, match="porosity needs rule='connected', 'data' or 'mean'"):
        cut_probabilities(prob, "half", porosity=0.2)
    with pytest.raises(ValueError, match=r"porosity must be in \(0, 1\)"):
        cut_probabilities(prob, porosity=1.0)


def test_sample_cut_draws_bernoulli(rng):
    prob = torch.full((1, 200, 200), 0.3, dtype=torch.float64)
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    cut = cut_probabilities(prob, "sample", generator=gen)
    assert cut.dtype == torch.bool and abs(cut.double().mean().item() - 0.3) < 0.01


def connected_cut_reference(p, n_pore, seed_fraction):
    """The connected cut by its definition: ranks by p to 2^-16 (ties by position), bisection
    on the rank m, SciPy's face-adjacency labels of the first m voxels, the clusters holding a
    seed."""
    level = np.floor(p.reshape(-1).astype(np.float32) * np.float32(65535))  # float32, as stated
    order = np.argsort(-level, kind="stable")
    seeds = np.zeros(p.size, bool)
    seeds[order[:max(1, round(seed_fraction * n_pore))]] = True

    def kept(m):
        cand = np.zeros(p.size, bool)
        cand[order[:m]] = True
        labels, _ = ndi.label(cand.reshape(p.shape))
        labels = labels.reshape(-1)
        ids = np.unique(labels[seeds])
        return np.isin(labels, ids[ids > 0])

    lo, hi = n_pore - 1, p.size  # kept(m) grows with m: find the least m with >= n_pore
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if kept(mid).sum() >= n_pore else (mid, hi)
    k = kept(hi)
    out = np.zeros(p.size, bool)
    out[[v for v in order[:hi] if k[v]][:n_pore]] = True
    return out.reshape(p.shape)


@pytest.mark.parametrize("shape", [(40,), (17, 23), (9, 12, 14), (20, 21, 19)])
@pytest.mark.parametrize("fraction", [1.0, 0.5, 0.2, 0.01])
def test_connected_cut_equals_its_definition(rng, shape, fraction):
    p = ndi.gaussian_filter(rng.random(shape), 1.5).astype(np.float32)
    p = np.round(p, 3)  # ties, broken by position
    n_pore = int(0.3 * p.size)
    got = connected_cut(p, n_pore, fraction)
    assert got.dtype == bool and got.shape == p.shape and got.sum() == n_pore
    np.testing.assert_array_equal(got, connected_cut_reference(p, n_pore, fraction))
    if fraction == 1.0:  # every pore voxel a seed: the global threshold
        np.testing.assert_array_equal(got, exact_cut(p, n_pore))


def test_connected_cut_drops_an_unseeded_speck_and_grows_the_seeded_pore():
    p = np.zeros((12, 12, 12), np.float32)
    p[2:6, 2:6, 2:6] = 0.9  # a confident pore of 64 voxels
    p[1, 2:6, 2:6] = 0.3  # its less probable rim
    p[9:11, 9:11, 9:11] = 0.5  # an unsure speck of 8 voxels, apart
    plain = exact_cut(p, 72)
    assert plain[9:11, 9:11, 9:11].all() and not plain[1].any()
    got = connected_cut(p, 72)  # seeds: the 50 most probable voxels, all in the big pore
    assert not got[9:11, 9:11, 9:11].any() and got[2:6, 2:6, 2:6].all()
    assert got[1].sum() == 8 and got.sum() == 72
    assert cut_probabilities(p[None], "connected", porosity=72 / p.size)[0].sum() == 72


def test_connected_cut_refuses_bad_input():
    with pytest.raises(ValueError, match="seed_fraction must be in"):
        connected_cut(np.zeros((4, 4)), 3, 0.0)
    with pytest.raises(ValueError, match="n_pore must be in"):
        connected_cut(np.zeros((4, 4)), 17)
    with pytest.raises(ValueError, match=r"fewer than 2\*\*31 - 1"):  # int32 union-find
        connected_cut(np.broadcast_to(np.float32(0.5), (2**31,)), 10)
    with pytest.raises(ValueError, match="needs porosity"):
        cut_probabilities(np.zeros((1, 4, 4)), "connected")
