"""KLE engine on the GPU (H100 / H200): assembly, full spectrum, leading eigenpairs, sampling.

    python -m bench.bench_gpu [--quick] [--shape 174 174] [--skip-dense-eigh] [--matfree]

174 x 174 exponential covariance (30,276 cells, length scale 0.1 on the unit square):

1. assembly (float64, float32) by the custom grid-fill kernel vs the pure-PyTorch reference on
   the same GPU, and vs the HBM write floor = bytes written / measured device copy bandwidth;
   bars: >= 3x the reference, within 1.5x of the floor;
2. full spectrum with vectors: parity blocks on the device vs ``torch.linalg.eigh`` (bar >= 5x);
3. leading 1,000 and 6,000 eigenpairs (parity; block Lanczos on the assembled C; fft sectors)
   vs dense ``torch.linalg.eigh`` (bar >= 10x, eigenvalues within 1e-8 relative);
4. 10,000 realizations with 6,000 terms (float32): GEMM time and its fraction of the measured
   float32 GEMM rate, and the end-to-end time with the CPU-identical coefficient streams.

Timings are medians of CUDA-event times after a warm-up; the solves of seconds to minutes run
once and are labelled so. Prints a Markdown table; exits with a message (status 0) without a GPU.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
import types

import torch

DEVICE = "cuda"  # the benchmark's device (a CPU dry run of the code paths sets "cpu")


def cuda_time(fn, repeat: int = 5, warmup: int = 1) -> float:
    """Median seconds of ``fn()`` between CUDA events, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


def once(fn):
    """``(seconds, result)`` of one synchronised call (long solves)."""
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    res = fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t0, res


