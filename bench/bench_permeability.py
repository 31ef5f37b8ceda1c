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
``--refine [R ...]``: the resolution study alone: two 64^3 sub-crops, each refined by the
factors R (default 1 2; each voxel split into R^3), periodic on all sides, and k extrapolated to
infinite resolution (Richardson, the order fitted to three factors): ``--refine 1 2 3 4``.
``--spheres [SIDE ...]``: the simple cubic sphere arrays against Zick & Homsy by cell side.
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


def refine(crop, r):
    """``crop`` refined ``r`` times: each voxel split into r^3 (the same union of voxel cubes)."""
    return crop.repeat(r, 0).repeat(r, 1).repeat(r, 2) if r > 1 else crop


def richardson(factors, ks):
    """Extrapolation of k(r) = k_inf + C r^-p (r the refinement factor, grid spacing 1/r) to
    r -> infinity. The order p from the last three points (solved from the ratio of their two
    differences) when there are three or more, with k_inf from those three; and k_inf for the
    assumed p = 2 (the square duct's error falls as 1/s^2: module docstring of
    porevae.media.permeability) from the last two points. Returns (p, k_inf(p), k_inf(2))."""
    import scipy.optimize

    r = np.asarray(factors, dtype=float)
    k = np.asarray(ks, dtype=float)
    k2 = (r[-1] ** 2 * k[-1] - r[-2] ** 2 * k[-2]) / (r[-1] ** 2 - r[-2] ** 2)
    if len(r) < 3:
        return None, None, k2
    (ra, rb, rc), (ka, kb, kc) = r[-3:], k[-3:]
    ratio = (ka - kb) / (kb - kc)

    def gap(p):
        return (ra**-p - rb**-p) / (rb**-p - rc**-p) - ratio

    try:
        p = scipy.optimize.brentq(gap, 0.05, 8.0)
    except ValueError:  # not monotone or out of range: no order
        return None, None, k2
    c = (ka - kb) / (ra**-p - rb**-p)
    return p, kc - c * rc**-p, k2


def extrapolate(factors, study):
    """Print the Richardson extrapolation of each corner's k(r) (``study``: corner -> k at each
    of ``factors``): the order p fitted to every three consecutive factors (the check of the
    assumed order), k_inf from the last three and from the last two with p = 2, and each
    resolution's k (and PuMA's, where known) against k_inf of the last three."""
    if len(factors) < 2:
        return
    triples = [factors[i:i + 3] for i in range(len(factors) - 2)]
    head = ([f"order p ({', '.join(map(str, t))})" for t in triples]
            + (["k_inf (p, last 3)"] if triples else []) + ["k_inf (p = 2, last 2)"]
            + [f"k(r={r}) / k_inf - 1" for r in factors] + ["PuMA / k_inf - 1"])
    print("\n| corner | " + " | ".join(head) + " |")
    print("|---|" + "---|" * len(head))
    for corner, ks in study.items():
        p, kp, k2 = richardson(factors, ks)
        ref = kp if kp is not None else k2
        cells = ["-" if o is None else f"{o:.2f}"
                 for o in (richardson(t, ks[i:i + 3])[0] for i, t in enumerate(triples))]
        cells += (["-" if kp is None else f"{kp:.5f}"] if triples else []) + [f"{k2:.5f}"]
        cells += [f"{k / ref - 1:+.3f}" for k in ks]
        puma = PUMA_SUBCROP.get(tuple(corner), {})
        cells.append(", ".join(f"{r}x {v / ref - 1:+.3f}" for r, v in puma.items()) or "-")
        print(f"| {tuple(corner)} | " + " | ".join(cells) + " |", flush=True)


#: PuMA's k/dx^2 (minres tol 1e-8, periodic on all sides) of the 64^3 sub-crop (0,0,0), native
#: and refined 2x (bench/RESULTS.md, session 2026-12-07: 61 s and 418 s).
PUMA_SUBCROP = {(0, 0, 0): {1: 0.03916, 2: 0.02438}}


def refine_check(vol, factors=(1, 2), size=64, corners=((0, 0, 0), (64, 64, 64)), tol=1e-4):
    """Resolution convergence of k on ``size``^3 sub-crops: each refined by every factor r in
    ``factors`` (the same union of voxel cubes, each split into r^3: the discretization error
    of the throats alone), periodic on all sides (``reservoir=0, lateral="periodic"``: the PuMA
    comparison's problem), k of the refined image in coarse voxel^2 (k_fine / r^2); then the
    Richardson extrapolation to r -> infinity (:func:`extrapolate`) and each resolution's k
    against it, PuMA's known values beside. With ``factors`` 1 and 2 only, also the default
    boundaries (reservoirs, walls)."""
    factors = sorted(set(int(f) for f in factors))
    print(f"\nResolution study: {size}^3 sub-crops refined {factors}x (each voxel split into "
          f"r^3), k/dx^2 in coarse voxel^2, tol {tol:g}, periodic on all sides")
    print("| corner | r | fluid nodes | k/dx^2 | k / native | steps | converged | s |")
    print("|---|---|---|---|---|---|---|---|")
    study = {corner: [] for corner in corners}
    for r in factors:  # the factor outside: a run cut short still has every corner's lower ones
        for (x, y, z), ks in study.items():
            crop = np.ascontiguousarray(vol[x:x + size, y:y + size, z:z + size])
            res, wall, _, _ = solve(refine(crop, r), tol=tol, reservoir=0, lateral="periodic")
            ks.append(res.k_voxel2 / r**2)
            nodes = round(res.connected_fraction * res.porosity * (size * r) ** 3)
            print(f"| {(x, y, z)} | {r} | {nodes} | {ks[-1]:.5f} | {ks[-1] / ks[0]:.4f} | "
                  f"{res.steps} | {res.converged} | {wall:.0f} |", flush=True)
    extrapolate(factors, study)
    if factors == [1, 2]:
        print("\nDefault boundaries (reservoir 4, walls), refined 2x / native:")
        for x, y, z in corners:
            crop = np.ascontiguousarray(vol[x:x + size, y:y + size, z:z + size])
            a = solve(crop, tol=tol)[0].k_voxel2
            b = solve(refine(crop, 2), tol=tol)[0].k_voxel2 / 4
            print(f"| {(x, y, z)} | default | {a:.5f} | {b:.5f} | {b / a:.3f} |", flush=True)
    return study


