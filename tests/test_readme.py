"""The README's command-line session runs as written (with fewer training steps).

Every sub-command must appear in it. The commands run in one temporary folder, in order, each
reading what the previous ones wrote (the files that the README writes with ``cat > NAME <<'EOF'``
are written there first); only ``--steps`` is cut to keep the test short, and the
demo line (the 100 x 100 KLE tables take a minute) is parsed here and run by
tests/test_cli_kle.py::test_demo_prints_the_report_table_beside_porevae.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from porevae.cli import build_parser, main
from porevae.export import ensemble as E

README = Path(__file__).resolve().parents[1] / "README.md"
SUBCOMMANDS = ("kle", "sample", "ensemble", "field", "stats", "compare", "study", "train",
               "generate", "demo")


def readme_commands() -> list[list[str]]:
    """The ``porevae ...`` lines of the README's ``sh`` blocks, as argument lists."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [shlex.split(line)[1:] for line in lines if line.startswith("porevae ")]


def readme_files() -> dict[str, str]:
    """``{name: text}`` of the README's ``cat > NAME <<'EOF'`` here-documents."""
    text = README.read_text(encoding="utf-8")
    return dict(re.findall(r"^cat > (\S+) <<'EOF'[^\n]*\n(.*?^)EOF$", text, re.DOTALL | re.M))


def test_readme_shows_every_subcommand():
    shown = {argv[0] for argv in readme_commands() if argv}
    assert set(SUBCOMMANDS) <= shown, f"missing from README: {set(SUBCOMMANDS) - shown}"


def test_readme_session_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name, text in readme_files().items():
        (tmp_path / name).write_text(text)
    session = [argv for argv in readme_commands() if argv and argv[0] in SUBCOMMANDS]
    written: dict = {}   # stack file -> (n, shape) that the command writing it asked for
    read = 0
    for argv in session:
        argv = [a for a in argv]
        for k, a in enumerate(argv[:-1]):
            if a == "--steps":
                argv[k + 1] = "3"
        if argv[0] == "demo":
            args = build_parser().parse_args(argv)
            assert args.func.__name__ == "run_demo"
            continue
        rc = main([*argv, "--no-progress"] if "--no-progress" in _flags(argv[:2]) else argv)
        captured = capsys.readouterr()
        assert rc == 0, f"porevae {shlex.join(argv)} failed:\n{captured.err}"
        _record_stack(argv, written)
        read += _check_read_as_stack(argv, written, captured.out)
    assert read >= 3, "the README's stats / compare lines read fewer generated files than it shows"
    assert (tmp_path / "report" / "summary.md").is_file()
    assert (tmp_path / "ens" / "manifest.json").is_file()
    assert "wells.csv" in readme_files()
    assert E.read_manifest(tmp_path / "ens-wells")["wells"]["n_data"] == 2


def _option(argv, flag, default=None, many=False):
    """The value of ``flag`` in ``argv`` (``many``: the list of values up to the next flag)."""
    if flag not in argv:
        return default
    k = argv.index(flag) + 1
    if not many:
        return argv[k]
    values = []
    for a in argv[k:]:
        if a.startswith("-"):
            break
        values.append(a)
    return values


def _record_stack(argv, written) -> None:
    """``written[out] = (n, shape)`` for the commands that write volumes: ``kle`` (its grid, for
    the ``sample`` lines that use it), ``sample`` and ``generate``."""
    out = _option(argv, "--out")
    if argv[0] == "kle":
        written[out] = (None, tuple(int(v) for v in _option(argv, "--shape", many=True)))
    elif argv[0] == "sample":
        kle = _option(argv, "--kle")
        shape = written[kle][1] if kle else tuple(int(v) for v in
                                                  _option(argv, "--shape", many=True))
        written[out] = (int(_option(argv, "-n", "1")), shape)
    elif argv[0] == "generate":
        written[out] = (int(_option(argv, "-n", "1")),
                        tuple(int(v) for v in _option(argv, "--shape", many=True)))


def _images(n: int, shape: tuple) -> str:
    return f"{n} image{'s' * (n != 1)} of shape {shape}"


def _check_read_as_stack(argv, written, out: str) -> int:
    """Every ``stats`` / ``compare`` of a generated file reads it as the stack it is: the
    printed image count and shape are the ones its writer asked for. Returns the files checked."""
    if argv[0] == "stats" and argv[1] in written:
        n, shape = written[argv[1]]
        first = out.splitlines()[0]
        assert first.startswith(f"{argv[1]}: {_images(n, shape)}"), (argv, first)
        return 1
    if argv[0] == "compare":
        files = [a for a in argv[1:] if not a.startswith("-") and a in written]
        ref, samples = files[0], files[1:]
        assert written[ref][0] == 1, (argv, written[ref])
        for path in samples:
            n, shape = written[path]
            assert any(line.startswith(f"{path}:") and f"({_images(n, shape)})" in line
                       for line in out.splitlines()), (argv, out)
        return len(files)
    return 0


def _flags(head) -> set:
    """Option strings of the sub-command (``head``: its name, or name + study kind)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[head[0]]
    if head[0] == "study":
        sub = next(a for a in sub._actions if a.dest == "study").choices[head[1]]
    return {s for a in sub._actions for s in a.option_strings}


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_flag_has_help(name):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[name]
    missing = [a.option_strings for a in sub._actions
               if a.option_strings and a.help is None and a.dest != "help"]
    assert not missing or name in ("train", "generate", "study"), missing
