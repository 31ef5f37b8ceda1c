"""Judge a generative model on its medium: the issue-10 bars for samples against real crops.

    python -m bench.judge_model --model berea [--crops 8 --crop-seed 0] [--sample-seed 0]
    python -m bench.judge_model --model spheres --crops 64
    python -m bench.judge_model --model runs/berea_ft2/checkpoint.pt --medium berea

``n`` samples of size^3 from the model (latent seed ``--sample-seed``), each cut at the medium's
porosity exactly, against ``--crops`` random size^3 crops (corners seeded by ``--crop-seed``)
of the reference: the Berea image, or for ``spheres`` an independent realization of the
training medium (``bench.train_shipped.SPHERES`` with seed 1). porevae's estimators on both
sides (:func:`porevae.vae.demo.berea_comparison`); prints the Markdown table with the bars.
"""

from __future__ import annotations

import argparse

import torch

from bench.train_shipped import SPHERES
from porevae.data import PRETRAINED, berea, berea_info, pretrained_path
from porevae.media import overlapping_spheres
from porevae.vae import generate, load_model
from porevae.vae.demo import BEREA, berea_comparison


def reference(medium: str):
    """(volume, porosity) of the reference: the Berea image, or a seed-1 sphere medium."""
    if medium == "berea":
        return berea(), berea_info()["porosity"]
    other = dict(SPHERES, seed=1)
    return overlapping_spheres(other["shape"], other["porosity"], other["radius"],
                               periodic=other["periodic"], seed=other["seed"]), other["porosity"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a shipped model's name or a checkpoint")
    ap.add_argument("--medium", choices=("berea", "spheres"),
                    help="reference medium (default: the shipped model's own)")
    ap.add_argument("-n", type=int, default=8, help="samples (default 8)")
    ap.add_argument("--size", type=int, default=128, help="edge of samples and crops")
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--crops", type=int, default=8, help="real crops (default 8)")
    ap.add_argument("--crop-seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if args.medium is None and args.model not in PRETRAINED:
        ap.error("--medium is needed for a checkpoint")
    torch.set_num_threads(args.threads)
    medium = args.medium or args.model
    path = pretrained_path(args.model) if args.model in PRETRAINED else args.model
    volume, porosity = reference(medium)
    samples = generate(load_model(path), args.n, (args.size,) * 3, seed=args.sample_seed,
                       porosity=porosity)
    name = BEREA if medium == "berea" else "an independent realization of the sphere medium"
    res = berea_comparison([s.astype(bool) for s in samples], real=volume,
                           n_real=args.crops, seed=args.crop_seed, reference=name)
    print(f"{args.model} on {medium}: porosity cut {porosity:.5f}, sample seed "
          f"{args.sample_seed}, crop seed {args.crop_seed}\n")
    print(res["markdown"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
