"""The ``porevae`` command: thin sub-commands that parse, call the API and print.

Each module listed in :data:`COMMANDS` defines ``register(subparsers)``, which adds its
sub-commands with ``set_defaults(func=...)``; ``func(args)`` returns the exit status.

One vocabulary for every sub-command (the helpers below add the shared flags):
``-n N`` / ``--n N`` (how many), ``--batch-size``, ``--dataset`` (HDF5), ``--progress`` /
``--no-progress`` (on by default for long work), ``--seed``, ``--out``, ``--cut``
``{mean,half,sample,none}``, covariance names hyphenated (``squared-exponential``), ``--wells``
with ``--noise``, ``--data-space``, ``--one-based`` (conditioning on well data). Bad input
ends with one line ``porevae CMD: error: ...`` and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import os
import re
import signal
import sys
import threading

COMMANDS = ("porevae.cli.kle", "porevae.cli.sample", "porevae.cli.demo", "porevae.cli.train",
            "porevae.cli.generate", "porevae.cli.export", "porevae.cli.media", "porevae.cli.study")


def add_count(p, default=None, what: str = "realizations", required: bool = False) -> None:
    """``-n N`` (alias ``--n``): how many; an integer >= 1."""
    p.add_argument("-n", "--n", dest="n", type=int, default=default, required=required,
                   metavar="N", help=f"number of {what}"
                   + ("" if default is None else f" (default {default})"))


def add_progress(p, default: bool = True) -> None:
    """``--progress`` / ``--no-progress`` (progress bars on stderr)."""
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=default,
                   help=f"progress bars on stderr (default {'on' if default else 'off'})")


def add_output(p, what: str, required: bool = True, default=None) -> None:
    """``--out PATH`` (``what`` is its help) and ``--overwrite``: every sub-command that writes
    takes both, and checks them with :func:`check_out` before any work."""
    p.add_argument("--out", required=required and default is None, default=default,
                   help=what + ("" if default is None else f" (default {default})"))
    p.add_argument("--overwrite", action="store_true",
                   help="replace --out if it exists (refused otherwise)")


def check_out(args, inputs=(), folder: bool = False, what: str = "--out"):
    """:func:`porevae._files.check_output` on ``args.out`` with ``args.overwrite``: refuses an
    existing output without ``--overwrite`` and an output that is one of ``inputs``."""
    from porevae._files import check_output

    return check_output(getattr(args, what.lstrip("-").replace("-", "_")),
                        overwrite=args.overwrite, inputs=inputs, what=what, folder=folder)


def add_seed(p, default=0, what: str = "random numbers") -> None:
    """``--seed S``: an integer >= 0."""
    p.add_argument("--seed", type=int, default=default, required=default is None,
                   help=f"seed of the {what}" + ("" if default is None else
                                                 f" (default {default})"))


def add_wells(p, perm: str) -> None:
    """``--wells CSV``, ``--noise SIGMA``, ``--data-space {field,perm}``, ``--one-based``:
    condition the KLE on a table of well data before drawing (:mod:`porevae.kle.welldata`);
    ``perm`` says what ``--data-space perm`` reads in this sub-command."""
    g = p.add_argument_group("conditioning on well data")
    g.add_argument("--wells", metavar="CSV",
                   help="condition the KLE on this table before drawing: a header naming x,y[,z] "
                        "(grid units) or i,j[,k] (cells, from 0), value, and optionally noise "
                        "(per datum) and well (a name); its SHA-256 is recorded")
    g.add_argument("--noise", type=float, metavar="SIGMA",
                   help="standard deviation of the data errors, in units of the Gaussian field "
                        "Y (default: the table's noise column, else 0: the realizations honour "
                        "the data exactly)")
    g.add_argument("--data-space", choices=("field", "perm"), default="field",
                   help=f"what the values are: field (default), the Gaussian field Y; perm, {perm}")
    g.add_argument("--one-based", action="store_true",
                   help="the table's i, j, k count from 1 (Eclipse, OPM, ResInsight)")


def well_options(args) -> dict:
    """``{"noise", "data_space", "one_based"}`` from the flags of :func:`add_wells`, refusing
    them without ``--wells``."""
    if args.wells is None:
        given = [flag for flag, on in (("--noise", args.noise is not None),
                                       ("--data-space", args.data_space != "field"),
                                       ("--one-based", args.one_based)) if on]
        if given:
            raise ValueError(f"{', '.join(given)} given without --wells (the table of well "
                             f"data they are for)")
    return {"noise": args.noise, "data_space": args.data_space, "one_based": args.one_based}


def describe_wells(record: dict) -> str:
    """One line: the data conditioned on (a record of
    :func:`porevae.export.wells.condition_on_wells`)."""
    noise = "noise from the table" if record["noise"] == "table" else \
        f"noise {record['noise']:g}"
    return (f"conditioned on {record['n_data']} data of {record['file']} "
            f"({record['data_space']} values, {noise})")


def check_count(value, flag: str, low: int = 1, high: int | None = None) -> int:
    """Refuse an integer option outside ``[low, high]`` with a message naming ``flag``
    (:func:`porevae._validation.check_int`, the one integer check)."""
    from porevae._validation import check_int

    return check_int(value, flag, low=low, high=high)


def dataclass_help(cls, defaults: bool = True) -> dict:
    """``{field: one-line help}`` from the numpydoc ``Parameters`` (or ``Attributes``) section of
    a dataclass's docstring (so that CLI help is written once, beside the field); reST quotes
    removed, ``%`` escaped for argparse, the field's default appended when ``defaults``."""
    doc = inspect.getdoc(cls) or ""
    head = "Parameters\n----------\n" if "Parameters\n----------\n" in doc else \
        "Attributes\n----------\n"
    section = doc.split(head, 1)[-1].split("\n\n\n", 1)[0]
    helps, name, lines = {}, None, []
    for line in section.splitlines() + [""]:
        head = re.match(r"^([a-z_][a-z0-9_]*(?:, [a-z_][a-z0-9_]*)*)\s*(?::.*)?$", line)
        if head and not line.startswith(" "):
            if name:
                for n in name.split(", "):
                    helps[n] = " ".join(lines)
            name, lines = head.group(1), []
        elif line.startswith(" ") and name:
            lines.append(line.strip())
    if name:
        for n in name.split(", "):
            helps[n] = " ".join(lines)
    values = {f.name: f.default for f in dataclasses.fields(cls)
              if f.default is not dataclasses.MISSING and f.default not in (None, (None, None))}
    return {k: v.replace("``", "").replace("%", "%%")
            + (f" (default {values[k]})" if defaults and k in values else "")
            for k, v in helps.items()}


