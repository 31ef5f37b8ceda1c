"""No command overwrites an existing output without ``--overwrite``.

One parametrised test over every sub-command that has an ``--out`` (found by walking the parser,
so a new sub-command with an ``--out`` fails here until it is added to :data:`COMMANDS`): the
output exists before the run, the command line is otherwise valid, and the run must end with
exit status 2 and one line naming ``--overwrite``, leaving the output byte for byte as it was.
And an input is never an output, even with ``--overwrite``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from porevae.cli import build_parser, main

# sub-command path -> (a minimal valid command line with {kle}, {vol}, {ref}, {params} for the
# inputs made by the fixture and {out} for the output; the output to create before the run,
# relative to {out}'s folder: a name with a suffix is a file, one without a folder)
COMMANDS = {
    ("kle",): ("kle --shape 8 8 --cov exponential --length-scale 0.2 --n-terms 3 --out {out}",
               "k.h5"),
    ("sample",): ("sample --kle {kle} -n 2 --seed 0 --out {out}", "fields.h5"),
    ("demo",): ("demo --out {out} --rock-n 0 --vae-steps 0 --media-steps 0", "demo_out"),
    ("train",): ("train {vol} --out {out} --steps 1", "run"),
    ("generate",): ("generate --model spheres --shape 16 16 16 --out {out}", "g.tif"),
    ("ensemble",): ("ensemble --kle {kle} -n 1 --seed 0 --out {out} --perm-mean 100 "
                    "--perm-std 1", "ens"),
    ("field",): ("field --kle {kle} --parameters {params} --out {out}", "PERMX.GRDECL"),
    ("compare",): ("compare {ref} {vol} --out {out}", "report"),
    ("study", "dimension"): ("study dimension --dims 4 --size 8 --n-train 4 --n-test 2 "
                             "--n-generate 2 --steps 1 --out {out}", "study"),
    ("study", "reconstruction"): ("study reconstruction --steps 1 -n 1 --out {out}", "recon"),
}


def _subparsers(parser, prefix=()):
    """``(path, parser)`` of every leaf sub-command (``study dimension`` is one)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subparsers(sub, (*prefix, name))
            return
    yield prefix, parser


def _with_out() -> list:
    return [path for path, p in _subparsers(build_parser())
            if any("--out" in a.option_strings for a in p._actions)]


def _snapshot(path: Path):
    """The bytes of a file, or ``{relative path: bytes}`` of everything under a folder."""
    if path.is_file():
        return path.read_bytes()
    return {str(p.relative_to(path)): p.read_bytes() if p.is_file() else None
            for p in sorted(path.rglob("*"))}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    import porevae as pv
    import porevae.media as pm

    folder = tmp_path_factory.mktemp("inputs")
    kle = pv.KLE(pv.Grid((8, 8)), pv.Exponential(0.2), n_terms=3)
    kle.save(folder / "kle.h5")
    rng = np.random.default_rng(0)
    pm.write_volume(folder / "vol.tif", rng.random((16, 16, 16)) < 0.4)
    pm.write_volume(folder / "ref.tif", rng.random((16, 16, 16)) < 0.4)
    params = folder / "parameters.json"
    params.write_text(json.dumps({"KLE": {f"XI_{i:04d}": 0.1 * i for i in range(3)}}))
    return {"kle": folder / "kle.h5", "vol": folder / "vol.tif", "ref": folder / "ref.tif",
            "params": params}


def test_every_command_with_an_out_is_in_the_table():
    assert sorted(_with_out()) == sorted(COMMANDS), "add the new sub-command to COMMANDS"


@pytest.mark.parametrize("path", sorted(COMMANDS), ids="-".join)
def test_existing_output_is_refused(path, inputs, tmp_path, capsys):
    line, existing = COMMANDS[path]
    sub = dict(_subparsers(build_parser()))[path]
    assert "--overwrite" in {s for a in sub._actions for s in a.option_strings}, \
        f"porevae {' '.join(path)} has --out but no --overwrite"
    target = tmp_path / existing
    if Path(existing).suffix:  # a file, with bytes no command would write
        target.write_bytes(b"the user's own file\n")
    else:                      # a folder with the user's file in it
        target.mkdir()
        (target / "notes.txt").write_text("the user's own notes\n")
    out = tmp_path if path == ("field",) else target   # field writes PERMX.GRDECL into --out
    argv = line.format(out=out, **inputs).split()
    build_parser().parse_args(argv)                     # the command line itself is valid
    before = _snapshot(target)
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, f"porevae {' '.join(path)} with an existing output: exit {rc}\n{err}"
    assert "--overwrite" in err and err.count("\n") == 1, err
    assert _snapshot(target) == before


@pytest.mark.parametrize("path", sorted(p for p in COMMANDS if p != ("field",)
                                        and any(f"{{{k}}}" in COMMANDS[p][0]
                                                for k in ("kle", "vol", "ref"))),
                         ids="-".join)
def test_input_is_never_the_output(path, inputs, tmp_path, capsys):
    """``--out`` naming one of the command's inputs is refused even with ``--overwrite``."""
    line, _ = COMMANDS[path]
    mine = {k: shutil.copy(v, tmp_path / Path(v).name) for k, v in inputs.items()}
    victim = next(k for k in ("kle", "vol", "ref") if f"{{{k}}}" in line)
    argv = line.format(out=mine[victim], **mine).split() + ["--overwrite"]
    before = Path(mine[victim]).read_bytes()
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2 and "input" in err and err.count("\n") == 1, (rc, err)
    assert Path(mine[victim]).read_bytes() == before
