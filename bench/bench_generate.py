"""Generation at any size: the shipped Berea model vs the PorousMediaGAN DCGAN generator, peak
memory of a 512^3 volume, and the seam test.

    python -m bench.bench_generate [--model berea | --checkpoint PATH] [--threads N]
                                   [--sizes 128 256] [--big 512] [--seam 256] [--faces 8]
                                   [--seam-flow 256] [--repeat 3]

- **speed**: porevae decodes a latent map of (ceil(n / 4) + 2 margin)^3 x 8 cells (the
  decoder's halo on each side: stationary samples) in chunks (the decoder's mean, i.e. pore
  probabilities, ``decode``) and also the whole ``generate`` (with the default cut, at the
  training data's porosity); the DCGAN generator of Mosser et al. 2017 (PorousMediaGAN ``dcgan.py``
  recipe as used for Berea: nz = 512, ngf = 32, five ConvTranspose3d layers
  nz -> 256 (k4 s1 p0) -> 128 -> 64 -> 32 (k4 s2 p1, BatchNorm + ReLU) -> 1 (k4 s2 p1, tanh);
  random weights, eval mode) fed a z of spatial size n / 16 - 3 so that it writes n^3 voxels
  (its output is (s + 3) * 16 per axis). Both in float32 on the CPU, same torch thread count,
  each timed in both memory formats and given its faster one; voxels/s and seconds are medians
  of ``repeat`` runs after one warm-up.
- **memory**: peak resident memory (ru_maxrss) of generating one ``big``^3 binary volume in
  a fresh process, against the plan of :func:`porevae.vae.generation_memory`.
- **seams**: in one ``seam``^3 sample decoded with chunks of 16 latent cells (64 voxels),
  porosity and S2(r = 1..8) (mean over axes) of 32^3 windows centred on chunk corners (where
  three chunk borders meet) vs windows centred inside chunks: the differences of the means
  against their standard errors.
- **seam flow** (``--seam-flow 256``): permeability along axis 0 of 64^3 windows of one 256^3
  sample decoded in 64-voxel chunks, centred on chunk corners vs inside chunks.
- **faces**: porosity of the voxel planes at depth 0..11 from the six faces minus the
  interior's, per sample, mean and standard error over ``faces`` samples of 128^3 (the
  stationarity bar of issue 26: within 0.01 over 8 samples). Grains of Berea span tens of
  voxels, so a face plane and the interior of one sample differ by a few hundredths by chance:
  the standard error says how much of a difference 8 samples can resolve.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch
from torch import nn

from bench.common import machine, median_time


def dcgan_generator(nz: int = 512, ngf: int = 32) -> nn.Module:
    """The PorousMediaGAN DCGAN3D generator for 64^3 training cubes (random weights)."""
    layers, c = [], ngf * 8
    layers += [nn.ConvTranspose3d(nz, c, 4, 1, 0, bias=False), nn.BatchNorm3d(c), nn.ReLU(True)]
    for _ in range(3):
        layers += [nn.ConvTranspose3d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm3d(c // 2),
                   nn.ReLU(True)]
        c //= 2
    layers += [nn.ConvTranspose3d(c, 1, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers).eval()


def speed(model, sizes, repeat):
    """Seconds per volume, each generator in both memory formats (contiguous and
    channels-last), best of the two reported as its figure."""
    from porevae.vae import decode_chunked, generate
    from porevae.vae.generation import latent_map_cells, latent_noise

    gan = dcgan_generator()
    cl = torch.channels_last_3d
    rows = []
    for n in sizes:
        cells = latent_map_cells(model, (n,) * 3)
        z = latent_noise(0, 0, model.config.latent_channels, [(0, c) for c in cells])
        t_dec = {}
        for fmt in (False, True):
            model.set_channels_last(fmt)
            t_dec[fmt] = median_time(lambda z=z, n=n: decode_chunked(model, z, (n,) * 3),
                                      repeat)
        best = min(t_dec, key=t_dec.get)
        model.set_channels_last(best)
        t_gen = median_time(lambda n=n: generate(model, 1, (n,) * 3, seed=0), repeat)
        s = n // 16 - 3
        zg = torch.randn(1, 512, s, s, s)
        t_gan = {}
        with torch.no_grad():
            assert gan(zg).shape[-1] == n
            t_gan[False] = median_time(lambda zg=zg: gan(zg), repeat)
            gan.to(memory_format=cl)
            zc = zg.contiguous(memory_format=cl)
            t_gan[True] = median_time(lambda zc=zc: gan(zc), repeat)
            gan.to(memory_format=torch.contiguous_format)
        rows.append({"size": n, "voxels": n**3, "porevae_decode_s": min(t_dec.values()),
                     "porevae_layouts": t_dec, "porevae_generate_s": t_gen,
                     "dcgan_s": min(t_gan.values()), "dcgan_layouts": t_gan})
    return rows


def _big_child(source, n):
    """Run in a fresh process: generate one n^3 volume; print peak RSS and the plan."""
    from porevae.vae import generate, generation_memory, load_model

    model = load_model(source)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.perf_counter()
    vol = generate(model, 1, (n,) * 3, seed=0)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"size": n, "seconds": seconds, "peak_rss": peak, "rss_before": base,
                      "plan": generation_memory(model, 1, (n,) * 3),
                      "porosity": float(vol.mean())}))


def seams(model, n, window=32, chunk=16):
    from porevae.media import two_point_correlation
    from porevae.vae import generate

    vol = generate(model, 1, (n,) * 3, seed=3, chunk=chunk)[0].astype(bool)
    step = chunk * model.config.factor
    h = window // 2

    def stats(c):
        w = vol[c[0] - h:c[0] + h, c[1] - h:c[1] + h, c[2] - h:c[2] + h]
        s2 = np.mean([two_point_correlation(w, axis=a, r_max=8)[1][1:] for a in range(3)], 0)
        return np.concatenate([[w.mean()], s2])

    border = [stats((i, j, k)) for i in range(step, n - h + 1, step)
              for j in range(step, n - h + 1, step) for k in range(step, n - h + 1, step)]
    inner = [stats((i, j, k)) for i in range(step // 2, n - h + 1, step)
             for j in range(step // 2, n - h + 1, step)
             for k in range(step // 2, n - h + 1, step)]
    b, i = np.array(border), np.array(inner)
    se = np.sqrt(b.var(0, ddof=1) / len(b) + i.var(0, ddof=1) / len(i))
    names = ["porosity"] + [f"S2({r})" for r in range(1, 9)]
    return [{"statistic": nm, "border": float(x), "interior": float(y), "z": float((x - y) / e)}
            for nm, x, y, e in zip(names, b.mean(0), i.mean(0), se)], len(b), len(i)


def seam_flow(model, n, window=64, chunk=16):
    """Permeability along axis 0 (porevae's Stokes solver, default boundaries) of ``window``^3
    sub-volumes of one ``n``^3 sample decoded in chunks of ``chunk`` latent cells: those centred
    on chunk corners (three chunk borders cross them) vs those centred inside chunks. Returns
    ``(border k list, interior k list)`` in voxel^2."""
    from porevae.media import permeability
    from porevae.vae import generate

    vol = generate(model, 1, (n,) * 3, seed=3, chunk=chunk)[0].astype(bool)
    step, h = chunk * model.config.factor, window // 2

    def k(c):
        w = vol[c[0] - h:c[0] + h, c[1] - h:c[1] + h, c[2] - h:c[2] + h]
        return permeability(w, axis=0).k_voxel2

    centres = {"border": range(step, n - h + 1, step),
               "inner": range(step // 2, n - h + 1, step)}
    return tuple([k(c) for c in itertools.product(centres[kind], repeat=3)
                  if min(c) >= h] for kind in ("border", "inner"))


def faces(model, n, count, depth=12, seed=11):
    """Per sample: porosity of the voxel planes at each depth 0..depth - 1 from the faces (the
    six faces pooled) minus the porosity of the interior (voxels farther than ``depth`` from
    every face), over ``count`` samples of n^3 cut at the training data's porosity (the default
    cut); and the same for the same latent noise decoded without the margin (zero padding at
    the faces: what generation did before). Returns ``{"margin": (count, depth), "bare":
    (count, depth), "interior": (count,)}``."""
    from porevae.vae import generate
    from porevae.vae.binarize import exact_cut
    from porevae.vae.generation import data_porosity, latent_noise, margin

    def profile(v):
        core = v[depth:-depth, depth:-depth, depth:-depth].mean()
        return [np.mean([np.take(v, k, a).mean() for a in range(3) for k in (d, -1 - d)])
                - core for d in range(depth)], core

    m, cells = margin(model), model.latent_cells((n,) * 3)
    out = {"margin": [], "bare": [], "interior": []}
    for i in range(count):
        diff, core = profile(generate(model, 1, (n,) * 3, seed=seed + i)[0])
        out["margin"].append(diff)
        out["interior"].append(core)
        z = latent_noise(seed + i, 0, model.config.latent_channels,
                         [(m, m + c) for c in cells])
        with torch.no_grad():
            p = model.decode(z[None])[0, 0].numpy()[:n, :n, :n]
        out["bare"].append(profile(exact_cut(p, round(data_porosity(model) * p.size)))[0])
    return {k: np.array(v) for k, v in out.items()}


def _faces_table(res, count):
    print(f"\n{count} samples: interior porosity {res['interior'][:count].mean():.4f}; plane - "
          f"interior by depth from the faces (mean ± standard error over the samples)")
    depth = res["margin"].shape[1]
    print("| decode | " + " | ".join(map(str, range(depth))) + " | largest |")
    print("|---|" + "---|" * (depth + 1))
    for name, label in (("margin", "with the margin"), ("bare", "without (before)")):
        d = res[name][:count]
        mean, se = d.mean(0), d.std(0, ddof=1) / np.sqrt(count)
        print(f"| {label} | " + " | ".join(f"{x:+.4f} ± {e:.4f}" for x, e in zip(mean, se))
              + f" | {np.abs(mean).max():.4f} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--model", default="berea", help="shipped model (default berea)")
    src.add_argument("--checkpoint", help="a checkpoint instead of a shipped model")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--sizes", type=int, nargs="*", default=[128, 256],
                    help="edges of the speed table (none: skip it)")
    ap.add_argument("--big", type=int, default=512, help="edge of the memory test (0: skip)")
    ap.add_argument("--seam", type=int, default=256, help="edge of the seam test (0: skip)")
    ap.add_argument("--seam-flow", type=int, default=0,
                    help="edge of the seam permeability test (0: skip; 256: 27 + 64 Stokes "
                         "solves of 64^3, a few minutes)")
    ap.add_argument("--faces", type=int, default=8,
                    help="samples of 128^3 for the face-plane porosity (0: skip; more than 8: "
                         "the first 8 are reported too)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from porevae.data import pretrained_path
    from porevae.vae import load_model

    source = args.checkpoint or str(pretrained_path(args.model))
    if args.child:
        _big_child(source, args.child)
        return 0
    model = load_model(source)
    print(f"# generation, {source}; {machine()}; torch threads {torch.get_num_threads()}")
    print(f"# command: python -m bench.bench_generate "
          f"{' '.join(argv if argv is not None else sys.argv[1:])}")
    if args.sizes:
        print("\n| edge | voxels | porevae decode (s) | voxels/s | porevae generate incl. cut "
              "(s) | DCGAN (s) | voxels/s | decode vs DCGAN |\n|---|---|---|---|---|---|---|---|")
    for r in speed(model, args.sizes, args.repeat):
        print(f"| {r['size']} | {r['voxels']:.3g} | {r['porevae_decode_s']:.2f} | "
              f"{r['voxels'] / r['porevae_decode_s']:.3g} | {r['porevae_generate_s']:.2f} | "
              f"{r['dcgan_s']:.2f} | {r['voxels'] / r['dcgan_s']:.3g} | "
              f"{r['dcgan_s'] / r['porevae_decode_s']:.2f}x |")
        print(f"  (contiguous / channels-last: porevae {r['porevae_layouts'][False]:.2f} / "
              f"{r['porevae_layouts'][True]:.2f} s, DCGAN {r['dcgan_layouts'][False]:.2f} / "
              f"{r['dcgan_layouts'][True]:.2f} s)")
    if args.big:
        cmd = [sys.executable, "-m", "bench.bench_generate", "--child", str(args.big),
               *(["--checkpoint", args.checkpoint] if args.checkpoint else
                 ["--model", args.model]),
               *(["--threads", str(args.threads)] if args.threads else [])]
        out = json.loads(subprocess.run(cmd, check=True, capture_output=True,
                                        text=True).stdout.strip().splitlines()[-1])
        print(f"\n{args.big}^3 binary volume: {out['seconds']:.1f} s, peak RSS "
              f"{out['peak_rss'] / 2**30:.2f} GiB (process before: "
              f"{out['rss_before'] / 2**30:.2f} GiB; plan {out['plan']['total'] / 2**30:.2f} "
              f"GiB), porosity {out['porosity']:.4f}")
    if args.seam:
        rows, nb, ni = seams(model, args.seam)
        print(f"\nseams, {args.seam}^3 sample, chunks of 64 voxels: {nb} windows on chunk "
              f"corners vs {ni} inside chunks (32^3 each); z = difference / standard error")
        print("| statistic | on chunk corners | inside chunks | z |\n|---|---|---|---|")
        for r in rows:
            print(f"| {r['statistic']} | {r['border']:.5f} | {r['interior']:.5f} | "
                  f"{r['z']:+.2f} |")
    if args.seam_flow:
        border, inner = (np.array(x) for x in seam_flow(model, args.seam_flow))
        se = np.sqrt(border.var(ddof=1) / len(border) + inner.var(ddof=1) / len(inner))
        diff = border.mean() - inner.mean()
        print(f"\nseams, permeability: {args.seam_flow}^3 sample, chunks of 64 voxels, k / dx^2 "
              f"along axis 0 of 64^3 windows: {len(border)} on chunk corners "
              f"{border.mean():.5f} ± {border.std(ddof=1):.5f}, {len(inner)} inside chunks "
              f"{inner.mean():.5f} ± {inner.std(ddof=1):.5f} (mean ± std); difference "
              f"{diff:+.5f}, z = {diff / se:+.2f}")
    if args.faces:
        res = faces(model, 128, args.faces)
        print("\nstationarity, samples of 128^3 at the default cut: porosity of the voxel "
              "planes at depth d from the faces (six faces pooled) minus that of the interior "
              "(depth >= 12)")
        if args.faces > 8:
            _faces_table(res, 8)
        _faces_table(res, args.faces)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
