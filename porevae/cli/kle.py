"""``porevae kle`` (build, print the energy table, save) and ``porevae sample`` (realizations)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import h5py
import numpy as np

from porevae._files import atomic_path

DEFAULT_LEVELS = (0.8, 0.9, 0.94, 0.96, 0.98)
COVARIANCES = ("exponential", "squared-exponential", "matern")


def add_model_arguments(p) -> None:
    """Grid and covariance options shared by the sub-commands that build a KLE."""
    g = p.add_argument_group("grid")
    g.add_argument("--shape", type=int, nargs="+", default=[100, 100],
                   help="cells per axis (x y [z]); default 100 100")
    g.add_argument("--spacing", type=float, nargs="+",
                   help="cell size per axis (default: 1/shape, the unit square or cube)")
    g.add_argument("--origin", type=float, nargs="+", help="lower corner (default 0)")
    c = p.add_argument_group("covariance")
    c.add_argument("--cov", choices=COVARIANCES, default="exponential")
    c.add_argument("--length-scale", type=float, nargs="+", default=[0.1],
                   help="correlation length, one value or one per axis (grid units)")
    c.add_argument("--variance", type=float, default=1.0)
    c.add_argument("--nu", type=float, default=1.5, help="Matern smoothness")
    c.add_argument("--metric", choices=("euclidean", "l1"), default="euclidean")
    c.add_argument("--convention", choices=("porevae", "sklearn"), default="porevae",
                   help="squared exponential: exp(-r^2/l^2) (porevae) or exp(-r^2/(2 l^2))")


def grid_from_args(args):
    from porevae import Grid

    return Grid(tuple(args.shape), spacing=_one_or_many(args.spacing),
                origin=_one_or_many(args.origin))


def model_from_args(args):
    from porevae import Exponential, Matern, SquaredExponential

    ls = _one_or_many(args.length_scale)
    if args.cov == "exponential":
        return Exponential(ls, variance=args.variance, metric=args.metric)
    if args.cov == "squared-exponential":
        return SquaredExponential(ls, variance=args.variance, metric=args.metric,
                                  convention=args.convention)
    return Matern(args.nu, ls, variance=args.variance, metric=args.metric)


def _one_or_many(values):
    if values is None:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def format_energy_table(tables: dict) -> str:
    """``{column label: {level: M}}`` -> an aligned text table, one row per level."""
    labels = list(tables)
    levels = sorted({lv for t in tables.values() for lv in t})
    widths = [max(len(lab), 8) for lab in labels]
    lines = ["energy  " + "  ".join(lab.rjust(w) for lab, w in zip(labels, widths))]
    for lv in levels:
        cells = [str(tables[lab].get(lv, "")).rjust(w) for lab, w in zip(labels, widths)]
        lines.append(f"{lv:6.2%}  " + "  ".join(cells))
    return "\n".join(lines)


def run_kle(args) -> int:
    from porevae import KLE

    grid, model = grid_from_args(args), model_from_args(args)
    if args.n_terms is None and args.energy is None:
        args.energy = 0.9
    t0 = time.perf_counter()
    kle = KLE(grid, model, n_terms=args.n_terms, energy=args.energy, solver=args.solver,
              dtype=args.dtype, mean=args.mean, progress=True)
    table = kle.energy_table(args.levels, progress=True)
    print(f"{kle!r}  ({time.perf_counter() - t0:.1f} s)")
    print(format_energy_table({f"{args.cov} terms": table}))
    if args.out:
        kle.save(args.out)
        print(f"saved {args.out}")
    return 0


def _check_fields_path(path) -> Path:
    path = Path(path)
    if path.suffix not in (".npy", ".h5"):
        raise ValueError(f"--out must end in .npy or .h5, got {path.name!r}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"--out folder {str(path.parent)!r} does not exist")
    return path


def save_fields(path, fields, attrs: dict) -> None:
    """Realizations to ``.npy`` or ``.h5`` (dataset ``fields``, attribute ``porevae``), atomically."""
    path = _check_fields_path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, fields)
        else:
            with h5py.File(tmp, "w") as f:
                f.create_dataset("fields", data=fields, chunks=(1, *fields.shape[1:]))
                f.attrs["porevae"] = json.dumps(attrs)


def run_sample(args) -> int:
    from porevae import KLE

    _check_fields_path(args.out)
    kle = KLE.load(args.kle)
    fields = kle.sample(args.n, seed=args.seed, start=args.start, progress=True)
    if args.lognormal:
        np.exp(fields, out=fields)
    save_fields(args.out, fields, {"kle": kle.params(), "seed": args.seed, "start": args.start,
                                   "n": args.n, "lognormal": args.lognormal})
    print(f"wrote {args.n} realizations {tuple(fields.shape)} to {args.out}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("kle", help="build a KLE, print its energy table, save it (HDF5)")
    add_model_arguments(p)
    trunc = p.add_mutually_exclusive_group()
    trunc.add_argument("--n-terms", type=int, help="number of terms M")
    trunc.add_argument("--energy", type=float, help="energy level in (0, 1] (default 0.9)")
    p.add_argument("--levels", type=float, nargs="+", default=list(DEFAULT_LEVELS),
                   help="energy levels of the printed table")
    p.add_argument("--solver", default="auto",
                   choices=("auto", "dense", "parity", "kron", "fft", "matfree"))
    p.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    p.add_argument("--mean", type=float, default=0.0, help="mean of the Gaussian field")
    p.add_argument("--out", default="kle.h5", help="output file (HDF5); '' to skip saving")
    p.set_defaults(func=run_kle)

    p = sub.add_parser("sample", help="draw realizations of a saved KLE to .npy or .h5")
    p.add_argument("--kle", required=True, help="file written by `porevae kle`")
    p.add_argument("-n", type=int, default=1, help="number of realizations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--start", type=int, default=0, help="index of the first realization")
    p.add_argument("--lognormal", action="store_true", help="write exp(Y) instead of Y")
    p.add_argument("--out", required=True, help="output .npy or .h5")
    p.set_defaults(func=run_sample)
