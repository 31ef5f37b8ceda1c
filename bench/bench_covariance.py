"""Covariance assembly and products on point sets (no grid structure): porevae's kernels vs plain
torch, in one run.

    python -m bench.bench_covariance [--quick] [--repeat 3]

* assembly of the 30,276 cell centres of the 174 x 174 grid given as a point array, and of
  14,400 uniform random points in the unit cube (float64 and float32):
  ``ops.covariance_matrix(points, Exponential(0.1))`` against the minimal plain version
  ``torch.cdist(p, p).div_(-l).exp_()``, beside the write floor (a fresh n x n output filled in
  parallel), the three timed in turn within every repetition (``--grouped``: each one's runs
  back to back), with the kernel (system) time of each (first touches of fresh memory are
  costly on this VM);
* ``ops.covariance_matvec`` on 100,000 random points in the unit cube with 64 right-hand sides
  (float64): time and GFLOP/s (2 n^2 k flops of the products; the n^2 covariance evaluations
  come on top) against torch in tiles (``ops.reference.covariance_matvec``: cdist + exp + GEMM
  per 2,048 rows).

Figures are medians of ``--repeat`` runs after a warm-up; each variant allocates its output.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numba as nb
import numpy as np
import torch

from bench.common import machine, median_time

LENGTH = 0.1


def minimal(p: torch.Tensor) -> torch.Tensor:
    """The plain torch baseline: what one writes without a custom kernel."""
    return torch.cdist(p, p).div_(-LENGTH).exp_()


@nb.njit(parallel=True, cache=True)
def _fill(out):
    for i in nb.prange(out.shape[0]):
        out[i, :] = 1.0


def _fresh_fill(n, dtype):
    """The write floor: a fresh (n, n) output from the allocator the operation uses, filled in
    parallel (page faults included)."""
    from porevae.ops._common import empty

    _fill(empty((n, n), getattr(torch, np.dtype(dtype).name), "cpu").numpy())


def _timed(variants: dict, repeat: int, grouped: bool) -> dict:
    """Median wall seconds and median system (kernel) seconds of each variant after one warm-up
    round: timed in turn within every repetition (ABCABC..., ``grouped=False``: each variant
    allocates right after the others freed theirs) or each variant's runs back to back (AAABBB,
    ``grouped=True``: it reuses the pages it just freed). On this VM the first touch of memory
    that another variant just freed costs 1-16 s of kernel time for 7.33 GB, which the system
    seconds show."""
    samples = {k: ([], []) for k in variants}
    order = [(k, rep) for k in variants for rep in range(repeat + 1)] if grouped else \
        [(k, rep) for rep in range(repeat + 1) for k in variants]
    for k, rep in order:
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        variants[k]()
        wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
        if rep:
            samples[k][0].append(wall)
            samples[k][1].append(r1.ru_stime - r0.ru_stime)
    return {k: (statistics.median(w), statistics.median(sy)) for k, (w, sy) in samples.items()}


def assembly(n_side: int, repeat: int, random_3d: bool = False,
             grouped: bool = False) -> list[dict]:
    """``n_side^2`` points: the cell centres of the square grid, or (``random_3d``) as many
    uniform random points in the unit cube (the general case: three coordinates, no order)."""
    import porevae as pv

    pts = np.random.default_rng(0).uniform(size=(n_side * n_side, 3)) if random_3d else \
        pv.Grid((n_side, n_side)).cell_centers()
    n = len(pts)
    kind = "random 3-D points" if random_3d else "points"
    model = pv.Exponential(LENGTH)
    rows = []
    for dtype in (np.float64, np.float32):
        p = torch.from_numpy(pts.astype(dtype))
        pv.ops.covariance_matrix(pts[:300], model, dtype=dtype)  # compile
        _fresh_fill(300, dtype)
        timed = _timed({
            "ops": lambda dtype=dtype: pv.ops.covariance_matrix(pts, model, dtype=dtype),
            "floor": lambda dtype=dtype: _fresh_fill(n, dtype),
            "torch": lambda p=p: minimal(p)}, repeat, grouped)
        t = {k: v[0] for k, v in timed.items()}
        nbytes = n * n * np.dtype(dtype).itemsize
        rows.append({"n": n, "dtype": np.dtype(dtype).name, "ops_s": t["ops"],
                     "torch_s": t["torch"], "ratio": t["torch"] / t["ops"],
                     "floor_fresh_s": t["floor"], "bytes": nbytes,
                     "sys_s": {k: v[1] for k, v in timed.items()}})
        r = rows[-1]
        print(f"assembly {n} {kind} {r['dtype']}: porevae {t['ops']:.3f} s, torch.cdist+exp_ "
              f"{t['torch']:.3f} s -> {r['ratio']:.1f}x; write floor (fresh {n} x {n}, "
              f"parallel fill) {t['floor']:.3f} s ({nbytes / t['floor'] / 1e9:.1f} GB/s) -> "
              f"{t['ops'] / t['floor']:.2f}x the floor ({nbytes / 1e9:.2f} GB); kernel time "
              f"(sys) porevae {r['sys_s']['ops']:.2f} s, floor {r['sys_s']['floor']:.2f} s, "
              f"torch {r['sys_s']['torch']:.2f} s", flush=True)
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
    ap.add_argument("--grouped", action="store_true",
                    help="time each assembly variant's runs back to back (default: in turn)")
    args = ap.parse_args(argv)
    print(machine(), f"| torch threads {torch.get_num_threads()}", flush=True)
    assembly(40 if args.quick else 174, args.repeat, grouped=args.grouped)
    assembly(30 if args.quick else 120, args.repeat, random_3d=True, grouped=args.grouped)
    matvec(5_000 if args.quick else 100_000, 64, 1 if not args.quick else args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
