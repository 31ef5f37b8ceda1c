"""``porevae generate``: samples of any shape from a trained checkpoint or a shipped model."""

from __future__ import annotations

import math
from pathlib import Path

from porevae.cli import add_output, add_progress, add_seed, check_out


def _add_model_source(p) -> None:
    """The model to use: a checkpoint (or training folder) or ``--model NAME`` (shipped)."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("checkpoint", nargs="?", help="checkpoint.pt or the training folder")
    src.add_argument("--model", help="a model shipped with porevae: berea or spheres")


def register(subparsers) -> None:
    from porevae.vae.config import CUT_RULES

    g = subparsers.add_parser(
        "generate", help="draw samples of any shape from a trained or shipped VAE",
        description="Decode latent maps z ~ N(0, 1) (seeded per sample and latent block, with "
                    "the margin the decoder's receptive field needs, so that no face of a "
                    "sample differs from its interior) with a trained model, in chunks whose "
                    "result equals the whole-volume decode. Binary (Bernoulli) models write "
                    "uint8 0/1 (1 = pore) after --cut, by default each sample cut at the "
                    "training data's porosity recorded in the checkpoint, its pore space grown "
                    "from its most probable voxels through connected ones; Gaussian models "
                    "write float32. Written through porevae.media.io, one sample at a time: the "
                    "volume (*shape) for -n 1, a stack (n, *shape) with its stack flag "
                    "otherwise, with a checksum (what `porevae stats` reads back). Every "
                    "parameter and the memory need are checked before anything is decoded.")
    _add_model_source(g)
    g.add_argument("-n", "--n", type=int, default=1, help="number of samples (default 1)")
    g.add_argument("--shape", type=int, nargs="+", metavar="N",
                   help="voxels per axis, any positive ints; one value: a cube (default: the "
                        "training crop)")
    add_output(g, "output file: .npy, .tif, .raw (+ .json sidecar) or .h5")
    g.add_argument("--dataset", default="volume", help="HDF5 dataset name (default 'volume')")
    add_seed(g, what="latent noise")
    g.add_argument("--cut", choices=CUT_RULES, default="connected",
                   help="binary samples from pore probabilities: connected = each sample has "
                        "exactly the training data's porosity, recorded in the checkpoint, or "
                        "--porosity, grown from its most probable 70 %% through face-connected "
                        "voxels, so that isolated specks of unsure pore stay solid (default; a "
                        "checkpoint without that record falls back to mean); data = the same "
                        "porosity by a global threshold (the most probable voxels); mean = "
                        "each sample keeps its mean pore probability as porosity; half = "
                        "p >= 1/2; sample = a Bernoulli draw per voxel; none = float "
                        "probabilities")
    g.add_argument("--porosity", type=float,
                   help="with --cut connected, data or mean: each sample gets exactly this "
                        "porosity, in (0, 1) (default: the training data's)")
    g.add_argument("--chunk", type=int, default=None,
                   help="latent cells per axis decoded at a time (default: the largest chunk "
                        "whose decoder activations fit in 1 GiB); the result does not depend "
                        "on it")
    add_progress(g)
    g.add_argument("--device", default="cpu", help="torch device (default cpu)")
    g.set_defaults(func=run_generate)

    j = subparsers.add_parser(
        "judge", help="judge a generative model on its medium by porevae's bars",
        description="Generate -n samples of --size^3 (cut as `porevae generate` cuts them with "
                    "no flag: at the training data's porosity) and compare them with --crops "
                    "random crops of the reference medium on porevae's statistics: porosity "
                    "+-0.01, specific surface and mean chords +-5 %%, Euler density +-20 %%, "
                    "connected fraction +-0.05, radial S2 (r <= 32) <= 0.005 "
                    "(porevae.media.bars). Each row says yes / no when the difference is more "
                    "than 2 standard errors inside / outside its bar, noise otherwise. The "
                    "figures of the shipped models' cards come from this command; the table is "
                    "Markdown (redirect it to a file to keep it).")
    _add_model_source(j)
    j.add_argument("--reference", metavar="MEDIUM",
                   help="berea (the shipped image), spheres (an independent realization of the "
                        "shipped sphere model's medium) or a 3-D volume file (0/1, 1 = pore); "
                        "default: the shipped model's own medium")
    j.add_argument("-n", "--n", type=int, default=8, help="samples (default 8)")
    j.add_argument("--size", type=int, default=128,
                   help="edge of the samples and of the crops (default 128)")
    add_seed(j, what="latent noise of the samples")
    j.add_argument("--crops", type=int, default=8, help="random crops of the reference (default "
                                                        "8)")
    j.add_argument("--flow", action="store_true",
                   help="add the flow bars: permeability along x, y and z (porevae's Stokes "
                        "solver) and the tortuosity factor (TauFactor, the 'transport' extra) "
                        "+-15 %%, isolated pore fraction +-0.01; about 4 solves per volume, "
                        "half a minute each at 128^3 on 2 cores")
    j.add_argument("--cache", metavar="DIR",
                   help="with --flow: keep each volume's flow figures in DIR (created if "
                        "missing; one small JSON file per volume, named by a hash of its voxels, "
                        "with a checksum): a re-run after an interruption, or another model "
                        "judged against the same crops, solves only what DIR does not hold")
    j.add_argument("--crop-seed", type=int, default=0, help="seed of the crops' corners "
                                                            "(default 0)")
    j.add_argument("--porosity", type=float,
                   help="cut each sample at exactly this porosity instead of the training "
                        "data's")
    add_progress(j)
    j.set_defaults(func=run_judge)


def run_generate(args) -> int:
    from porevae._validation import check_disk
    from porevae.data import pretrained_path
    from porevae.media.io import HDF5_SUFFIXES, check_volume_path
    from porevae.vae import load_model
    from porevae.vae.generation import (
        check_generation_memory,
        check_request,
        check_shape,
        generate_file,
        resolve_cut,
    )

    # everything that does not need the model, before loading it
    source = pretrained_path(args.model) if args.model else Path(args.checkpoint)
    check_out(args, inputs=(source, source / "checkpoint.pt" if source.is_dir() else None))
    check_volume_path(args.out)
    n, porosity = check_request(args.n, args.cut, args.porosity, args.chunk)
    if args.shape is not None:
        check_shape(args.shape, len(args.shape))
    model = load_model(source, device=args.device)
    # what needs the model, before decoding
    shape = check_shape(args.shape or model.config.shape, model.config.ndim)
    rule, porosity = resolve_cut(model, args.cut, porosity)
    need = check_generation_memory(model, n, shape, args.chunk, rule, porosity=porosity,
                                   keep=Path(args.out).suffix.lower() in (".tif", ".tiff"))
    if Path(args.out).suffix.lower() not in HDF5_SUFFIXES:  # HDF5 is compressed: no bound
        check_disk(n * math.prod(shape) * (1 if rule is not None else 4), args.out, "--out")
    if rule is None:
        what = "float32 means"
    elif rule in ("connected", "data"):
        origin = "--porosity" if args.porosity is not None else \
            "the training data's, recorded in the checkpoint"
        how = "connected cut" if rule == "connected" else "global threshold"
        what = (f"binary (1 = pore), each sample cut at porosity {porosity:.5f} ({origin}; "
                f"{how})")
    elif rule == "mean" and args.cut in ("connected", "data"):
        what = ("binary (1 = pore), each sample at its mean pore probability: the checkpoint "
                "records no training-data porosity")
    else:
        what = f"binary (1 = pore), cut {rule!r}" + (
            f" at porosity {porosity:.5f}" if porosity is not None else "")
    print(f"generating {n} x {'x'.join(map(str, shape))} from {source}: {what}; memory need "
          f"{need['total'] / 2**20:.1f} MiB", flush=True)
    attrs = {"source": str(args.model or source), "seed": args.seed, "cut": rule or "none",
             "porosity": porosity}
    generate_file(model, args.out, n, shape, dataset=args.dataset, attrs=attrs, seed=args.seed,
                  cut=args.cut, porosity=args.porosity, chunk=args.chunk,
                  progress=args.progress)
    print(f"wrote {n} sample(s) of shape {shape} to {args.out}"
          + (f" (a stack {(n, *shape)})" if n > 1 else ""))
    return 0


def run_judge(args) -> int:
    from porevae.vae.demo import judge_model

    reference = args.reference or args.model
    if reference is None:
        raise ValueError("--reference is needed for a checkpoint (berea, spheres or a file)")
    if args.flow:
        solves = (args.n + args.crops) * 3
        print(f"flow bars: {solves} Stokes solves of {args.size}^3 and "
              f"{args.n + args.crops} diffusion solves; at 128^3 about half a minute each on 2 "
              f"cores", flush=True)
    res = judge_model(args.model or args.checkpoint, reference, n=args.n, size=args.size,
                      seed=args.seed, n_real=args.crops, crop_seed=args.crop_seed,
                      porosity=args.porosity, progress=args.progress, flow=args.flow,
                      cache=args.cache)
    print(f"{res['header']}\n\n{res['markdown']}")
    if args.cache:
        print(f"\nflow figures of {res['flow_cached']} of {args.n + args.crops} volumes read "
              f"from {args.cache}")
    return 0
