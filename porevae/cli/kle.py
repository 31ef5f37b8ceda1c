"""``porevae kle``: build a KLE, print its energy table, save it."""

from __future__ import annotations

import math
import time

from porevae.cli import add_output, add_progress, check_out
from porevae.kle.registry import NAMES as SOLVER_NAMES

DEFAULT_LEVELS = (0.8, 0.9, 0.94, 0.96, 0.98)


def _cli_name(model_name: str) -> str:
    """A model's name as the CLI spells it (hyphenated: ``squared-exponential``)."""
    return model_name.replace("_", "-")


def _extra_parameters(models) -> dict:
    """``{parameter: [model classes that take it]}`` over the registry's extra parameters."""
    out: dict = {}
    for cls in models.values():
        for name in cls.parameters:
            out.setdefault(name, []).append(cls)
    return out


def add_model_arguments(p) -> None:
    """Grid and covariance options shared by the sub-commands that build a KLE. The ``--cov``
    choices, their extra flags (``--nu``, ``--convention``, ...), defaults and help all come from
    the registry :data:`porevae.covariance.MODELS`."""
    from porevae.covariance import METRICS, MODELS

    g = p.add_argument_group("grid")
    g.add_argument("--shape", type=int, nargs="+", metavar="N",
                   help="cells per axis (x y [z]); default 100 100")
    g.add_argument("--spacing", type=float, nargs="+",
                   help="cell size per axis (default: 1/shape, the unit square or cube)")
    g.add_argument("--origin", type=float, nargs="+", help="lower corner (default 0)")
    c = p.add_argument_group("covariance")
    formulas = "; ".join(f"{_cli_name(n)}: {cls.formula}" for n, cls in MODELS.items())
    c.add_argument("--cov", choices=[_cli_name(n) for n in MODELS], default="exponential",
                   help=f"covariance model rho(r), r = distance / l ({formulas}; default "
                        f"exponential)")
    c.add_argument("--length-scale", type=float, nargs="+",
                   help="correlation length l, one value or one per axis (grid units; "
                        "default 0.1; with --grid, required, in the grid file's units)")
    c.add_argument("--variance", type=float, default=1.0,
                   help="variance sigma^2 of the field (default 1)")
    c.add_argument("--metric", choices=METRICS, default=METRICS[0],
                   help=f"distance r: {' or '.join(METRICS)} (default {METRICS[0]}; l1 makes "
                        f"the exponential separable)")
    for name, classes in _extra_parameters(MODELS).items():
        par = classes[0].parameters[name]
        owners = ", ".join(f"--cov {_cli_name(cls.name)}: default {cls.defaults()[name]}"
                           for cls in classes)
        c.add_argument(f"--{name.replace('_', '-')}", type=par.type, choices=par.choices,
                       help=f"{par.help} ({owners})")
    c.add_argument("--azimuth", type=float,
                   help="bearing of the first principal axis (the first --length-scale), degrees "
                        "clockwise from north (+y); default: the principal axes are the grid axes")
    c.add_argument("--dip", type=float, default=0.0,
                   help="3-D: tilt of the first principal axis below the horizontal, degrees "
                        "(needs --azimuth; default 0)")
    c.add_argument("--rake", type=float, default=0.0,
                   help="3-D: rotation of the other two axes about the first, degrees (needs "
                        "--azimuth; default 0)")


def grid_from_args(args):
    """The regular grid of --shape/--spacing/--origin, or the corner-point grid of --grid."""
    from porevae import CornerPointGrid, Grid

    if getattr(args, "grid", None):
        given = [f for f, v in (("--shape", args.shape), ("--spacing", args.spacing),
                                ("--origin", args.origin)) if v is not None]
        if given:
            raise ValueError(f"--grid reads the cells from {args.grid}: drop {', '.join(given)}")
        if args.length_scale is None:
            raise ValueError("--grid needs --length-scale, in the grid file's length units "
                             "(metres in most models)")
        return CornerPointGrid.from_file(args.grid)
    return Grid(tuple(args.shape or (100, 100)), spacing=_one_or_many(args.spacing),
                origin=_one_or_many(args.origin))


