"""``porevae generate``: samples of any shape from a trained checkpoint or a shipped model."""

from __future__ import annotations

import argparse
from pathlib import Path

GENERATE_SUFFIXES = (".npy", ".tif", ".tiff", ".raw", ".h5", ".hdf5")


def register(subparsers) -> None:
    g = subparsers.add_parser(
        "generate", help="draw samples of any shape from a trained or shipped VAE",
        description="Decode latent maps z ~ N(0, 1) (seeded per sample and latent block) with a "
                    "trained model, in chunks whose result equals the whole-volume decode. "
                    "Binary (Bernoulli) models write uint8 0/1 (1 = pore) after --cut; Gaussian "
                    "models write float32. Output through porevae.media.io: the volume (*shape) "
                    "for -n 1, a stack (n, *shape) otherwise (.raw with a .json sidecar; .h5 "
                    "always a stack, streamed one sample at a time). The memory need is "
                    "checked before anything is allocated.")
    src = g.add_mutually_exclusive_group(required=True)
    src.add_argument("checkpoint", nargs="?", help="checkpoint.pt or the training folder")
    src.add_argument("--model", help="a model shipped with porevae: berea or spheres")
    g.add_argument("-n", "--n", type=int, default=1, help="number of samples (default 1)")
    g.add_argument("--shape", type=int, nargs="+", metavar="N",
                   help="voxels per axis, any positive ints (default: the training crop)")
    g.add_argument("--out", required=True,
                   help=f"output file: {', '.join(GENERATE_SUFFIXES)}")
    g.add_argument("--dataset", default="volume", help="HDF5 dataset name (default 'volume')")
    g.add_argument("--seed", type=int, default=0, help="seed of the latent noise (default 0)")
    from porevae.vae import CUT_RULES

    g.add_argument("--cut", choices=CUT_RULES, default="mean",
                   help="binary samples from pore probabilities: mean = each sample keeps its "
                        "mean probability as porosity (default); half = p >= 1/2; sample = a "
                        "Bernoulli draw per voxel; none = float probabilities")
    g.add_argument("--porosity", type=float,
                   help="with --cut mean: each sample gets exactly this porosity")
    g.add_argument("--chunk", type=int, default=None,
                   help="latent cells per axis decoded at a time (default: the largest chunk "
                        "whose decoder activations fit in 1 GiB); the result does not depend "
                        "on it")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                   help="tqdm bar (default on)")
    g.add_argument("--device", default="cpu", help="torch device (default cpu)")
    g.set_defaults(func=run_generate)


def run_generate(args) -> int:
    import numpy as np

    from porevae.data import pretrained_path
    from porevae.media.io import HDF5_SUFFIXES, write_volume
    from porevae.vae import generate, load_model
    from porevae.vae.generation import check_generation_memory

    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in GENERATE_SUFFIXES:
        raise ValueError(f"--out must end in one of {list(GENERATE_SUFFIXES)}, got {out.name!r}")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"--out folder {str(out.parent)!r} does not exist")
    if args.n < 1 or (args.chunk is not None and args.chunk < 1):
        raise ValueError(f"-n and --chunk must be >= 1, got {args.n} and {args.chunk}")
    source = pretrained_path(args.model) if args.model else args.checkpoint
    model = load_model(source, device=args.device)
    shape = tuple(args.shape) if args.shape else model.config.shape
    if len(shape) == 1:
        shape = shape * model.config.ndim
    binary = model.config.likelihood == "bernoulli" and args.cut != "none"
    stream = suffix in HDF5_SUFFIXES
    need = check_generation_memory(model, args.n, shape, args.chunk, binary, keep=not stream)
    print(f"generating {args.n} x {'x'.join(map(str, shape))} from {source}: memory need "
          f"{need['total'] / 2**20:.1f} MiB", flush=True)
    kwargs = {"n": args.n, "shape": shape, "seed": args.seed, "cut": args.cut,
              "porosity": args.porosity, "chunk": args.chunk, "progress": args.progress}
    if stream:
        from porevae.vae.generation import generate_hdf5

        generate_hdf5(model, out, dataset=args.dataset, **kwargs)
        samples = None
    else:
        samples = generate(model, **kwargs)
        write_volume(out, samples[0] if args.n == 1 else samples)
    what = "binary (1 = pore)" if binary else "float32"
    if samples is not None and binary:
        what += f", porosity {float(np.mean(samples)):.4f}"
    print(f"wrote {args.n} sample(s) of shape {shape} ({what}) to {out}")
    return 0
