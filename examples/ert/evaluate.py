"""Prior against posterior of the ERT example (run in porevae's environment, after ERT).

Reads ERT's run folders ``output/realization-<r>/iter-<i>/`` (those with FLOW's
``WATERFLOOD.OK``): the coefficients ERT wrote to ``parameters.json``, the field that
``porevae field`` made of them (``PERMX.GRDECL``) and Flow's summary; and the truth
(``truth/``) and the observations (``observations.json``) that truth.py wrote. For every
iteration (0 = prior; the last = posterior) it prints:

- data misfit: ``sqrt(mean(((d_sim - d_obs) / sigma)^2))`` over the observations, per
  realization, then the mean and the range over the ensemble (the truth itself scores about 1:
  the noise in the data); the RMS errors of the water cuts and of the injector pressure;
- field error: the RMS over the 400 cells of ``mean_r ln K_r - ln K_true`` (the ensemble mean of
  the log-permeability against the truth), and the spread ``sqrt(mean over cells of the
  ensemble variance of ln K)``; the same for the coefficients ``xi`` against the true ones, all
  of them and the leading ``LEADING`` (the largest eigenvalues) alone.

Exit status 1 when the posterior's mean data misfit is not below the prior's (or a folder is
missing), so that `make integration` fails; a JSON copy of the table goes to ``--json``.

    python evaluate.py                       # in examples/ert, after `ert ensemble_smoother`
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
from truth import DECK, read_summary

from porevae.export import load_kle, read_grdecl
from porevae.export.ert import read_coefficients

HERE = Path(__file__).resolve().parent
LEADING = 10     # the coefficients of the largest eigenvalues, reported on their own


def load_member(folder: Path, n_terms: int, obs: list[dict]) -> dict:
    """Coefficients, ln K per cell and simulated data of one run folder."""
    days, smry = read_summary(folder / Path(DECK).stem)
    sim = []
    for o in obs:
        k = np.flatnonzero(np.isclose(days, o["day"]))
        if k.size != 1:
            raise ValueError(f"{folder}: day {o['day']} is not a report step")
        sim.append(smry[o["key"]][k[0]])
    return {"xi": read_coefficients(folder / "parameters.json", n_terms),
            "lnk": np.log(read_grdecl(folder / "PERMX.GRDECL")["PERMX"]),
            "sim": np.asarray(sim)}


def rms(a) -> float:
    return float(np.sqrt(np.mean(np.square(a))))


def summarize(members: list[dict], truth: dict, obs: list[dict]) -> dict:
    d_obs = np.array([o["value"] for o in obs])
    sigma = np.array([o["error"] for o in obs])
    keys = np.array([o["key"] for o in obs])
    sim = np.array([m["sim"] for m in members])                   # (N, n_obs)
    misfit = np.sqrt(np.mean(((sim - d_obs) / sigma) ** 2, axis=1))
    wct, bhp = np.char.startswith(keys, "WWCT"), keys == "WBHP:INJ"
    lnk = np.array([m["lnk"] for m in members])                   # (N, cells)
    xi = np.array([m["xi"] for m in members])
    return {
        "n": len(members),
        "misfit_mean": float(misfit.mean()), "misfit_min": float(misfit.min()),
        "misfit_max": float(misfit.max()),
        "wwct_rms": float(np.sqrt(np.mean((sim[:, wct] - d_obs[wct]) ** 2))),
        "wbhp_rms": float(np.sqrt(np.mean((sim[:, bhp] - d_obs[bhp]) ** 2))),
        "lnk_error": rms(lnk.mean(axis=0) - truth["lnk"]),
        "lnk_spread": float(np.sqrt(np.mean(lnk.var(axis=0, ddof=1)))),
        "xi_error": rms(xi.mean(axis=0) - truth["xi"]),
        "xi10_error": rms(xi[:, :LEADING].mean(axis=0) - truth["xi"][:LEADING]),
        "xi_spread": float(np.sqrt(np.mean(xi.var(axis=0, ddof=1)))),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", default=str(HERE), help="folder of kle.h5, truth/, output/")
    p.add_argument("--json", help="also write the table here (JSON)")
    args = p.parse_args(argv)
    case = Path(args.case)

    n_terms = load_kle(case / "kle.h5").n_terms
    obs = json.loads((case / "observations.json").read_text())["observations"]
    truth = load_member(case / "truth", n_terms, obs)
    truth_misfit = rms((truth["sim"] - [o["value"] for o in obs]) / [o["error"] for o in obs])
    folders: dict[int, list[Path]] = {}
    for f in sorted((case / "output").glob("realization-*/iter-*")):
        folders.setdefault(int(re.search(r"iter-(\d+)$", f.name).group(1)), []).append(f)
    if 0 not in folders or len(folders) < 2:
        print(f"evaluate: no prior and posterior run folders in {case / 'output'}",
              file=sys.stderr)
        return 1
    rows = {}
    for it in sorted(folders):
        done = [f for f in folders[it] if (f / f"{Path(DECK).stem}.OK").exists()]
        rows[it] = summarize([load_member(f, n_terms, obs) for f in done], truth, obs)
        rows[it]["failed"] = len(folders[it]) - len(done)

    last = max(rows)
    print(f"{len(obs)} observations; truth: {n_terms} KLE coefficients, data misfit "
          f"{truth_misfit:.2f} (noise only), RMS ln K {rms(truth['lnk'] - truth['lnk'].mean()):.2f}"
          f" about its mean")
    head = (f"{'ensemble':<14}{'N':>4}{'data misfit':>13}{'(min-max)':>14}{'WWCT rms':>10}"
            f"{'BHP rms':>9}{'lnK err':>9}{'lnK sprd':>10}{'xi err':>8}{'xi sprd':>9}"
            f"{f'xi1-{LEADING} err':>13}")
    print(head)
    for it, r in rows.items():
        name = "prior" if it == 0 else "posterior" if it == last else f"iteration {it}"
        print(f"{name:<14}{r['n']:>4}{r['misfit_mean']:>13.2f}"
              f"{r['misfit_min']:>7.2f}-{r['misfit_max']:<6.2f}{r['wwct_rms']:>10.3f}"
              f"{r['wbhp_rms']:>9.2f}{r['lnk_error']:>9.3f}{r['lnk_spread']:>10.3f}"
              f"{r['xi_error']:>8.3f}{r['xi_spread']:>9.3f}{r['xi10_error']:>13.3f}")
    prior, post = rows[0], rows[last]
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"observations": len(obs), "truth_misfit": truth_misfit,
             "iterations": {str(k): v for k, v in rows.items()}}, indent=1))
    ok = post["misfit_mean"] < prior["misfit_mean"]
    field = "down" if post["lnk_error"] < prior["lnk_error"] else "NOT down"
    print(f"posterior vs prior: data misfit {post['misfit_mean']:.2f} vs "
          f"{prior['misfit_mean']:.2f} ({'down' if ok else 'NOT down'}), ln K error of the mean "
          f"{post['lnk_error']:.3f} vs {prior['lnk_error']:.3f} ({field})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
