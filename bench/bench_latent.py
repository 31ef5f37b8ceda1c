"""Fused latent loss (forward + backward) vs plain PyTorch: the minimal version and the reference.

``python -m bench.bench_latent [--quick] [--device cpu|cuda|all] [--repeat R]``

For each case (float32; a vector latent N x d or a latent map N x C x D x H x W) one timed call is
the loss + ``torch.autograd.grad`` of (z, kl, fisher) with fixed upstream gradients, on the fused
backend ("numba" on the CPU, "cuda" on a GPU, ``fisher="location"``) and on two plain-autograd
versions: **minimal**, the baseline of the bars (what one writes without a custom kernel:
``s = exp(logvar/2); z = mu + s eps; kl = 1/2 sum(mu^2 + s^2 - 1 - logvar); F = mean(1/s^2)``,
no clamp), and ``ops.reference`` (with the clamp the fused op applies).
Figures are medians of ``--repeat`` calls after ``--warmup`` calls, the variants interleaved.
The floor is the bytes that any implementation must move, (4 + 6) N d + 4 N elements
(forward: reads mu, logvar, eps, writes z, kl, fisher; backward: reads mu, logvar, eps, dz, dkl,
dfisher, writes dmu, dlogvar), divided by the copy bandwidth measured in the same run
(``dst.copy_(src)``, read + write bytes): the larger of a copy of one N x d array (same cache level
as the case) and of a large buffer (DRAM).

On the CPU the plain versions are timed with torch's default threads and with one thread, and the
ratio is taken against the faster of the two (on a loaded 2-core machine the two-thread run can be
much slower). The GPU bar of the issue: >= 4x the minimal version and >= 60 % of copy bandwidth at
16M elements.
"""

from __future__ import annotations

import argparse
import functools
import math
import statistics
import time

import torch

from bench.common import machine, write_bandwidth
from porevae import ops
from porevae.ops._dispatch import status
from porevae.ops.latent_loss import bytes_moved

SIZES = ((64, 128), (1024, 512), (1024, 1024), (8, 8, 32, 32, 16), (4096, 4096))
QUICK_SIZES = ((64, 128), (1024, 1024), (8, 8, 32, 32, 16))


