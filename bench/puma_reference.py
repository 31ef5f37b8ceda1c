"""NASA PuMA's permeability on the Berea crops of ``bench/bench_permeability.py`` (a one-off
reference run, not a timing of porevae): run in PuMA's own environment, not porevae's.

PuMA (github.com/nasa/puma, ``pumapy`` 3.2.2 built from source; the registry's ``pumapy`` is an
unrelated project) solves Stokes flow with Q1-Q1 finite elements (velocity at the voxel corners,
so no slip at the faces of solid voxels) on a domain periodic on all sides, driven by a uniform
unit body force, and reports k = <u> (mean velocity over the domain, voxel^2 with a voxel length
of 1). Here: the crop itself as that domain (PuMA's own convention), flow along axis 0
(``direction="x"``), minres, tol 1e-8, the assembled sparse matrix (``matrix_free=False``: about
6x faster per iteration than PuMA's matrix-free product, measured on a 64^3 crop, at 15-18 GB
for a 128^3 crop). porevae solves the same problem with ``reservoir=0, lateral="periodic"``.

(porevae's default treatment, free-fluid reservoirs before and after the crop and no-slip
lateral walls, would need a larger domain: with the assembled matrix more memory than this
machine has, and PuMA's matrix-free product is too slow for it on two shared cores.)

One crop at a time, the JSON rewritten after each (a rerun skips the crops already there):

    nice -n 19 /tmp/puma_venv/bin/python bench/puma_reference.py --out /tmp/puma_k.json
"""

from __future__ import annotations

import argparse
import json
import lzma
import resource
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: The first four corners of bench/bench_permeability.py (not imported: porevae is not
#: installed in PuMA's environment).
CORNERS = ((0, 0, 0), (136, 136, 136), (272, 272, 272), (0, 272, 136))


def berea() -> np.ndarray:
    """The shipped Berea image (400^3 bool, 1 = pore), read without porevae."""
    info = json.loads((ROOT / "porevae/data/berea/berea.json").read_text())
    bits = np.frombuffer(lzma.decompress((ROOT / "porevae/data/berea/berea_pore.bits.xz")
                                         .read_bytes()), dtype=np.uint8)
    shape = tuple(info["shape"])
    return np.unpackbits(bits, count=int(np.prod(shape))).astype(bool).reshape(shape)


def puma_k(crop: np.ndarray, tol: float) -> dict:
    """PuMA's k_xx (voxel^2) of a pore mask (1 = pore), its off-diagonal terms, the wall time
    and the process's peak resident memory so far."""
    import pumapy as puma

    ws = puma.Workspace.from_array((~crop).astype(np.uint16))  # 1 = solid
    ws.voxel_length = 1.0
    t0 = time.perf_counter()
    keff, _ = puma.compute_permeability(ws, (1, 1), direction="x", tol=tol, maxiter=100_000,
                                        solver_type="minres", display_iter=False,
                                        matrix_free=False, output_fields=False)
    return dict(k_puma=float(keff[0, 0]), k_puma_yx=float(keff[1, 0]),
                k_puma_zx=float(keff[2, 0]), wall_s=time.perf_counter() - t0,
                peak_rss_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--crops", type=int, default=4)
    ap.add_argument("--tol", type=float, default=1e-8)
    args = ap.parse_args(argv)
    import pumapy

    out = Path(args.out)
    done = json.loads(out.read_text()) if out.exists() else {"rows": []}
    done["puma"] = (f"pumapy {pumapy.__version__}, minres tol {args.tol}, assembled matrix, "
                    f"domain periodic on all sides, flow along axis 0")
    vol = berea()
    s = args.size
    for corner in CORNERS[:args.crops]:
        if any(tuple(r["corner"]) == corner and r["size"] == s for r in done["rows"]):
            continue
        x, y, z = corner
        crop = np.ascontiguousarray(vol[x:x + s, y:y + s, z:z + s])
        row = dict(corner=corner, size=s, porosity=float(crop.mean()),
                   started=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
        row.update(puma_k(crop, args.tol))
        done["rows"].append(row)
        out.write_text(json.dumps(done, indent=1))
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
