"""``porevae sample``: realizations of a saved KLE to one stack file."""

from __future__ import annotations

from porevae.cli import (
    add_count,
    add_progress,
    add_seed,
    add_wells,
    check_count,
    describe_wells,
    well_options,
)


def run_sample(args) -> int:
    from porevae.export.samples import load_kle, write_samples
    from porevae.media.io import check_volume_path

    check_volume_path(args.out)
    check_count(args.n, "-n")
    check_count(args.batch_size, "--batch-size")
    check_count(args.start, "--start", 0)
    check_count(args.seed, "--seed", 0)
    wells = well_options(args)
    if wells["data_space"] == "perm" and not args.lognormal:
        raise ValueError("--data-space perm needs --lognormal (the values are then K = exp(Y))")
    kle = load_kle(args.kle)
    source, attrs, note = kle, {"kle_file": str(args.kle)}, ""
    if args.wells:
        from porevae.export.transforms import Transform
        from porevae.export.wells import condition_on_wells

        source, attrs["wells"] = condition_on_wells(kle, args.wells, transform=Transform(),
                                                    **wells)
        note = f"; {describe_wells(attrs['wells'])}"
    write_samples(source, args.out, args.n, seed=args.seed, start=args.start,
                  lognormal=args.lognormal, batch_size=args.batch_size, progress=args.progress,
                  attrs=attrs)
    print(f"wrote {args.n} realizations {(args.n, *kle.grid.shape)} "
          f"({'exp(Y)' if args.lognormal else 'Gaussian Y'}) to {args.out}{note}")
    return 0


def register(sub) -> None:
    from porevae.export.samples import DEFAULT_BATCH
    from porevae.media.io import SUFFIXES

    p = sub.add_parser("sample", help="draw realizations of a saved KLE to one stack file",
                       description="Writes the stack (n, *grid.shape) block by block; "
                       "realization i is the same whatever -n, --start and --batch-size. "
                       "HDF5 output: dataset 'volume', readable by `porevae stats`.")
    p.add_argument("--kle", required=True, help="KLE file written by `porevae kle --out`")
    add_count(p, default=1)
    add_seed(p)
    p.add_argument("--start", type=int, default=0,
                   help="index of the first realization (default 0)")
    p.add_argument("--lognormal", action="store_true", help="write exp(Y) instead of Y")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH,
                   help=f"realizations sampled and written at a time (default {DEFAULT_BATCH})")
    p.add_argument("--out", required=True, help=f"output file: {', '.join(SUFFIXES)}")
    add_wells(p, "permeability K = exp(Y) in mD (needs --lognormal)")
    add_progress(p)
    p.set_defaults(func=run_sample)
