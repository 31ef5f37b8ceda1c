"""Train a model of the recipe of the shipped Berea model (porevae/data/models/berea): on the
shipped Berea image, or on the synthetic overlapping-sphere medium (:func:`spheres_medium`).

    OMP_NUM_THREADS=1 taskset -c 1 python -m bench.train_shipped --out runs/berea [--steps 2000]
        [--medium berea|spheres] [--s2-weight 10] [--gamma 1000] [--threads 1] [--stop-at STEP]

FisherVAE, fully convolutional, 64^3 crops (48 symmetries), f = 4 (latent map 8 x 16^3 per
crop), widths 8 / 16 / 32 at full / half / quarter resolution, 4 extra 3^3 convolutions at the
latent resolution (receptive-field halo 6 cells = 24 voxels), batch 3 data crops + 3 prior
samples for the S2 descriptor loss (lags 0..24), AdamW 1e-3 with cosine decay to 1e-4, seed 0.
``--s2-weight 0`` is the ablation without the descriptor loss. Resumes when OUT holds a
checkpoint. Prints the loss formula and a row every 10 steps.
"""

from __future__ import annotations

import argparse
import time

import torch

from porevae.data import berea
from porevae.media import overlapping_spheres
from porevae.vae import ModelConfig, TrainConfig, Trainer, build_model

#: The synthetic medium of the ``spheres`` model (not shipped: bench/RESULTS.md, third stop):
#: overlapping solid spheres of radius 4 voxels at porosity 0.4 (the medium of ``porevae study
#: reconstruction``), 256^3, periodic, seed 0.
SPHERES = {"shape": (256, 256, 256), "porosity": 0.4, "radius": 4.0, "periodic": True, "seed": 0}


def spheres_medium():
    """The synthetic training volume (256^3 bool, 1 = pore), regenerated from :data:`SPHERES`."""
    return overlapping_spheres(SPHERES["shape"], SPHERES["porosity"], SPHERES["radius"],
                               periodic=SPHERES["periodic"], seed=SPHERES["seed"])


def berea_config(s2_weight: float = 10.0, gamma: float = 1000.0) -> ModelConfig:
    """The shipped models' architecture and loss (the same for both media)."""
    return ModelConfig(kind="fisher", ndim=3, size=64, depth=2, channels=8, max_channels=48,
                       latent_channels=8, blocks=1, latent_blocks=4, gamma=gamma,
                       s2_weight=s2_weight, s2_rmax=24)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="run folder")
    ap.add_argument("--medium", choices=("berea", "spheres"), default="berea")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--s2-weight", type=float, default=10.0)
    ap.add_argument("--gamma", type=float, default=1000.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--stop-at", type=int, default=None,
                    help="stop (with a checkpoint) at this step, keeping the schedule of --steps")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = build_model(berea_config(args.s2_weight, args.gamma), seed=0)
    config = TrainConfig(steps=args.steps, batch_size=3, prior_batch=3, lr=1e-3,
                         scheduler="cosine", min_lr_ratio=0.1, seed=0, checkpoint_every=100,
                         log_every=10, progress=False, device="cpu")
    t0 = time.perf_counter()
    volume = berea() if args.medium == "berea" else spheres_medium()
    trainer = Trainer(model, volume, config, out_dir=args.out)
    print(model.loss_formula(), flush=True)

    def report(tr, step, terms):
        if step % 10 == 0:
            print(step, f"{time.perf_counter() - t0:.0f}s",
                  {k: round(v, 4) for k, v in terms.items()}, flush=True)

    trainer.callbacks.append(report)
    trainer.fit(resume=True, max_steps=args.stop_at)
    print(f"done in {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
