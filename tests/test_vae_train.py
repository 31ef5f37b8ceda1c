"""Trainer: overfitting, bit-for-bit resume after a kill, atomic checkpoints, DDP on 2 CPUs."""

import csv
import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from porevae.vae import VAE, FisherVAE, TrainConfig, Trainer, load_checkpoint, load_model

TINY = {"ndim": 2, "size": 32, "depth": 2, "channels": 8, "max_channels": 16,
        "latent_channels": 2, "latent_blocks": 1}
LOSS_COLUMNS = ("step", "total", "recon", "kl", "fisher", "s2", "beta_t", "lr")


def _image(seed=0):
    yy, xx = np.mgrid[:40, :40]
    phase = np.random.default_rng(seed).random()
    return ((np.sin(xx / 3.0 + phase) + np.cos(yy / 4.0)) > 0.3).astype(np.float32)


def _fisher(seed):
    torch.manual_seed(seed)
    return FisherVAE(beta=1.0, gamma=0.5, fisher_target=2.0, warmup=4, **TINY)


def _rows(path):
    with open(path, newline="") as fh:
        return [tuple(r[k] for k in LOSS_COLUMNS) for r in csv.DictReader(fh)]


def test_tiny_model_overfits_tiny_data():
    torch.manual_seed(0)
    model = VAE(**TINY)
    img = _image()[:32, :32]
    trainer = Trainer(model, img, steps=120, batch_size=4, lr=3e-3, augment=False,
                      progress=False, checkpoint_every=0)
    hist = trainer.fit()
    first, last = hist[0]["total"], np.median([r["total"] for r in hist[-10:]])
    assert last < first / 3, (first, last)


def test_resume_after_kill_is_bit_for_bit(tmp_path):
    cfg = TrainConfig(steps=8, batch_size=4, lr=2e-3, scheduler="cosine", checkpoint_every=3,
                      progress=False, seed=3)
    full = Trainer(_fisher(0), _image(), cfg, out_dir=tmp_path / "a")
    full.fit()

    def kill_at_5(trainer, step, terms):
        if step == 5:
            raise KeyboardInterrupt("simulated kill")

    with pytest.raises(KeyboardInterrupt):
        Trainer(_fisher(0), _image(), cfg, out_dir=tmp_path / "b", callbacks=[kill_at_5]).fit()
    assert load_checkpoint(tmp_path / "b")["step"] == 3
    assert len(_rows(tmp_path / "b" / "log.csv")) == 4  # killed before logging step 5
    resumed = Trainer(_fisher(7), _image(), cfg, out_dir=tmp_path / "b")  # other init: overwritten
    hist = resumed.fit(resume=True)
    assert [r["step"] for r in hist] == [4, 5, 6, 7, 8]
    a, b = _rows(tmp_path / "a" / "log.csv"), _rows(tmp_path / "b" / "log.csv")
    assert len(a) == 8 and a == b
    for k, v in full.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    stopped = Trainer(_fisher(0), _image(), cfg, out_dir=tmp_path / "c")
    stopped.fit(max_steps=2)  # graceful stop: checkpoint at step 2
    with pytest.raises(ValueError, match="--resume.*--overwrite"):  # issue 12: no clobber
        Trainer(_fisher(1), _image(), cfg, out_dir=tmp_path / "c").fit()
    assert load_checkpoint(tmp_path / "c")["step"] == 2
    Trainer(_fisher(1), _image(), cfg, out_dir=tmp_path / "c").fit(resume=True)
    assert _rows(tmp_path / "c" / "log.csv") == a
    model = load_model(tmp_path / "c" / "checkpoint.pt")
    assert type(model) is FisherVAE and not model.training


