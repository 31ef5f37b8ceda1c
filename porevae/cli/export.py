"""``porevae ensemble`` (realization folders + manifest) and ``porevae field`` (ERT step)."""

from __future__ import annotations

import time
from pathlib import Path

DEFAULT_TOP = 2000.0  # m: depth of the top face


def add_transform_arguments(p) -> None:
    """Options of :class:`porevae.export.transforms.Transform` (help from its docstring)."""
    from porevae.cli import dataclass_help
    from porevae.export.transforms import PERM_MODES, Transform

    doc = dataclass_help(Transform, defaults=False)
    g = p.add_argument_group("property transform (permeability in mD, porosity as a fraction)")
    g.add_argument("--perm", choices=PERM_MODES,
                   help="exp: K = exp(Y); geometric: K = perm_mean * exp(perm_std * Z); "
                   "arithmetic: log-normal K of that mean and std; gaussian: Y as it is "
                   "(default: geometric when --perm-mean or --perm-std is given, else exp)")
    g.add_argument("--perm-mean", type=float, metavar="MD", help=doc["perm_mean"])
    g.add_argument("--perm-std", type=float, help=doc["perm_std"])
    g.add_argument("--perm-min", type=float, metavar="MD", help="truncate K below [mD]")
    g.add_argument("--perm-max", type=float, metavar="MD", help="truncate K above [mD]")
    g.add_argument("--keyword", default="PERMX", help=doc["keyword"] + " (default PERMX)")
    g.add_argument("--ky-kx", type=float,
                   help="PERMY = ratio * PERMX (default 1: PERMY is written with PERMX, as "
                        "simulators need it; not with --perm gaussian)")
    g.add_argument("--no-permy", action="store_true", help="do not write PERMY")
    g.add_argument("--kv-kh", type=float, help="also write PERMZ = ratio * PERMX")
    g.add_argument("--poro", choices=("kozeny-carman", "power-law"),
                   help="also write PORO from K: K = C phi^3/(1-phi)^2, or phi = a K^b")
    g.add_argument("--kc-constant", type=float, metavar="MD", help="Kozeny-Carman C [mD]")
    g.add_argument("--poro-a", type=float, help="power law a")
    g.add_argument("--poro-b", type=float, help="power law b")
    g.add_argument("--poro-min", type=float, help="truncate PORO below (fraction)")
    g.add_argument("--poro-max", type=float, help="truncate PORO above (fraction)")
    h = p.add_argument_group("geometry of the written cells (metres)")
    h.add_argument("--cell-size", type=float, nargs="+", metavar="M",
                   help="cell edge lengths DX DY [DZ] in metres (a 2-D grid's DZ is its layer "
                   "thickness). Default: the KLE grid's spacing in metres, or 50 50 5 when the "
                   "KLE lies on the unit square / cube (the default of `porevae kle`); a 2-D "
                   "grid's layers are 5 m thick")
    h.add_argument("--top", type=float, default=DEFAULT_TOP, metavar="M",
                   help=f"depth of the top face in metres (default {DEFAULT_TOP:g})")


def geometry_from_args(args) -> dict:
    return {"cell_size": args.cell_size or "auto", "top": args.top}


def transform_from_args(args):
    from porevae.export.transforms import Transform

    params = {}
    if args.poro == "kozeny-carman":
        params = {"constant": args.kc_constant}
    elif args.poro == "power-law":
        params = {"a": args.poro_a, "b": args.poro_b}
    if any(v is None for v in params.values()):
        need = "--kc-constant" if args.poro == "kozeny-carman" else "--poro-a and --poro-b"
        raise ValueError(f"--poro {args.poro} needs {need}")
    given = {"--kc-constant": args.kc_constant, "--poro-a": args.poro_a,
             "--poro-b": args.poro_b}
    unused = [k for k, v in given.items() if v is not None and
              k not in {"kozeny-carman": ("--kc-constant",),
                        "power-law": ("--poro-a", "--poro-b")}.get(args.poro, ())]
    if unused:
        raise ValueError(f"{', '.join(unused)} given without the --poro that uses it")
    perm = args.perm or ("geometric" if args.perm_mean is not None or args.perm_std is not None
                         else "exp")
    if args.no_permy and args.ky_kx is not None:
        raise ValueError("give --ky-kx or --no-permy, not both")
    ky_kx = None if args.no_permy or (perm == "gaussian" and args.ky_kx is None) else \
        (1.0 if args.ky_kx is None else args.ky_kx)
    return Transform(perm=perm, perm_mean=args.perm_mean, perm_std=args.perm_std,
                     perm_bounds=(args.perm_min, args.perm_max), keyword=args.keyword,
                     ky_kx=ky_kx, kv_kh=args.kv_kh, poro=args.poro, poro_params=params,
                     poro_bounds=(args.poro_min, args.poro_max))


