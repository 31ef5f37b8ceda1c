"""Train a model of the recipe of the shipped Berea model (porevae/data/models/berea): on the
shipped Berea image, or on the synthetic overlapping-sphere medium (:func:`spheres_medium`).

    OMP_NUM_THREADS=1 taskset -c 1 python -m bench.train_shipped --out runs/berea [--steps 2000]
        [--medium berea|spheres] [--s2-weight 10] [--gamma 1000] [--threads 1] [--stop-at STEP]
        [--s2-cut soft|porosity] [--s2-rmax 24] [--euler-weight 0] [--init CHECKPOINT]
        [--lr 1e-3] [--factor 4|2] [--s2-size 64] [--prior-batch 3]

FisherVAE, fully convolutional, 64^3 crops (48 symmetries), f = 4 (latent map 8 x 16^3 per
crop), widths 8 / 16 / 32 at full / half / quarter resolution, 4 extra 3^3 convolutions at the
latent resolution (receptive-field halo 6 cells = 24 voxels), batch 3 data crops + 3 prior
samples for the S2 descriptor loss (lags 0..24), AdamW 1e-3 with cosine decay to 1e-4, seed 0.
``--s2-weight 0`` is the ablation without the descriptor loss. ``--factor 2`` is the finer
variant: f = 2 (latent map 4 x 32^3 per crop), widths 8 / 32 at full / half resolution.
Resumes when OUT holds a checkpoint. ``--init`` starts from the weights of a checkpoint (or
a shipped model's name), to fine-tune it with another descriptor loss (``--s2-cut``,
``--s2-size``, ``--euler-weight``). Prints the loss formula and a row every 10 steps.
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


#: Architectures by latent factor f: the shipped models' (f = 4) and the finer variant.
ARCHITECTURES = {4: {"depth": 2, "max_channels": 48, "latent_channels": 8},
                 2: {"depth": 1, "max_channels": 32, "latent_channels": 4}}


def berea_config(s2_weight: float = 10.0, gamma: float = 1000.0, s2_rmax: int = 24,
                 s2_cut: str = "soft", factor: int = 4, euler_weight: float = 0.0,
                 s2_size: int | None = None) -> ModelConfig:
    """The shipped models' architecture and loss (the same for both media)."""
    return ModelConfig(kind="fisher", ndim=3, size=64, channels=8, blocks=1, latent_blocks=4,
                       gamma=gamma, s2_weight=s2_weight, s2_rmax=s2_rmax, s2_cut=s2_cut,
                       euler_weight=euler_weight, s2_size=s2_size,
                       **ARCHITECTURES[factor])


def initial_weights(model, source: str) -> None:
    """Load the network weights of checkpoint ``source`` (a path or a shipped model's name)
    into ``model`` (same architecture; the S2 target is recomputed from the data)."""
    from pathlib import Path

    from porevae.data import PRETRAINED, pretrained_path
    from porevae.vae import load_model

    path = pretrained_path(source) if source in PRETRAINED and not Path(source).exists() \
        else source
    state = {k: v for k, v in load_model(path).state_dict().items() if k != "s2_target"}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or set(missing) != {"s2_target"}:
        raise ValueError(f"--init {source}: another architecture (missing {missing}, "
                         f"unexpected {unexpected})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="run folder")
    ap.add_argument("--medium", choices=("berea", "spheres"), default="berea")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--s2-weight", type=float, default=10.0)
    ap.add_argument("--gamma", type=float, default=1000.0)
    ap.add_argument("--s2-rmax", type=int, default=24)
    ap.add_argument("--s2-cut", choices=("soft", "porosity"), default="soft")
    ap.add_argument("--euler-weight", type=float, default=0.0)
    ap.add_argument("--s2-size", type=int, default=None,
                    help="edge of the descriptor loss's prior samples (default the crop, 64)")
    ap.add_argument("--prior-batch", type=int, default=3)
    ap.add_argument("--init", help="start from this checkpoint's weights (or a shipped model)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--factor", type=int, choices=sorted(ARCHITECTURES), default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--stop-at", type=int, default=None,
                    help="stop (with a checkpoint) at this step, keeping the schedule of --steps")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = build_model(berea_config(args.s2_weight, args.gamma, args.s2_rmax, args.s2_cut,
                                     args.factor, args.euler_weight, args.s2_size), seed=0)
    if args.init:
        initial_weights(model, args.init)
    config = TrainConfig(steps=args.steps, batch_size=3, prior_batch=args.prior_batch,
                         lr=args.lr,
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
