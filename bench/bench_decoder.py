"""Fused last decoder stage (``ops.decoder_head``, numba) vs the same layers in plain PyTorch.

``python -m bench.bench_decoder [--quick] [--threads 1 2] [--repeat R]``

The stage of the shipped Berea model (x: 16 channels at half resolution -> transposed
convolution to 8 channels, SiLU, 3x3x3 convolution 8 -> 8, SiLU, 1x1 convolution to 1), random
weights, float32, for outputs of 128^3 and 256^3. Plain versions: the layers as ``nn`` modules
(``ops.reference.decoder_head``: torch's transposed convolution, oneDNN's convolution) in
contiguous and channels-last layout, the faster one taken; the inputs are in each variant's
layout before the clock starts. Medians of ``--repeat`` calls after one warm-up, the variants in
turn. The floor: 2 C (Ci + 27 C + 1) FLOP per output voxel (:func:`porevae.ops.decoder.flops`),
reads of x and writes of the output (:func:`porevae.ops.decoder.bytes_moved`); GFLOP/s is that
count over the time.
"""

from __future__ import annotations

import argparse

import torch

from bench.common import machine, median_time
from porevae import ops
from porevae.ops import decoder


def case(p: int, repeat: int, ci: int = 16, c: int = 8) -> dict:
    g = torch.Generator().manual_seed(p)
    x = torch.nn.functional.silu(torch.randn(1, ci, p, p, p, generator=g))
    w = (0.3 * torch.randn(ci, c, 2, 2, 2, generator=g), torch.randn(c, generator=g),
         0.2 * torch.randn(c, c, 3, 3, 3, generator=g), torch.randn(c, generator=g),
         torch.randn(1, c, 1, 1, 1, generator=g), torch.randn(1, generator=g))
    xc = x.contiguous(memory_format=torch.channels_last_3d)
    with torch.no_grad():
        t = {"fused": median_time(lambda: ops.decoder_head(xc, *w, backend="numba"), repeat),
             "torch contiguous": median_time(lambda: ops.reference.decoder_head(x, *w), repeat),
             "torch channels-last": median_time(lambda: ops.reference.decoder_head(xc, *w),
                                                repeat)}
    return {"out": 2 * p, "times": t, "flops": decoder.flops(x.shape, c),
            "bytes": decoder.bytes_moved(x.shape)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="128^3 only, one thread count")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    sizes, threads = ((64,), args.threads[:1]) if args.quick else ((64, 128), args.threads)
    before = torch.get_num_threads()
    print(f"# decoder_head, {machine()}")
    print("\n| output | threads | fused (ms) | GFLOP/s | torch best (ms) | GFLOP/s | fused vs "
          "torch | floor |")
    print("|---|---|---|---|---|---|---|---|")
    try:
        for n in threads:
            torch.set_num_threads(n)
            for p in sizes:
                r = case(p, args.repeat)
                t = r["times"]
                best = min(t["torch contiguous"], t["torch channels-last"])
                print(f"| {r['out']}^3 | {n} | {1e3 * t['fused']:.1f} | "
                      f"{r['flops'] / t['fused'] / 1e9:.1f} | {1e3 * best:.1f} | "
                      f"{r['flops'] / best / 1e9:.1f} | {best / t['fused']:.2f}x | "
                      f"{r['flops'] / 1e9:.2f} GFLOP, {r['bytes'] / 1e6:.0f} MB |", flush=True)
                print(f"  (torch contiguous / channels-last: {1e3 * t['torch contiguous']:.1f} / "
                      f"{1e3 * t['torch channels-last']:.1f} ms)")
    finally:
        torch.set_num_threads(before)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
