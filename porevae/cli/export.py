"""``porevae ensemble`` (realization folders + manifest) and ``porevae field`` (ERT step)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_transform_arguments(p) -> None:
    """Options of :class:`porevae.export.transforms.Transform`."""
    g = p.add_argument_group("property transform (permeability in mD, porosity as a fraction)")
    g.add_argument("--perm", choices=("exp", "geometric", "arithmetic", "gaussian"),
                   default="exp", help="K = exp(Y) (default); geometric: K = mean*exp(std*Z); "
                   "arithmetic: log-normal K with that mean and std; gaussian: Y as it is")
    g.add_argument("--perm-mean", type=float, default=100.0,
                   help="geometric or arithmetic mean of K [mD] (default 100)")
    g.add_argument("--perm-std", type=float, default=1.0,
                   help="log-std (geometric) or std [mD] (arithmetic) (default 1)")
    g.add_argument("--perm-min", type=float, help="truncate K below [mD]")
    g.add_argument("--perm-max", type=float, help="truncate K above [mD]")
    g.add_argument("--keyword", default="PERMX", help="name of the main field (default PERMX)")
    g.add_argument("--ky-kx", type=float, help="also write PERMY = ratio * PERMX")
    g.add_argument("--kv-kh", type=float, help="also write PERMZ = ratio * PERMX")
    g.add_argument("--poro", choices=("kozeny-carman", "power-law"),
                   help="also write PORO from K: K = C phi^3/(1-phi)^2, or phi = a K^b")
    g.add_argument("--kc-constant", type=float, help="Kozeny-Carman C [mD]")
    g.add_argument("--poro-a", type=float, help="power law a")
    g.add_argument("--poro-b", type=float, help="power law b")
    g.add_argument("--poro-min", type=float, help="truncate PORO below")
    g.add_argument("--poro-max", type=float, help="truncate PORO above")


def transform_from_args(args):
    from porevae.export.transforms import Transform

    params = {}
    if args.poro == "kozeny-carman":
        params = {"constant": args.kc_constant}
    elif args.poro == "power-law":
        params = {"a": args.poro_a, "b": args.poro_b}
    if any(v is None for v in params.values()):
        raise ValueError(f"--poro {args.poro} needs "
                         f"{'--kc-constant' if args.poro == 'kozeny-carman' else '--poro-a and --poro-b'}")
    return Transform(perm=args.perm, perm_mean=args.perm_mean, perm_std=args.perm_std,
                     perm_bounds=(args.perm_min, args.perm_max), keyword=args.keyword,
                     ky_kx=args.ky_kx, kv_kh=args.kv_kh, poro=args.poro, poro_params=params,
                     poro_bounds=(args.poro_min, args.poro_max))


def run_ensemble(args) -> int:
    from porevae.export.ensemble import write_ensemble

    t0 = time.perf_counter()
    m = write_ensemble(args.kle, args.out, args.n, args.seed, args.format,
                       transform_from_args(args), only=args.only, jobs=args.jobs,
                       dask=args.dask, chunk=args.chunk, grid_section=args.grid_section,
                       progress=not args.quiet)
    dt = time.perf_counter() - t0
    print(f"{args.out}: wrote {len(m['written'])} realization(s), skipped {len(m['skipped'])} "
          f"finished, {len(m['realizations'])} of {m['n']} done ({dt:.1f} s)")
    if args.only is not None:
        same = "differs from" if m["changed"] else "written as recorded in"
        print(f"realization {args.only} {same} the manifest: {m['realizations'][str(args.only)]}")
    return 0


def run_field(args) -> int:
    from porevae.export.ert import read_coefficients, write_priors
    from porevae.export.formats import write_fields
    from porevae.kle import KLE

    kle = KLE.load(args.kle)
    if args.write_priors:
        write_priors(args.write_priors, args.n_coefficients or kle.n_terms, args.prefix)
        print(f"{args.write_priors}: {args.n_coefficients or kle.n_terms} priors NORMAL 0 1")
        return 0
    xi = read_coefficients(args.parameters, kle.n_terms, args.group, args.prefix)
    fields = transform_from_args(args).apply_kle(kle.field(xi), kle)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    header = {"source": f"{Path(args.parameters).name} group {args.group}",
              "kle": Path(args.kle).name}
    names = write_fields(out, fields, kle.grid, args.format, header=header,
                         grid_section=args.grid_section)
    print(f"{out}: {', '.join(names)} from {kle.n_terms}-term KLE")
    return 0


def register(subparsers) -> None:
    from porevae.export.formats import FORMATS

    p = subparsers.add_parser(
        "ensemble", help="write an ensemble of realizations (one folder each) and a manifest",
        description="Realization i uses SeedSequence(seed, spawn_key=(i,)): any one is "
                    "regenerated bit for bit with --only i. A second run in the same folder "
                    "skips finished realizations (resume).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--kle", required=True, help="KLE file (porevae kle --save)")
    p.add_argument("-n", type=int, required=True, help="number of realizations")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True, help="ensemble folder")
    p.add_argument("--format", choices=FORMATS, default="grdecl")
    p.add_argument("--grid-section", choices=("dxdytops", "corner"),
                   help="grdecl: include the grid geometry")
    p.add_argument("--only", type=int, help="(re)write this realization only")
    p.add_argument("--jobs", type=int, default=1, help="local worker processes")
    p.add_argument("--dask", metavar="ADDRESS", help="Dask scheduler address (dask extra)")
    p.add_argument("--chunk", type=int, default=256, help="realizations per task")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_transform_arguments(p)
    p.set_defaults(func=run_ensemble)

    f = subparsers.add_parser(
        "field", help="ERT forward-model step: parameters.json (KLE coefficients) -> field file",
        description="Reads the GEN_KW group of KLE coefficients XI_0000, XI_0001, ... from "
                    "ERT's parameters.json and writes the field (e.g. PERMX.GRDECL) into --out "
                    "(the run folder). --write-priors makes the GEN_KW prior file instead.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    f.add_argument("--kle", required=True, help="KLE file (porevae kle --save)")
    f.add_argument("--parameters", default="parameters.json", help="ERT's parameter file")
    f.add_argument("--group", default="KLE", help="GEN_KW group name")
    f.add_argument("--prefix", default="XI_", help="coefficient names: PREFIX0000, ...")
    f.add_argument("--out", default=".", help="folder to write into")
    f.add_argument("--format", choices=FORMATS, default="grdecl")
    f.add_argument("--grid-section", choices=("dxdytops", "corner"),
                   help="grdecl: include the grid geometry")
    f.add_argument("--write-priors", metavar="PATH",
                   help="write the GEN_KW prior file (PREFIXnnnn NORMAL 0 1) and stop")
    f.add_argument("--n-coefficients", type=int,
                   help="with --write-priors: how many (default: all KLE terms)")
    add_transform_arguments(f)
    f.set_defaults(func=run_field)
