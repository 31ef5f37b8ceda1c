"""Morphology statistics: porevae vs porespy 3.2 on 128**3 and 256**3 Boolean-sphere volumes.

Like with like, on the same bool volume (1 = pore, non-periodic):

* S2: ``porevae.media.two_point_correlation(im, bins=...)`` with porespy's default shells
  (width ceil(n/200), [0, w), [w, 2w), ... up to n//2) vs
  ``porespy.metrics.two_point_correlation(im).probability_scaled`` (porespy 3.2 zero-pads,
  divides by overlap counts and averages each lag vector equally in a shell).
* lineal path L(r), r = 0..n//2, pooled over the three axes: ``porevae.media.lineal_path`` vs
  L(r) counted from ``porespy.filters.distance_transform_lin(im, axis, "forward")`` (a voxel
  whose forward run length exceeds r starts a pore segment of r steps).
* pore-size distribution: ``porevae.media.pore_size_distribution(im, integer_radii=True)`` vs
  the unit-bin histogram of ``porespy.filters.local_thickness(im)`` (method "bf", every integer
  radius) over the pore voxels; the two local-thickness images are compared voxel by voxel.

Times are medians after warm-up, both libraries in the same process with their default
threading. Without porespy the porevae times are still printed. Usage:
``python -m bench.bench_media [--sizes 128 256] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys

import numpy as np

from bench.common import median_time


def _porespy():
    try:
        import porespy
    except ImportError as exc:
        print(f"porespy not importable ({exc}); timing porevae only. Install the optional "
              f"'validate' extra (porespy>=3.2,<3.3) to compare.", file=sys.stderr)
        return None
    return porespy


def _ps_lineal(ps, im, r_max):
    count = np.zeros(r_max + 1)
    positions = np.zeros(r_max + 1)
    r = np.arange(r_max + 1)
    for axis in range(im.ndim):
        runs = ps.filters.distance_transform_lin(im, axis=axis, mode="forward")
        hist = np.bincount(runs.ravel().astype(np.int64), minlength=r_max + 2)
        above = np.cumsum(hist[::-1])[::-1]  # voxels with run >= k
        count += above[r + 1]
        n = im.shape[axis]
        positions += im.size // n * (n - r)
    return count / positions


def _ps_psd(ps, im, edges):
    lt = ps.filters.local_thickness(im)
    return lt, np.histogram(lt[im], bins=edges)[0] / np.count_nonzero(im)


def run_size(n, repeat, ps, seed=0):
    import porevae.media as pm

    im = pm.overlapping_spheres((n, n, n), porosity=0.5, radius=6.0, periodic=False, seed=seed)
    r_max = n // 2
    width = max(1, -(-r_max // 100))  # porespy's default: at most 100 shells of integer width
    bins = np.arange(0, r_max + width, width)
    row = {"n": n, "porosity": pm.porosity(im)}

    def s2_ours():
        return pm.two_point_correlation(im, bins=bins)[1]

    def lp_ours():
        return pm.lineal_path(im, r_max=r_max)[1]

    lt_ours = pm.local_thickness(im, integer_radii=True)
    edges = np.arange(1, np.floor(lt_ours.max()) + 2)

    def psd_ours():
        return pm.pore_size_distribution(im, bins=edges, integer_radii=True)[1]

    ours = {"s2": s2_ours, "lineal_path": lp_ours, "psd": psd_ours}
    theirs = {}
    if ps is not None:
        theirs = {"s2": lambda: ps.metrics.two_point_correlation(im).probability_scaled,
                  "lineal_path": lambda: _ps_lineal(ps, im, r_max),
                  "psd": lambda: _ps_psd(ps, im, edges)[1]}
    for name, fn in ours.items():
        row[f"{name}_porevae_s"] = median_time(fn, repeat=repeat, warmup=1)
        if name in theirs:
            row[f"{name}_porespy_s"] = median_time(theirs[name], repeat=repeat, warmup=1)
            row[f"{name}_speedup"] = row[f"{name}_porespy_s"] / row[f"{name}_porevae_s"]
            a, b = fn(), theirs[name]()
            row[f"{name}_max_abs_diff"] = float(np.max(np.abs(a - b)))
    if ps is not None:
        lt_ps = _ps_psd(ps, im, edges)[0]
        row["local_thickness_voxels_differing"] = int(np.count_nonzero(lt_ps != lt_ours))
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    ps = _porespy()
    if ps is not None:
        print(f"porespy {ps.__version__}")
    print(f"python {platform.python_version()}, {platform.machine()}")
    rows = []
    for n in args.sizes:
        row = run_size(n, args.repeat, ps)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| volume | statistic | porevae (s) | porespy (s) | porespy / porevae | max abs diff |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        for name in ("s2", "lineal_path", "psd"):
            theirs = row.get(f"{name}_porespy_s")
            print(f"| {row['n']}³ | {name} | {row[f'{name}_porevae_s']:.3f} | "
                  + (f"{theirs:.3f} | {row[f'{name}_speedup']:.1f}× | "
                     f"{row[f'{name}_max_abs_diff']:.1e} |" if theirs else "– | – | – |"))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
