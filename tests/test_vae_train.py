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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "log.csv"]


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
    real = model.prior_s2
    model.prior_s2 = lambda eps: seen.append(eps.shape) or real(eps)
    row = trainer.fit()[-1]
    assert seen == [(4, 2, 8, 8)] * 2 and row["s2"] > 0