def describe(tr) -> str:
    """One line saying what the transform does (printed, and so is the manifest)."""
    if tr.perm == "geometric":
        what = f"K = {tr.perm_mean:g} mD * exp({tr.perm_std:g} Z) (median {tr.perm_mean:g} mD)"
    elif tr.perm == "arithmetic":
        what = f"K log-normal with mean {tr.perm_mean:g} mD, std {tr.perm_std:g} mD"
    else:
        what = "K = exp(Y) [mD]" if tr.perm == "exp" else "Y written as it is"
    extra = [f"PERMY = {tr.ky_kx:g} PERMX"] if tr.ky_kx is not None else []
    extra += [f"PERMZ = {tr.kv_kh:g} PERMX"] if tr.kv_kh is not None else []
    extra += [f"PORO ({tr.poro})"] if tr.poro else []
    return f"{tr.keyword}: {what}" + (f"; {', '.join(extra)}" if extra else "")


def run_ensemble(args) -> int:
    from porevae._files import check_output
    from porevae.cli import check_count, describe_wells, well_options
    from porevae.cli.sample import check_method_flags, exact_sampler
    from porevae.export.ensemble import write_ensemble

    # writable, and no input; whether an existing folder is resumed, refused or replaced
    # (--overwrite) is write_ensemble's rule, decided before anything is written
    check_output(args.out, overwrite=True, inputs=(args.kle, args.wells), folder=True)
    check_count(args.n, "-n")
    check_count(args.seed, "--seed", 0)
    check_count(args.jobs, "--jobs")
    check_count(args.chunk, "--chunk")
    check_method_flags(args)
    tr = transform_from_args(args)
    wells = well_options(args)
    if args.method == "exact":
        args.mean = 0.0 if args.mean is None else args.mean
        args.dtype = args.dtype or "float64"
        source = exact_sampler(args)
    else:
        source = args.kle
    t0 = time.perf_counter()
    m = write_ensemble(source, args.out, args.n, args.seed, args.format, tr, only=args.only,
                       jobs=args.jobs, dask=args.dask, chunk=args.chunk,
                       grid_section=args.grid_section, geometry=geometry_from_args(args),
                       wells=args.wells, **wells, progress=args.progress,
                       overwrite=args.overwrite)
    dt = time.perf_counter() - t0
    note = f"; {describe_wells(m['wells'])}" if m["wells"] else ""
    if args.method == "exact":
        note += f"; exact fields (embedding {tuple(m['kle']['embedding'])})"
    print(f"{args.out}: wrote {len(m['written'])} realization(s), skipped {len(m['skipped'])} "
          f"finished, {len(m['realizations'])} of {m['n']} done ({dt:.1f} s); {describe(tr)}"
          f"{note}")
    if args.only is not None:
        same = "differs from" if m["changed"] else "written as recorded in"
        print(f"realization {args.only} {same} the manifest: {m['realizations'][str(args.only)]}")
    return 0


def run_field(args) -> int:
    from porevae._files import check_output, check_output_folder
    from porevae.cli import check_count, describe_wells, well_options
    from porevae.export.ert import read_coefficients, write_priors
    from porevae.export.formats import file_names, write_fields
    from porevae.export.samples import load_kle

    inputs = (args.kle, args.parameters, args.wells)
    if args.write_priors:
        check_output(args.write_priors, overwrite=args.overwrite, inputs=inputs,
                     what="--write-priors")
    else:
        check_output_folder(args.out)
        if args.n_coefficients is not None:
            raise ValueError("--n-coefficients is for --write-priors (the field uses the "
                             "coefficients found in --parameters)")
    wells = well_options(args)
    if args.write_priors and args.wells:
        raise ValueError("--wells is for writing the field, not --write-priors (the priors are "
                         "NORMAL 0 1 either way)")
    tr = None if args.write_priors else transform_from_args(args)
    if tr is not None and Path(args.out).is_dir():   # its files: refused if they exist
        for name in file_names(tr.keywords, args.format):
            check_output(Path(args.out) / name, overwrite=args.overwrite, inputs=inputs,
                         what="--out")
    kle = load_kle(args.kle)
    if args.write_priors:
        n = kle.n_terms if args.n_coefficients is None else \
            check_count(args.n_coefficients, "--n-coefficients", 1, kle.n_terms)
        write_priors(args.write_priors, n, args.prefix)
        print(f"{args.write_priors}: {n} priors NORMAL 0 1 (the KLE has {kle.n_terms} terms)")
        return 0
    xi = read_coefficients(args.parameters, kle.n_terms, args.group, args.prefix)
    header = {"source": f"{Path(args.parameters).name} group {args.group}",
              "kle": Path(args.kle).name}
    note = ""
    if args.wells:
        from porevae.export.wells import condition_on_wells

        post, record = condition_on_wells(kle, args.wells, transform=tr, **wells)
        y = post.field(xi)       # xi: ERT's standard normal z, through the conditional map
        header["wells"] = f"{Path(args.wells).name} sha256 {record['sha256'][:16]}"
        note = f"; {describe_wells(record)}"
    else:
        y = kle.field(xi)
    fields = tr.apply_kle(y, kle)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = write_fields(out, fields, kle.grid, args.format, header=header,
                         grid_section=args.grid_section, geometry=geometry_from_args(args))
    print(f"{out}: {', '.join(names)} from {kle.n_terms}-term KLE; {describe(tr)}{note}")
    return 0


