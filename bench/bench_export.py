"""Ensembles at disk speed: the GRDECL, binary GRDECL and ROFF writers against the disk's write
floor and the kept writers, and ``porevae ensemble`` end to end (issue 23, item 3).

Part 1, the writers on prepared arrays: ``--n`` (100) realizations of the Drogon-size grid
92 x 146 x 66 (886,512 cells), one ``PERMX`` keyword each (log-normal float64 values, ten distinct
arrays used in turn), one file per realization, each written as the writers write it: a temporary
file, fsync, rename. In the same run:

* the write floor: the same number of bytes (porevae's files, prepared in memory) written with
  ``os.write`` + ``os.fsync`` + ``os.replace`` per file, before and after the writers; the faster
  of the two is the floor;
* porevae: :func:`porevae.export.write_grdecl`, :func:`~porevae.export.write_bgrdecl`,
  :func:`~porevae.export.write_roff`;
* the kept writers, each from the same (x, y, z) arrays, ordering the cells itself: the plain
  Python GRDECL formatting (``repr`` + wrap, what porevae wrote
  before; on ``--plain-n`` realizations), ``resfo.write`` (binary GRDECL, float32 big-endian as
  porevae writes) and ``roffio.write`` (the same tags) in this process; and xtgeo's
  ``GridProperty.to_file`` (grdecl, bgrdecl, roff; on ``--peer-n`` realizations, fsync added) in
  its own virtual environment (``--peers``, a Python with xtgeo), run as a subprocess on the same
  arrays.

MB/s = bytes written / wall time (MB = 1e6 bytes); ``x floor`` = writer time / floor time for the
same bytes (the bar: <= 2). xtgeo's GRDECL keeps 7 significant digits (a smaller, lossy file):
its MB/s is of its own bytes.

Part 2, ``porevae ensemble`` end to end: ``--method exact`` (the exact sampler: no KLE to set
up) on the same grid, ``-n`` realizations, default transform (``PERMX`` and ``PERMY`` files per
realization), with ``--jobs 1``, ``--jobs 2`` and ``--dask local --jobs 2``: wall time, MB/s of
the files written, the time of sampling the same realizations alone (not the writers' cost), and
whether the three runs wrote the same bytes (the manifests' SHA-256 per file).

Usage (timings to report run under the machine's lock)::

    flock /tmp/porevae-heavy.lock .venv/bin/python -m bench.bench_export \\
        [--quick] [--n 100] [--peers /tmp/peers_export/bin/python] [--dir DIR] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DROGON = (92, 146, 66)
FORMATS = ("grdecl", "bgrdecl", "roff")
EXT = {"grdecl": "GRDECL", "bgrdecl": "BGRDECL", "roff": "roff"}
DISTINCT = 10  # distinct prepared arrays, used in turn


def fields(shape, count: int, seed: int = 0) -> np.ndarray:
    """``count`` log-normal permeability fields [mD] (float64), shape (count, *shape)."""
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(rng.standard_normal((count, *shape)))


def _fsync_replace(tmp: Path, path: Path) -> None:
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def floor(folder: Path, buffers: list, n: int) -> float:
    """Seconds to write ``buffers[i % len]`` to ``n`` files: os.write, fsync, rename each."""
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for i in range(n):
        buf = memoryview(buffers[i % len(buffers)])
        tmp, path = folder / f".f{i}.tmp", folder / f"f{i}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            while buf:
                buf = buf[os.write(fd, buf):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    return time.perf_counter() - t0


def _timed_files(folder: Path, n: int, write) -> tuple[float, int]:
    """(seconds, bytes) of ``write(i, path)`` for i < n into ``folder`` (emptied after)."""
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    paths = [write(i, folder / f"r{i:04d}") for i in range(n)]
    dt = time.perf_counter() - t0
    size = sum(os.path.getsize(p) for p in paths)
    shutil.rmtree(folder)
    return dt, size


# ---- peers in their own environment (no porevae there) --------------------------------------

def peer_worker(argv) -> int:
    """``--peer-worker ARRAYS FORMAT N FOLDER``: xtgeo writes N files (fsync each); prints JSON
    ``{"seconds", "bytes", "version"}``."""
    import xtgeo

    arrays_path, fmt, n, folder = argv[0], argv[1], int(argv[2]), Path(argv[3])
    arrays = np.load(arrays_path)
    folder.mkdir(parents=True, exist_ok=True)
    nx, ny, nz = arrays.shape[1:]
    props = [xtgeo.GridProperty(ncol=nx, nrow=ny, nlay=nz, values=a, name="PERMX")
             for a in arrays]
    t0 = time.perf_counter()
    size = 0
    for i in range(n):
        tmp, path = folder / f".x{i}.tmp", folder / f"x{i}.{fmt}"
        props[i % len(props)].to_file(str(tmp), fformat=fmt, name="PERMX")
        _fsync_replace(tmp, path)
    dt = time.perf_counter() - t0
    size = sum(os.path.getsize(folder / f"x{i}.{fmt}") for i in range(n))
    shutil.rmtree(folder)
    print(json.dumps({"seconds": dt, "bytes": size, "version": xtgeo.__version__}))
    return 0


def run_peer(python: str, arrays_path: Path, fmt: str, n: int, folder: Path) -> dict | None:
    try:
        out = subprocess.run([python, __file__, "--peer-worker", str(arrays_path), fmt, str(n),
                              str(folder)], capture_output=True, text=True, timeout=1800,
                             check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        err = getattr(exc, "stderr", "") or ""
        print(f"xtgeo peer failed for {fmt}: {exc} {err.strip()[-300:]}", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---- part 1: the writers -------------------------------------------------------------------

def writers(shape, n: int, plain_n: int, peer_n: int, peers: str | None, root: Path) -> list:
    import resfo
    import roffio

    import porevae as pv
    from porevae.export import grdecl, roff, write_bgrdecl, write_grdecl, write_roff

    grid = pv.Grid(shape)
    arrays = fields(shape, DISTINCT)     # axes (x, y, z); every writer orders the cells itself
    arrays_path = root / "arrays.npy"
    np.save(arrays_path, arrays)
    nx, ny, nz = grid.shape3
    write_grdecl(root / "warm.GRDECL", {"PERMX": arrays[0]}, grid)   # compile / cache load

    def porevae_writer(fmt):
        fn = {"grdecl": write_grdecl, "bgrdecl": write_bgrdecl, "roff": write_roff}[fmt]
        return lambda i, p: fn(Path(f"{p}.{EXT[fmt]}"), {"PERMX": arrays[i % DISTINCT]}, grid)

    def plain_grdecl(i, p):           # the Python formatting porevae used before (reference)
        text = grdecl._header_lines(grid, None) + "\n" + grdecl.keyword_block(
            "PERMX", grid.flatten(arrays[i % DISTINCT]))
        tmp, path = Path(f"{p}.tmp"), Path(f"{p}.GRDECL")
        with open(tmp, "w", encoding="ascii", newline="\n") as fh:
            fh.write(text)
        _fsync_replace(tmp, path)
        return path

    def resfo_writer(i, p):
        tmp, path = Path(f"{p}.tmp"), Path(f"{p}.BGRDECL")
        resfo.write(tmp, [("PERMX   ", grid.flatten(arrays[i % DISTINCT]).astype(np.float32))],
                    fileformat=resfo.Format.UNFORMATTED)
        _fsync_replace(tmp, path)
        return path

    def roffio_writer(i, p):
        tmp, path = Path(f"{p}.tmp"), Path(f"{p}.roff")
        data = np.flip(arrays[i % DISTINCT].reshape(nx, ny, nz), -1).ravel().astype(np.float32)
        roffio.write(str(tmp), [
            ("filedata", {"filetype": "parameter", "creationDate": roff.CREATION_DATE}),
            ("dimensions", {"nX": np.int32(nx), "nY": np.int32(ny), "nZ": np.int32(nz)}),
            ("parameter", [("name", "PERMX"), ("data", data)])])
        _fsync_replace(tmp, path)
        return path

    rows = []
    for fmt in FORMATS:
        # the bytes porevae writes, prepared in memory for the floor
        probe = root / "probe"
        probe.mkdir(exist_ok=True)
        buffers = [Path(porevae_writer(fmt)(i, probe / f"p{i}")).read_bytes()
                   for i in range(DISTINCT)]
        shutil.rmtree(probe)
        per_file = [len(b) for b in buffers]
        floor_bytes = sum(per_file[i % DISTINCT] for i in range(n))
        t_floor1 = floor(root / "floor", buffers, n)
        shutil.rmtree(root / "floor")
        t_pv, b_pv = _timed_files(root / "pv", n, porevae_writer(fmt))
        kept = []
        if fmt == "grdecl":
            kept.append(("plain Python (before)", plain_n, plain_grdecl))
        elif fmt == "bgrdecl":
            kept.append((f"resfo {resfo.__version__}", n, resfo_writer))
        else:
            kept.append((f"roffio {roffio.__version__}", n, roffio_writer))
        kept_rows = []
        for name, k, fn in kept:
            t, b = _timed_files(root / "kept", k, fn)
            kept_rows.append((name, k, t, b))
        if peers:
            res = run_peer(peers, arrays_path, fmt, peer_n, root / "peer")
            if res is not None:
                kept_rows.append((f"xtgeo {res['version']}", peer_n, res["seconds"],
                                  res["bytes"]))
        t_floor2 = floor(root / "floor", buffers, n)
        shutil.rmtree(root / "floor")
        t_floor = min(t_floor1, t_floor2)
        assert b_pv == floor_bytes
        rows.append({"format": fmt, "writer": "disk floor (os.write+fsync)", "files": n,
                     "bytes": floor_bytes, "seconds": t_floor, "x_floor": 1.0,
                     "floor_runs_s": [t_floor1, t_floor2]})
        rows.append({"format": fmt, "writer": "porevae", "files": n, "bytes": b_pv,
                     "seconds": t_pv, "x_floor": t_pv / t_floor})
        for name, k, t, b in kept_rows:
            # the floor for k files of porevae's bytes, scaled from the n-file floor
            fl = t_floor * sum(per_file[i % DISTINCT] for i in range(k)) / floor_bytes
            rows.append({"format": fmt, "writer": name, "files": k, "bytes": b, "seconds": t,
                         "x_floor": t / fl, "x_porevae": (t / k) / (t_pv / n)})
        for r in rows[-2 - len(kept_rows):]:
            print(json.dumps(r), flush=True)
    return rows


# ---- part 2: porevae ensemble end to end -----------------------------------------------------

ENSEMBLE_MODEL = ["--spacing", "50", "50", "5", "--length-scale", "1000", "500", "20"]


RUNS = {"1": ("--jobs 1", ["--jobs", "1"]), "2": ("--jobs 2", ["--jobs", "2"]),
        "dask": ("--dask local --jobs 2", ["--dask", "local", "--jobs", "2"])}


def sampling_alone(shape, n: int) -> float:
    """Seconds to draw the ensemble's ``n`` exact realizations one at a time, in this process
    (what ``porevae ensemble --method exact`` does before writing each): the first
    ``min(n, 20)`` timed, scaled to ``n``."""
    import porevae as pv
    from porevae.kle.exact import ExactSampler

    sampler = ExactSampler(pv.Grid(shape, spacing=(50.0, 50.0, 5.0)),
                           pv.Exponential((1000.0, 500.0, 20.0)))
    m = min(n, 20)
    t0 = time.perf_counter()
    for i in range(m):
        sampler.sample(1, seed=1, start=i)
    return (time.perf_counter() - t0) * n / m


def ensemble(shape, n: int, fmt: str, runs: list, t_sample: float, root: Path) -> list:
    from porevae.cli import main
    from porevae.export.ensemble import read_manifest

    base = ["ensemble", "--method", "exact", "--shape", *map(str, shape), *ENSEMBLE_MODEL,
            "-n", str(n), "--seed", "1", "--format", fmt, "--no-progress"]
    rows, sums = [], []
    for label, extra in (RUNS[r] for r in runs):
        out = root / "ens"
        t0 = time.perf_counter()
        rc = main([*base, "--out", str(out), *extra])
        dt = time.perf_counter() - t0
        m = read_manifest(out)
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        sums.append(m["realizations"])
        shutil.rmtree(out)
        row = {"format": fmt, "run": label, "rc": rc, "realizations": n, "bytes": size,
               "seconds": dt, "sampling_alone_s": t_sample,
               "same_bytes_as_first": sums[-1] == sums[0]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def table(rows: list, ens: list) -> None:
    print("\n| format | writer | files | MB | s | MB/s | x floor | x porevae (time/file) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        xp = f"{r['x_porevae']:.2f}" if "x_porevae" in r else "–"
        print(f"| {r['format']} | {r['writer']} | {r['files']} | {r['bytes'] / 1e6:.0f} | "
              f"{r['seconds']:.2f} | {r['bytes'] / 1e6 / r['seconds']:.0f} | "
              f"{r['x_floor']:.2f} | {xp} |")
    if ens:
        print("\n| format | porevae ensemble --method exact | realizations | MB | s | MB/s | "
              "sampling alone (s) | same bytes as its first run |")
        print("|---|---|---|---|---|---|---|---|")
        for r in ens:
            print(f"| {r['format']} | {r['run']} | {r['realizations']} | "
                  f"{r['bytes'] / 1e6:.0f} | {r['seconds']:.1f} | "
                  f"{r['bytes'] / 1e6 / r['seconds']:.0f} | {r['sampling_alone_s']:.1f} | "
                  f"{'yes' if r['same_bytes_as_first'] else 'NO'} |")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--peer-worker"]:
        return peer_worker(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="46 x 73 x 33, 10 realizations")
    ap.add_argument("--n", type=int, help="realizations per writer (default 100)")
    ap.add_argument("--plain-n", type=int, default=5,
                    help="realizations for the plain Python GRDECL writer (default 5)")
    ap.add_argument("--peer-n", type=int, default=20,
                    help="realizations for xtgeo (default 20)")
    ap.add_argument("--peers", default="/tmp/peers_export/bin/python",
                    help="a Python with xtgeo installed (skipped if missing)")
    ap.add_argument("--dir", help="folder for the files (default: a temporary folder in the "
                                  "repository's folder, on the disk measured)")
    ap.add_argument("--ensemble", nargs="*", default=["grdecl:1,2,dask", "bgrdecl:2", "roff:2"],
                    metavar="FORMAT:RUNS", help="end-to-end runs per format, RUNS from 1 "
                    "(--jobs 1), 2 (--jobs 2), dask (--dask local --jobs 2); default "
                    "grdecl:1,2,dask bgrdecl:2 roff:2")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    shape = tuple(s // 2 for s in DROGON) if args.quick else DROGON
    n = args.n or (10 if args.quick else 100)
    peers = args.peers if args.peers and Path(args.peers).exists() else None
    base = Path(args.dir) if args.dir else Path(__file__).resolve().parents[1]
    root = Path(tempfile.mkdtemp(prefix=".bench_export-", dir=base))
    print(f"grid {shape} ({int(np.prod(shape))} cells), {n} realizations per writer, files in "
          f"{root}; python {sys.version.split()[0]}, {os.cpu_count()} cores"
          + ("" if peers else "; xtgeo peer skipped (no --peers python)"), flush=True)
    try:
        rows = writers(shape, n, min(args.plain_n, n), min(args.peer_n, n), peers, root)
        plan = [(spec.split(":")[0], spec.split(":")[1].split(",")) for spec in args.ensemble]
        t_sample = sampling_alone(shape, n) if plan else 0.0
        ens = [r for fmt, runs in plan for r in ensemble(shape, n, fmt, runs, t_sample, root)]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    table(rows, ens)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"writers": rows, "ensemble": ens}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
