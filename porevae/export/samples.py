"""Realizations of a saved KLE as one stack file (``porevae sample``), and KLE loading with
errors that name the file.

The stack ``(n, *grid.shape)`` is written block by block through
:class:`porevae.media.io.StackWriter` (any volume format: ``.h5`` dataset ``volume``, ``.npy``,
``.tif``, ``.raw`` + sidecar), so ``n`` may exceed memory, a killed run leaves only a temporary
that the next run removes, and ``porevae stats`` / ``compare`` read the file as it is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from porevae._files import FileIntegrityError
from porevae._progress import progress as progress_bar
from porevae._validation import check_int
from porevae.media.io import StackWriter, check_volume_path

DEFAULT_BATCH = 256  # realizations per block: a multiple of porevae.kle.expansion.CHUNK


def load_kle(path):
    """:meth:`porevae.KLE.load` whose every failure on a bad file is a one-line
    :class:`~porevae._files.FileIntegrityError` naming ``path`` (a missing file stays a
    :class:`FileNotFoundError`)."""
    from porevae.kle import KLE

    if not Path(path).is_file():
        raise FileNotFoundError(f"KLE file {str(path)!r} does not exist")
    try:
        return KLE.load(path)
    except FileIntegrityError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        text = " ".join(str(exc).split())
        raise FileIntegrityError(f"{path}: not a readable porevae KLE file "
                                 f"(truncated, corrupt or foreign: {text})") from None


def write_samples(kle, path, n: int, *, seed: int, start: int = 0, lognormal: bool = False,
                  batch_size: int = DEFAULT_BATCH, progress: bool = False, attrs=None) -> Path:
    """Write realizations ``start .. start + n - 1`` of ``kle`` (seed ``seed``) to ``path``.

    Parameters
    ----------
    kle : porevae.KLE or porevae.kle.conditioning.ConditionalKLE
        The expansion, or one conditioned on data (its ``params()`` then record the data).
    path : str or Path
        ``.h5``/``.hdf5`` (dataset ``volume``, attributes ``stack``, ``sha256``, ``porevae``),
        ``.npy``, ``.tif``/``.tiff`` or ``.raw``/``.bin`` (+ JSON sidecar). Checked first.
    n : int
        Number of realizations (>= 1); the stack has shape ``(n, *kle.grid.shape)``.
    seed, start : int
        Realization ``i`` is ``kle.sample(1, seed=seed, start=i)`` whatever the blocking.
    lognormal : bool
        Write ``exp(Y)`` instead of the Gaussian ``Y``.
    batch_size : int
        Realizations sampled and written per block (memory: ``batch_size * n_cells * 8`` bytes).
    progress : bool
        Progress bar over realizations (:func:`porevae._progress.progress`).
    attrs : dict, optional
        Extra JSON-serialisable attributes; the KLE parameters, seed, start, n and lognormal
        are always recorded.
    """
    path = check_volume_path(path, "--out")
    n = check_int(n, "n", 1)
    start = check_int(start, "start", 0)
    batch_size = check_int(batch_size, "batch_size", 1)
    seed = check_int(seed, "seed", 0)
    meta = {"kle": kle.params(), "seed": seed, "start": start, "n": n,
            "lognormal": bool(lognormal), **(attrs or {})}
    dtype = np.float64 if kle.dtype == "float64" else np.float32
    writer = StackWriter(path, (n, *kle.grid.shape), dtype, stack=True, attrs=meta)
    with writer as w, progress_bar(total=n, desc="realizations", unit="real", enable=progress,
                                   leave=False) as bar:
        for i in range(0, n, batch_size):
            block = kle.sample(min(batch_size, n - i), seed=seed, start=start + i)
            w.write(np.exp(block, out=block) if lognormal else block)
            bar.update(len(block))
    return path
