"""``porevae sample``: realizations to one stack file, from a saved KLE (``--method kle``) or
exact ones by circulant embedding (``--method exact``, :mod:`porevae.kle.exact`)."""

from __future__ import annotations

from porevae.cli import (
    add_count,
    add_output,
    add_progress,
    add_seed,
    add_wells,
    check_count,
    check_out,
    describe_wells,
    well_options,
)
from porevae.cli.kle import add_model_arguments, grid_from_args, model_from_args

METHODS = ("kle", "exact")
#: flags of add_model_arguments that --method kle refuses (the KLE file holds grid and model)
_MODEL_FLAGS = ("shape", "spacing", "origin", "length_scale", "nu", "azimuth")


def exact_sampler(args):
    """The :class:`porevae.kle.exact.ExactSampler` of the grid and covariance flags."""
    from porevae.kle.exact import TOL, ExactSampler

    return ExactSampler(grid_from_args(args), model_from_args(args), mean=args.mean,
                        dtype=args.dtype, tol=TOL if args.tol is None else args.tol)


def check_method_flags(args) -> None:
    """Refuse the flags of the other method, naming them."""
    if args.method == "kle":
        given = [f"--{n.replace('_', '-')}" for n in _MODEL_FLAGS
                 if getattr(args, n, None) is not None]
        given += [f for f, v in (("--mean", args.mean), ("--dtype", args.dtype),
                                 ("--tol", args.tol)) if v is not None]
        if args.kle is None:
            raise ValueError("--method kle needs --kle FILE (written by `porevae kle --out`); "
                             "or draw exact fields with --method exact and the grid and "
                             "covariance flags")
        if given:
            raise ValueError(f"--method kle takes the grid, the covariance, the mean and the "
                             f"dtype from --kle {args.kle} (--tol is for --method exact): drop "
                             f"{', '.join(given)}")
    elif args.kle is not None:
        raise ValueError("--kle is for --method kle; --method exact takes the grid and "
                         "covariance flags (--shape, --cov, --length-scale, ...)")


def add_method_arguments(p) -> None:
    """``--method kle|exact`` with the flags of each: ``--kle`` (kle), the grid and covariance
    flags, ``--mean``, ``--dtype`` and ``--tol`` (exact); shared by ``sample`` and ``ensemble``
    (checked by :func:`check_method_flags`)."""
    p.add_argument("--method", choices=METHODS, default="kle",
                   help="kle (default): a saved KLE's truncated expansion; exact: circulant "
                        "embedding, the model's covariance exactly (regular grids)")
    p.add_argument("--kle", help="--method kle: KLE file written by `porevae kle --out`")
    add_model_arguments(p)
    p.add_argument("--mean", type=float,
                   help="--method exact: mean of the Gaussian field (default 0)")
    p.add_argument("--dtype", choices=("float64", "float32"),
                   help="--method exact: precision of the fields (default float64)")
    p.add_argument("--tol", type=float,
                   help="--method exact: largest change of a covariance entry, relative to the "
                        "variance, allowed from the clipped negative eigenvalues of the "
                        "embedding; its padding grows until it holds (default 1e-3: below what a "
                        "million realizations could see; 1e-10 for none)")


def run_sample(args) -> int:
    from porevae.export.samples import load_kle, write_samples
    from porevae.media.io import check_volume_path

    check_out(args, inputs=(args.kle, args.wells))
    check_volume_path(args.out)
    check_count(args.n, "-n")
    check_count(args.batch_size, "--batch-size")
    check_count(args.start, "--start", 0)
    check_count(args.seed, "--seed", 0)
    check_method_flags(args)
    wells = well_options(args)
    if wells["data_space"] == "perm" and not args.lognormal:
        raise ValueError("--data-space perm needs --lognormal (the values are then K = exp(Y))")
    if args.method == "kle":
        prior = load_kle(args.kle)
        attrs, what = {"kle_file": str(args.kle)}, ""
    else:
        if args.mean is None:
            args.mean = 0.0
        if args.dtype is None:
            args.dtype = "float64"
        prior = exact_sampler(args)
        attrs, what = {"method": "exact"}, f" exact (embedding {prior.embedding})"
    source, note = prior, ""
    if args.wells:  # a KLE posterior, or the exact sampler's kriging of the residuals
        from porevae.export.transforms import Transform
        from porevae.export.wells import condition_on_wells

        source, attrs["wells"] = condition_on_wells(prior, args.wells, transform=Transform(),
                                                    **wells)
        note = f"; {describe_wells(attrs['wells'])}"
    write_samples(source, args.out, args.n, seed=args.seed, start=args.start,
                  lognormal=args.lognormal, batch_size=args.batch_size, progress=args.progress,
                  attrs=attrs)
    print(f"wrote {args.n}{what} realizations {(args.n, *prior.grid.shape)} "
          f"({'exp(Y)' if args.lognormal else 'Gaussian Y'}) to {args.out}{note}")
    return 0


def register(sub) -> None:
    from porevae.export.samples import DEFAULT_BATCH
    from porevae.media.io import SUFFIXES

    p = sub.add_parser("sample", help="draw realizations of a saved KLE, or exact ones, to one "
                                      "stack file",
                       description="Writes the stack (n, *grid.shape) block by block; "
                       "realization i is the same whatever -n, --start and --batch-size. "
                       "--method kle (default) draws from a saved KLE (--kle); --method exact "
                       "draws fields with exactly the model's covariance on a regular grid by "
                       "circulant embedding (the grid and covariance flags; conditioning by "
                       "kriging the residuals). HDF5 output: dataset 'volume', readable by "
                       "`porevae stats`.")
    add_method_arguments(p)
    add_count(p, default=1)
    add_seed(p)
    p.add_argument("--start", type=int, default=0,
                   help="index of the first realization (default 0)")
    p.add_argument("--lognormal", action="store_true", help="write exp(Y) instead of Y")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH,
                   help=f"realizations sampled and written at a time (default {DEFAULT_BATCH})")
    add_output(p, f"output file: {', '.join(SUFFIXES)}")
    add_wells(p, "permeability K = exp(Y) in mD (needs --lognormal)")
    add_progress(p)
    p.set_defaults(func=run_sample)
