"""``porevae stats VOLUME`` and ``porevae compare REFERENCE SAMPLES... --out DIR``.

Volumes are read through :mod:`porevae.media.io` (every format, stacks as stacks, sidecars and
checksums honoured), so what ``sample`` / ``generate`` write is read here as it is, and turned
into pore / solid by :func:`porevae.media.segment` (``--pore-value``, ``--threshold``), whose
one-line description of what it did is printed with the results.
"""

from __future__ import annotations

import argparse
import json
import math

PORE_VALUES = ("0", "1", "255", "dark", "bright")


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
        raise argparse.ArgumentTypeError(f"must be 'otsu' or a finite number, got {text!r}") \
            from None


def _positive(text: str) -> float:
    try:
        value = _finite_number(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def add_read_arguments(p, samples: bool = False) -> None:
    """How to read a volume and say which voxels are pore (:func:`porevae.media.segment`);
    ``samples`` adds ``--sample-pore-value`` (``compare``)."""
    g = p.add_argument_group("reading volumes (.npy, .raw/.bin, .tif/.tiff, .h5/.hdf5)")
    g.add_argument("--dataset", help="HDF5 dataset (default 'volume', or the only one)")
    g.add_argument("--raw-shape", type=int, nargs="+", metavar="N",
                   help="shape of a foreign .raw/.bin file (porevae's carry a .json sidecar)")
    g.add_argument("--dtype", help="dtype of a foreign .raw/.bin file, e.g. uint8")
    g.add_argument("--byte-order", choices=("little", "big"),
                   help="byte order of a foreign .raw/.bin file (default little)")
    g.add_argument("--ndim", type=int, choices=(2, 3),
                   help="dimensionality of one image, for files that do not record whether a "
                        "3-D array is one volume or a stack of 2-D images (default: 3-D volume)")
    g = p.add_argument_group("which voxels are pore")
    what = "the reference" if samples else "the volume"
    g.add_argument("--pore-value", choices=PORE_VALUES,
                   help=f"pore in {what}: 0, 1 or 255 (two-valued data; 0/1 data default to "
                        f"1 = pore, porevae's convention; 0/255 data must say), or dark / "
                        f"bright for grey levels, cut at Otsu's threshold (or --threshold)")
    if samples:
        g.add_argument("--sample-pore-value", choices=PORE_VALUES,
                       help="the same for the samples (default: 1 = pore for 0/1 samples, as "
                            "porevae writes them; grey-level samples must say)")
    g.add_argument("--threshold", type=_threshold,
                   help="grey levels or Gaussian fields only (never applied to two-valued "
                        "data): 'otsu' or a finite number; pore at or below it unless "
                        "--pore-value bright")
    p.add_argument("--periodic", action="store_true", help="periodic boundaries")
    p.add_argument("--voxel-size", type=_positive, metavar="UM",
                   help="voxel edge length in micrometres: Sv in 1/um, chords, radii and "
                        "curve lags in um, Euler density per um^d, permeability in mD "
                        "(default: voxels)")
    p.add_argument("--permeability", type=int, nargs="*", choices=(0, 1, 2), metavar="AXIS",
                   help="add the absolute permeability (Stokes flow through the voxels) along "
                        "these axes, all of them if none are named (about a minute per 128^3 "
                        "image and axis)")


def read_images(path, args, pore_value, ndim=None):
    """``(images, description)``: the images of ``path`` as a bool stack ``(n, *shape)``
    (options of :func:`add_read_arguments`; ``ndim`` overrides ``--ndim``), pore as
    :func:`porevae.media.segment` says for ``pore_value``, and its one-line description."""
    from porevae.media.io import RAW_SUFFIXES, read_stack, segment

    kwargs = {"dataset": args.dataset}
    if str(path).lower().endswith(RAW_SUFFIXES):
        kwargs |= {"shape": tuple(args.raw_shape) if args.raw_shape else None,
                   "dtype": args.dtype, "byte_order": args.byte_order}
    elif args.raw_shape or args.dtype or args.byte_order:
        raise ValueError(f"--raw-shape, --dtype and --byte-order are for .raw/.bin files, not "
                         f"{path}")
    stack = read_stack(path, ndim=ndim or args.ndim, **kwargs)
    return segment(stack, pore_value, name=str(path), threshold=args.threshold)


def _permeability_axes(args, ndim: int) -> list:
    """The axes of ``--permeability`` (all ``ndim`` when given without any); refuses axis 2 of
    2-D images."""
    if args.permeability is None:
        return []
    axes = sorted(set(args.permeability)) or list(range(ndim))
    if axes[-1] >= ndim:
        raise ValueError(f"--permeability axis must be in [0, {ndim - 1}] for {ndim}-D images, "
                         f"got {axes[-1]}")
    return axes


def _shape(images) -> str:
    n = len(images)
    return f"{n} image{'s' * (n != 1)} of shape {tuple(images.shape[1:])}"


def run_stats(args) -> int:
    from porevae._progress import progress
    from porevae.media.report import (
        INFINITE,
        describe,
        json_safe,
        mean_std,
        permeability_statistics,
        scalar_statistics,
        to_physical,
    )
    from porevae.media.report import unit as unit_of

    images, segmentation = read_images(args.volume, args, args.pore_value)
    ndim = images.ndim - 1
    axes = _permeability_axes(args, ndim)
    rows, flow_notes = [], []
    for k, img in enumerate(progress(images, enable=args.progress, desc="stats", unit="image",
                                     leave=False)):
        st = scalar_statistics(img, periodic=args.periodic)
        if axes:
            flow, lines = permeability_statistics(img, axes)
            st.update(flow)
            flow_notes += [f"image {k}: {line}" if len(images) > 1 else line for line in lines]
        rows.append(to_physical(st, ndim, args.voxel_size))
    names = list(rows[0])
    units = {k: unit_of(k, ndim, args.voxel_size) for k in names}
    summary = {k: mean_std([r[k] for r in rows]) for k in names}
    notes = [f"{k} is infinite in {m} of {len(rows)} images ({INFINITE.get(k, 'no value')}): "
             f"null in JSON, mean and std over the other images" if len(rows) > 1 else
             f"{k} is infinite ({INFINITE.get(k, 'no value')}): null in JSON"
             for k, (_, _, m) in summary.items() if m] + flow_notes
    head = {"file": str(args.volume), "shape": list(images.shape[1:]), "n": len(rows),
            "voxel_size_um": args.voxel_size, "units": units, "segmentation": segmentation}
    if len(rows) == 1:
        result = head | rows[0]
    else:  # mean and std over the images whose value is finite
        result = head | {"mean": {k: v[0] for k, v in summary.items()},
                         "std": {k: v[1] for k, v in summary.items()}, "samples": rows}
    if notes:
        result["notes"] = notes
    result = json_safe(result)
    if args.json:
        print(json.dumps(result, indent=1, allow_nan=False))
        return 0
    print(f"{args.volume}: {_shape(images)}"
          + (f", voxel {args.voxel_size:g} um" if args.voxel_size else ", lengths in voxels"))
    print(segmentation)
    stats = result if len(rows) == 1 else result["mean"]
    width = max(len(k) for k in names)
    label = "value" if len(rows) == 1 else f"mean of {len(rows)}"
    print(f"{'statistic':<{width}}  {label:>24}" + ("" if len(rows) == 1 else f"  {'std':>12}")
          + "  unit")
    for k in names:
        cell = describe(stats[k]) if stats[k] is not None else INFINITE.get(k, "n/a")
        extra = "" if len(rows) == 1 else f"  {describe(result['std'][k], digits=3):>12}"
        print(f"{k:<{width}}  {cell:>24}{extra}  {units[k]}")
    for note in result.get("notes", []):
        print(f"note: {note}")
    return 0


def run_compare(args) -> int:
    from pathlib import Path

    from porevae.cli import check_out
    from porevae.media import compare

    check_out(args, inputs=[args.reference, *args.samples], folder=True)
    ref, ref_text = read_images(args.reference, args, args.pore_value)
    if len(ref) != 1:
        raise ValueError(f"reference {args.reference} holds {len(ref)} images; give one")
    samples, notes = [], [ref_text]
    for path in args.samples:
        images, text = read_images(path, args, args.sample_pore_value, ref.ndim - 1)
        samples.extend(images)
        notes.append(f"{text} ({_shape(images)})")
    for line in notes:
        print(line)
    names = ", ".join(Path(p).name for p in args.samples)
    result = compare(ref[0], samples, out_dir=args.out, periodic=args.periodic,
                     permeability_axes=_permeability_axes(args, ref.ndim - 1),
                     voxel_size=args.voxel_size, names=(Path(args.reference).name, names),
                     notes=notes, progress=args.progress)
    for line in result.notes[len(notes):]:
        print(line)
    print(result.markdown())
    print(f"\nwrote {len(result.files)} files to {args.out}")
    return 0


def register(subparsers) -> None:
    from porevae.cli import add_output, add_progress

    p = subparsers.add_parser(
        "stats", help="morphology statistics of a binary volume or of each of a stack",
        description="Porosity, specific surface, mean chord lengths, Euler characteristic "
                    "density, connected fraction and mean pore radius of a 2D/3D volume "
                    "(1 = pore unless --pore-value says otherwise), or of every image of a "
                    "stack (n, ...) with their mean and std. Lengths in voxels, or in "
                    "micrometres with --voxel-size.")
    p.add_argument("volume", help="volume file (.npy, .raw/.bin, .tif/.tiff, .h5/.hdf5)")
    add_read_arguments(p)
    p.add_argument("--json", action="store_true",
                   help="print JSON (infinite values as null, with a note)")
    add_progress(p)
    p.set_defaults(func=run_stats)

    p = subparsers.add_parser("compare", help="compare samples with a reference volume",
                              description="Statistics table, curve distances, plots and a "
                              "Markdown summary (summary.md) in --out; lengths in voxels or, "
                              "with --voxel-size, micrometres.")
    p.add_argument("reference", help="reference volume file")
    p.add_argument("samples", nargs="+", help="sample volume files (stacks give one sample per "
                   "image)")
    add_output(p, "output folder (created; refused if it exists, unless --overwrite)")
    add_read_arguments(p, samples=True)
    add_progress(p)
    p.set_defaults(func=run_compare)
