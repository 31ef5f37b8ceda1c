"""The command line's common behaviour: ``--version`` and ``--help`` without torch, Ctrl-C ends
with one line and exit 130, progress bars rate-limited off a terminal, one validation style."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from tqdm import tqdm

import porevae.media as pm
from porevae import _progress
from porevae._validation import check_int, check_real
from porevae.cli import build_parser, check_count, main

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))
HEAVY = ("torch", "numba", "matplotlib", "dask")


# run in a fresh interpreter: records, for each heavy module that is loaded (its submodules are
# imported: a module bound by porevae._lazy but never used imports none), the porevae lines that
# loaded it
_PROBE = """
import json, sys, traceback
HEAVY, first = %r, {}
def hook(event, args):
    if event != "import":
        return
    name = args[0].split(".")[0]
    if name in HEAVY and "." in args[0] and name not in first:
        where = [f"{f.filename.split('porevae/')[-1]}:{f.lineno}"
                 for f in traceback.extract_stack() if "/porevae/" in f.filename]
        first[name] = " <- ".join(reversed(where[-3:]))
sys.addaudithook(hook)
from porevae.cli import main
rc=main(%r)
print(json.dumps({"rc": rc, "heavy": first}))
"""


def _sub_commands() -> list:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    names = []
    for name, p in sub.choices.items():
        inner = [a for a in p._actions if getattr(a, "choices", None) and a.dest != "help"
                 and isinstance(a.choices, dict)]
        names += [[name, child, "--help"] for child in inner[0].choices] if inner else [[name]]
    return [n if n[-1] == "--help" else n + ["--help"] for n in names]


@pytest.mark.parametrize("argv", [["--version"], ["--help"]] + _sub_commands(),
                         ids=lambda argv: " ".join(argv))
def test_version_and_help_do_not_import_heavy_modules(argv):
    """Each CLI module's register() imports no torch / Numba / Matplotlib / Dask (the failure
    names the line that did)."""
    run = subprocess.run([sys.executable, "-c", _PROBE % (HEAVY, argv)], capture_output=True,
                         text=True, env=ENV, timeout=120)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result == {"rc": 0, "heavy": {}}, run.stderr
    if argv == ["--version"]:
        assert run.stdout.startswith("porevae ")


def test_kle_refuses_a_request_that_does_not_fit_before_loading_torch_or_numba():
    """A KLE whose plan does not fit in memory (3000 x 3000 cells, 90 % of the energy: about
    880 pairs of 9e6 cells, tens of GiB) is refused by the plan alone: exit status 2 and no
    torch, Numba or h5py loaded (that load is most of a second of the 1 s the refusal may take)."""
    argv = ["kle", "--shape", "3000", "3000", "--length-scale", "0.1", "--energy", "0.9",
            "--out", ""]
    run = subprocess.run([sys.executable, "-c", _PROBE % (HEAVY + ("h5py",), argv)],
                         capture_output=True, text=True, env=ENV, timeout=120)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result == {"rc": 2, "heavy": {}}, run.stderr
    assert "no solver fits" in run.stderr and "GiB" in run.stderr


def test_ctrl_c_ends_with_one_line_and_exit_130(tmp_path):
    """SIGINT while `stats` works on a stack: no traceback, one line, exit status 130."""
    rng = np.random.default_rng(0)
    pm.write_volume(tmp_path / "s.npy", rng.random((40, 48, 48, 48)) < 0.4)
    proc = subprocess.Popen([sys.executable, "-m", "porevae.cli", "stats",
                             str(tmp_path / "s.npy"), "--progress"], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    chunks: list = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(
        lambda: os.read(proc.stderr.fileno(), 4096), b"")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while b"stats:" not in b"".join(chunks) and time.monotonic() < deadline:  # work has begun
        assert proc.poll() is None, f"stats ended before it was interrupted: {chunks}"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    reader.join(timeout=10)
    err = b"".join(chunks).decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert err.rstrip().splitlines()[-1] == "porevae stats: interrupted"


def test_progress_is_rate_limited_off_a_terminal():
    """Off a terminal a bar over 200 steps of 5 ms (1 s) writes its first and last state only;
    the same bar on a terminal (a stream whose isatty() is True) and plain tqdm redraw every
    0.1 s, about ten states: the rate limit is what tells them apart."""

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    lines, intervals = {}, {}
    for name, make, stream_type in (("porevae", _progress.progress, io.StringIO),
                                    ("porevae on a terminal", _progress.progress, Terminal),
                                    ("tqdm", tqdm, io.StringIO)):
        stream = stream_type()
        bar = make(range(200), desc="steps", file=stream)
        intervals[name] = bar.mininterval
        for _ in bar:
            time.sleep(0.005)
        bar.close()
        lines[name] = [s for s in stream.getvalue().replace("\r", "\n").splitlines()
                       if s.strip()]
    assert len(lines["tqdm"]) > 3, lines["tqdm"]
    assert len(lines["porevae on a terminal"]) > 3, lines["porevae on a terminal"]
    states = lines["porevae"]  # judged on what was written, before how the bar was configured
    assert len(states) in (2, 3) and "0/200" in states[0], states
    assert "200/200" in states[-1]
    assert intervals["porevae"] >= _progress.LOG_INTERVAL
    silent = io.StringIO()
    for _ in _progress.progress(range(10), enable=False, file=silent):
        pass
    assert silent.getvalue() == ""


def test_one_validation_style():
    """Integer and real checks name the parameter and the range; the CLI's check_count is the
    same check, and its message reaches the user as one line with exit status 2."""
    assert check_int(np.int64(3), "n", low=1) == 3
    with pytest.raises(ValueError, match=r"^--rock-n must be in \[0, inf\], got -1$"):
        check_count(-1, "--rock-n", 0)
    with pytest.raises(TypeError, match=r"^n must be an integer, got 2\.5$"):
        check_int(2.5, "n")
    with pytest.raises(TypeError, match="must be an integer"):
        check_int(True, "n")
    assert check_real(2, "voxel_size", 0.0, low_open=True) == 2.0
    with pytest.raises(ValueError, match=r"^voxel_size must be in \(0\.0, inf\], got 0\.0$"):
        check_real(0.0, "voxel_size", 0.0, low_open=True)
    with pytest.raises(ValueError, match=r"got nan"):
        check_real(float("nan"), "gamma", 0.0)


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["stats", str(tmp_path / "missing.tif")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("porevae stats: error: ") and err.count("\n") == 1
