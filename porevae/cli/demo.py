"""``porevae demo``: the main job on an embedded default.

1. KLE: on a 100 x 100 grid of the unit square, the energy table of an exponential and a
   squared-exponential covariance (l = 0.1) at 80, 90, 94, 96 and 98 % energy, and PNG figures of
   the covariances, the leading eigenmodes, realizations and the energy curves.
2. VAE: a short training run of a Fisher VAE on 32 x 32 crops of a synthetic 2-D medium (a KLE
   realization thresholded at 40 % porosity), then samples and the loss curve as PNG.
3. Porous media: a Fisher VAE trained on 32^3 crops of a synthetic 3-D medium (overlapping
   spheres), generated media judged against it (``porevae.study.reconstruction_study``: porosity,
   specific surface, chord lengths, Euler characteristic), report in ``media/``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from porevae.cli.kle import DEFAULT_LEVELS, format_energy_table


def run_kle_demo(out: Path, shape=(100, 100), length_scale=0.1, seed=0) -> dict:
    """Energy tables and figures of the KLE part of the demo; returns the tables."""
    from porevae import KLE, Exponential, Grid, SquaredExponential
    from porevae.kle import plots

    grid = Grid(shape)
    models = {"exponential": Exponential(length_scale),
              "squared-exponential": SquaredExponential(length_scale)}
    # truncation of the realizations shown: 90 % for the rough field, 98 % for the smooth one
    keep = {"exponential": 0.9, "squared-exponential": 0.98}
    tables, spectra = {}, {}
    steps = tqdm(total=2 * len(models) + 2, desc="demo (KLE)", leave=False)
    for name, model in models.items():
        t0 = time.perf_counter()
        kle = KLE(grid, model, energy=keep[name])
        tables[f"{name} M"] = kle.energy_table(DEFAULT_LEVELS)
        spectra[name] = (kle.spectrum(), kle.trace)
        steps.update()
        tqdm.write(f"{name}: solver {kle.solver}, {kle.n_terms} terms kept "
                   f"({kle.energy:.1%} energy), {time.perf_counter() - t0:.1f} s")
        plots.plot_modes(kle, out / f"modes_{name}.png", label=f"({name}, l={length_scale})")
        fields = kle.sample(4, seed=seed)
        plots.plot_realizations(fields, grid, out / f"realizations_{name}.png",
                                title=f"{name}, l={length_scale}, {kle.n_terms} terms, "
                                      f"seed {seed}")
        steps.update()
    plots.plot_covariance(grid, models, out / "covariance.png")
    steps.update()
    plots.plot_energy(spectra, out / "energy.png", DEFAULT_LEVELS)
    steps.update()
    steps.close()
    return tables


def run_vae_demo(out: Path, steps: int = 300, seed=0) -> dict:
    """Fisher VAE on a synthetic 2-D medium; returns porosities and the first and last losses."""
    import scipy.stats

    from porevae import KLE, Grid, SquaredExponential
    from porevae.kle import plots
    from porevae.vae import train_demo

    porosity = 0.4
    kle = KLE(Grid((192, 192)), SquaredExponential(0.03), energy=0.99)
    medium = kle.sample(1, seed=seed)[0] > scipy.stats.norm.ppf(1.0 - porosity)  # 1 = pore
    model, history = train_demo(medium, out_dir=out / "vae", steps=steps, seed=seed, size=32,
                                batch_size=16, progress=True)
    samples = model.sample(6, seed=seed)[:, 0].numpy()
    crops = [medium[i:i + 32, j:j + 32] for i, j in ((0, 0), (60, 20), (100, 140))]
    plots.plot_realizations(np.concatenate([np.stack(crops), samples[:3]]), None,
                            out / "vae_samples.png", binary=True,
                            title="training crops (left 3) and Fisher VAE samples (right 3): "
                                  "pore probability")
    plots.plot_loss(history, out / "vae_loss.png")
    return {"medium porosity": float(medium.mean()),
            "sample pore probability": float(samples.mean()),
            "sample porosity, cut at 1/2": float((samples >= 0.5).mean()),
            "first": history[0], "last": history[-1]}


def run_demo(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    tables = run_kle_demo(out, seed=args.seed)
    print(f"KLE on a 100 x 100 grid of the unit square, l = 0.1: number of terms M for "
          f"each energy level ({time.perf_counter() - t0:.1f} s)")
    print(format_energy_table(tables))
    if args.vae_steps:
        t0 = time.perf_counter()
        r = run_vae_demo(out, steps=args.vae_steps, seed=args.seed)
        first, last = r["first"], r["last"]
        print(f"\nFisher VAE (beta 1, gamma 0.1, F* 5) on 32 x 32 crops of a synthetic medium, "
              f"{last['step']} steps ({time.perf_counter() - t0:.0f} s). Loss = mean over the "
              f"batch of per-sample sums: reconstruction (Bernoulli, summed over 1024 pixels) + "
              f"beta KL (summed over the latent) + gamma |F - F*|")
        for name, row in (("first step", first), ("last step", last)):
            print(f"  {name}: total {row['total']:.1f}, reconstruction {row['recon']:.1f}, "
                  f"KL {row['kl']:.2f}, Fisher {row['fisher']:.2f}")
        print(f"  porosity: medium {r['medium porosity']:.3f}; VAE samples: mean pore "
              f"probability {r['sample pore probability']:.3f} (the porosity of the default "
              f"'mean' cut), {r['sample porosity, cut at 1/2']:.3f} when cut at 1/2")
    if args.media_steps:
        from porevae.study import reconstruction_study

        t0 = time.perf_counter()
        r = reconstruction_study(out / "media", steps=args.media_steps, seed=args.seed,
                                 progress=True)
        print(f"\nReconstruction of a synthetic 3-D medium (96^3 overlapping spheres) by a Fisher "
              f"VAE, {args.media_steps} steps on 32^3 crops ({time.perf_counter() - t0:.0f} s); "
              f"report in {out / 'media'}/:")
        for row in r["targets"]:
            print(f"  {row['statistic']}: reference {row['reference']:.4g}, samples "
                  f"{row['mean']:.4g} (target {row['kind']} {row['tolerance']}): "
                  f"{'met' if row['met'] else 'not met'}")
    print(f"figures in {out}/: " + ", ".join(sorted(p.name for p in out.glob("*.png"))))
    return 0


def register(sub) -> None:
    p = sub.add_parser("demo", help="the main job on an embedded default (writes PNG figures)")
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vae-steps", type=int, default=300,
                   help="training steps of the VAE part (0 skips it)")
    p.add_argument("--media-steps", type=int, default=300,
                   help="training steps of the 3-D reconstruction part (0 skips it)")
    p.set_defaults(func=run_demo)