def register(subparsers) -> None:
    from porevae._parallel import DEFAULT_CHUNK
    from porevae.cli import add_count, add_output, add_progress, add_seed, add_wells
    from porevae.cli.sample import add_method_arguments
    from porevae.export._check import FORMATS

    p = subparsers.add_parser(
        "ensemble", help="write an ensemble of realizations (one folder each) and a manifest",
        description="Realization i uses SeedSequence(seed, spawn_key=(i,)): any one is "
                    "regenerated bit for bit with --only i. A second run of the same ensemble "
                    "in the same folder skips finished realizations (resume); another ensemble "
                    "there is refused unless --overwrite. --method kle (default) draws from a "
                    "saved KLE (--kle); --method exact draws fields with exactly the model's "
                    "covariance on a regular grid (circulant embedding: the grid and covariance "
                    "flags, --mean, --dtype, --tol), recorded in the manifest so that any "
                    "realization is regenerated bit for bit.")
    add_method_arguments(p)
    add_count(p, required=True)
    add_seed(p, default=None, what="ensemble (realization i: spawn key i)")
    add_output(p, "ensemble folder, created if missing. A re-run with the same KLE, seed, "
                  "format, transform, geometry and wells resumes it (finished realizations are "
                  "kept, -n may grow: no work is lost); a folder holding another ensemble, or "
                  "other files without manifest.json, is refused unless --overwrite, which "
                  "removes its manifest.json and real-* folders first")
    p.add_argument("--format", choices=FORMATS, default="grdecl",
                   help="file format of each realization (default grdecl)")
    p.add_argument("--grid-section", choices=("dxdytops", "corner"),
                   help="grdecl: include the grid geometry (DX/DY/DZ/TOPS or COORD/ZCORN)")
    p.add_argument("--only", type=int, help="(re)write this realization only")
    p.add_argument("--jobs", type=int, default=1,
                   help="local worker processes (default 1: this process); the same files "
                        "whatever the number")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="run on a Dask cluster: a scheduler address, or 'local' for a local "
                        "cluster of --jobs workers (dask extra); the same files as without")
    p.add_argument("--chunk", type=int, default=DEFAULT_CHUNK,
                   help=f"realizations per task (default {DEFAULT_CHUNK})")
    add_progress(p)
    add_transform_arguments(p)
    add_wells(p, "permeability in mD, mapped to Y by the inverse of the --perm transform")
    p.set_defaults(func=run_ensemble)

    f = subparsers.add_parser(
        "field", help="ERT forward-model step: parameters.json (KLE coefficients) -> field file",
        description="Reads the GEN_KW group of KLE coefficients XI_0000, XI_0001, ... from "
                    "ERT's parameters.json and writes the field (e.g. PERMX.GRDECL) into --out "
                    "(the run folder). --write-priors makes the GEN_KW prior file instead.")
    f.add_argument("--kle", required=True, help="KLE file written by `porevae kle --out`")
    f.add_argument("--parameters", default="parameters.json",
                   help="ERT's parameter file (default parameters.json)")
    f.add_argument("--group", default="KLE", help="GEN_KW group name (default KLE)")
    f.add_argument("--prefix", default="XI_",
                   help="coefficient names: PREFIX0000, ... (default XI_)")
    add_output(f, "folder to write the field files into; a field file that exists there (or "
                  "--write-priors PATH) is refused unless --overwrite", default=".")
    f.add_argument("--format", choices=FORMATS, default="grdecl",
                   help="file format (default grdecl)")
    f.add_argument("--grid-section", choices=("dxdytops", "corner"),
                   help="grdecl: include the grid geometry")
    f.add_argument("--write-priors", metavar="PATH",
                   help="write the GEN_KW prior file (PREFIXnnnn NORMAL 0 1) and stop")
    f.add_argument("--n-coefficients", type=int,
                   help="with --write-priors: how many, 1 .. the KLE's terms (default all)")
    add_transform_arguments(f)
    add_wells(f, "permeability in mD, mapped to Y by the inverse of the --perm transform; "
                 "the GEN_KW coefficients are then those of the conditioned KLE")
    f.set_defaults(func=run_field)