def build_parser() -> argparse.ArgumentParser:
    from porevae._version import __version__

    parser = argparse.ArgumentParser(
        prog="porevae", description="Karhunen-Loeve random fields and VAEs for porous media.")
    parser.add_argument("--version", action="version", version=f"porevae {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


class _Interrupt:
    """Ctrl-C (SIGINT) while a command runs: one line on stderr and exit status 130.

    The first SIGINT raises KeyboardInterrupt (so ``finally`` blocks and atomic writers clean
    up) and arms a watchdog: a KeyboardInterrupt that native code swallows (e.g. one raised
    inside a ctypes callback of Numba's compiler, which Python reports as "Exception ignored")
    or a cleanup that hangs still ends the process :data:`GRACE_S` seconds later with the same
    line and status. A second SIGINT ends it at once. Swallowed KeyboardInterrupts are not
    printed as tracebacks.
    """

    GRACE_S = 3.0

    def __init__(self):
        self.command = None
        self.count = 0
        self.timer = None

    def line(self) -> str:
        return f"porevae{' ' + self.command if self.command else ''}: interrupted"

    def handler(self, signum, frame):
        self.count += 1
        if self.count > 1:
            self.exit()
        self.timer = threading.Timer(self.GRACE_S, self.exit)
        self.timer.daemon = True
        self.timer.start()
        raise KeyboardInterrupt

    def exit(self):
        tqdm = sys.modules.get("tqdm")
        bars = tqdm is not None and bool(getattr(tqdm.tqdm, "_instances", ()))
        print("\n" * bars + self.line(), file=sys.stderr, flush=True)  # after an open bar
        os._exit(130)

    def unraisable(self, unraisable):
        if not issubclass(unraisable.exc_type, KeyboardInterrupt):
            sys.__unraisablehook__(unraisable)

    def __enter__(self):
        self.active = threading.current_thread() is threading.main_thread()
        if self.active:
            self.saved = signal.signal(signal.SIGINT, self.handler), sys.unraisablehook
            sys.unraisablehook = self.unraisable
        return self

    def __exit__(self, *exc):
        if self.timer is not None:
            self.timer.cancel()
        if self.active:
            signal.signal(signal.SIGINT, self.saved[0])
            sys.unraisablehook = self.saved[1]
        return False


def main(argv=None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status (2 for
    bad input, with one line on stderr; 0 after ``--help``; 130 after Ctrl-C, with one line)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv == ["--version"]:  # answered before any sub-command module is imported
        from porevae._version import __version__

        print(f"porevae {__version__}")
        return 0
    with _Interrupt() as interrupt:
        try:
            try:
                args = build_parser().parse_args(argv)
            except SystemExit as exc:  # argparse: usage error (2) or --help / --version (0)
                return exc.code if isinstance(exc.code, int) else 2
            interrupt.command = args.command
            try:
                status = int(args.func(args) or 0)
            except (ValueError, TypeError, OSError, MemoryError) as exc:
                print(f"porevae {args.command}: error: {exc}", file=sys.stderr)
                return 2
        except KeyboardInterrupt:
            status = 130
        if interrupt.count:  # also when native code swallowed the KeyboardInterrupt
            print(interrupt.line(), file=sys.stderr)
            return 130
        return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
