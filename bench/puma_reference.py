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

``--checks`` prints PuMA on small cases with known answers instead (flow along axis 0, periodic
cells): a 4 x 4 duct (series solution), a duct closed along the flow (k = 0: a channel along
axis 1), the open duct with a closed cavity beside it (k unchanged in Stokes flow), and a simple
cubic sphere array (Zick & Homsy's K = 4.292 at c = 0.125). Measured 2026-12-07: duct -9.0 %;
closed duct k = 0.0113 (the open duct's 0.0569: spurious mean flow where the body force meets a
dead end, the same with solver_type="direct"); closed cavity +6.6 %; spheres K +21.7 % (cell 16,
c = 0.117), +13.2 % (cell 24, c = 0.126). porevae on the same cases: duct +4.9 %, 0 and +0.0 %
(the solve itself, connectivity removal aside), spheres +2.0 %, +1.8 %.
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


def checks() -> None:
    """PuMA on small cases with known answers (see the module docstring)."""
    n = np.arange(1, 400, 2)
    duct = np.zeros((12, 12, 12), dtype=bool)
    duct[:, 2:6, 2:6] = True
    series = 16 / 12 * (1 - 192 / np.pi**5 * np.sum(np.tanh(n * np.pi / 2) / n**5)) * 16 / 144
    k_duct = puma_k(duct, 1e-10)["k_puma"]
    print(f"duct 4 x 4 in a 12^3 cell: k {k_duct:.5f}, series {series:.5f}, "
          f"{k_duct / series - 1:+.3f}")
    closed = np.zeros((12, 12, 12), dtype=bool)
    closed[2:6, :, 2:6] = True  # along axis 1: no path along axis 0
    print(f"the same duct along axis 1 (closed along the flow, k = 0): k "
          f"{puma_k(closed, 1e-10)['k_puma']:.5f}")
    cavity = duct.copy()
    cavity[3:9, 8:11, 2:6] = True
    k_cavity = puma_k(cavity, 1e-10)["k_puma"]
    print(f"with a closed cavity beside it (k unchanged): k {k_cavity:.5f}, "
          f"{k_cavity / k_duct - 1:+.3f}")
    for side in (16, 24):
        radius = side * (3 * 0.125 / (4 * np.pi)) ** (1 / 3)
        x = np.arange(side) - (side - 1) / 2
        pore = (x[:, None, None] ** 2 + x[None, :, None] ** 2 + x[None, None, :] ** 2) >= radius**2
        c = 1 - pore.mean()
        a = side * (3 * c / (4 * np.pi)) ** (1 / 3)
        drag = side**3 / (6 * np.pi * a * puma_k(pore, 1e-8)["k_puma"])
        ref = 4.292 * sangani_acrivos_sc(c) / sangani_acrivos_sc(0.125)
        print(f"sphere array, cell {side}: c {c:.4f}, K {drag:.3f}, Zick & Homsy {ref:.3f} "
              f"(4.292 at 0.125, carried to c by the Sangani & Acrivos series), "
              f"{drag / ref - 1:+.3f}")


def sangani_acrivos_sc(c: float) -> float:
    """Sangani & Acrivos (1982) series for K of a simple cubic sphere array (as in
    tests/test_media_permeability.py)."""
    x = c ** (1 / 3)
    return 1 / (1 - 1.7601 * x + x**3 - 1.5593 * x**6 + 3.9799 * x**8 - 3.0734 * x**10)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out")
    ap.add_argument("--checks", action="store_true", help="small cases with known answers")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--crops", type=int, default=4)
    ap.add_argument("--tol", type=float, default=1e-8)
    ap.add_argument("--masks", help="folder of crop_X_Y_Z.npy pore masks to solve instead of "
                    "the crops (porevae's connected pore space of each; bench_permeability "
                    "--write-masks)")
    args = ap.parse_args(argv)
    if args.checks:
        checks()
        return 0
    if not args.out:
        ap.error("--out is required (or --checks)")
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
        if args.masks:
            crop = np.load(Path(args.masks) / f"crop_{x}_{y}_{z}.npy")
        row = dict(corner=corner, size=s, porosity=float(crop.mean()), masks=args.masks,
                   started=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
        row.update(puma_k(crop, args.tol))
        done["rows"].append(row)
        out.write_text(json.dumps(done, indent=1))
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
