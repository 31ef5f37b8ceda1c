"""The ``porevae`` command: thin sub-commands that parse, call the API and print.

Each module listed in :data:`COMMANDS` defines ``register(subparsers)``, which adds its
sub-commands with ``set_defaults(func=...)``; ``func(args)`` returns the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("porevae.cli.kle", "porevae.cli.demo", "porevae.cli.vae", "porevae.cli.export", "porevae.cli.media",)


def build_parser() -> argparse.ArgumentParser:
    from porevae import __version__

    parser = argparse.ArgumentParser(
        prog="porevae", description="Karhunen-Loeve random fields and VAEs for porous media.")
    parser.add_argument("--version", action="version", version=f"porevae {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, MemoryError) as exc:
        print(f"porevae {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
