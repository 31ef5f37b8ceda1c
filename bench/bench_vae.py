"""One training step of the 3D VAE at 64^3, batch 8: porevae vs the same model in plain PyTorch.

The model is the shipped Berea architecture (fully convolutional, spatial latent map, f = 4);
the descriptor loss is off here (it is timed with the whole step in the Berea training log).

    python -m bench.bench_vae [--quick] [--repeat 5] [--warmup 2] [--threads N]

- **plain**: the same encoder/decoder, loss written inline with ordinary autograd (the reference
  reparameterization + KL + Fisher term), standard (contiguous) layout, float32, AdamW.
- **porevae**: :class:`porevae.vae.Trainer.train_step` with the fused
  :func:`porevae.ops.vae_latent_loss`; on CUDA with channels-last and bf16/fp16 autocast. On the
  CPU both memory formats are timed; the Trainer's "auto" layout is the one chosen from these
  figures (channels-last for 3-D models).

Both variants draw the same random crops (with symmetry augmentation) from one 96^3 binary
volume, so data sampling is inside every timed step. Steps/s are medians of ``repeat`` steps
after ``warmup`` steps (minima also shown), the variants interleaved round by round in
alternating order so that load from other processes hits them alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from bench.common import machine
from porevae.vae import CropSampler, FisherVAE, TrainConfig, Trainer


def _model(size, seed=0):
    torch.manual_seed(seed)
    return FisherVAE(ndim=3, size=size, depth=2, channels=8, max_channels=48, latent_channels=8,
                     blocks=1, latent_blocks=4)


def _volume(n, seed=0):
    return (np.random.default_rng(seed).random((n, n, n)) < 0.4).astype(np.float32)


class PlainStep:
    """The reference training step: same nets, inline loss, contiguous float32."""

    def __init__(self, size, batch, device, seed=0):
        self.model = _model(size, seed).to(device)
        self.cfg = self.model.config
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-4, weight_decay=0.0)
        self.sampler = CropSampler(_volume(size * 3 // 2), 3, (size,) * 3, seed=seed)
        self.gen = torch.Generator(device).manual_seed(seed + 1)
        self.batch, self.device = batch, device

    def __call__(self):
        c, m = self.cfg, self.model
        x = self.sampler.sample(self.batch).to(self.device)
        mu, raw = m.encoder(x)
        lo, hi = c.logvar_min, c.logvar_max
        logvar = hi - F.softplus(hi - lo - F.softplus(raw - lo))
        eps = torch.randn(mu.shape, generator=self.gen, device=self.device)
        z = mu + torch.exp(0.5 * logvar) * eps
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).flatten(1).sum(1)
        fisher = torch.exp(-logvar).flatten(1).mean(1)
        logits = m.decoder(z)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
        total = recon.mean() + c.beta * kl.mean() + c.gamma * (fisher.mean()
                                                                - c.fisher_target).abs()
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        self.opt.step()
        return total


def porevae_step(size, batch, device, channels_last, seed=0):
    trainer = Trainer(_model(size, seed), _volume(size * 3 // 2),
                      TrainConfig(steps=10**9, batch_size=batch, lr=1e-4, seed=seed,
                                  channels_last=channels_last, device=str(device),
                                  progress=False, checkpoint_every=0))
    return trainer.train_step


def run(device, size, batch, repeat, warmup):
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    variants = {"plain (reference loss, contiguous, fp32)": PlainStep(size, batch, device)}
    if device.type == "cuda":
        variants["porevae (fused loss, channels-last, AMP)"] = porevae_step(size, batch, device,
                                                                            "on")
    else:
        variants["porevae (fused loss, contiguous)"] = porevae_step(size, batch, device, "off")
        variants["porevae (fused loss, channels-last) [CPU default]"] = porevae_step(
            size, batch, device, "on")
    times = {k: [] for k in variants}
    for _ in range(warmup):
        for fn in variants.values():
            fn()
    sync()
    order = list(variants)
    for _ in range(repeat):
        for name in order:
            t0 = time.perf_counter()
            variants[name]()
            sync()
            times[name].append(time.perf_counter() - t0)
        order.reverse()  # ABC CBA ...: no variant always runs first after another
    return {k: (statistics.median(v), min(v)) for k, v in times.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="32^3 instead of 64^3, fewer repeats")
    ap.add_argument("--repeat", type=int, default=None, help="timed steps (default 5, quick 3)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    size = 32 if args.quick else 64
    repeat = args.repeat or (3 if args.quick else 5)
    print(f"# one training step, FisherVAE 3D {size}^3, batch {args.batch}, depth 2 (f = 4), "
          f"channels 8..48, latent map 8 x (size / 4)^3 (the shipped Berea architecture)")
    print(f"# {machine()}; torch threads {torch.get_num_threads()}")
    given = argv if argv is not None else sys.argv[1:]
    print(f"# command: python -m bench.bench_vae {' '.join(given)}")
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        res = run(device, size, args.batch, repeat, args.warmup)
        base, base_min = next(iter(res.values()))
        label = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
        print(f"\n{label}: {repeat} steps after {args.warmup} warm-up, median (and min)")
        print(f"{'variant':50s} {'s/step':>7s} {'steps/s':>8s} {'vs plain':>8s} "
              f"{'min s':>7s} {'vs plain':>8s}")
        for name, (t, tmin) in res.items():
            print(f"{name:50s} {t:7.3f} {1 / t:8.3f} {base / t:7.2f}x {tmin:7.3f} "
                  f"{base_min / tmin:7.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
