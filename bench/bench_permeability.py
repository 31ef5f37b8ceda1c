"""Permeability: porevae's D3Q19 TRT lattice Boltzmann Stokes solve on real Berea crops.

Crops of the shipped 400^3 Berea image (``porevae.data.berea()``), flow along axis 0, default
boundary conditions (4 free-fluid reservoir layers at each end, periodic along the axis, no-slip
lateral walls), float32, tol 1e-4. Per crop: wall time of one solve (after a warm-up solve that
compiles the kernels), the peak resident memory of the process during it against the stated
estimate (``permeability_memory``), k / dx^2, the steps and the connected pore fraction; then,
on the first crop, k under the other boundary conditions and with float64 populations (the
float32 check). The pore-network estimate (porespy + openpnm) and NASA PuMA are not run here
(see bench/RESULTS.md). Usage: ``python -m bench.bench_permeability [--quick] [--size 128]
[--crops 4]``; run timed figures under ``flock /tmp/porevae-heavy.lock``.
"""

from __future__ import annotations

import argparse
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="64^3 crops, 2 of them, no variants")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--crops", type=int, default=4)
    ap.add_argument("--no-variants", action="store_true")
    args = ap.parse_args(argv)
    import numba

    from porevae.data import berea

    size, n_crops = (64, 2) if args.quick else (args.size, args.crops)
    vol = berea()
    print(f"machine: {machine()}, numba {numba.__version__}, {numba.get_num_threads()} threads")
    solve(vol[:32, :32, :32])  # compile (cached kernels load here)
    rows = []
    print(f"\nBerea crops {size}^3, axis 0, reservoir 4, lateral wall, float32, tol 1e-4")
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
    if args.quick or args.no_variants:
        return 0
    x, y, z = CORNERS[0]
    crop = np.ascontiguousarray(vol[x:x + size, y:y + size, z:z + size])
    base = rows[0][0].k_voxel2
    print(f"\nVariants on crop {CORNERS[0]} (k relative to the default {base:.5f})")
    print("| variant | k/dx^2 | ratio | steps | s |")
    print("|---|---|---|---|---|")
    for name, kw in (("float64 populations", {"dtype": np.float64}),
                     ("lateral mirror (free slip)", {"lateral": "mirror"}),
                     ("lateral periodic", {"lateral": "periodic"}),
                     ("reservoir 2", {"reservoir": 2}),
                     ("reservoir 8", {"reservoir": 8}),
                     ("tol 1e-5", {"tol": 1e-5})):
        r, wall, _, _ = solve(crop, **kw)
        print(f"| {name} | {r.k_voxel2:.5f} | {r.k_voxel2 / base:.4f} | {r.steps} | "
              f"{wall:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
