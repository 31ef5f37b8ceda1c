"""Synthetic truth and observations for the ERT example (run in porevae's environment).

The truth is one draw of the KLE prior, ``xi ~ N(0, I)`` with its own seed (``--seed``; ERT
samples its prior ensemble from RANDOM_SEED in kle_field.ert, a different stream). It goes
through the same steps as every ERT realization: ``parameters.json`` (ERT's layout
``{"XI_0000": {"value": ...}}``) -> ``porevae field`` (the PERMX_FIELD step, same transform) ->
OPM Flow on WATERFLOOD.DATA, in the folder ``truth/``.

The observed data are the truth's simulated values at every second report step (days 60, 120,
..., 720) for the keys in ``ERRORS``, plus Gaussian noise of the stated standard deviation
(``--noise-seed``); water cuts are clipped to [0, 1] and rates to >= 0 after the noise. Written:

- ``observations.txt``: ERT's OBS_CONFIG, one SUMMARY_OBSERVATION per value;
- ``observations.json``: the same values with the truth's noise-free ones, for evaluate.py.

    python truth.py --kle kle.h5            # in examples/ert, after `porevae kle ... --out kle.h5`
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import resfo

HERE = Path(__file__).resolve().parent
DECK = "WATERFLOOD.DATA"
START = date(2020, 1, 1)             # START in the deck
# the arguments of PERMX_FIELD(<PERM_MEAN>=100, <PERM_STD>=1.0) in kle_field.ert
TRANSFORM = ["--perm", "geometric", "--perm-mean", "100", "--perm-std", "1.0"]
OBS_DAYS = list(range(60, 721, 60))  # every second 30-day report step
WELLS = ("P1", "P2", "P3", "P4")
# observed summary key -> standard deviation of its error (absolute, in the key's unit)
ERRORS = {**{f"WWCT:{w}": 0.03 for w in WELLS},          # water cut, fraction
          **{f"WLPR:{w}": 1.0 for w in WELLS},           # liquid rate, sm3/day
          "WBHP:INJ": 2.0}                                # injector bottom-hole pressure, bar


def read_summary(case) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Report-step values of ``CASE.SMSPEC`` / ``CASE.UNSMRY`` (unified): ``(days, {key: array})``
    with keys ``WWCT:P1`` (well and group vectors) or ``FOPR`` (field vectors).

    The value of a report step is its last ministep (as ERT reads summaries)."""
    case = Path(case)
    spec = {name.strip(): np.asarray(v) for name, v in resfo.read(case.with_suffix(".SMSPEC"))}

    def text(a):
        return [s.decode().strip() if isinstance(s, bytes) else str(s).strip() for s in a]

    names = text(spec["WGNAMES"] if "WGNAMES" in spec else spec["NAMES"])
    keys = [kw if wg in ("", ":+:+:+:+") else f"{kw}:{wg}"
            for kw, wg in zip(text(spec["KEYWORDS"]), names)]
    rows, last = [], None
    for name, v in resfo.read(case.with_suffix(".UNSMRY")):
        if name.strip() == "SEQHDR" and last is not None:
            rows.append(last)
        elif name.strip() == "PARAMS":
            last = np.asarray(v, dtype=np.float64)
    if last is not None:
        rows.append(last)
    data = np.array(rows)
    values = {key: data[:, col] for col, key in enumerate(keys)}
    return values["TIME"], values


def observed_values(days: np.ndarray, smry: dict, keys, obs_days) -> dict[tuple[str, int], float]:
    """``{(key, day): value}`` of the summary at the observation days (exact report steps)."""
    out = {}
    for day in obs_days:
        k = np.flatnonzero(np.isclose(days, day))
        if k.size != 1:
            raise ValueError(f"day {day} is not a report step of the summary ({days})")
        for key in keys:
            out[key, day] = float(smry[key][k[0]])
    return out


def run_flow(folder: Path, flow: str) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([flow, DECK], cwd=folder, env=env, capture_output=True, text=True,
                          check=False, timeout=600)
    if proc.returncode != 0:
        sys.exit(f"flow failed in {folder}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kle", default=str(HERE / "kle.h5"), help="KLE file (porevae kle --out)")
    p.add_argument("--out", default=str(HERE), help="folder of truth/ and the observation files")
    p.add_argument("--seed", type=int, default=20261201, help="seed of the true coefficients")
    p.add_argument("--noise-seed", type=int, default=20261202, help="seed of the data noise")
    p.add_argument("--flow", default=shutil.which("flow") or "flow", help="OPM Flow executable")
    args = p.parse_args(argv)

    from porevae.export import load_kle

    n_terms = load_kle(args.kle).n_terms
    out = Path(args.out)
    folder = out / "truth"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    xi = np.random.default_rng(args.seed).standard_normal(n_terms)
    params = {f"XI_{i:04d}": {"value": float(v)} for i, v in enumerate(xi)}
    (folder / "parameters.json").write_text(json.dumps(params, indent=0))
    subprocess.run([sys.executable, "-m", "porevae.cli", "field", "--kle", args.kle,
                    "--parameters", str(folder / "parameters.json"), "--group", "KLE",
                    "--out", str(folder), *TRANSFORM], check=True)
    shutil.copy(HERE / DECK, folder / DECK)
    run_flow(folder, args.flow)
    days, smry = read_summary(folder / Path(DECK).stem)
    true = observed_values(days, smry, ERRORS, OBS_DAYS)

    noise = np.random.default_rng(args.noise_seed)
    records, blocks = [], []
    for (key, day), value in true.items():
        err = ERRORS[key]
        obs = value + err * noise.standard_normal()
        obs = float(np.clip(obs, 0.0, 1.0) if key.startswith("WWCT") else
                    max(obs, 0.0) if key.startswith("WLPR") else obs)
        when = (START + timedelta(days=day)).isoformat()
        name = f"{key.replace(':', '_')}_D{day:04d}"
        records.append({"name": name, "key": key, "day": day, "date": when, "value": obs,
                        "error": err, "truth": value})
        blocks.append(f"SUMMARY_OBSERVATION {name}\n{{\n    VALUE = {obs:.6g};\n"
                      f"    ERROR = {err:g};\n    DATE  = {when};\n    KEY   = {key};\n}};\n")
    header = (f"-- {len(records)} observations of the synthetic truth (truth.py --seed {args.seed}"
              f" --noise-seed {args.noise_seed}):\n-- its simulated values + N(0, ERROR^2) noise."
              f"\n\n")
    (out / "observations.txt").write_text(header + "\n".join(blocks))
    (out / "observations.json").write_text(json.dumps(
        {"seed": args.seed, "noise_seed": args.noise_seed, "observations": records}, indent=1))
    chi = np.sqrt(np.mean([((r["value"] - r["truth"]) / r["error"]) ** 2 for r in records]))
    print(f"truth: {n_terms} coefficients (seed {args.seed}), Flow in {folder}; "
          f"{len(records)} observations of {len(ERRORS)} keys at {len(OBS_DAYS)} dates -> "
          f"{out / 'observations.txt'} (the truth's own normalized RMS misfit {chi:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
