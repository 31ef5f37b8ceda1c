"""Run every benchmark in one go: ``python -m bench.run [--quick] [--only kle latent ...]``.

Each ``bench/bench_<name>.py`` has ``main(argv)``; figures are recorded in ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import time
from pathlib import Path


def available() -> list[str]:
    here = [str(Path(__file__).parent)]
    return sorted(m.name.removeprefix("bench_") for m in pkgutil.iter_modules(here)
                  if m.name.startswith("bench_"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    ap.add_argument("--only", nargs="+", choices=available(), help="benchmarks to run")
    args = ap.parse_args(argv)
    for name in args.only or available():
        t0 = time.perf_counter()
        print(f"\n======== bench_{name} ========", flush=True)
        importlib.import_module(f"bench.bench_{name}").main(["--quick"] if args.quick else [])
        print(f"(bench_{name}: {time.perf_counter() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
