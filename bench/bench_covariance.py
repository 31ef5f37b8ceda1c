"""Covariance assembly and products on point sets (no grid structure): porevae's kernels vs plain
torch, in one run.

    python -m bench.bench_covariance [--quick] [--repeat 3]

* assembly of the 30,276 cell centres of the 174 x 174 grid given as a point array, and of
  14,400 uniform random points in the unit cube (float64 and float32):
  ``ops.covariance_matrix(points, Exponential(0.1))`` against the minimal plain version
  ``torch.cdist(p, p).div_(-l).exp_()``, beside the write floor (an n x n output from the
  allocator the operation uses, filled in parallel), with the kernel (system) time of each. The
  variants are timed in three groups, each in turn within every repetition (``--grouped``: each
  one's runs back to back): the repeated calls (porevae, floor), the first calls, torch. Each
  first call and each torch call faults in 7.33 GB of memory fresh from the hypervisor, and on
  the CI VM the compute-bound calls after such churn run up to twice as slow (0.50-1.13 s
  against 0.45-0.52 s; the memory-bound fill is not slowed; bench/RESULTS.md, seventh stop):
  grouping keeps that churn away from the ratio to the floor. The
  operation's output comes from :mod:`porevae.ops._host_memory`, which keeps a freed output's
  pages for the next one, so a repeated assembly writes memory the process already holds; the
  first assembly in a process does not. That case is timed too ("first call", and the floor's
  "first touch"): the kept memory is released and left idle for 5 s, untimed, so that the
  system takes it back as it does between a user's runs (on the CI VM the free pages go back to
  the hypervisor within seconds and its first touch then costs 2-9 s for 7.33 GB);
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


def _floor_fill(n, dtype):
    """The write floor: an (n, n) output from the allocator the operation uses, filled in
    parallel (page faults included when its memory is fresh)."""
    from porevae.ops._common import empty

    _fill(empty((n, n), getattr(torch, np.dtype(dtype).name), "cpu").numpy())


def _first_time():
    """Untimed set-up of a first call: kept host memory released and, if there was any, left
    idle for 5 s (the system takes free pages back; on the CI VM, the hypervisor does)."""
    from porevae.ops import release_host_memory

    if release_host_memory():
        time.sleep(5.0)


def _timed(variants: dict, repeat: int, grouped: bool) -> dict:
    """Median wall seconds and median system (kernel) seconds of each variant after one warm-up
    round: timed in turn within every repetition (ABCABC..., ``grouped=False``) or each
    variant's runs back to back (AAABBB, ``grouped=True``). A variant is a callable or a pair
    ``(set_up, run)`` whose untimed ``set_up()`` runs before every timed ``run()``."""
    samples = {k: ([], []) for k in variants}
    order = [(k, rep) for k in variants for rep in range(repeat + 1)] if grouped else \
        [(k, rep) for rep in range(repeat + 1) for k in variants]
    for k, rep in order:
        set_up, run = variants[k] if isinstance(variants[k], tuple) else (None, variants[k])
        if set_up is not None:
            set_up()
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        run()
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
        _floor_fill(300, dtype)
        ops = lambda dtype=dtype: pv.ops.covariance_matrix(pts, model, dtype=dtype)  # noqa: E731
        floor = lambda dtype=dtype: _floor_fill(n, dtype)  # noqa: E731
        timed = {}  # three groups, each in turn within itself (see the module docstring)
        for group in ({"ops": ops, "floor": floor},
                      {"ops first call": (_first_time, ops),
                       "floor first touch": (_first_time, floor)},
                      {"torch": lambda p=p: minimal(p)}):
            timed.update(_timed(group, repeat, grouped))
        t = {k: v[0] for k, v in timed.items()}
        nbytes = n * n * np.dtype(dtype).itemsize
        rows.append({"n": n, "dtype": np.dtype(dtype).name, "ops_s": t["ops"],
                     "torch_s": t["torch"], "ratio": t["torch"] / t["ops"],
                     "floor_s": t["floor"], "ops_first_s": t["ops first call"],
                     "floor_first_s": t["floor first touch"], "bytes": nbytes,
                     "sys_s": {k: v[1] for k, v in timed.items()}})
        r, sy = rows[-1], rows[-1]["sys_s"]
        print(f"assembly {n} {kind} {r['dtype']} ({nbytes / 1e9:.2f} GB): porevae {t['ops']:.3f} "
              f"s, torch.cdist+exp_ {t['torch']:.3f} s -> {r['ratio']:.1f}x; write floor "
              f"{t['floor']:.3f} s ({nbytes / t['floor'] / 1e9:.1f} GB/s) -> "
              f"{t['ops'] / t['floor']:.2f}x the floor. First call: porevae "
              f"{t['ops first call']:.3f} s ({t['torch'] / t['ops first call']:.1f}x torch), floor "
              f"at first touch {t['floor first touch']:.3f} s -> "
              f"{t['ops first call'] / t['floor first touch']:.2f}x. System time: porevae "
              f"{sy['ops']:.2f} s, first call {sy['ops first call']:.2f} s, floor "
              f"{sy['floor']:.2f} s, first touch {sy['floor first touch']:.2f} s, torch "
              f"{sy['torch']:.2f} s", flush=True)
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