def model_from_args(args):
    """The covariance model of ``--cov`` (a class of the registry) with its common options and
    the extra ones it takes; an extra flag given for a model that does not take it is refused."""
    from porevae.covariance import MODELS, model_class

    cls = model_class(args.cov)
    extras = {}
    for name, classes in _extra_parameters(MODELS).items():
        value = getattr(args, name, None)
        if value is None:
            continue
        if cls not in classes:
            flag = f"--{name.replace('_', '-')}"
            takes = " or ".join(f"--cov {_cli_name(c.name)}" for c in classes)
            raise ValueError(f"{flag} is a parameter of {takes}, not of --cov {args.cov}")
        extras[name] = value
    return cls(_one_or_many(args.length_scale or [0.1]), variance=args.variance,
               metric=args.metric, azimuth=args.azimuth, dip=args.dip, rake=args.rake, **extras)


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
    from porevae.kle.solvers import SOLVERS

    if args.out:
        check_out(args, inputs=[args.grid] if args.grid else ())
    grid, model = grid_from_args(args), model_from_args(args)
    if args.n_terms is None and args.energy is None:
        args.energy = 0.9
    t0 = time.perf_counter()
    kle = KLE(grid, model, n_terms=args.n_terms, energy=args.energy, solver=args.solver,
              dtype=args.dtype, mean=args.mean, progress=args.progress,
              weights=None if args.weights == "none" else args.weights)
    levels = args.levels
    if levels is None:  # a leading-only solver's table stops at the energy it computed
        levels = [lv for lv in DEFAULT_LEVELS if SOLVERS[kle.solver].full_spectrum_cheap
                  or lv <= kle.energy] or [max(0.001, math.floor(1000 * kle.energy) / 1000)]
    table = kle.energy_table(levels, progress=args.progress)
    print(f"{kle!r}  ({time.perf_counter() - t0:.1f} s)")
    print(format_energy_table({f"{args.cov} terms": table}))
    if args.out:
        kle.save(args.out)
        print(f"saved {args.out}")
    return 0


def register(sub) -> None:

    p = sub.add_parser("kle", help="build a KLE, print its energy table, save it (HDF5)",
                       description="Eigenpairs of the cell-centre covariance matrix on a regular "
                       "grid or the active cells of a corner-point grid (--grid); prints the "
                       "number of terms M for each energy level and saves the expansion for "
                       "`porevae sample`, `ensemble` and `field`.")
    add_model_arguments(p)
    p.add_argument("--grid", metavar="FILE",
                   help="a corner-point grid (.EGRID or .GRDECL: SPECGRID, COORD, ZCORN, ACTNUM) "
                        "instead of --shape: the KLE lives on its active cells (fields go out "
                        "over all cells, inactive ones filled, by `ensemble` and `field`)")
    p.add_argument("--weights", choices=("none", "volume"), default="none",
                   help="quadrature weights of the cells: none (default) or volume (each cell "
                        "by its bulk volume, so that refined cells do not dominate; solvers "
                        "dense and matfree)")
    trunc = p.add_mutually_exclusive_group()
    trunc.add_argument("--n-terms", type=int, help="number of terms M")
    trunc.add_argument("--energy", type=float, help="energy level in (0, 1] (default 0.9)")
    p.add_argument("--levels", type=float, nargs="+",
                   help="energy levels of the printed table (default 0.8 0.9 0.94 0.96 0.98; "
                        "with a solver of leading pairs only, those the KLE reaches: higher "
                        "levels cost more pairs)")
    p.add_argument("--solver", default="auto", choices=("auto", *SOLVER_NAMES),
                   help="eigen-solver (default auto: the first of "
                        f"{', '.join(SOLVER_NAMES)} that applies and fits)")
    p.add_argument("--dtype", default="float64", choices=("float64", "float32"),
                   help="precision of the eigenvectors and samples (default float64)")
    p.add_argument("--mean", type=float, default=0.0, help="mean of the Gaussian field (default 0)")
    add_output(p, "output file (HDF5); '' to skip saving", default="kle.h5")
    add_progress(p)
    p.set_defaults(func=run_kle)
