"""Permeability: porevae's D3Q19 TRT lattice Boltzmann Stokes solve on real Berea crops.

Crops of the shipped 400^3 Berea image (``porevae.data.berea()``), flow along axis 0, default
boundary conditions (4 free-fluid reservoir layers at each end, periodic along the axis, no-slip
lateral walls), float32, default tol (1e-3). Per crop: wall time of one solve (after a warm-up
solve that compiles the kernels), the peak resident memory of the process during it against the
stated estimate (``permeability_memory``), k / dx^2, the steps and the connected pore fraction.
Then, on the first crop: the time per lattice step of the AA pattern (the solver's) against the
plain two-lattice pull step (``_stokes.PullStepper``) in the same run, medians of 5 blocks of 50
steps after warm-up; and k under the other boundary conditions, with float64 populations (the
float32 check) and at tol 1e-4 / 1e-5. With ``--puma FILE`` (the JSON written by
``bench/puma_reference.py``, NASA PuMA's k on the same crops, domain periodic on all sides):
porevae's k of the same problem (``reservoir=0, lateral="periodic"``) beside PuMA's.
``--refine``: the resolution check alone (64^3 sub-crops against the same refined 2x).
Usage: ``python -m bench.bench_permeability [--quick] [--size 128] [--crops 4] [--puma FILE]``;
run timed figures under ``flock /tmp/porevae-heavy.lock``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from bench.common import machine, peak_rss_bytes, reset_peak_rss, rss_bytes

#: Crop corners in the 400^3 volume (voxels), far enough apart not to overlap at 128^3.
CORNERS = ((0, 0, 0), (136, 136, 136), (272, 272, 272), (0, 272, 136), (272, 0, 272),
           (136, 272, 0), (272, 136, 0), (0, 136, 272))


def solve(crop, **kw):
    from porevae.media.permeability import permeability, permeability_memory

    before = rss_bytes()
    reset_peak_rss()
    t0 = time.perf_counter()
    r = permeability(crop, **kw)
    wall = time.perf_counter() - t0
    return r, wall, peak_rss_bytes() - before, permeability_memory(
        crop.shape, int(np.count_nonzero(crop)), kw.get("reservoir", 4))


def step_ratio(crop, blocks=5, steps=50):
    """ms per lattice step of the AA stepper and of the two-lattice pull stepper on ``crop``
    (default boundaries), interleaved blocks, medians after a warm-up block each."""
    from porevae.media import _stokes
    from porevae.media.permeability import _percolating

    r = 4
    fluid = np.ones((crop.shape[0] + 2 * r,) + crop.shape[1:], dtype=bool)
    fluid[r:-r] = _percolating(crop, False, False)
    om_p = 1.0 / _stokes.TAU
    om_m = 1.0 / (0.5 + _stokes.MAGIC / (_stokes.TAU - 0.5))
    steppers = {}
    for cls in (_stokes.CpuStepper, _stokes.PullStepper):
        coords, tab = _stokes.build_table(fluid, ("wall", "wall"), aa=cls.AA)
        lo, hi = (int(np.searchsorted(coords[:, 0], v)) for v in (r, r + crop.shape[0]))
        steppers[cls.__name__] = (cls(tab, np.float32), lo, hi)
    times = {name: [] for name in steppers}
    for block in range(blocks + 1):
        for name, (advance, lo, hi) in steppers.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                advance(lo, hi, 1e-3, om_p, om_m)
            if block:  # the first block warms up
                times[name].append((time.perf_counter() - t0) / steps * 1e3)
    aa, pull = (float(np.median(times[n])) for n in ("CpuStepper", "PullStepper"))
    print(f"\nms per step on crop {CORNERS[0]}, {steppers['CpuStepper'][0].n} fluid nodes "
          f"(median of {blocks} x {steps} steps): AA {aa:.1f}, two-lattice pull {pull:.1f}, "
          f"ratio {pull / aa:.2f}")


def refine_check(vol, size=64, corners=((0, 0, 0), (64, 64, 64))):
    """k of ``size``^3 sub-crops at the image's resolution and refined 2x (the same union of
    voxel cubes, each split into 8: the discretization error of the throats), periodic and
    default boundaries; k of the refined image in coarse voxel^2 (k_fine / 4)."""
    print(f"\nResolution check: {size}^3 sub-crops, k/dx^2 native and refined 2x, tol 1e-4")
    print("| corner | boundaries | native k | steps | s | refined k | steps | s | refined / "
          "native |")
    print("|---|---|---|---|---|---|---|---|---|")
    for x, y, z in corners:
        crop = np.ascontiguousarray(vol[x:x + size, y:y + size, z:z + size])
        fine = crop.repeat(2, 0).repeat(2, 1).repeat(2, 2)
        for name, kw in (("periodic", dict(reservoir=0, lateral="periodic")),
                         ("default", {})):
            a, ta, _, _ = solve(crop, tol=1e-4, **kw)
            b, tb, _, _ = solve(fine, tol=1e-4, **kw)
            ratio = b.k_voxel2 / 4 / a.k_voxel2
            print(f"| {(x, y, z)} | {name} | {a.k_voxel2:.5f} | {a.steps} | {ta:.0f} | "
                  f"{b.k_voxel2 / 4:.5f} | {b.steps} | {tb:.0f} | {ratio:.3f} |", flush=True)


def compare_puma(vol, path):
    """porevae (reservoir 0, lateral periodic: PuMA's periodic domain) beside PuMA's k."""
    ref = json.loads(open(path).read())
    print(f"\nAgainst NASA PuMA ({ref['puma']}); porevae reservoir=0, lateral='periodic', "
          f"float32, tol 1e-3")
    print("| crop corner | size | porosity | porevae k/dx^2 | steps | s | PuMA k/dx^2 | PuMA s | "
          "PuMA peak GiB | porevae / PuMA - 1 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in ref["rows"]:
        (x, y, z), s = row["corner"], row["size"]
        crop = np.ascontiguousarray(vol[x:x + s, y:y + s, z:z + s])
        r, wall, _, _ = solve(crop, reservoir=0, lateral="periodic")
        print(f"| {tuple(row['corner'])} | {s} | {r.porosity:.4f} | {r.k_voxel2:.5f} | {r.steps} "
              f"| {wall:.1f} | {row['k_puma']:.5f} | {row['wall_s']:.0f} | "
              f"{row['peak_rss_gib']:.1f} | {r.k_voxel2 / row['k_puma'] - 1:+.3f} |", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="64^3 crops, 2 of them, no variants")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--crops", type=int, default=4)
    ap.add_argument("--no-variants", action="store_true")
    ap.add_argument("--puma", help="JSON of bench/puma_reference.py: compare on its crops")
    ap.add_argument("--refine", action="store_true", help="only the resolution check: k of "
                    "64^3 sub-crops against the same sub-crops refined 2x (each voxel split "
                    "into 8), tol 1e-4")
    ap.add_argument("--write-masks", metavar="DIR", help="write the connected pore space of each "
                    "crop (periodic domain, as porevae solves it with reservoir=0, "
                    "lateral='periodic') as DIR/crop_X_Y_Z.npy for bench/puma_reference.py "
                    "--masks, and stop")
    args = ap.parse_args(argv)
    import numba

    from porevae.data import berea

    size, n_crops = (64, 2) if args.quick else (args.size, args.crops)
    vol = berea()
    if args.refine:
        refine_check(vol)
        return 0
    if args.write_masks:
        from pathlib import Path

        from porevae.media.permeability import _percolating

        for x, y, z in CORNERS[:n_crops]:
            crop = np.ascontiguousarray(vol[x:x + size, y:y + size, z:z + size])
            np.save(Path(args.write_masks) / f"crop_{x}_{y}_{z}.npy",
                    _percolating(crop, True, True))
        return 0
    print(f"machine: {machine()}, numba {numba.__version__}, {numba.get_num_threads()} threads")
    solve(vol[:32, :32, :32])  # compile (cached kernels load here)
    rows = []
    print(f"\nBerea crops {size}^3, axis 0, reservoir 4, lateral wall, float32, tol 1e-3")
    print("| crop corner | porosity | connected | k/dx^2 | steps | converged | s | "
          "peak RSS MiB (stated) |")
    print("|---|---|---|---|---|---|---|---|")
    for corner in CORNERS[:n_crops]:
        x, y, z = corner
        crop = np.ascontiguousarray(vol[x:x + size, y:y + size, z:z + size])
        r, wall, peak, stated = solve(crop)
        rows.append((r, wall))
        print(f"| {corner} | {r.porosity:.4f} | {r.connected_fraction:.4f} | {r.k_voxel2:.5f} "
              f"| {r.steps} | {r.converged} | {wall:.1f} | {peak / 2**20:.0f} "
              f"({stated / 2**20:.0f}) |", flush=True)
    ks = np.array([r.k_voxel2 for r, _ in rows])
    walls = np.array([w for _, w in rows])
    print(f"\nk/dx^2 mean {ks.mean():.5f}, std {ks.std(ddof=1) if len(ks) > 1 else 0:.5f}; "
          f"wall median {np.median(walls):.1f} s, max {walls.max():.1f} s per crop")
    if args.puma:
        compare_puma(vol, args.puma)
    if args.quick or args.no_variants:
        return 0
    x, y, z = CORNERS[0]
    crop = np.ascontiguousarray(vol[x:x + size, y:y + size, z:z + size])
    step_ratio(crop)
    base = rows[0][0].k_voxel2
    print(f"\nVariants on crop {CORNERS[0]} (k relative to the default {base:.5f})")
    print("| variant | k/dx^2 | ratio | steps | s |")
    print("|---|---|---|---|---|")
    for name, kw in (("float64 populations", {"dtype": np.float64}),
                     ("lateral mirror (free slip)", {"lateral": "mirror"}),
                     ("lateral periodic", {"lateral": "periodic"}),
                     ("reservoir 2", {"reservoir": 2}),
                     ("reservoir 8", {"reservoir": 8}),
                     ("tol 1e-4", {"tol": 1e-4}),
                     ("tol 1e-5", {"tol": 1e-5})):
        r, wall, _, _ = solve(crop, **kw)
        print(f"| {name} | {r.k_voxel2:.5f} | {r.k_voxel2 / base:.4f} | {r.steps} | "
              f"{wall:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
