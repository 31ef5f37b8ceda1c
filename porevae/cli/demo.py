"""``porevae demo``: the main job on an embedded default.

On a 100 x 100 grid of the unit square: the energy table of an exponential and a squared-exponential
covariance (l = 0.1) at 80, 90, 94, 96 and 98 % energy, and PNG figures of the covariances, the
leading eigenmodes, realizations and the energy curves.
"""

from __future__ import annotations

import time
from pathlib import Path

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


def run_demo(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    tables = run_kle_demo(out, seed=args.seed)
    print(f"KLE on a 100 x 100 grid of the unit square, l = 0.1: number of terms M for "
          f"each energy level ({time.perf_counter() - t0:.1f} s)")
    print(format_energy_table(tables))
    print(f"figures in {out}/: " + ", ".join(sorted(p.name for p in out.glob("*.png"))))
    return 0


def register(sub) -> None:
    p = sub.add_parser("demo", help="the main job on an embedded default (writes PNG figures)")
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_demo)
