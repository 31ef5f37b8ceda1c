"""``porevae stats VOLUME`` and ``porevae compare REFERENCE SAMPLES... --out DIR``.

Volumes are read through :mod:`porevae.media.io` (every format, stacks as stacks, raw sidecars
and checksums honoured), so what ``sample`` / ``generate`` write is read here as it is.
"""

from __future__ import annotations

import json
import math

# statistic -> power of the voxel size in its unit (lengths +1, densities -ndim, Sv -1)
_LENGTH_POWER = {"porosity": 0, "specific_surface": -1, "mean_pore_chord": 1,
                 "mean_solid_chord": 1, "euler_density": "-ndim", "connected_fraction": 0,
                 "mean_pore_radius": 1}


def _finite_number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError
    return value


def _threshold(text: str):
    if text == "otsu":
        return text
    try:
        return _finite_number(text)
    except ValueError:
        import argparse

        raise argparse.ArgumentTypeError(f"must be 'otsu' or a finite number, got {text!r}") \
            from None


def _positive(text: str) -> float:
    import argparse

    try:
        value = _finite_number(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def add_read_arguments(p) -> None:
    """How to read a volume and turn it into a binary image (1 = pore)."""
    from porevae.media.io import DATASET

    g = p.add_argument_group("reading volumes (.npy, .raw/.bin, .tif/.tiff, .h5/.hdf5)")
    g.add_argument("--dataset", help=f"HDF5 dataset (default {DATASET!r}, or the only one)")
    g.add_argument("--raw-shape", type=int, nargs="+", metavar="N",
                   help="shape of a foreign .raw/.bin file (porevae's carry a .json sidecar)")
    g.add_argument("--dtype", help="dtype of a foreign .raw/.bin file, e.g. uint8")
    g.add_argument("--byte-order", choices=("little", "big"),
                   help="byte order of a foreign .raw/.bin file (default little)")
    g.add_argument("--ndim", type=int, choices=(2, 3),
                   help="dimensionality of one image, for files that do not record whether a "
                        "3-D array is one volume or a stack of 2-D images (default: 3-D volume)")
    g.add_argument("--threshold", type=_threshold,
                   help="binarise grey levels or Gaussian fields: 'otsu' or a finite number "
                        "(default: the volume must already be 0/1)")
    g.add_argument("--pore", choices=("dark", "bright"), default="dark",
                   help="with --threshold: pore is at or below (dark, default) or above it")
    g.add_argument("--periodic", action="store_true", help="periodic boundaries")


def read_images(path, args, ndim=None):
    """The images of ``path`` as a bool stack ``(n, *shape)`` (options of
    :func:`add_read_arguments`; ``ndim`` overrides ``--ndim``)."""
    from porevae.media import binarize
    from porevae.media.io import RAW_SUFFIXES, read_stack

    kwargs = {"dataset": args.dataset}
    if str(path).lower().endswith(RAW_SUFFIXES):
        kwargs |= {"shape": tuple(args.raw_shape) if args.raw_shape else None,
                   "dtype": args.dtype, "byte_order": args.byte_order}
    elif args.raw_shape or args.dtype or args.byte_order:
        raise ValueError(f"--raw-shape, --dtype and --byte-order are for .raw/.bin files, not "
                         f"{path}")
    import numpy as np

    from porevae.media._checks import as_binary

    stack = read_stack(path, ndim=ndim or args.ndim, **kwargs)
    if args.threshold is None:
        try:
            return np.stack([as_binary(v, f"volume in {path}") for v in stack])
        except ValueError as exc:
            raise ValueError(f"{exc} (use --threshold for grey levels or fields)") from None
    return np.stack([binarize(v, threshold=args.threshold, pore=args.pore) for v in stack])


def physical_units(stats: dict, ndim: int, voxel_size: float | None) -> dict:
    """Scale voxel-unit statistics by ``voxel_size`` [um] (in place); returns ``{name: unit}``."""
    units = {}
    base = "um" if voxel_size else "voxel"
    for name, power in _LENGTH_POWER.items():
        p = -ndim if power == "-ndim" else power
        if voxel_size and p and name in stats and stats[name] is not None:
            stats[name] = stats[name] * voxel_size ** p
        units[name] = "1" if p == 0 else base if p == 1 else f"{base}^{p}"
    return units


def json_safe(stats: dict, notes: list) -> dict:
    """Non-finite floats -> None (JSON null) with a note each: ``json.dumps`` writes valid JSON."""
    out = {}
    for k, v in stats.items():
        if isinstance(v, float) and not math.isfinite(v):
            notes.append(f"{k} is {v} (e.g. no pore-solid interface); written as null")
            v = None
        out[k] = v
    return out


def run_stats(args) -> int:
    import numpy as np
    from tqdm.auto import tqdm

    from porevae.media import scalar_statistics

    images = read_images(args.volume, args)
    ndim = images.ndim - 1
    rows = [scalar_statistics(img, periodic=args.periodic)
            for img in tqdm(images, desc="images", unit="image", leave=False,
                            disable=not args.progress or len(images) == 1)]
    notes: list = []
    units = {}
    for row in rows:
        units = physical_units(row, ndim, args.voxel_size)
    head = {"file": str(args.volume), "shape": list(images.shape[1:]), "n": len(rows),
            "voxel_size_um": args.voxel_size, "units": units}
    if len(rows) == 1:
        result = head | json_safe(rows[0], notes)
    else:
        names = list(rows[0])
        table = np.array([[r[k] for k in names] for r in rows], dtype=float)
        with np.errstate(invalid="ignore"):
            mean, std = table.mean(axis=0), table.std(axis=0, ddof=1)
        result = head | {"mean": json_safe(dict(zip(names, mean.tolist())), notes),
                         "std": json_safe(dict(zip(names, std.tolist())), []),
                         "samples": [json_safe(r, []) for r in rows]}
    if notes:
        result["notes"] = sorted(set(notes))
    if args.json:
        print(json.dumps(result, indent=1, allow_nan=False))
        return 0
    print(f"{args.volume}: {len(rows)} image(s) of shape {tuple(images.shape[1:])}"
          + (f", voxel {args.voxel_size:g} um" if args.voxel_size else ", lengths in voxels"))
    stats = rows[0] if len(rows) == 1 else result["mean"]
    width = max(len(k) for k in stats)
    label = "value" if len(rows) == 1 else f"mean of {len(rows)}"
    print(f"{'statistic':<{width}}  {label:>12}" + ("" if len(rows) == 1 else f"  {'std':>12}")
          + "  unit")
    for k, v in stats.items():
        cell = "inf" if v is None else f"{v:12.6g}"
        extra = "" if len(rows) == 1 else \
            ("         n/a" if result["std"][k] is None else f"  {result['std'][k]:12.6g}")
        print(f"{k:<{width}}  {cell:>12}{extra}  {units.get(k, '')}")
    for note in result.get("notes", []):
        print(f"note: {note}")
    return 0


def run_compare(args) -> int:
    from porevae._files import check_output_folder
    from porevae.media import compare

    check_output_folder(args.out)
    ref = read_images(args.reference, args)
    if len(ref) != 1:
        raise ValueError(f"reference {args.reference} holds {len(ref)} images; give one")
    samples = [img for path in args.samples for img in read_images(path, args, ref.ndim - 1)]
    result = compare(ref[0], samples, out_dir=args.out, periodic=args.periodic)
    print(result.markdown())
    print(f"\nwrote {len(result.files)} files to {args.out}")
    return 0


def register(subparsers) -> None:
    from porevae.cli import add_progress

    p = subparsers.add_parser(
        "stats", help="morphology statistics of a binary volume or of each of a stack",
        description="Porosity, specific surface, mean chord lengths, Euler characteristic "
                    "density, connected fraction and mean pore radius of a 2D/3D volume "
                    "(1 = pore), or of every image of a stack (n, ...) with their mean and "
                    "std. Lengths in voxels, or in micrometres with --voxel-size.")
    p.add_argument("volume", help="volume file (.npy, .raw/.bin, .tif/.tiff, .h5/.hdf5)")
    add_read_arguments(p)
    p.add_argument("--voxel-size", type=_positive, metavar="UM",
                   help="voxel edge length in micrometres: Sv in 1/um, chords and radii in um, "
                        "Euler density per um^d")
    p.add_argument("--json", action="store_true",
                   help="print JSON (infinite values as null, with a note)")
    add_progress(p)
    p.set_defaults(func=run_stats)

    p = subparsers.add_parser("compare", help="compare samples with a reference volume",
                              description="Statistics table, curve distances, plots and a "
                              "Markdown summary (summary.md) in --out (lengths in voxels).")
    p.add_argument("reference", help="reference volume file")
    p.add_argument("samples", nargs="+", help="sample volume files (stacks give one sample per "
                   "image)")
    p.add_argument("--out", required=True, help="output folder")
    add_read_arguments(p)
    p.set_defaults(func=run_compare)