def _case(shape, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(shape, generator=g).to(device).requires_grad_()
    logvar = (2 * torch.randn(shape, generator=g) - 1).to(device).requires_grad_()
    eps = torch.randn(shape, generator=g).to(device)
    n = shape[0]
    grads = (torch.randn(shape, generator=g).to(device), torch.randn(n, generator=g).to(device),
             torch.randn(n, generator=g).to(device))
    return mu, logvar, eps, grads


def minimal_latent_loss(mu, logvar, eps):
    """The plain-PyTorch baseline of the bars: no clamp, no options, ordinary autograd."""
    dims = tuple(range(1, mu.ndim))
    s = torch.exp(logvar / 2)
    z = mu + s * eps
    kl = 0.5 * (mu * mu + s * s - 1 - logvar).sum(dims)
    return z, kl, (1 / (s * s)).mean(dims)


def _step(backend, mu, logvar, eps, grads):
    if backend == "minimal":
        out = minimal_latent_loss(mu, logvar, eps)
    else:
        out = ops.vae_latent_loss(mu, logvar, eps, fisher="location", backend=backend)
    return torch.autograd.grad(out, (mu, logvar), grads)


def _median(fn, repeat, warmup, sync, inner=1):
    """Median seconds per call over ``repeat`` samples of ``inner`` back-to-back calls each."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        sync()
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times)


def _interleaved(variants, case, repeat, warmup, sync, inner) -> dict:
    """Median seconds per call of each ``(backend, torch threads)`` variant. Variants with the
    same torch thread count are timed in turn within every sample (ABCABC...), so that they see
    the same background load; the thread count changes only between those blocks (a change
    re-sizes the OpenMP pools, which would otherwise be charged to the next calls: 5 ms on the
    fused op's 1.6 ms at 1M elements, measured)."""
    times = {v: [] for v in variants}
    before = torch.get_num_threads()
    try:
        for threads in dict.fromkeys(t for _, t in variants):
            torch.set_num_threads(threads or before)
            group = [v for v in variants if v[1] == threads]
            for k in range(warmup + repeat):
                for backend, t in group:
                    fn = functools.partial(_step, backend, *case)
                    sync()
                    t0 = time.perf_counter()
                    for _ in range(inner):
                        fn()
                    sync()
                    if k >= warmup:
                        times[(backend, t)].append((time.perf_counter() - t0) / inner)
    finally:
        torch.set_num_threads(before)
    return {v: statistics.median(t) for v, t in times.items()}


def copy_bandwidth(device, numel, repeat, sync) -> float:
    """Bytes/s of ``dst.copy_(src)`` (read + write) for float32 buffers of ``numel`` elements.

    On the CPU the faster of torch's default threads and one thread.
    """
    src = torch.ones(numel, device=device)
    dst = torch.empty_like(src)
    reps = repeat if numel >= 1 << 22 else 20 * repeat
    best = 0.0
    for threads in (None, 1) if device == "cpu" else (None,):
        before = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        try:
            best = max(best, 8 * numel / _median(lambda: dst.copy_(src), reps, 3, sync,
                                                 _inner(device)))
        finally:
            torch.set_num_threads(before)
    return best


def _inner(device):
    """Calls per timed sample: on a GPU 10 back-to-back launches (the host's launch overhead
    overlaps the device's work, as in a training loop), then one synchronisation."""
    return 10 if device == "cuda" else 1


def _sync_for(device):
    return torch.cuda.synchronize if device == "cuda" else (lambda: None)


def run_device(device, sizes, repeat, warmup) -> list[dict]:
    sync = _sync_for(device)
    fused = "cuda" if device == "cuda" else "numba"
    big = 1 << (28 if device == "cuda" else 26)  # 1 GiB / 256 MiB per buffer
    dram = copy_bandwidth(device, big, max(repeat, 5), sync)
    print(f"\n[{device}] copy bandwidth of {4 * big >> 20} MiB buffers (read + write): "
          f"{dram / 1e9:.1f} GB/s; 'copy' below: a copy of one N x d float32 array (same cache "
          f"level as the case); floor = bytes / max(both copies)", flush=True)
    if device == "cpu":
        wb = write_bandwidth(1 << 26, max(repeat, 5))
        print(f"[cpu] write bandwidth of 64 MiB: {wb['touched'] / 1e9:.1f} GB/s into touched "
              f"pages, {wb['fresh'] / 1e9:.1f} GB/s into a fresh allocation (page faults: every "
              f"call of either implementation writes freshly allocated outputs)", flush=True)
    threads = [None, 1] if device == "cpu" and torch.get_num_threads() > 1 else [None]
    plain = [(name, t) for name in ("minimal", "torch") for t in threads]
    rows = []
    hdr = (f"{'shape':>18} {'fused ms':>9} {'GB/s':>7} {'of copy':>7} {'floor ms':>9} "
           f"{'minimal ms':>10} {'min 1t ms':>9} {'vs minimal':>10} {'ref ms':>8} "
           f"{'vs ref':>7}")
    print(hdr)
    for shape in sizes:
        case = _case(shape, device)
        numel = case[0].numel()
        n, d = shape[0], numel // shape[0]
        reps = repeat if numel >= 1 << 20 else 10 * repeat
        times = _interleaved([(fused, None)] + plain, case, reps, warmup, sync, _inner(device))
        t_fused = times[(fused, None)]
        best = {name: min(times[(name, t)] for t in threads) for name in ("minimal", "torch")}
        nbytes = sum(bytes_moved(n, d, 4).values())
        bw = max(dram, copy_bandwidth(device, numel, repeat, sync))
        row = {"device": device, "shape": list(shape), "fused_s": t_fused,
               "minimal_s": times[("minimal", None)], "minimal_1thread_s":
               times.get(("minimal", 1)), "ref_s": best["torch"],
               "ratio_minimal": best["minimal"] / t_fused, "ratio_ref": best["torch"] / t_fused,
               "bytes": nbytes, "floor_s": nbytes / bw, "gbps": nbytes / t_fused / 1e9,
               "of_copy": nbytes / t_fused / bw, "copy_gbps": bw / 1e9}
        rows.append(row)
        one = times.get(("minimal", 1))
        one = f"{one * 1e3:9.3f}" if one is not None else f"{'-':>9}"
        label = " x ".join(map(str, shape))
        print(f"{label:>18} {t_fused * 1e3:9.3f} {row['gbps']:7.1f} {row['of_copy']:7.0%} "
              f"{row['floor_s'] * 1e3:9.3f} {times[('minimal', None)] * 1e3:10.3f} {one} "
              f"{row['ratio_minimal']:9.1f}x {best['torch'] * 1e3:8.3f} "
              f"{row['ratio_ref']:6.1f}x", flush=True)
        del case
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip 4096 x 4096")
    ap.add_argument("--device", choices=("cpu", "cuda", "all"), default="all",
                    help="all: the CPU, and CUDA when porevae._cuda and a device are present")
    ap.add_argument("--repeat", type=int, default=11)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args(argv)
    print(machine(), f"| torch threads {torch.get_num_threads()}", flush=True)
    sizes = QUICK_SIZES if args.quick else SIZES
    devices = ["cpu"] if args.device in ("cpu", "all") else []
    if args.device in ("cuda", "all"):
        st = status("latent_loss", "cuda")
        if st["available"]:
            print(f"CUDA: {torch.cuda.get_device_name()}")
            devices.append("cuda")
        elif args.device == "cuda":
            raise SystemExit(f"CUDA latent loss unavailable: {st['reason']}")
        else:
            print(f"(no CUDA figures: {st['reason']})")
    for device in devices:
        rows = run_device(device, sizes, args.repeat, args.warmup)
        if device == "cuda":
            big = max(rows, key=lambda r: r["bytes"])
            ok = big["ratio_minimal"] >= 4 and big["of_copy"] >= 0.6
            print(f"GPU bar at {big['shape']}: {big['ratio_minimal']:.1f}x the minimal version "
                  f"(>= 4), {big['of_copy']:.0%} of copy bandwidth (>= 60 %): "
                  f"{'met' if ok else 'NOT met'}")
        else:
            for r in rows:
                if math.prod(r["shape"]) == 1024 * 1024:  # the 1M-element cases: both judged
                    print(f"CPU bar at {r['shape']} (1M elements): {r['ratio_minimal']:.1f}x the "
                          f"faster minimal run (>= 3): "
                          f"{'met' if r['ratio_minimal'] >= 3 else 'NOT met'}; "
                          f"{r['of_copy']:.0%} of copy bandwidth")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
