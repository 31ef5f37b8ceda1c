"""Covariance assembly and products on point sets (no grid structure): porevae's kernels vs plain
torch, in one run.

    python -m bench.bench_covariance [--quick] [--repeat 3]

* assembly of the 30,276 cell centres of the 174 x 174 grid given as a point array, and of
  14,400 uniform random points in the unit cube (float64 and float32):
  ``ops.covariance_matrix(points, Exponential(0.1))`` against the minimal plain version
  ``torch.cdist(p, p).div_(-l).exp_()``, beside the write floor (n^2 entries written into fresh
  memory at the write bandwidth measured in the same run);
* ``ops.covariance_matvec`` on 100,000 random points in the unit cube with 64 right-hand sides
  (float64): time and GFLOP/s (2 n^2 k flops of the products; the n^2 covariance evaluations
  come on top) against torch in tiles (``ops.reference.covariance_matvec``: cdist + exp + GEMM
  per 2,048 rows).

Figures are medians of ``--repeat`` runs after a warm-up; each variant allocates its output.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from bench.common import machine, median_time, write_bandwidth

LENGTH = 0.1


def minimal(p: torch.Tensor) -> torch.Tensor:
    """The plain torch baseline: what one writes without a custom kernel."""
    return torch.cdist(p, p).div_(-LENGTH).exp_()


def assembly(n_side: int, repeat: int, random_3d: bool = False) -> list[dict]:
    """``n_side^2`` points: the cell centres of the square grid, or (``random_3d``) as many
    uniform random points in the unit cube (the general case: three coordinates, no order)."""
    import porevae as pv

    pts = np.random.default_rng(0).uniform(size=(n_side * n_side, 3)) if random_3d else \
        pv.Grid((n_side, n_side)).cell_centers()
    n = len(pts)
    kind = "random 3-D points" if random_3d else "points"
    model = pv.Exponential(LENGTH)
    wb = write_bandwidth(1 << 28, 3)
    rows = []
    for dtype in (np.float64, np.float32):
        p = torch.from_numpy(pts.astype(dtype))
        pv.ops.covariance_matrix(pts[:300], model, dtype=dtype)  # compile
        t_ops = median_time(lambda dtype=dtype: pv.ops.covariance_matrix(pts, model, dtype=dtype),
                            repeat, warmup=1)
        t_ref = median_time(lambda p=p: minimal(p), repeat, warmup=1)
        nbytes = n * n * np.dtype(dtype).itemsize
        rows.append({"n": n, "dtype": np.dtype(dtype).name, "ops_s": t_ops, "torch_s": t_ref,
                     "ratio": t_ref / t_ops, "floor_fresh_s": nbytes / wb["fresh"],
                     "floor_touched_s": nbytes / wb["touched"], "bytes": nbytes})
        r = rows[-1]
        print(f"assembly {n} {kind} {r['dtype']}: porevae {t_ops:.3f} s, torch.cdist+exp_ "
              f"{t_ref:.3f} s -> {r['ratio']:.1f}x; write floor {r['floor_fresh_s']:.3f} s "
              f"(fresh, {wb['fresh'] / 1e9:.1f} GB/s) / {r['floor_touched_s']:.3f} s (touched, "
              f"{wb['touched'] / 1e9:.1f} GB/s) -> {t_ops / r['floor_fresh_s']:.2f}x the fresh "
              f"floor ({nbytes / 1e9:.2f} GB)", flush=True)
    # correctness next to the speed: a block against the float64 reference
    c = pv.ops.covariance_matrix(pts[:3000], model)
    ref = pv.ops.reference.covariance_matrix(torch.from_numpy(pts[:3000]), model).numpy()
    print(f"  max |porevae - float64 reference| on 3000 points: {np.abs(c - ref).max():.1e}")
    return rows


def matvec(n: int, k: int, repeat: int) -> dict:
    import porevae as pv

    rng = np.random.default_rng(0)
    pts = rng.uniform(size=(n, 3))
    x = rng.standard_normal((n, k))
    model = pv.Exponential(LENGTH)
    pv.ops.covariance_matvec(pts[:500], model, x[:500])  # compile
    t_ops = median_time(lambda: pv.ops.covariance_matvec(pts, model, x), repeat, warmup=0)
    pt, xt = torch.from_numpy(pts), torch.from_numpy(x)
    t0 = time.perf_counter()
    pv.ops.reference.covariance_matvec(pt, model, xt)
    t_ref = time.perf_counter() - t0
    flops = 2.0 * n * n * k
    print(f"matvec {n} points x {k} columns float64: porevae {t_ops:.2f} s "
          f"({flops / t_ops / 1e9:.1f} GFLOP/s of products, {n * n / t_ops / 1e9:.2f} G "
          f"evaluations/s), torch in tiles {t_ref:.2f} s (one run; "
          f"{flops / t_ref / 1e9:.1f} GFLOP/s) -> {t_ref / t_ops:.1f}x", flush=True)
    return {"n": n, "k": k, "ops_s": t_ops, "torch_s": t_ref, "ratio": t_ref / t_ops}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    print(machine(), f"| torch threads {torch.get_num_threads()}", flush=True)
    assembly(40 if args.quick else 174, args.repeat)
    assembly(30 if args.quick else 120, args.repeat, random_3d=True)
    matvec(5_000 if args.quick else 100_000, 64, 1 if not args.quick else args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
