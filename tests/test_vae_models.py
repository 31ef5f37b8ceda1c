"""VAE family: shapes, the Fisher VAE loss against a hand computation, config validation."""

import math

import pytest
import torch
import torch.nn.functional as F

from porevae.vae import VAE, BetaVAE, FisherVAE, ModelConfig, TrainConfig, load_config

TINY = {"size": 32, "depth": 2, "channels": 4, "latent_dim": 6}


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_shapes_and_differentiable_maps(ndim, likelihood):
    torch.manual_seed(0)
    model = BetaVAE(2.0, ndim=ndim, likelihood=likelihood, **TINY)
    shape = (32,) * ndim
    x = torch.rand(3, 1, *shape)
    if likelihood == "bernoulli":
        x = x.round()
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (3, 6)
    assert logvar.min() > -6 and logvar.max() < 2
    z = torch.zeros(3, 6, requires_grad=True)
    y = model.decode(z)
    assert y.shape == (3, 1, *shape)
    if likelihood == "bernoulli":
        assert 0 <= y.min() and y.max() <= 1
    model.log_likelihood(x, z).sum().backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    assert model.sample(4, seed=1).shape == (4, 1, *shape)
    assert torch.equal(model.sample(2, seed=1), model.sample(2, seed=1))
    assert model.reconstruct(x).shape == (3, 1, *shape)
    assert model.interpolate(x[0], x[1], steps=5).shape == (5, 1, *shape)
    terms = model.loss(x)
    assert set(terms) == {"total", "recon", "kl", "fisher", "beta_t"}
    assert terms["beta_t"] == 2.0 and terms["total"].ndim == 0


def test_fisher_vae_loss_matches_hand_computation():
    torch.manual_seed(1)
    model = FisherVAE(beta=2.0, gamma=0.3, fisher_target=1.5, warmup=10, ndim=2, **TINY)
    x = torch.rand(4, 1, 32, 32).round()
    eps = torch.randn(4, 6)
    step = 4
    got = model.loss(x, step=step, eps=eps)
    with torch.no_grad():
        h = model.encoder.features(x).flatten(1)
        out = model.encoder.head(h)
        mu, raw = out[:, :6], out[:, 6:]
        lo, hi = -6.0, 2.0
        logvar = hi - F.softplus(hi - lo - F.softplus(raw - lo))
        sigma = torch.exp(0.5 * logvar)
        z = mu + sigma * eps
        logits = model.decoder(z)
        recon = (torch.clamp(logits, min=0) - logits * x
                 + torch.log1p(torch.exp(-logits.abs()))).sum((1, 2, 3))
        kl = 0.5 * (mu**2 + sigma**2 - 1 - logvar).sum(1)
        fisher = (1 / sigma**2).mean(1)
        beta_t = 2.0 * step / 10
        total = recon.mean() + beta_t * kl.mean() + 0.3 * abs(fisher.mean() - 1.5)
    assert got["beta_t"] == pytest.approx(beta_t)
    for key, want in (("recon", recon.mean()), ("kl", kl.mean()), ("fisher", fisher.mean()),
                      ("total", total)):
        torch.testing.assert_close(got[key].detach(), want, rtol=1e-5, atol=1e-4)
    assert model.beta_at(0) == 0.0 and model.beta_at(10) == model.beta_at(99) == 2.0


def test_gaussian_recon_and_mc_fisher_form():
    torch.manual_seed(2)
    model = FisherVAE(fisher="mc", likelihood="gaussian", obs_std=0.5, ndim=2, **TINY)
    x = torch.randn(2, 1, 32, 32)
    eps = torch.randn(2, 6)
    terms = model(x, eps)
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * eps
    want = (0.5 * ((x - model.decode_logits(z)) / 0.5) ** 2).sum((1, 2, 3))
    torch.testing.assert_close(terms["recon"], want, rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(terms["fisher"], (eps**2 / logvar.exp()).mean(1), rtol=1e-5,
                               atol=1e-6)


def test_channels_last_matches_contiguous():
    torch.manual_seed(3)
    model = VAE(ndim=3, **TINY)
    x = torch.rand(2, 1, 32, 32, 32).round()
    eps = torch.randn(2, 6)
    a = model(x, eps)["recon"]
    b = model.set_channels_last(True)(x, eps)["recon"]
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-2)


def test_model_classes_and_from_config():
    assert VAE().config.beta == 1.0 and BetaVAE().config.beta == 4.0
    f = FisherVAE(**TINY, ndim=2)
    assert (f.config.gamma, f.config.fisher_target, f.config.fisher) == (0.1, 5.0, "location")
    assert isinstance(f, BetaVAE) and isinstance(f, VAE)
    g = VAE.from_config(f.config)
    assert type(g) is FisherVAE and g.config == f.config


@pytest.mark.parametrize("kwargs, message", [
    ({"latent_dim": 0}, r"latent_dim must be an integer in \[1, 4096\], got 0"),
    ({"size": 20}, r"size must be an integer in \[32, 128\], got 20"),
    ({"size": 48, "depth": 5}, r"size must be divisible by 2\*\*depth = 32"),
    ({"ndim": 4}, r"ndim must be 2 or 3, got 4"),
    ({"likelihood": "poisson"}, r"likelihood must be one of \['bernoulli', 'gaussian'\]"),
    ({"kind": "fisher", "fisher_target": -1.0}, r"fisher_target must be in \(0\.0, inf\]"),
    ({"kind": "fisher", "gamma": float("nan")}, r"gamma must be a finite number"),
    ({"kind": "vae", "beta": 2.0}, r"beta must be 1 for kind='vae'"),
    ({"depth": 7}, r"depth must be an integer in \[1, 6\], got 7"),
])
def test_bad_model_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"lr": 0.0}, r"lr must be in \(0\.0, inf\], got 0\.0"),
    ({"batch_size": 0}, r"batch_size must be an integer in \[1, inf\], got 0"),
    ({"scheduler": "step"}, r"scheduler must be one of \['none', 'cosine'\]"),
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
