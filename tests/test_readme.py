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
    assert (tmp_path / "report" / "summary.md").is_file()
    assert (tmp_path / "ens" / "manifest.json").is_file()
    assert "wells.csv" in readme_files()
    assert E.read_manifest(tmp_path / "ens-wells")["wells"]["n_data"] == 2


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
