"""``porevae stats VOLUME``, ``porevae compare REFERENCE SAMPLES... --out DIR`` and
``porevae study dimension`` (VAE latent size vs KLE terms)."""

from __future__ import annotations

import json


def add_read_arguments(p) -> None:
    """How to read a volume and turn it into a binary image (1 = pore)."""
    g = p.add_argument_group("reading volumes (.npy, .raw/.bin, .tif/.tiff, .h5/.hdf5)")
    g.add_argument("--raw-shape", type=int, nargs="+", metavar="N",
                   help="shape of .raw/.bin files (required for them)")
    g.add_argument("--dtype", default="uint8", help="dtype of .raw/.bin files (default uint8)")
    g.add_argument("--byte-order", choices=("little", "big"), default="little",
                   help="byte order of .raw/.bin files (default little)")
    g.add_argument("--dataset", default="volume", help="HDF5 dataset (default 'volume')")
    g.add_argument("--threshold", help="binarise grey levels: 'otsu' or a number (default: the "
                   "volume must already be 0/1)")
    g.add_argument("--pore", choices=("dark", "bright"), default="dark",
                   help="with --threshold: pore is at or below (dark, default) or above it")
    g.add_argument("--periodic", action="store_true", help="periodic boundaries")


def read_binary(path, args, stack=0) -> list:
    """Read ``path`` with the options of :func:`add_read_arguments` as bool images.

    Returns a list: one image or, with ``stack`` = the images' dimensionality, every image of a
    file holding one more leading axis (a 3D file of 2D images, a 4D file of 3D images).
    """
    from pathlib import Path

    from porevae.media import binarize, read_volume
    from porevae.media._checks import as_binary
    from porevae.media.io import HDF5_SUFFIXES, RAW_SUFFIXES

    suffix = Path(path).suffix.lower()
    kwargs = {}
    if suffix in RAW_SUFFIXES:
        if not args.raw_shape:
            raise ValueError(f"{path}: raw volumes need --raw-shape (and --dtype)")
        kwargs = {"shape": tuple(args.raw_shape), "dtype": args.dtype,
                  "byte_order": args.byte_order}
    elif suffix in HDF5_SUFFIXES:
        kwargs = {"dataset": args.dataset}
    vol = read_volume(path, **kwargs)
    images = list(vol) if stack and vol.ndim == stack + 1 else [vol]
    if args.threshold is not None:
        t = args.threshold if args.threshold == "otsu" else float(args.threshold)
        return [binarize(v, threshold=t, pore=args.pore) for v in images]
    return [as_binary(v, f"volume in {path} (use --threshold for grey levels)") for v in images]


def run_stats(args) -> int:
    from porevae.media import scalar_statistics

    img = read_binary(args.volume, args)[0]
    stats = {"file": str(args.volume), "shape": list(img.shape),
             **scalar_statistics(img, periodic=args.periodic)}
    if args.json:
        print(json.dumps(stats, indent=1))
    else:
        width = max(len(k) for k in stats)
        for k, v in stats.items():
            print(f"{k:<{width}}  {v:.6g}" if isinstance(v, float) else f"{k:<{width}}  {v}")
    return 0


def run_compare(args) -> int:
    from porevae.media import compare

    ref = read_binary(args.reference, args)[0]
    samples = [img for path in args.samples for img in read_binary(path, args, stack=ref.ndim)]
    result = compare(ref, samples, out_dir=args.out, periodic=args.periodic)
    print(result.markdown())
    print(f"\nwrote {len(result.files)} files to {args.out}")
    return 0


def run_study_dimension(args) -> int:
    from porevae.study import dimension_study, study_markdown

    rows = dimension_study(dims=args.dims, covariances=args.covariances, size=args.size,
                           length_scale=args.length_scale, n_train=args.n_train,
                           n_test=args.n_test, n_generate=args.n_generate, steps=args.steps,
                           batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                           out_dir=args.out, progress=args.progress)
    print(study_markdown(rows))
    if args.out:
        print(f"\nwrote study.md, study.json and error_vs_dimension.png to {args.out}")
    return 0


