"""KLE engine on the CPU: assembly, energy tables, leading eigenpairs, full spectrum.

    python -m bench.bench_kle [--quick] [--dense-check] [--repeat 3] [--sections leading ...]
    python -m bench.bench_kle --sections 3d [--shape3d 64 64 32 --k3d 500] [--no-parity]

Each figure is a median after a warm-up (except the solves of tens of seconds, run once and so
labelled) and is printed with its floor or baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

import numpy as np
import torch

from bench.common import (
    gb,
    machine,
    median_time,
    peak_rss_bytes,
    reset_peak_rss,
    rss_bytes,
    write_bandwidth,
)

LEVELS = (0.8, 0.9, 0.94, 0.96, 0.98)
SECTIONS = ["assembly", "energy", "leading", "full", "3d"]
DEFAULT_SECTIONS = ["assembly", "energy", "leading", "full"]


def _assemble_child(backend, shape, repeat, queue):
    import porevae as pv

    grid, model = pv.Grid(shape), pv.Exponential(0.1)
    if backend == "numba":
        def run():
            return pv.ops.covariance_matrix(grid, model)
    else:  # the minimal plain-torch version (what one writes without a custom kernel)
        pts = torch.from_numpy(grid.cell_centers())

        def run():
            return torch.cdist(pts, pts).div_(-0.1).exp_()
    c = run()  # warm-up (compilation, page cache)
    del c
    times, peaks = [], []
    for _ in range(repeat):
        base = rss_bytes()
        reset_peak_rss()
        t0 = time.perf_counter()
        c = run()
        times.append(time.perf_counter() - t0)
        peaks.append(peak_rss_bytes() - base)
        del c
    queue.put((float(np.median(times)), max(peaks)))


def assembly(shape, repeat):
    """Numba grid kernel vs the minimal plain-torch version, each in a fresh process (clean peak
    memory)."""
    ctx = mp.get_context("spawn")
    out = {}
    for backend in ("numba", "torch"):
        q = ctx.Queue()
        p = ctx.Process(target=_assemble_child, args=(backend, shape, repeat, q))
        p.start()
        out[backend] = q.get()
        p.join()
    return out


def energy_tables(shape):
    import porevae as pv

    grid = pv.Grid(shape)
    tables = {}

    def run():
        for name, model in (("exponential", pv.Exponential(0.1)),
                            ("squared-exponential", pv.SquaredExponential(0.1))):
            tables[name] = pv.energy_table(grid, model, LEVELS)

    return median_time(run, repeat=3), tables


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--dense-check", action="store_true",
                    help="check the leading eigenvalues against LAPACK on the whole dense matrix "
                         "(torch eigvalsh, minutes and 15 GB at 174 x 174)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of the leading-eigenpairs solve (median reported)")
    ap.add_argument("--sections", nargs="+", choices=SECTIONS, default=DEFAULT_SECTIONS,
                    help="sections to run (default: all but 3d)")
    ap.add_argument("--shape3d", type=int, nargs=3, default=(64, 64, 32),
                    help="3d section: grid (unit cube, spacing 1/shape)")
    ap.add_argument("--k3d", type=int, default=500, help="3d section: leading pairs")
    ap.add_argument("--no-parity", action="store_true",
                    help="3d section: skip the parity baseline (grids too large for it)")
    args = ap.parse_args(argv)
    import porevae as pv
    from porevae.kle.parity import ParitySolver

    big = (40, 40) if args.quick else (174, 174)
    mid = (30, 30) if args.quick else (100, 100)
    k_lead = 100 if args.quick else 1000
    print(f"# bench_kle  ({time.strftime('%Y-%m-%d')}; {machine()})\n")

    # 1. assembly -------------------------------------------------------------------------
    if "assembly" in args.sections:
        n = big[0] * big[1]
        nbytes = 8 * n * n
        bw = write_bandwidth()
        res = assembly(big, repeat=3)
        floor = nbytes / bw["touched"]
        t_nb, m_nb = res["numba"]
        t_ref, m_ref = res["torch"]
        print(f"## Assembly of the {big[0]}x{big[1]} exponential covariance ({n} cells, "
              f"{gb(nbytes)} GB float64)\n")
        print(f"write bandwidth: {gb(bw['touched'])} GB/s into touched memory, "
              f"{gb(bw['fresh'])} GB/s "
              f"into a fresh allocation (page faults included)\n")
        print("| kernel | median s | GB/s written | x floor | peak extra memory / matrix |")
        print("|---|---|---|---|---|")
        rows = (("numba (offset table)", t_nb, m_nb),
                ("torch cdist(p, p).div_(-l).exp_()", t_ref, m_ref))
        for name, t, m in rows:
            print(f"| {name} | {t:.2f} | {gb(nbytes / t)} | {t / floor:.2f} | {m / nbytes:.2f} |")
        print(f"\nspeed-up numba vs the minimal torch version: {t_ref / t_nb:.1f}x; "
              f"floor = {gb(nbytes)} GB / "
              f"{gb(bw['touched'])} GB/s = {floor:.2f} s\n")

    # 2. energy tables ----------------------------------------------------------------------
    if "energy" in args.sections:
        t_tab, tables = energy_tables(mid)
        grid = pv.Grid(mid)
        c = pv.ops.covariance_matrix(grid, pv.Exponential(0.1))
        t0 = time.perf_counter()
        np.linalg.eigvalsh(c)
        t_np = time.perf_counter() - t0
        del c
        print(f"## Energy tables, {mid[0]}x{mid[1]} unit square, l = 0.1, levels {LEVELS}\n")
        for name, tab in tables.items():
            print(f"- {name}: " + ", ".join(f"{lv:.0%}: {m}" for lv, m in tab.items()))
        print(f"\nboth tables: {t_tab:.2f} s (median of 3); numpy.linalg.eigvalsh of one dense "
              f"matrix: {t_np:.1f} s (once); ratio {t_np / t_tab:.1f}x\n")

    # 3. leading eigenpairs -----------------------------------------------------------------
    if "leading" in args.sections:
        grid, model = pv.Grid(big), pv.Exponential(0.1)
        t_lead = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            w, v = ParitySolver(grid, model).eigenpairs(k_lead)
            t_lead.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        w_lapack, _ = ParitySolver(grid, model, method="lapack").eigenpairs(k_lead)
        t_lapack = time.perf_counter() - t0
        t0 = time.perf_counter()
        w_blocks = ParitySolver(grid, model).eigenvalues(k_lead)
        t_vals = time.perf_counter() - t0
        err_blocks = np.max(np.abs(w - w_blocks) / w_blocks)
        print(f"## Leading {k_lead} eigenpairs, {big[0]}x{big[1]} exponential\n")
        print(f"parity solver, block Lanczos on each symmetry block (the default): "
              f"{np.median(t_lead):.1f} s (median of {args.repeat}: "
              + ", ".join(f"{t:.1f}" for t in t_lead) + ")")
        print(f"parity solver, LAPACK syevr on each symmetry block: {t_lapack:.1f} s (once); "
              f"ratio {t_lapack / np.median(t_lead):.1f}x")
        print(f"max relative difference to the eigenvalues of the blocks by LAPACK syevr: "
              f"{np.max(np.abs(w - w_lapack) / w_lapack):.1e}; by LAPACK syevd (all eigenvalues, "
              f"{t_vals:.1f} s): {err_blocks:.1e}")
        if args.dense_check:
            c = torch.from_numpy(pv.ops.covariance_matrix(grid, model))
            t0 = time.perf_counter()
            w_dense = torch.linalg.eigvalsh(c).numpy()[::-1][:k_lead]
            t_dense = time.perf_counter() - t0
            del c
            print(f"max relative difference to dense LAPACK on the whole matrix (torch eigvalsh, "
                  f"{t_dense:.0f} s): {np.max(np.abs(w - w_dense) / w_dense):.1e}")
        # residual of the returned pairs, with C applied matrix-free by FFT
        from porevae.kle.fft import FFTSolver

        cv = FFTSolver(grid, model).matmat(v)
        print(f"max residual |C v - lambda v| / lambda_1: "
              f"{np.max(np.abs(cv - v * w)) / w[0]:.1e}; "
              f"max |V^T V - I|: {np.max(np.abs(v.T @ v - np.eye(k_lead))):.1e}\n")
        del v, cv

    # 4. full spectrum with vectors ---------------------------------------------------------
    if "full" in args.sections:
        grid, model = pv.Grid(big), pv.Exponential(0.1)
        n = grid.n_cells
        solver = ParitySolver(grid, model)
        base = rss_bytes()
        reset_peak_rss()
        t0 = time.perf_counter()
        _, v_all = solver.eigenpairs(n)
        t_full = time.perf_counter() - t0
        peak = peak_rss_bytes() - base
        del v_all
        small = (big[0] // 2, big[1] // 2)
        m = small[0] * small[1]
        cs = torch.from_numpy(pv.ops.covariance_matrix(pv.Grid(small), model))
        t0 = time.perf_counter()
        torch.linalg.eigh(cs)
        t_small = time.perf_counter() - t0
        del cs
        est = t_small * (n / m) ** 3
        print(f"## Full spectrum with vectors, {big[0]}x{big[1]} exponential ({n} terms)\n")
        print(f"parity solver: {t_full:.1f} s (once), peak memory above start {gb(peak)} GB "
              f"(the eigenvectors alone are {gb(8 * n * n)} GB)")
        print(f"torch.linalg.eigh (MKL syevd): {t_small:.1f} s measured at {small[0]}x{small[1]} "
              f"({m} cells); n^3 extrapolation to {n} cells: {est:.0f} s, needing about "
              f"{gb(3 * 8 * n * n)} GB (matrix, vectors, workspace)")
        print(f"ratio (extrapolated eigh / parity): {est / t_full:.0f}x")


    # 5. leading pairs of a 3-D grid: fft sectors vs parity --------------------------------
    if "3d" in args.sections:
        three_d(tuple(args.shape3d), args.k3d, not args.no_parity, args.repeat)


def three_d(shape, k, with_parity, repeat=1):
    """Leading ``k`` pairs of ``Exponential((0.2, 0.2, 0.1))`` on a 3-D unit-cube grid: the
    ``fft`` solver (block Lanczos per parity sector, DCT/DST products) beside ``parity`` (dense
    sector blocks), eigenvalues compared, residuals ``|C v - lambda v| / lambda_1`` with C
    applied by the sector transforms (tested against dense C in tests/test_kle_solvers.py)."""
    import porevae as pv
    from porevae.kle.fft import FFTSolver
    from porevae.kle.parity import ParitySolver

    grid, model = pv.Grid(shape), pv.Exponential((0.2, 0.2, 0.1))
    n = grid.n_cells
    print(f"## Leading {k} eigenpairs, {'x'.join(map(str, shape))} cells ({n}), "
          f"{model!r}\n")
    fft = FFTSolver(grid, model)
    print(f"fft solver: memory estimate {gb(fft.memory_bytes(k))} GB (stated before the solve)")
    base = rss_bytes()
    reset_peak_rss()
    times = []
    for _ in range(repeat):  # a fresh solver each time: nothing carried over
        fft = FFTSolver(grid, model)
        v = None
        t0 = time.perf_counter()
        w, v = fft.eigenpairs(k)
        times.append(time.perf_counter() - t0)
    t_fft = float(np.median(times))
    peak = peak_rss_bytes() - base
    print(f"fft solver: {t_fft:.1f} s (median of {repeat}: "
          f"{', '.join(f'{t:.1f}' for t in times)}), peak memory above start {gb(peak)} GB; "
          f"energy of the {k} terms {w.sum() / (n * model.variance):.4f}")
    res = 0.0
    step = 1 if n * k <= 10**8 else 4  # C X costs 2^d sector products per column
    cols = np.arange(0, k, step)
    for c0 in range(0, cols.size, 64):
        c = cols[c0:c0 + 64]
        cv = fft.matmat(np.ascontiguousarray(v[:, c]))
        res = max(res, float(np.max(np.abs(cv - v[:, c] * w[c]))))
    print(f"max residual |C v - lambda v| / lambda_1 over {cols.size} of the {k} pairs: "
          f"{res / w[0]:.1e}; max |V^T V - I|: {np.max(np.abs(v.T @ v - np.eye(k))):.1e}")
    del v
    if with_parity:
        t0 = time.perf_counter()
        w_par, v_par = ParitySolver(grid, model).eigenpairs(k)
        t_par = time.perf_counter() - t0
        del v_par
        print(f"parity solver: {t_par:.1f} s (once); ratio parity / fft "
              f"{t_par / t_fft:.1f}x; max relative eigenvalue difference "
              f"{np.max(np.abs(w - w_par) / w_par):.1e}")
    print()


if __name__ == "__main__":
    main()