#: Zick & Homsy (1982), Table 2, simple cubic array: solid fraction -> drag K (as in
#: tests/test_media_permeability.py, which holds the same figures).
ZICK_HOMSY_SC = {0.064: 2.810, 0.125: 4.292, 0.216: 7.442, 0.343: 15.4}


def sangani_acrivos_sc(c):
    """Drag K of a simple cubic array by the series of Sangani & Acrivos (1982)."""
    x = c ** (1 / 3)
    return 1 / (1 - 1.7601 * x + x**3 - 1.5593 * x**6 + 3.9799 * x**8 - 3.0734 * x**10)


def sphere_study(sides, fractions=(0.064, 0.125, 0.216, 0.343), tol=1e-6, tau=5.0):
    """Drag error of the voxel sphere in a simple cubic cell against Zick & Homsy, by cell side:
    the voxel sphere whose solid fraction is nearest the table's, a the radius of its
    equal-volume sphere, the reference carried to the voxels' c by the Sangani & Acrivos series
    (as the tests do). Solved as the quarter between the cell's symmetry planes with free-slip
    faces at tau 5 (the steady state does not depend on tau with the TRT parameter fixed; the
    tests hold both). a_h: the hydrodynamic radius (the smooth sphere whose reference drag gives
    the measured k in the same cell); amplif = 1 + 3 c dlnK/dc: the factor from a relative radius
    error to the drag error."""
    import scipy.optimize

    from porevae.media import _stokes

    def ref(c, ct):
        return ZICK_HOMSY_SC[ct] * sangani_acrivos_sc(c) / sangani_acrivos_sc(ct)

    print(f"\nSimple cubic sphere arrays against Zick & Homsy, tol {tol:g}, quarter cells, "
          f"tau {tau:g}")
    print("| c (table) | side | c (voxels) | a | steps | s | K error | a_h - a | amplif |")
    print("|---|---|---|---|---|---|---|---|---|")
    for ct in fractions:
        for side in sides:
            x = np.arange(side) - (side - 1) / 2
            r2 = x[:, None, None] ** 2 + x[None, :, None] ** 2 + x[None, None, :] ** 2
            shells = np.unique(r2)
            inside = np.searchsorted(np.sort(r2.ravel()), shells, side="right") / side**3
            img = r2 > shells[np.argmin(abs(inside - ct))]
            c = 1.0 - img.mean()
            a = side * (3 * c / (4 * np.pi)) ** (1 / 3)
            h = side // 2
            t0 = time.perf_counter()
            k, steps, _, _ = _stokes.run(np.ascontiguousarray(img[:, h:, h:]), 0, side,
                                         ("mirror", "mirror"), tol=tol, max_steps=1_000_000,
                                         tau=tau)
            wall = time.perf_counter() - t0
            err = side**3 / (6 * np.pi * a * k) / ref(c, ct) - 1
            a_h = scipy.optimize.brentq(
                lambda b, n=side, ct=ct, k=k:
                n**3 / (6 * np.pi * b * ref(4 * np.pi * b**3 / (3 * n**3), ct)) - k,
                0.8 * a, 1.2 * a)
            d = 1e-4
            amplif = 1 + 3 * c * (np.log(ref(c + d, ct)) - np.log(ref(c - d, ct))) / (2 * d)
            print(f"| {ct} | {side} | {c:.4f} | {a:.2f} | {steps} | {wall:.1f} | "
                  f"{100 * err:+.2f} % | {a_h - a:+.3f} | {amplif:.2f} |", flush=True)


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
    ap.add_argument("--refine", nargs="*", type=int, metavar="R", help="only the resolution "
                    "study: k of two 64^3 sub-crops refined by each factor R (each voxel split "
                    "into R^3; default 1 2), periodic on all sides, tol 1e-4, and the Richardson "
                    "extrapolation to infinite resolution (three or more factors: the order too)")
    ap.add_argument("--spheres", nargs="*", type=int, metavar="SIDE", help="only the sphere "
                    "array study: drag error against Zick & Homsy by cell side (default 16 24 "
                    "32 48 64 96 128; c = 0.064, 0.125, 0.216, 0.343)")
    ap.add_argument("--write-masks", metavar="DIR", help="write the connected pore space of each "
                    "crop (periodic domain, as porevae solves it with reservoir=0, "
                    "lateral='periodic') as DIR/crop_X_Y_Z.npy for bench/puma_reference.py "
                    "--masks, and stop")
    args = ap.parse_args(argv)
    import numba

    from porevae.data import berea

    if args.spheres is not None:
        print(f"machine: {machine()}, numba {numba.__version__}, {numba.get_num_threads()} "
              f"threads")
        sphere_study(args.spheres or (16, 24, 32, 48, 64, 96, 128))
        return 0
    size, n_crops = (64, 2) if args.quick else (args.size, args.crops)
    vol = berea()
    if args.refine is not None:
        print(f"machine: {machine()}, numba {numba.__version__}, {numba.get_num_threads()} "
              f"threads")
        refine_check(vol, args.refine or (1, 2))
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