def run_study_reconstruction(args) -> int:
    from porevae.study import reconstruction_study

    res = reconstruction_study(out_dir=args.out, shape=tuple(args.shape),
                               porosity=args.porosity, radius=args.radius, size=args.size,
                               steps=args.steps, n_samples=args.n_samples, kind=args.kind,
                               seed=args.seed, cut=args.cut, progress=args.progress)
    print(res["comparison"].markdown())
    print("\ntargets:")
    for t in res["targets"]:
        diff = f"{t['diff']:+.4f}" if t["kind"] == "abs" else f"{t['diff']:+.1%}"
        print(f"  {t['statistic']:<18} {diff:>9}  (target ±{t['tolerance']:g} {t['kind']}) "
              f"{'met' if t['met'] else 'NOT met'}")
    if args.out:
        print(f"\nwrote {len(res['comparison'].files)} files to {args.out}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("stats", help="morphology statistics of a binary volume",
                              description="Porosity, specific surface, mean chord lengths, "
                              "Euler characteristic density, connected fraction and mean pore "
                              "radius of a 2D/3D volume (1 = pore).")
    p.add_argument("volume", help="volume file")
    add_read_arguments(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_stats)

    p = subparsers.add_parser("compare", help="compare samples with a reference volume",
                              description="Statistics table, curve distances, plots and a "
                              "Markdown summary (summary.md) in --out.")
    p.add_argument("reference", help="reference volume file")
    p.add_argument("samples", nargs="+", help="sample volume files (a file holding one more "
                   "axis than the reference is a stack of samples)")
    p.add_argument("--out", required=True, help="output folder")
    add_read_arguments(p)
    p.set_defaults(func=run_compare)

    from porevae.study import COVARIANCES

    p = subparsers.add_parser("study", help="parameterization studies")
    studies = p.add_subparsers(dest="study", required=True, metavar="STUDY")
    q = studies.add_parser("dimension", help="VAE latent size vs KLE terms",
                           description="Train a Gaussian VAE per latent size d on KLE "
                           "log-permeability fields and compare with the KLE truncated to d "
                           "terms: held-out reconstruction error, variance and covariance of "
                           "generated fields.")
    q.add_argument("--dims", type=int, nargs="+", default=[8, 16, 32, 64, 128, 256])
    q.add_argument("--covariances", nargs="+", choices=sorted(COVARIANCES),
                   default=list(COVARIANCES))
    q.add_argument("--size", type=int, default=32, help="grid cells per axis (default 32)")
    q.add_argument("--length-scale", type=float, default=0.2,
                   help="covariance length scale on the unit square (default 0.2)")
    q.add_argument("--n-train", type=int, default=512)
    q.add_argument("--n-test", type=int, default=64)
    q.add_argument("--n-generate", type=int, default=256)
    q.add_argument("--steps", type=int, default=400, help="VAE training steps per model")
    q.add_argument("--batch-size", type=int, default=32)
    q.add_argument("--lr", type=float, default=2e-3)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--out", help="folder for study.md, study.json and the plot")
    q.add_argument("--progress", action="store_true")
    q.set_defaults(func=run_study_dimension)

    q = studies.add_parser("reconstruction", help="VAE reconstruction of a synthetic 3D medium",
                           description="Train a small VAE on crops of overlapping spheres, "
                           "generate media and compare their statistics with the medium's "
                           "(porosity, Sv, chord lengths, Euler density targets).")
    q.add_argument("--shape", type=int, nargs=3, default=[96, 96, 96])
    q.add_argument("--porosity", type=float, default=0.4)
    q.add_argument("--radius", type=float, default=4.0, help="sphere radius in voxels")
    q.add_argument("--size", type=int, default=32, help="training crop size (default 32)")
    q.add_argument("--steps", type=int, default=300)
    q.add_argument("--n-samples", type=int, default=16)
    q.add_argument("--kind", choices=("vae", "beta", "fisher"), default="fisher")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--cut", choices=("mean", "half"), default="mean",
                   help="binary samples from the pore probabilities: mean = each sample keeps "
                        "its mean probability as porosity (default); half = p >= 1/2")
    q.add_argument("--out", help="folder for the report")
    q.add_argument("--progress", action="store_true")
    q.set_defaults(func=run_study_reconstruction)
