"""VAE family: spatial latent shapes, the loss against a hand computation (every term, the
logvar range reaching the op), config validation, any-shape encode / decode."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from porevae.vae import (
    REGISTRY,
    VAE,
    BetaVAE,
    BetaVAEConfig,
    FisherVAE,
    FisherVAEConfig,
    ModelConfig,
    TrainConfig,
    VAEConfig,
    load_config,
)
from porevae.vae.config import CONFIGS, KINDS

TINY = {"size": 16, "depth": 2, "channels": 4, "max_channels": 8, "latent_channels": 3,
        "latent_blocks": 1}


def _seed(rng):
    torch.manual_seed(int(rng.integers(2**31)))


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_shapes_and_differentiable_maps(ndim, likelihood, rng):
    _seed(rng)
    model = BetaVAE(beta=2.0, ndim=ndim, likelihood=likelihood, **TINY)
    shape = (16,) * ndim
    x = torch.from_numpy(rng.random((3, 1, *shape), dtype=np.float32))
    if likelihood == "bernoulli":
        x = x.round()
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (3, 3, *(4,) * ndim)  # (N, C, *shape / 4)
    assert logvar.min() > -6 and logvar.max() < 2
    z = torch.zeros(3, 3, *(4,) * ndim, requires_grad=True)
    y = model.decode(z)
    assert y.shape == (3, 1, *shape)
    if likelihood == "bernoulli":
        assert 0 <= y.min() and y.max() <= 1
    model.log_likelihood(x, z).sum().backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    assert model.sample(4, seed=1).shape == (4, 1, *shape)
    assert torch.equal(model.sample(2, seed=1), model.sample(2, seed=1))
    assert not torch.equal(model.sample(1, seed=1), model.sample(1, seed=2))
    assert model.reconstruct(x).shape == (3, 1, *shape)
    assert model.interpolate(x[0], x[1], steps=5).shape == (5, 1, *shape)
    big = torch.from_numpy(rng.random((1, 1, *(24,) * ndim), dtype=np.float32)).round()
    assert model.encode(big)[0].shape == (1, 3, *(6,) * ndim)  # any multiple of f
    terms = model.loss(x)
    assert set(terms) == {"total", "recon", "kl", "fisher", "s2", "beta_t"}
    assert terms["beta_t"] == 2.0 and terms["total"].ndim == 0 and terms["s2"] == 0
    with pytest.raises(ValueError, match="each divisible by f = 4"):
        model.encode(torch.zeros(1, 1, *(18,) * ndim))


def _hand_terms(model, x, eps, lo=-6.0, hi=2.0):
    c = model.config.latent_channels
    out = model.encoder.body(x)
    mu, raw = out[:, :c], out[:, c:]
    logvar = hi - F.softplus(hi - lo - F.softplus(raw - lo))
    sigma = torch.exp(0.5 * logvar)
    z = mu + sigma * eps
    logits = model.decoder(z)
    recon = (torch.clamp(logits, min=0) - logits * x
             + torch.log1p(torch.exp(-logits.abs()))).flatten(1).sum(1)
    kl = 0.5 * (mu**2 + sigma**2 - 1 - logvar).flatten(1).sum(1)  # sum over latent elements
    fisher = (1 / sigma**2).flatten(1).mean(1)  # mean over latent elements
    return recon, kl, fisher


def test_fisher_vae_loss_matches_hand_computation(rng):
    _seed(rng)
    model = FisherVAE(beta=2.0, gamma=0.3, fisher_target=1.5, warmup=10, ndim=2, s2_weight=0.7,
                      s2_rmax=5, euler_weight=0.2, **TINY)
    model.s2_target.copy_(torch.linspace(0.3, 0.1, 6))
    model.euler_target.fill_(-0.01)
    x = torch.from_numpy(rng.random((4, 1, 16, 16), dtype=np.float32)).round()
    eps = torch.from_numpy(rng.standard_normal((4, 3, 4, 4), dtype=np.float32))
    m = model.config.halo  # prior samples carry generation's latent margin
    prior = torch.from_numpy(rng.standard_normal((2, 3, 4 + 2 * m, 4 + 2 * m), dtype=np.float32))
    step = 4
    got = model.loss(x, step=step, eps=eps, eps_prior=prior)
    with torch.no_grad():
        recon, kl, fisher = _hand_terms(model, x, eps)
        p = torch.sigmoid(model.decoder(prior))[:, 0, 4 * m:4 * m + 16, 4 * m:4 * m + 16]
        s2 = torch.zeros(6)
        for r in range(6):  # S2 along both axes, averaged, by direct sums over pairs
            a = (p[:, r:, :] * p[:, :16 - r, :]).mean((1, 2))
            b = (p[:, :, r:] * p[:, :, :16 - r]).mean((1, 2))
            s2[r] = ((a + b) / 2).mean()
        from porevae.vae.losses import euler_density

        chi = euler_density(p).mean()
        desc = 256 * ((s2 - model.s2_target) ** 2).sum() + 0.2 * 256 * (chi / -0.01 - 1) ** 2
        beta_t = 2.0 * step / 10
        total = (recon.mean() + beta_t * kl.mean() + 0.3 * abs(fisher.mean() - 1.5)
                 + 0.7 * desc)
    assert got["beta_t"] == pytest.approx(beta_t)
    for key, want in (("recon", recon.mean()), ("kl", kl.mean()), ("fisher", fisher.mean()),
                      ("s2", desc), ("total", total)):
        torch.testing.assert_close(got[key].detach(), want, rtol=1e-5, atol=1e-4)
    assert model.beta_at(0) == 0.0 and model.beta_at(10) == model.beta_at(99) == 2.0
    formula = model.loss_formula()
    for piece in ("recon", "beta_t mean_n KL_n", "0.3 |mean_n F_n - 1.5|", "0.7 D",
                  "0.2 V (chi_m / chi_data - 1)^2"):
        assert piece in formula, formula


def test_configured_logvar_range_reaches_the_op(rng):
    """Issue 9 item 1: with logvar_min = -10, logvar values in (-10, -6) keep their gradient
    (the op used to clamp at its default -6)."""
    _seed(rng)
    model = VAE(ndim=2, logvar_min=-10.0, **TINY)
    shape = (2, 3, 4, 4)
    mu = torch.from_numpy(rng.standard_normal(shape, dtype=np.float32))
    logvar = torch.from_numpy(rng.uniform(-9.5, -6.5, shape).astype(np.float32))
    logvar.requires_grad_(True)
    eps = torch.from_numpy(rng.standard_normal(shape, dtype=np.float32))
    z, kl, fisher = model.latent_loss(mu, logvar, eps)
    (kl.sum() + fisher.sum() + z.sum()).backward()
    assert z.shape == shape and (logvar.grad.abs() > 0).all()
    lv = logvar.detach()
    torch.testing.assert_close(kl, 0.5 * (mu**2 + lv.exp() - 1 - lv).flatten(1).sum(1))
    torch.testing.assert_close(z, mu + torch.exp(lv / 2) * eps)
    default = VAE(ndim=2, **TINY)  # range (-6, 2): the same values are clamped, no gradient
    logvar.grad = None
    default.latent_loss(mu, logvar, eps)[1].sum().backward()
    assert (logvar.grad == 0).all()


def test_gaussian_recon_and_mc_fisher_form(rng):
    _seed(rng)
    model = FisherVAE(fisher="mc", likelihood="gaussian", obs_std=0.5, ndim=2, **TINY)
    x = torch.from_numpy(rng.standard_normal((2, 1, 16, 16), dtype=np.float32))
    eps = torch.from_numpy(rng.standard_normal((2, 3, 4, 4), dtype=np.float32))
    terms = model(x, eps)
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * eps
    want = (0.5 * ((x - model.decode_logits(z)) / 0.5) ** 2 + math.log(0.5)).flatten(1).sum(1)
    torch.testing.assert_close(terms["recon"], want, rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(terms["fisher"], (eps**2 / logvar.exp()).flatten(1).mean(1),
                               rtol=1e-5, atol=1e-6)


def test_channels_last_matches_contiguous(rng):
    _seed(rng)
    model = VAE(ndim=3, **TINY)
    x = torch.from_numpy(rng.random((2, 1, 16, 16, 16), dtype=np.float32)).round()
    eps = torch.from_numpy(rng.standard_normal((2, 3, 4, 4, 4), dtype=np.float32))
    a = model(x, eps)["recon"]
    b = model.set_channels_last(True)(x, eps)["recon"]
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-2)


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("blocks", [1, 2])
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
def test_inference_decoder_path_matches_autograd_path(ndim, channels_last, blocks, dtype, tol,
                                                      rng):
    """Without gradients the decoder runs SiLU in place, float32 host convolutions through
    oneDNN directly and its last 1x1 convolution as a GEMM on channels-last maps: the same
    values as the layers applied one by one."""
    _seed(rng)
    model = VAE(ndim=ndim, **{**TINY, "blocks": blocks}).to(dtype)
    model.set_channels_last(channels_last)
    z = torch.from_numpy(rng.standard_normal((2, 3) + (9, 7, 6)[:ndim])).to(dtype)
    with torch.no_grad():
        fast = model.decoder(z)
    plain = model.decoder.body(z.contiguous(memory_format=model.decoder.memory_format))
    assert fast.shape == plain.shape == (2, 1) + (36, 28, 24)[:ndim]
    assert fast.dtype == dtype
    torch.testing.assert_close(fast, plain.detach(), rtol=tol, atol=tol)
    assert plain.requires_grad and not fast.requires_grad


def test_model_classes_defaults_and_from_config():
    assert VAE().config.beta == 1.0 and BetaVAE().config.beta == 4.0
    f = FisherVAE(**TINY, ndim=2)
    assert (f.config.gamma, f.config.fisher_target, f.config.fisher) == (0.1, 5.0, "location")
    assert isinstance(f, BetaVAE) and isinstance(f, VAE)
    g = VAE.from_config(f.config)
    assert type(g) is FisherVAE and g.config == f.config
    for kind, cls, config in (("vae", VAE, VAEConfig), ("beta", BetaVAE, BetaVAEConfig),
                              ("fisher", FisherVAE, FisherVAEConfig)):
        assert REGISTRY[kind] == (cls, config) and CONFIGS[kind] is config
        built = ModelConfig(kind=kind)  # the kind's own defaults, whatever the path
        assert type(built) is config and built == config() == cls().config
        assert type(VAE.from_config(built)) is cls
    assert set(REGISTRY) == set(CONFIGS) == set(KINDS)
    with pytest.raises(ValueError, match=r"kind must be 'fisher' for FisherVAEConfig"):
        FisherVAEConfig(kind="beta")


def test_one_registry_same_defaults_on_every_path(tmp_path):
    """A TOML with kind = "fisher" alone trains the Fisher loss (gamma 0.1) through the API as
    through the CLI (issue 22: the API gave gamma 0)."""
    p = tmp_path / "c.toml"
    p.write_text('[model]\nkind = "fisher"\n[train]\nsteps = 3\n')
    assert load_config(p).model == FisherVAEConfig() and load_config(p).model.gamma == 0.1
    p.write_text('[model]\nkind = "beta"\n')
    assert load_config(p).model.beta == 4.0


def test_latent_size_and_halo():
    cfg = ModelConfig(ndim=2, size=32, depth=3, latent_channels=4, blocks=2, latent_blocks=1)
    assert cfg.factor == 8 and cfg.latent_size == 4 * 4 * 4
    assert cfg.halo == math.ceil(1 + 1 + 2 * (1 / 2 + 1 / 4 + 1 / 8))


@pytest.mark.parametrize("kwargs, message", [
    ({"latent_channels": 0}, r"latent_channels must be in \[1, 512\], got 0"),
    ({"size": 4}, r"size must be in \[8, 256\], got 4"),
    ({"size": 48, "depth": 5}, r"size must be divisible by 2\*\*depth = 32"),
    ({"ndim": 4}, r"ndim must be in \[2, 3\], got 4"),
    ({"likelihood": "poisson"}, r"likelihood must be one of \['bernoulli', 'gaussian'\]"),
    ({"kind": "fisher", "fisher_target": -1.0}, r"fisher_target must be in \(0\.0, inf\]"),
    ({"kind": "fisher", "gamma": float("nan")}, r"gamma must be in \[0\.0, inf\], got nan"),
    ({"kind": "fisher", "obs_std": 0.0}, r"obs_std must be in \(0\.0, inf\], got 0\.0"),
    ({"kind": "vae", "beta": 2.0}, r"beta must be 1 for kind='vae'"),
    ({"depth": 6}, r"depth must be in \[1, 5\], got 6"),
    ({"s2_weight": -1.0}, r"s2_weight must be in \[0\.0, inf\]"),
    ({"size": 16, "s2_weight": 1.0, "s2_rmax": 16}, r"s2_rmax must be in \[1, 15\]"),
    ({"logvar_min": -31.0}, r"logvar_min must be in \[-30\.0, 0\.0\]"),
])
def test_bad_model_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"lr": 0.0}, r"lr must be in \(0\.0, inf\], got 0\.0"),
    ({"batch_size": 0}, r"batch_size must be in \[1, inf\], got 0"),
    ({"prior_batch": -1}, r"prior_batch must be in \[0, inf\], got -1"),
    ({"scheduler": "step"}, r"scheduler must be one of \['cosine', 'none'\]"),
    ({"betas": (0.9, 1.0)}, r"betas must be two numbers in \[0, 1\)"),
    ({"amp": "fp8"}, r"amp must be one of"),
    ({"device": "tpu"}, r"device must be 'auto', 'cpu', 'cuda'"),
])
def test_bad_train_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_toml_config(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[model]\nkind = "fisher"\nndim = 2\nsize = 32\ngamma = 0.2\n'
                 '[train]\nsteps = 7\nlr = 0.01\n')
    cfg = load_config(p, {"train": {"steps": 9}})
    assert cfg.model.gamma == 0.2 and cfg.model.shape == (32, 32)
    assert cfg.train.steps == 9 and cfg.train.lr == 0.01
    p.write_text("[model]\nlatent_dims = 3\n")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['latent_dims'\]"):
        load_config(p)
    assert math.isclose(TrainConfig().lr, 1e-3)


def test_gaussian_standardisation_and_optimal_noise(rng):
    """A Gaussian model works on (x - mean) / std of its data and decodes back to the data's
    units; with obs_std None, sigma is the batch's RMS standardised residual, so the batch-mean
    recon is V (1/2 + log sigma) (float64 reference)."""
    _seed(rng)
    model = VAE(likelihood="gaussian", ndim=2, **TINY)
    data = 3.0 + 2.5 * rng.standard_normal((4, 24, 24))
    mean, std = model.set_data_scaling(list(data))
    assert math.isclose(mean, data.mean(), rel_tol=1e-12)
    assert math.isclose(std, data.std(), rel_tol=1e-12)
    x = torch.from_numpy(data[:2, :16, :16, None].transpose(0, 3, 1, 2).astype(np.float32))
    mu, _ = model.encode(x)
    ref, _ = model.encoder((x - mean) / std)
    torch.testing.assert_close(mu, ref.float(), rtol=1e-5, atol=1e-5)
    z = torch.from_numpy(rng.standard_normal((2, 3, 4, 4), dtype=np.float32))
    out = model.decode_logits(z)
    torch.testing.assert_close(model.decode(z), mean + std * out, rtol=1e-5, atol=1e-5)
    into = torch.empty_like(out)
    model.mean_of(out, into=into)
    torch.testing.assert_close(into, mean + std * out, rtol=1e-5, atol=1e-5)
    recon = model.recon_per_sample(out, x).double()
    r = ((x.double() - mean) / std - out.detach().double()).flatten(1)
    sigma = float(r.square().mean().sqrt())
    want = 0.5 * (r / sigma).square().sum(1) + r.shape[1] * math.log(sigma)
    torch.testing.assert_close(recon, want, rtol=1e-5, atol=1e-3)
    assert math.isclose(float(recon.detach().mean()), 256 * (0.5 + math.log(sigma)), rel_tol=1e-5)
    with pytest.raises(ValueError, match="constant"):
        model.set_data_scaling([np.ones((16, 16))])


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("blocks", [1, 2])
@pytest.mark.parametrize("channels_last", [False, True])
def test_trimmed_decode_equals_the_whole_decode_cropped(ndim, blocks, channels_last, rng):
    """decode_logits(z, trim=t), with gradients and without (fused last stage in 3-D), equals
    the float64 decode of the whole map cropped by t f voxels per face when t >= halo, while
    each layer only decodes what the next ones reach; t < halo is not exact."""
    _seed(rng)
    model = VAE(ndim=ndim, **{**TINY, "blocks": blocks, "channels": 8, "max_channels": 16})
    with torch.no_grad():  # larger weights than at init: far cells matter, as after training
        for p in model.decoder.parameters():
            p.mul_(2.5)
    model.set_channels_last(channels_last)
    f, m = model.config.factor, model.config.halo
    z = torch.from_numpy(rng.standard_normal((2, 3) + (2 * m + 5, 2 * m + 3, 2 * m + 4)[:ndim],
                                             dtype=np.float32))
    ref = VAE(ndim=ndim, **{**TINY, "blocks": blocks, "channels": 8, "max_channels": 16})
    ref.load_state_dict(model.state_dict())
    whole = ref.double().decoder.body(z.double()).detach()
    for trim in (m, m + 1):
        want = whole[(slice(None), slice(None)) + tuple(
            slice(trim * f, (c - trim) * f) for c in z.shape[2:])]
        got = model.decode_logits(z, trim=trim)
        assert got.requires_grad
        torch.testing.assert_close(got.detach().double(), want, rtol=0, atol=2e-5)
        with torch.no_grad():
            torch.testing.assert_close(model.decode_logits(z, trim=trim).double(), want,
                                       rtol=0, atol=2e-5)
    exact = model.decode_logits(z, trim=m).detach().double()
    inner = z[(slice(None), slice(None)) + (slice(1, -1),) * ndim]  # the same voxels, t = m - 1
    inexact = model.decode_logits(inner, trim=m - 1).detach().double()
    assert inexact.shape == exact.shape and (inexact - exact).abs().max() > 1e-4
    with pytest.raises(ValueError, match=r"trim must leave cells to decode: 2 x trim < every"):
        model.decode_logits(z, trim=m + 2)