def test_checkpoint_is_never_half_written(tmp_path, monkeypatch):
    cfg = TrainConfig(steps=3, batch_size=2, checkpoint_every=0, progress=False)
    trainer = Trainer(_fisher(0), _image(), cfg, out_dir=tmp_path)
    trainer.fit()
    path = tmp_path / "checkpoint.pt"
    before = path.read_bytes()
    real_save = torch.save

    def crash_midway(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        with open(f, "r+b") as fh:
            fh.truncate(os.path.getsize(f) // 2)
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(torch, "save", crash_midway)
    trainer.step += 1
    with pytest.raises(OSError, match="simulated"):
        trainer.save_checkpoint()
    assert path.read_bytes() == before
    assert load_checkpoint(path)["step"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "config.json", "log.csv"]


DDP_CFG = {"steps": 3, "batch_size": 4, "lr": 1e-3, "progress": False, "checkpoint_every": 0,
           "seed": 11}


def _ddp_worker(rank, world, folder):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank,
                            world_size=world)
    try:
        trainer = Trainer(_fisher(1), _image(), **DDP_CFG)
        hist = trainer.fit()
        if rank == 0:
            torch.save({"params": trainer.model.state_dict(), "hist": hist},
                       f"{folder}/ddp.pt")
    finally:
        dist.destroy_process_group()


def test_ddp_two_processes_match_one(tmp_path):
    init = _fisher(1).state_dict()
    single = Trainer(_fisher(1), _image(), **DDP_CFG)
    hist = single.fit()
    mp.spawn(_ddp_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    ddp = torch.load(tmp_path / "ddp.pt", weights_only=True)
    moved = 0.0
    for k, v in single.model.state_dict().items():
        torch.testing.assert_close(ddp["params"][k], v, rtol=1e-4, atol=2e-6, msg=k)
        moved = max(moved, float((v - init[k]).abs().max()))
    assert moved > 1e-3  # the tolerance is far below the distance travelled
    for r1, r2 in zip(hist, ddp["hist"]):
        for key in ("total", "recon", "kl", "fisher"):
            assert r2[key] == pytest.approx(r1[key], rel=1e-5), key


def test_overwrite_restarts_and_the_log_starts_again(tmp_path):
    cfg = TrainConfig(steps=3, batch_size=2, checkpoint_every=0, progress=False)
    Trainer(_fisher(0), _image(), cfg, out_dir=tmp_path).fit()
    cfg2 = TrainConfig(steps=2, batch_size=2, checkpoint_every=0, progress=False)
    Trainer(_fisher(0), _image(), cfg2, out_dir=tmp_path).fit(overwrite=True)
    assert [r[0] for r in _rows(tmp_path / "log.csv")] == ["1", "2"]
    assert load_checkpoint(tmp_path)["step"] == 2


def test_resume_refuses_an_optimizer_state_of_another_model(tmp_path):
    cfg = TrainConfig(steps=2, batch_size=2, checkpoint_every=0, progress=False)
    trainer = Trainer(_fisher(0), _image(), cfg, out_dir=tmp_path)
    trainer.fit()
    state = trainer.state_dict()
    first = state["optimizer"]["param_groups"][0]["params"][0]
    state["optimizer"]["state"][first]["exp_avg"] = torch.zeros(3)  # wrong shape
    with pytest.raises(ValueError, match="optimiser state does not match the model"):
        Trainer(_fisher(0), _image(), cfg).load_state_dict(state)


def test_training_stops_at_the_first_non_finite_loss(tmp_path):
    from porevae.vae.trainer import NonFiniteLossError

    cfg = TrainConfig(steps=6, batch_size=2, checkpoint_every=2, progress=False)
    trainer = Trainer(_fisher(0), _image(), cfg, out_dir=tmp_path)
    trainer.fit(max_steps=2)
    good = (tmp_path / "checkpoint.pt").read_bytes()

    def poison(tr, step, terms):  # the weights become NaN after step 3
        if step == 3:
            with torch.no_grad():
                next(tr.model.decoder.parameters()).fill_(float("nan"))

    trainer.callbacks.append(poison)
    with pytest.raises(NonFiniteLossError, match="non-finite loss at step 4"):
        trainer.fit(resume=True)
    assert (tmp_path / "checkpoint.pt").read_bytes() == good
    assert load_checkpoint(tmp_path)["step"] == 2


@pytest.mark.parametrize("bad, likelihood, message", [
    (np.ones((40, 40), np.float32), "bernoulli", "all pore"),
    (np.zeros((40, 40), np.float32), "bernoulli", "all solid"),
    (np.where(np.eye(40) > 0, np.nan, 0.5).astype(np.float32), "gaussian", "NaN"),
])
def test_degenerate_data_refused(bad, likelihood, message):
    torch.manual_seed(0)
    with pytest.raises(ValueError, match=message):
        Trainer(VAE(likelihood=likelihood, **TINY), bad, steps=1, progress=False)


def test_descriptor_loss_target_and_prior_batch(rng):
    torch.manual_seed(int(rng.integers(2**31)))
    img = _image(int(rng.integers(100)))
    model = FisherVAE(s2_weight=1.0, s2_rmax=8, **TINY)
    trainer = Trainer(model, img, steps=2, batch_size=2, prior_batch=4, progress=False,
                      checkpoint_every=0)
    from porevae.media import two_point_correlation

    want = np.mean([two_point_correlation(img.astype(bool), axis=a, r_max=8)[1]
                    for a in (0, 1)], axis=0)
    np.testing.assert_allclose(model.s2_target.numpy(), want, rtol=1e-5, atol=1e-6)
    seen = []
    real = model.prior_descriptors
    model.prior_descriptors = lambda eps: seen.append(eps.shape) or real(eps)
    row = trainer.fit()[-1]
    m = 2 * model.config.halo  # the latent margin of generation, both sides
    assert seen == [(4, 2, 8 + m, 8 + m)] * 2 and row["s2"] > 0


def test_porosity_cut_is_the_exact_cut_with_a_tempered_gradient(rng):
    """The value is the exact cut; the gradient is that of the tempered cut whose threshold
    keeps the soft porosity sum_x h_x fixed (checked by central differences of that function,
    the threshold solved by bisection), so it is zero along a uniform logit shift and reaches
    only voxels near the cut."""
    from porevae.vae.losses import CUT_TEMPERATURE as tau
    from porevae.vae.losses import porosity_cut

    logits = torch.as_tensor(rng.normal(0.0, 3.0, (2, 17, 19)), dtype=torch.float64)
    phi = float(rng.uniform(0.1, 0.5))
    h = porosity_cut(logits.requires_grad_(True), phi)
    ordered = logits.detach().reshape(2, -1).sort(dim=1).values
    k = round((1 - phi) * 17 * 19)
    t = (0.5 * (ordered[:, k - 1] + ordered[:, k]))[:, None, None]
    assert torch.equal(h.detach(), (logits.detach() > t).double())  # the exact cut
    assert torch.all(h.detach().sum(dim=(1, 2)) == round(phi * 17 * 19))
    weights = torch.as_tensor(rng.standard_normal((2, 17, 19)))
    grad, = torch.autograd.grad((h * weights).sum(), logits)
    np.testing.assert_allclose(grad.sum(dim=(1, 2)), 0.0, atol=1e-12)
    far = (logits.detach() - t).abs() > 16 * tau
    assert grad[far].abs().max() < 1e-5 * grad.abs().max()
    mass = torch.sigmoid((logits.detach() - t) / tau).sum(dim=(1, 2))

    def kept(lg):  # the tempered cut with sum h = mass, threshold by bisection
        lo, hi = lg.amin(dim=(1, 2)) - 50, lg.amax(dim=(1, 2)) + 50
        for _ in range(200):
            mid = (lo + hi) / 2
            big = torch.sigmoid((lg - mid[:, None, None]) / tau).sum(dim=(1, 2)) > mass
            lo, hi = torch.where(big, mid, lo), torch.where(big, hi, mid)
        return (torch.sigmoid((lg - lo[:, None, None]) / tau) * weights).sum()

    step = torch.as_tensor(rng.standard_normal((2, 17, 19)))
    with torch.no_grad():
        fd = (kept(logits + 1e-6 * step) - kept(logits - 1e-6 * step)) / 2e-6
    assert float((grad * step).sum()) == pytest.approx(float(fd), rel=1e-5, abs=1e-8)
    with pytest.raises(ValueError, match=r"porosity must be in \(0, 1\), got 1.0"):
        porosity_cut(logits, 1.0)


@pytest.mark.parametrize("cut", ["soft", "porosity"])
def test_s2_cut_chooses_the_image_of_the_descriptor_loss(rng, cut):
    """s2_cut='porosity' takes S2 of the exact cut at the data's porosity, 'soft' that of the
    pore probability."""
    from porevae.vae.losses import porosity_cut, s2_axes

    torch.manual_seed(int(rng.integers(2**31)))
    img = _image(int(rng.integers(100)))
    model = FisherVAE(s2_weight=1.0, s2_rmax=8, s2_cut=cut, **TINY)
    Trainer(model, img, steps=1, progress=False, checkpoint_every=0)  # fills s2_target
    m = model.config.halo  # prior samples: the decode of a map with the margin, trimmed
    eps = torch.randn(3, 2, 8 + 2 * m, 8 + 2 * m)
    with torch.no_grad():
        got = model.prior_descriptors(eps)["s2"]
        logits = model.decode_logits(eps)[:, :, 4 * m:4 * m + 32, 4 * m:4 * m + 32]
    phi = float(model.s2_target[0])
    image = porosity_cut(logits, phi) if cut == "porosity" else torch.sigmoid(logits)
    torch.testing.assert_close(got, s2_axes(image, 8), rtol=1e-5, atol=1e-6)
    if cut == "porosity":
        assert torch.all((image > 0.5).sum(dim=(1, 2, 3)) == round(phi * 32 * 32))
    assert ("exact-porosity cut" in model.loss_formula()) == (cut == "porosity")


def test_s2_cut_porosity_needs_a_bernoulli_model():
    with pytest.raises(ValueError, match="s2_cut='porosity' needs likelihood='bernoulli'"):
        FisherVAE(s2_cut="porosity", likelihood="gaussian", **TINY)
    with pytest.raises(ValueError, match="s2_cut must be one of"):
        FisherVAE(s2_cut="hard", **TINY)


def test_porosity_cut_target_is_the_crop_correlation_at_the_data_porosity(rng):
    """With s2_cut='porosity' the target is phi^2 + phi (1 - phi) rho(r), rho the pooled
    correlation of the data's tiles of the training shape (here 2 x 3 tiles of 32^2 and one of
    a second image), computed here with porevae.media's estimator."""
    from porevae.media import two_point_correlation

    images = [rng.random((64, 100)) < rng.uniform(0.3, 0.6), rng.random((40, 33)) < 0.5]
    model = FisherVAE(s2_weight=1.0, s2_rmax=8, s2_cut="porosity", **TINY)
    got = model.set_descriptor_targets([im.astype(np.float32) for im in images]).numpy()
    tiles = [im[a:a + 32, b:b + 32] for im in images
             for a in range(0, im.shape[0] - 31, 32) for b in range(0, im.shape[1] - 31, 32)]
    assert len(tiles) == 7
    s2 = np.array([np.mean([two_point_correlation(t, axis=a, r_max=8)[1] for a in (0, 1)], 0)
                   for t in tiles])
    phi_c = np.array([t.mean() for t in tiles])
    rho = (s2 - phi_c[:, None] ** 2).sum(0) / (phi_c - phi_c**2).sum()
    phi = phi_c.mean()
    np.testing.assert_allclose(got, phi**2 + phi * (1 - phi) * rho, rtol=1e-5, atol=1e-7)
    assert abs(got[0] - phi) < 1e-6
    with pytest.raises(ValueError, match="needs training data with both phases"):
        model.set_descriptor_targets(np.zeros((32, 32), np.float32))


def _window_euler(img):
    """Euler density of a binary image by the window counts, written out loop by loop."""
    from itertools import combinations, product

    d, chi = img.ndim, 0.0
    for j in range(d + 1):
        for axes in combinations(range(d), d - j):
            starts = [range(n - 1) if a in axes else range(n) for a, n in enumerate(img.shape)]
            hits = [img[tuple(slice(x, x + 2) if a in axes else x
                              for a, x in enumerate(pos))].any() for pos in product(*starts)]
            chi += (-1) ** j * np.mean(hits)
    return chi


@pytest.mark.parametrize("shape", [(21, 18), (9, 12, 10)])
def test_euler_density_counts_windows_and_is_differentiable(rng, shape):
    from porevae.vae.losses import euler_density

    hard = rng.random((3, *shape)) < rng.uniform(0.2, 0.7)
    got = euler_density(torch.from_numpy(hard).float()).numpy()
    np.testing.assert_allclose(got, [_window_euler(h) for h in hard], rtol=1e-12, atol=1e-15)
    soft = torch.as_tensor(rng.random((2, 1, *shape[:-1], 4)), dtype=torch.float64)
    assert torch.autograd.gradcheck(euler_density, (soft.requires_grad_(True),))
    with pytest.raises(ValueError, match="2D or 3D images"):
        euler_density(torch.zeros(2, 5))


def test_euler_density_of_crops_is_not_biased_by_the_box():
    """On a periodic medium the exact Euler density is euler_characteristic(periodic=True) /
    voxels; the window estimator on 32^3 crops matches it, the box-cut count does not."""
    from porevae.media import euler_characteristic, overlapping_spheres
    from porevae.vae.losses import euler_density

    vol = overlapping_spheres((96, 96, 96), 0.3, 3.0, periodic=True, seed=3)
    exact = euler_characteristic(vol, periodic=True) / vol.size
    crops = np.stack([vol[a:a + 32, b:b + 32, c:c + 32] for a in (0, 32, 64)
                      for b in (0, 32, 64) for c in (0, 32, 64)])
    est = float(euler_density(torch.from_numpy(crops)).mean())
    boxed = np.mean([euler_characteristic(c) / c.size for c in crops])
    assert abs(est / exact - 1) < 0.02 and abs(boxed / exact - 1) > 0.1


def test_euler_term_target_and_training(rng):
    """euler_weight: the target is the data's Euler density by the window estimator, the prior
    samples' Euler density enters D, and it needs s2_weight."""
    torch.manual_seed(int(rng.integers(2**31)))
    img = rng.random((64, 70)) < 0.5
    model = FisherVAE(s2_weight=1.0, s2_rmax=8, euler_weight=0.5, **TINY)
    trainer = Trainer(model, img.astype(np.float32), steps=1, prior_batch=2, progress=False,
                      checkpoint_every=0)
    assert float(model.euler_target) == pytest.approx(_window_euler(img), rel=1e-12)
    seen = []
    real = model.prior_descriptors
    model.prior_descriptors = lambda eps: seen.append(real(eps)) or seen[-1]
    row = trainer.fit()[-1]
    assert seen[0]["euler"].shape == (2,) and row["s2"] > 0
    assert "euler_target" not in model.state_dict()  # recomputed by the trainer, not saved
    with pytest.raises(ValueError, match="euler_weight needs s2_weight > 0"):
        FisherVAE(euler_weight=1.0, **TINY)


def test_s2_size_sets_the_prior_samples_and_the_target_tiles(rng):
    """s2_size: the descriptor loss decodes prior samples of that shape, and the porosity
    target is measured on data tiles of that shape (here one 64^2 tile of a 70 x 66 image)."""
    torch.manual_seed(int(rng.integers(2**31)))
    img = (rng.random((70, 66)) < 0.4).astype(np.float32)
    model = FisherVAE(s2_weight=1.0, s2_rmax=8, s2_cut="porosity", s2_size=64, **TINY)
    trainer = Trainer(model, img, steps=1, prior_batch=2, progress=False, checkpoint_every=0)
    assert model.s2_target[0].item() == pytest.approx(img[:64, :64].mean(), rel=1e-6)
    seen = []
    real = model.prior_descriptors
    model.prior_descriptors = lambda eps: seen.append(eps.shape) or real(eps)
    trainer.fit()
    m = 2 * model.config.halo
    assert seen == [(2, 2, 16 + m, 16 + m)]
    too_big = FisherVAE(s2_weight=1.0, s2_rmax=8, s2_cut="porosity", s2_size=96, **TINY)
    with pytest.raises(ValueError, match=r"s2_size \(96, 96\) must fit in a training volume"):
        too_big.set_descriptor_targets(img)
    with pytest.raises(ValueError, match=r"s2_size must be divisible by 2\*\*depth = 4"):
        FisherVAE(s2_size=30, **TINY)
    with pytest.raises(ValueError, match=r"s2_rmax must be in \[1, 15\]"):
        FisherVAE(s2_weight=1.0, s2_rmax=20, s2_size=16, **TINY)


def test_gaussian_model_is_standardised_by_its_data_and_samples_in_data_units(tmp_path, rng):
    """A Gaussian model trained on fields of mean 5 and std 3 records them in its checkpoint
    (``data`` and the model's buffers) and decodes back to those units: the prior samples'
    mean is near 5, not near 0."""
    fields = (5.0 + 3.0 * rng.standard_normal((6, 32, 32))).astype(np.float32)
    torch.manual_seed(0)
    model = VAE(likelihood="gaussian", **TINY)
    Trainer(model, list(fields), steps=3, batch_size=4, progress=False, checkpoint_every=0,
            out_dir=tmp_path).fit()
    data = load_checkpoint(tmp_path)["data"]
    assert data["porosity"] is None
    assert data["mean"] == pytest.approx(fields.astype(np.float64).mean(), rel=1e-9)
    assert data["std"] == pytest.approx(fields.astype(np.float64).std(), rel=1e-9)
    loaded = load_model(tmp_path)
    assert loaded.data_info["mean"] == data["mean"]
    assert float(loaded.data_scale) == pytest.approx(data["std"], rel=1e-6)
    samples = loaded.sample(4, shape=(32, 32), seed=0).numpy()
    assert abs(samples.mean() - 5.0) < 1.5


def test_gaussian_checkpoint_without_the_data_scaling_loads_in_its_own_units(tmp_path, rng):
    """A Gaussian checkpoint written before ``data_shift`` / ``data_scale`` existed loads with
    shift 0 and scale 1 (the units it was trained in): it decodes as its decoder does."""
    from porevae.vae.trainer import FORMAT_VERSION, weights_digest

    torch.manual_seed(int(rng.integers(2**31)))
    model = VAE(likelihood="gaussian", **TINY)
    state = {k: v for k, v in model.state_dict().items() if k not in ("data_shift", "data_scale")}
    torch.save({"format_version": FORMAT_VERSION, "step": 1, "model": state,
                "model_config": model.config.to_dict(), "digest": weights_digest(state)},
               tmp_path / "old.pt")
    loaded = load_model(tmp_path / "old.pt")
    assert (float(loaded.data_shift), float(loaded.data_scale)) == (0.0, 1.0)
    z = torch.randn(2, 2, 5, 6)
    with torch.no_grad():
        torch.testing.assert_close(loaded.decode(z), model.decoder.body(z), rtol=0, atol=1e-5)


def test_gaussian_prior_samples_carry_the_fields_variance(rng):
    """Issue 25: a Gaussian model trained with its defaults (descriptor loss on the standardised
    prior decode, s2_weight 3) generates fields whose variance and lag-1 covariance are of the
    training fields' order (here within a factor 0.4..1.6 after 200 steps); without the loss
    the prior decode is nearly the mean field (about 4 % of the variance)."""
    k = np.fft.fftfreq(32)
    filt = (1 + (k[:, None] ** 2 + k[None] ** 2) * (2 * np.pi * 3.0) ** 2) ** -0.75
    noise = np.random.default_rng(3).standard_normal((12, 32, 32))
    fields = np.real(np.fft.ifft2(np.fft.fft2(noise) * filt))
    fields = (2.0 + 0.5 * fields / fields.std()).astype(np.float32)
    torch.manual_seed(0)
    model = VAE(ndim=2, size=16, likelihood="gaussian", channels=8, max_channels=16,
                latent_channels=4, latent_blocks=1)
    assert model.config.s2_weight == 3.0 and model.config.s2_rmax == 15
    from porevae.vae.generation import generate

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small maps: one thread is faster, and 15x so on a busy machine
    try:
        Trainer(model, list(fields), steps=200, batch_size=8, progress=False,
                checkpoint_every=0, seed=0).fit()
        samples = generate(model.eval(), 16, (32, 32), seed=0)
    finally:
        torch.set_num_threads(threads)

    def cov(x):  # variance and lag-1 covariance (both axes), about the set's mean
        x = np.asarray(x, np.float64) - np.mean(x)
        return np.array([(x * x).mean(), ((x[:, 1:] * x[:, :-1]).mean()
                                          + (x[:, :, 1:] * x[:, :, :-1]).mean()) / 2])

    ratio = cov(samples) / cov(fields)
    assert np.all((ratio > 0.4) & (ratio < 1.6)), ratio


def _smooth_fields(n, size, seed):
    k = np.fft.fftfreq(size)
    filt = (1 + (k[:, None] ** 2 + k[None] ** 2) * (2 * np.pi * 3.0) ** 2) ** -0.75
    noise = np.random.default_rng(seed).standard_normal((n, size, size))
    fields = np.real(np.fft.ifft2(np.fft.fft2(noise) * filt))
    return (2.0 + 0.5 * fields / fields.std()).astype(np.float32)


def test_gaussian_descriptor_term_counts_only_what_varies_with_z():
    """Issue 25: the Gaussian descriptor term compares the *ensemble* covariance of the prior
    decodes with the data's. Independent fields of the data's law cost almost nothing; the
    same field repeated in every prior sample (a pattern that does not depend on z, as the
    stride-2 stripes or the constant -0.4 of an untrained decoder) has the data's S2 but no
    variance, and costs at least its squared amplitude V (the plain S2 term of before scored
    it as well as independent fields, and training sat there for 100-200 steps)."""
    fields = _smooth_fields(40, 32, 3)
    model = VAE(ndim=2, size=32, likelihood="gaussian", latent_channels=2, s2_rmax=8)
    model.set_data_scaling(list(fields[:20]))
    model.set_descriptor_targets(list(fields[:20]))
    std = (torch.as_tensor(fields[20:, None]) - model.data_shift) / model.data_scale
    z = torch.zeros(20, 2, 8, 8)  # only its shape counts (V = 32^2 voxels)

    def term(decodes):
        model.decode_logits = lambda eps, trim=0: decodes  # the prior decodes, standardised
        terms = {"recon": torch.zeros(20), "kl": torch.zeros(20), "fisher": torch.zeros(20),
                 "z": z, **model.prior_descriptors(None)}
        return float(model.combine(terms)["s2"]) / 32**2

    independent = term(std)
    shared = term(std[:1].expand(20, -1, -1, -1))
    offset = term(std - 0.4)  # a mean that every sample shares: costs its square
    assert independent < 0.05, independent
    assert shared > 1.0, shared
    assert 0.1 < offset - independent < 0.25, (offset, independent)


def test_progress_off_a_terminal_writes_few_lines(capsys):
    """With stderr redirected, 40 logged steps draw the bar a few times, not once per step
    (the postfix of each log row waits for the next rate-limited draw)."""
    from porevae.vae import train_demo

    vol = np.random.default_rng(0).random((24, 24)) < 0.4
    train_demo(vol, steps=40, size=8, batch_size=2, progress=True)
    err = capsys.readouterr().err
    assert "40/40" in err
    assert err.count("\r") + err.count("\n") <= 6, err


#: A tiny 3-D model whose descriptor loss takes the exact-porosity cut (the flow and surface
#: terms need it), on 16^3 crops.
TINY_CUT_3D = dict(TINY, ndim=3, size=16, s2_weight=1.0, s2_rmax=6, s2_cut="porosity")


def _blobs(rng, sigma=2.0, quantile=0.55):
    """A 32^3 bool medium: white noise smoothed by a periodic Gaussian of ``sigma`` voxels,
    pore above its ``quantile``."""
    import scipy.ndimage

    field = scipy.ndimage.gaussian_filter(rng.standard_normal((32, 32, 32)), sigma, mode="wrap")
    return field > np.quantile(field, quantile)


def test_flow_term_target_sign_and_gradient(rng):
    """flow_weight: the target is the data tiles' mean permeability per axis; each prior
    sample's cut is solved along axis m mod 3; the term's gradient on the cut is
    w V c g_m / (M voxels) with c the running log(k / k_data), so pore probability is pushed
    towards fast flow while the samples are less permeable than the data; and it needs the
    porosity cut in 3-D."""
    from porevae.media import permeability, permeability_sensitivity
    from porevae.vae.models import FLOW_RATE

    torch.manual_seed(int(rng.integers(2**31)))
    img = _blobs(rng)
    cfg = TINY_CUT_3D
    model = FisherVAE(flow_weight=0.5, **cfg)
    model.set_descriptor_targets(img.astype(np.float32))
    tiles = [img[a:a + 16, b:b + 16, c:c + 16] for a in (0, 16) for b in (0, 16)
             for c in (0, 16)]
    want = [np.mean([permeability(t, axis=ax, tol=1e-2).k_voxel2 for t in tiles])
            for ax in range(3)]
    np.testing.assert_allclose(model.flow_target.numpy(), want, rtol=1e-12)
    assert "flow_target" not in model.state_dict()

    eps = torch.randn(3, model.config.latent_channels,
                      *(c + 2 * model.config.halo for c in model.latent_cells((16,) * 3)))
    terms = model.prior_descriptors(eps)
    image = model.decode_logits(eps, trim=model.config.halo)
    from porevae.vae.losses import porosity_cut

    cut = porosity_cut(image, float(model.s2_target[0])).detach()
    for m in range(3):
        res, g = permeability_sensitivity(cut[m, 0].numpy() > 0.5, m)
        assert float(terms["flow_k"][m]) == pytest.approx(res.k_voxel2 / want[m], rel=1e-12)
        assert float(terms["flow"][m].detach()) == pytest.approx(
            float((torch.as_tensor(g).float() * cut[m, 0]).mean()), rel=1e-5)
    # the running mean of log(mean k / k_data) and the term inside D
    terms.update(z=torch.zeros(3, 1, *model.latent_cells((16,) * 3)), recon=torch.zeros(3),
                 kl=torch.zeros(3), fisher=torch.zeros(3))
    model.flow_log_ratio.fill_(-0.4)
    r = float(np.log(float(terms["flow_k"].mean())))
    c = float(np.clip(0.8 * -0.4 + FLOW_RATE * r, -1, 1))
    with_flow = model.combine(dict(terms))["s2"]
    model.flow_log_ratio.fill_(float("nan"))
    without = model.combine({k: v for k, v in terms.items() if k not in ("flow", "flow_k")})
    expected = 0.5 * 16**3 * c * float(terms["flow"].detach().mean())
    assert float((with_flow - without["s2"]).detach()) == pytest.approx(expected, rel=1e-5)
    # the gradient of mean_m flow_m on the cut image is g_m / (M V): no gradient through g
    leaf = cut.clone().requires_grad_()
    flow, _ = model._flow_terms(leaf)
    grad = torch.autograd.grad(flow.mean(), leaf)[0]
    for m in range(3):
        g = permeability_sensitivity(cut[m, 0].numpy() > 0.5, m)[1]
        np.testing.assert_allclose(grad[m, 0].numpy(), g / (3 * 16**3), rtol=1e-5, atol=1e-12)
    assert FLOW_RATE == 0.2
    assert "flow_log_ratio" in model.state_dict()  # a resumed run goes on with it
    with pytest.raises(ValueError, match="flow_weight needs"):
        FisherVAE(flow_weight=1.0, **dict(cfg, s2_cut="soft"))


def test_surface_term_value_and_gradient(rng):
    """surface_weight: D gains w_s V (s / s_data - 1)^2 with s = S2(0) - S2(1) of the prior
    samples' cut, which is half the fraction of neighbour pairs along an axis that cross the
    interface (checked by counting them); its gradient on the S2 lags 0 and 1 is the
    derivative of that square; it needs the porosity cut."""
    torch.manual_seed(int(rng.integers(2**31)))
    img = _blobs(rng, sigma=1.5, quantile=0.6)
    cfg = TINY_CUT_3D
    model = FisherVAE(surface_weight=0.7, **cfg)
    model.set_descriptor_targets(img.astype(np.float32))
    eps = torch.randn(3, model.config.latent_channels,
                      *(c + 2 * model.config.halo for c in model.latent_cells((16,) * 3)))
    terms = model.prior_descriptors(eps)
    terms.update(z=torch.zeros(3, 1, *model.latent_cells((16,) * 3)), recon=torch.zeros(3),
                 kl=torch.zeros(3), fisher=torch.zeros(3))
    # s of the cut from the interface pairs: S2(0) - S2(1) = crossings / (2 pairs), per axis
    from porevae.vae.losses import porosity_cut

    cut = porosity_cut(model.decode_logits(eps, trim=model.config.halo),
                       float(model.s2_target[0])).detach()[:, 0].numpy() > 0.5
    s_axes = [np.mean([np.mean(np.diff(c, axis=a) != 0) / 2 for c in cut]) for a in range(3)]
    s2 = terms["s2"].detach().double().mean(0)
    edges = [np.mean([(c.take(range(15), axis=a).mean() + c.take(range(1, 16), axis=a).mean())
                      / 2 - c.mean() for c in cut]) for a in range(3)]
    assert float(s2[0] - s2[1]) == pytest.approx(np.mean(s_axes) - np.mean(edges), rel=1e-5)
    t = model.s2_target.double()
    rel = float(s2[0] - s2[1]) / float(t[0] - t[1]) - 1.0
    on = model.combine(dict(terms))["s2"]
    model.config.surface_weight = 0.0
    off = model.combine(dict(terms))["s2"]
    assert float((on - off).detach()) == pytest.approx(0.7 * 16**3 * rel**2, rel=1e-5)
    leaf = terms["s2"].detach().clone().requires_grad_()
    grad_off = torch.autograd.grad(model.combine(dict(terms, s2=leaf))["s2"], leaf)[0]
    model.config.surface_weight = 0.7
    grad = torch.autograd.grad(model.combine(dict(terms, s2=leaf))["s2"], leaf)[0] - grad_off
    d = 0.7 * 16**3 * 2 * rel / float(t[0] - t[1]) / 3  # d/d s2[m, 0]; the opposite for lag 1
    np.testing.assert_allclose(grad[:, 0].numpy(), d, rtol=1e-4)
    np.testing.assert_allclose(grad[:, 1].numpy(), -d, rtol=1e-4)
    assert "surface" in model.loss_formula()
    with pytest.raises(ValueError, match="surface_weight needs"):
        FisherVAE(surface_weight=1.0, **dict(cfg, s2_cut="soft"))


def test_flow_term_resume_is_bit_for_bit(tmp_path, rng):
    """A run with the flow term killed after a checkpoint and resumed ends with the weights
    and the running k ratio of the uninterrupted run."""
    img = _blobs(rng).astype(np.float32)
    cfg = TrainConfig(steps=4, batch_size=2, prior_batch=3, lr=2e-3, checkpoint_every=2,
                      progress=False, seed=3)

    def model():
        torch.manual_seed(0)
        return FisherVAE(**TINY_CUT_3D, flow_weight=0.5)

    full = Trainer(model(), img, cfg, out_dir=tmp_path / "a")
    full.fit()

    def kill_at_3(trainer, step, terms):
        if step == 3:
            raise KeyboardInterrupt("simulated kill")

    with pytest.raises(KeyboardInterrupt):
        Trainer(model(), img, cfg, out_dir=tmp_path / "b", callbacks=[kill_at_3]).fit()
    resumed = Trainer(model(), img, cfg, out_dir=tmp_path / "b")
    resumed.fit(resume=True)
    assert torch.isfinite(full.model.flow_log_ratio)
    assert float(resumed.model.flow_log_ratio) == float(full.model.flow_log_ratio)
    for k, v in full.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
