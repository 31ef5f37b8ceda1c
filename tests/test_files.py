"""Atomic writes: one clear error in a read-only folder, stale temporaries of killed writers
removed by the next writer (and by a re-run of `porevae sample` after `kill -9`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from porevae._files import TMP_MARK, atomic_path, remove_stale_temporaries
from porevae.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder nobody may write into: chmod for a normal user, a read-only tmpfs for root."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro", "tmpfs", str(folder)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("running as root and cannot mount a read-only tmpfs")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_read_only_folder_is_one_clear_error(read_only_dir, capsys):
    with pytest.raises(PermissionError, match="is not writable") as exc, \
            atomic_path(read_only_dir / "x.npy") as tmp:
        tmp.write_bytes(b"never")
    assert exc.value.__context__ is None and exc.value.__cause__ is None
    for argv in (["kle", "--shape", "8", "8", "--out", str(read_only_dir / "k.h5")],
                 ["demo", "--out", str(read_only_dir / "demo")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is not writable" in err and "Traceback" not in err


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_next_writer_removes_stale_temporaries_only(tmp_path):
    target = tmp_path / "v.npy"
    stale = tmp_path / f".v.npy{TMP_MARK}{_dead_pid()}-0123456789ab"
    live = tmp_path / f".v.npy{TMP_MARK}{os.getpid()}-0123456789ab"
    other = tmp_path / f".w.npy{TMP_MARK}{_dead_pid()}-0123456789ab"
    for p in (stale, live, other):
        p.write_bytes(b"x" * 100)
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"done")
    assert target.read_bytes() == b"done"
    assert not stale.exists() and live.exists() and other.exists()
    live.unlink()
    assert remove_stale_temporaries(tmp_path / "w.npy") == [other]


def test_killed_sample_leaves_nothing_after_a_rerun(tmp_path):
    """kill -9 while `porevae sample` writes: the re-run removes the temporary it left."""
    kle = tmp_path / "k.h5"
    assert main(["kle", "--shape", "40", "40", "--cov", "squared-exponential", "--n-terms",
                 "200", "--out", str(kle), "--no-progress"]) == 0
    out = tmp_path / "fields.h5"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "porevae.cli", "sample", "--kle", str(kle),
                             "-n", "20000", "--batch-size", "64", "--out", str(out),
                             "--no-progress"], env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(f".fields.h5{TMP_MARK}*")) and time.monotonic() < deadline:
        assert proc.poll() is None, "sample ended before it was killed"
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = list(tmp_path.glob(f".fields.h5{TMP_MARK}*"))
    assert len(left) == 1 and left[0].stat().st_size > 0 and not out.exists()
    assert main(["sample", "--kle", str(kle), "-n", "3", "--out", str(out),
                 "--no-progress"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fields.h5", "k.h5"]
    from porevae.media.io import read_stack

    assert read_stack(out).shape == (3, 40, 40) and np.isfinite(read_stack(out)).all()