def copy_bandwidth(nbytes: int = 2 << 30) -> dict:
    """Device bandwidth in bytes/s: ``copy`` (read + write bytes of a device-to-device copy) and
    ``write`` (``fill_``)."""
    a = torch.empty(nbytes // 4, dtype=torch.float32, device=DEVICE)
    b = torch.empty_like(a)
    a.fill_(1.0)
    t_copy = cuda_time(lambda: b.copy_(a), repeat=10, warmup=2)
    t_fill = cuda_time(lambda: b.fill_(2.0), repeat=10, warmup=2)
    return {"copy": 2 * nbytes / t_copy, "write": nbytes / t_fill}


def gemm_rate(dtype=torch.float32, n: int = 8192) -> float:
    """Measured flop/s of a square ``n`` GEMM in ``dtype`` (torch defaults: no TF32)."""
    a = torch.randn(n, n, device=DEVICE, dtype=dtype)
    b = torch.randn(n, n, device=DEVICE, dtype=dtype)
    c = torch.empty_like(a)
    t = cuda_time(lambda: torch.mm(a, b, out=c), repeat=5, warmup=2)
    return 2.0 * n**3 / t


class Table:
    """Markdown rows collected and printed as they come."""

    def __init__(self):
        self.rows = []

    def add(self, what, time_s, baseline="", ratio="", bar="", note=""):
        row = (what, f"{time_s * 1e3:.1f} ms" if time_s < 10 else f"{time_s:.1f} s", baseline,
               ratio, bar, note)
        self.rows.append(row)
        print("  " + " | ".join(row), flush=True)

    def markdown(self) -> str:
        head = "| what | time | baseline | ratio | bar | note |\n|---|---|---|---|---|---|\n"
        return head + "\n".join("| " + " | ".join(r) + " |" for r in self.rows)


def _fmt(t):
    return f"{t * 1e3:.1f} ms" if t < 10 else f"{t:.1f} s"


def bench_assembly(grid, model, table, bw):
    from porevae import ops
    from porevae.ops import _dispatch, reference

    n = grid.n_cells
    pts = torch.from_numpy(grid.cell_centers()).to(DEVICE)
    for dtype in (torch.float64, torch.float32):
        nbytes = n * n * torch.finfo(dtype).bits // 8
        floor = nbytes / bw["copy"]
        p = pts.to(dtype)
        t_ref = cuda_time(lambda p=p: reference.covariance_matrix(p, model), repeat=3)
        torch.cuda.empty_cache()
        out = torch.empty((n, n), dtype=dtype, device=DEVICE)
        for name in ("cuda", "numba_cuda"):
            st = _dispatch.status("covariance", name)
            if not st["available"]:
                print(f"  ({name}: {st['reason']})")
                continue
            t = cuda_time(lambda name=name, out=out:
                          ops.covariance_matrix(grid, model, out=out, backend=name))
            ref = reference.covariance_matrix(p[:2048], model, p)
            err = float((out[:2048].double() - ref.double()).abs().max())
            del ref
            table.add(f"assembly {str(dtype)[6:]} ({name})", t, f"torch ref {_fmt(t_ref)}",
                      f"{t_ref / t:.1f}x ref; {t / floor:.2f}x floor",
                      ">= 3x ref; <= 1.5x floor",
                      f"floor {_fmt(floor)} = {nbytes / 1e9:.2f} GB / "
                      f"{bw['copy'] / 1e12:.2f} TB/s copy; max err {err:.1e}")
        del out
        torch.cuda.empty_cache()


def bench_spectrum(grid, model, table, ks, skip_dense, matfree):
    import numpy as np

    from porevae import ops
    from porevae.kle.solvers import SOLVERS

    def solve(name, k):
        return SOLVERS[name](grid, model, device=DEVICE).eigenpairs(k)

    n = grid.n_cells
    t_par, (w_par, v_par) = once(lambda: solve("parity", n))
    del v_par
    torch.cuda.empty_cache()
    w_dense = None
    if not skip_dense:
        def dense():
            c = torch.empty((n, n), dtype=torch.float64, device=DEVICE)
            return torch.linalg.eigh(ops.covariance_matrix(grid, model, out=c))
        t_dense, (w_dense, v_dense) = once(dense)
        del v_dense
        torch.cuda.empty_cache()
        w_dense = w_dense.flip(0).cpu().numpy()
        err = float((np.abs(w_par - w_dense) / w_dense[0]).max())
        table.add("full spectrum + vectors: parity", t_par, f"eigh {_fmt(t_dense)} (once)",
                  f"{t_dense / t_par:.1f}x", ">= 5x", f"once; max abs dw / w1 = {err:.1e}")
    else:
        table.add("full spectrum + vectors: parity", t_par, "eigh skipped", "", ">= 5x", "once")
    ref = w_dense if w_dense is not None else w_par
    for k in ks:
        # dense: C on the device, then block Lanczos on it (4 k <= n)
        names = ["parity", "dense", "fft"] + (["matfree"] if matfree else [])
        for name in names:
            t, (w, v) = once(lambda name=name, k=k: solve(name, k))
            del v
            torch.cuda.empty_cache()
            rel = float((np.abs(w - ref[:k]) / ref[:k]).max())
            base = f"eigh {_fmt(t_dense)}" if w_dense is not None else "eigh skipped"
            ratio = f"{t_dense / t:.1f}x" if w_dense is not None else ""
            table.add(f"leading {k}: {name}", t, base, ratio, ">= 10x; 1e-8 rel",
                      f"once; max rel dw {rel:.1e} vs "
                      f"{'eigh' if w_dense is not None else 'parity'}")


def bench_sampling(grid, model, table, n_terms, n_real):
    import porevae as pv
    from porevae.kle.sampling import DeviceSampler
    from porevae.kle.solvers import SOLVERS

    w, v = SOLVERS["parity"](grid, model, device=DEVICE).eigenpairs(n_terms)
    kle = types.SimpleNamespace(grid=grid, eigenvalues=w, eigenvectors=v.cpu().numpy(),
                                mean=0.0, n_terms=n_terms)
    kle.coefficients = functools.partial(pv.KLE.coefficients, kle)
    del v
    peak = gemm_rate(torch.float32)
    sampler = DeviceSampler(kle, DEVICE, torch.float32)
    xi = torch.randn(n_real, n_terms, device=DEVICE)
    out = torch.empty((n_real, grid.n_cells), device=DEVICE)
    chunk = 2048

    def gemm_only():
        for c0 in range(0, n_real, chunk):
            torch.addmm(torch.zeros(1, device=DEVICE), xi[c0:c0 + chunk], sampler.basis,
                        out=out[c0:c0 + chunk])

    t = cuda_time(gemm_only, repeat=5)
    flops = 2.0 * n_real * n_terms * grid.n_cells
    table.add(f"{n_real} realizations x {n_terms} terms: GEMM (float32)", t,
              f"GEMM peak {peak / 1e12:.1f} TFLOP/s (8192^3 fp32, measured)",
              f"{flops / t / peak:.0%} of peak", "", f"{flops / t / 1e12:.1f} TFLOP/s")
    t_all, _ = once(lambda: sampler.sample(n_real, seed=0, chunk=chunk))
    table.add(f"{n_real} realizations: end to end", t_all, "", "", "",
              "once; host SeedSequence streams (as the CPU) + H2D + GEMM + layout")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="60 x 60 grid, fewer terms: a smoke run")
    ap.add_argument("--shape", type=int, nargs=2, default=None, help="grid (default 174 174)")
    ap.add_argument("--skip-dense-eigh", action="store_true",
                    help="no torch.linalg.eigh baseline (minutes on 30,276 cells)")
    ap.add_argument("--matfree", action="store_true",
                    help="also the block eigensolver over the custom C.X kernel (slow)")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_gpu: no CUDA device (torch.cuda.is_available() is False); nothing measured. "
              "Run `python -m bench.bench_gpu` on an H100/H200.")
        return 0
    import porevae as pv
    from porevae import ops

    shape = tuple(args.shape) if args.shape else ((60, 60) if args.quick else (174, 174))
    grid, model = pv.Grid(shape), pv.Exponential(0.1)
    n = grid.n_cells  # 30,276: 1,000 and 6,000 leading pairs, 6,000 terms (same fractions else)
    ks = (max(1, round(n / 30.276)), max(1, round(n / 5.046)))
    n_terms, n_real = ks[1], 1000 if args.quick else 10_000
    print(f"device: {torch.cuda.get_device_name()}; torch {torch.__version__}; grid {shape} "
          f"({grid.n_cells} cells), {model!r}")
    print(f"backends: cuda: {ops.backends()['cuda']['reason']}; numba_cuda: "
          f"{ops.backends()['numba_cuda']['reason']}")
    bw = copy_bandwidth()
    print(f"device bandwidth: copy {bw['copy'] / 1e12:.2f} TB/s (read + write), "
          f"write {bw['write'] / 1e12:.2f} TB/s (fill)")
    table = Table()
    t0 = time.perf_counter()
    bench_assembly(grid, model, table, bw)
    bench_spectrum(grid, model, table, ks, args.skip_dense_eigh, args.matfree)
    bench_sampling(grid, model, table, n_terms, n_real)
    print(f"\n{table.markdown()}\n\n(total {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
