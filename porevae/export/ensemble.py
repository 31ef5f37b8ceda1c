"""Reproducible ensembles: one folder per realization, a manifest, resumable and sharded.

Layout of ``out/``::

    manifest.json          porevae version, KLE file checksum and parameters, seed, transform,
                           format, well data conditioned on (if any), and per realization
                           the SHA-256 of each file written
    real-0000/PERMX.GRDECL one folder per realization ("real-%04d"), files as in
    real-0000/.done         porevae.export.formats; ".done" (JSON checksums) is written last
    ...

Realization ``i`` draws its KLE coefficients from ``SeedSequence(seed, spawn_key=(i,))``
(:meth:`porevae.KLE.coefficients`), so it is the same whether it is written alone
(``only=i``), in any shard, on any number of processes or Dask workers.

Crash safety: every file is written to a temporary name and renamed; a realization counts as
done only when its ``.done`` marker exists and the checksums in it match the files on disk.
A resumed run (the same call again) skips done realizations and rewrites the others, removing
temporary files that a killed process left behind: no work is lost by a re-run. A folder that
holds another ensemble (or other files and no manifest) is refused unless ``overwrite=True``
(``--overwrite``), which removes its manifest and ``real-*`` folders first. The manifest is
written by the coordinating process only (at the start without, at the end with the
per-realization checksums).

Sharding: the indices to write are cut into tasks of ``chunk`` (default 16) consecutive realizations
(the progress bar moves per task), run by the one task runner of the package,
:class:`porevae._parallel.Runner`: in this process (``jobs=1``), on ``jobs`` local processes, or on
a Dask cluster (``dask``: ``"local"`` for a LocalCluster of ``jobs`` workers, a scheduler address,
or a ``distributed.Client``). Workers load the KLE file themselves (checked against the
manifest's checksum), so with a Dask cluster of several machines the KLE file and ``out`` must lie
on a file system they share. Local processes start with ``spawn``: a script calling
``write_ensemble(..., jobs=N)`` needs the usual ``if __name__ == "__main__":`` guard; killing the
coordinating process (even ``kill -9``) leaves no idle workers behind. The files are the same bytes
wherever a realization is written.

Geometry: ``geometry={"cell_size": [DX, DY(, DZ)], "top": depth}`` (metres) writes the fields on
physical cells (see :func:`porevae.export.formats.physical_grid`); it is kept in the manifest.

Conditioning on wells: ``wells="wells.csv"`` (a table of :mod:`porevae.kle.welldata`) conditions
the KLE before drawing (:func:`porevae.export.wells.condition_on_wells`; ``noise``,
``data_space``, ``one_based`` as there). The coordinator reads the table once; the manifest's
``"wells"`` keeps its SHA-256 and the options, and its ``"data"`` the cells, field values and
noise as used, which is what workers and :func:`regenerate` condition on (the table itself is
not needed again). Realization ``i`` is then ``xi_hat + Sigma^(1/2) z_i`` with the same
``z_i`` as the unconditioned ensemble's, computed in the same aligned blocks: bit for bit alone,
in a batch or on a worker. A resumed run re-reads the table and refuses one whose SHA-256 (or
options) differ from the manifest's.

Fields are sampled on the CPU (``KLE.sample`` with NumPy): bit for bit on one machine and
library stack; a GPU sampler gives the same coefficients but fields equal only up to rounding.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np

from porevae._files import TMP_MARK, atomic_path, sha256
from porevae._parallel import DEFAULT_CHUNK, Runner
from porevae._progress import progress as progress_bar
from porevae._validation import check_int, check_real
from porevae.covariance import model_from_dict
from porevae.export._check import check_fields
from porevae.export.formats import (
    check_format,
    check_target,
    default_cell_size,
    physical_grid,
    write_fields,
)
from porevae.export.samples import load_kle
from porevae.export.transforms import Transform
from porevae.export.wells import condition_on_wells, conditional_from_data
from porevae.grid import Grid
from porevae.kle.exact import ExactSampler

MANIFEST = "manifest.json"
DONE = ".done"
MANIFEST_VERSION = 1
_FIXED = ("method", "sampler", "kle_sha256", "seed", "format", "transform", "grid_section",
          "geometry")
#: what a manifest written before "method" existed means by its absence
_BEFORE = {"method": "kle", "sampler": None}
METHODS = ("kle", "exact")


def folder_name(i: int) -> str:
    """``real-0000`` for realization 0 (at least four digits)."""
    return f"real-{i:04d}"


def _load_kle(path: str, digest: str):
    """The KLE in ``path``, checked against ``digest`` (hashed again if the file changed)."""
    st = os.stat(path)
    return _load_kle_checked(path, digest, st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=4)
def _load_kle_checked(path: str, digest: str, mtime_ns: int, size: int):
    if sha256(path) != digest:
        raise ValueError(f"KLE file {path} does not have the SHA-256 {digest} of the ensemble's "
                         f"KLE file")
    return load_kle(path)


def source_spec(source) -> dict:
    """How every worker gets the same sampler, JSON: ``{"method": "kle", "kle_file", "kle_sha256"}``
    for a KLE file (path or str), ``{"method": "exact", "grid", "cov", "mean", "dtype", "tol"}``
    for an :class:`~porevae.kle.exact.ExactSampler` (rebuilt from these on each worker: its
    set-up is deterministic)."""
    if isinstance(source, ExactSampler):
        p = source.params()
        return {"method": "exact", **{k: p[k] for k in ("grid", "cov", "mean", "dtype", "tol")}}
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"the ensemble's source must be a KLE file or an ExactSampler, got "
                        f"{type(source).__name__}")
    path = str(Path(source).resolve())
    if not Path(path).is_file():
        raise FileNotFoundError(f"KLE file {str(source)!r} does not exist")
    return {"method": "kle", "kle_file": path, "kle_sha256": sha256(path)}


def load_source(spec: dict):
    """The KLE (checked against its SHA-256) or exact sampler of :func:`source_spec`."""
    if spec["method"] == "exact":
        return _exact_sampler(json.dumps(spec, sort_keys=True))
    return _load_kle(spec["kle_file"], spec["kle_sha256"])


@lru_cache(maxsize=2)
def _exact_sampler(key: str) -> ExactSampler:
    spec = json.loads(key)
    return ExactSampler(Grid(**spec["grid"]), model_from_dict(spec["cov"]), mean=spec["mean"],
                        dtype=spec["dtype"], tol=spec["tol"])


def read_manifest(out) -> dict:
    """The manifest of the ensemble in folder ``out``."""
    with open(Path(out) / MANIFEST, encoding="utf-8") as fh:
        return json.load(fh)


def _write_manifest(out: Path, manifest: dict) -> None:
    with atomic_path(out / MANIFEST) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=False)
        fh.write("\n")


def is_done(folder: Path) -> dict | None:
    """Checksums ``{file: sha256}`` of a finished realization folder, or None.

    Finished means: the ``.done`` marker exists and every file it lists has that checksum.
    """
    try:
        with open(folder / DONE, encoding="utf-8") as fh:
            sums = json.load(fh)
    except (OSError, ValueError):
        return None
    try:
        if all(sha256(folder / name) == digest for name, digest in sums.items()):
            return sums
    except OSError:
        pass
    return None


def write_realizations(source: dict, out: str, indices: list[int], seed: int, fmt: str,
                       transform: dict, grid_section: str | None = None,
                       geometry: dict | None = None, wells: dict | None = None) -> dict:
    """Write the given realizations into ``out`` (one task); returns ``{i: {file: sha256}}``.

    Runs in worker processes: everything it needs comes in as plain arguments (``source``: a
    :func:`source_spec`; ``wells``: the manifest's ``wells["data"]``, the data to condition on,
    or None). With a KLE, consecutive indices are sampled together in blocks aligned to
    ``porevae.kle.expansion.CHUNK`` (the fields do not depend on the blocking); exact fields are
    drawn one at a time. Each realization folder is cleared of temporary files, written file
    by file atomically, and finished by its ``.done`` marker.
    """
    from porevae.kle.expansion import CHUNK

    kle = load_source(source)
    sampler = kle if wells is None else conditional_from_data(kle, wells)
    tag = source["kle_sha256"][:16] if source["method"] == "kle" else "exact"
    tr = Transform.from_dict(transform)
    out = Path(out)
    result = {}
    # KLE: aligned GEMM blocks (bit for bit whatever the batch); exact: one realization per
    # call, as regenerate() draws it (the kriging update of a batch is a GEMM whose rounding
    # depends on its size)
    for start, stop in _runs(sorted(indices), CHUNK if source["method"] == "kle" else 1):
        ys = sampler.sample(stop - start, seed=seed, start=start)
        for i, y in zip(range(start, stop), ys):
            folder = out / folder_name(i)
            folder.mkdir(exist_ok=True)
            (folder / DONE).unlink(missing_ok=True)
            for stale in folder.glob(f".*{TMP_MARK}*"):
                stale.unlink()
            header = {"seed": seed, "realization": i,
                      **({"kle_sha256": tag} if source["method"] == "kle" else
                         {"method": tag}), "transform": tr.perm}
            names = write_fields(folder, tr.apply_kle(y, kle), kle.grid, fmt,
                                 header=header, grid_section=grid_section, geometry=geometry)
            sums = {name: sha256(folder / name) for name in names}
            with atomic_path(folder / DONE) as tmp, open(tmp, "w", encoding="utf-8") as fh:
                json.dump(sums, fh)
            result[i] = sums
    return result


def _check_geometry(geometry) -> dict:
    geometry = dict(geometry or {})
    unknown = sorted(set(geometry) - {"cell_size", "top"})
    if unknown:
        raise ValueError(f"geometry takes the keys 'cell_size' and 'top', got {unknown}")
    if geometry.get("cell_size") not in (None, "auto"):
        geometry["cell_size"] = [float(c) for c in np.atleast_1d(geometry["cell_size"])]
    if geometry.get("top") is not None:
        geometry["top"] = check_real(geometry["top"], "top")     # depth [m]
    return {k: v for k, v in geometry.items() if v is not None}


def _runs(indices: list[int], block: int) -> Iterable[tuple[int, int]]:
    """``[start, stop)`` runs of consecutive indices, cut at multiples of ``block``."""
    k = 0
    while k < len(indices):
        start = stop = indices[k]
        while k < len(indices) and indices[k] == stop and (stop == start or stop % block):
            stop += 1
            k += 1
        yield start, stop


def write_ensemble(source, out, n: int, seed: int, fmt: str = "grdecl",
                   transform: Transform | None = None, *, only: int | None = None,
                   jobs: int = 1, dask=None, chunk: int = DEFAULT_CHUNK,
                   grid_section: str | None = None, geometry: dict | None = None,
                   wells=None, noise: float | None = None, data_space: str = "field",
                   one_based: bool = False, progress: bool = False,
                   overwrite: bool = False) -> dict:
    """Write (or resume, or extend) an ensemble of ``n`` realizations into folder ``out``.

    Parameters
    ----------
    source : str, Path or porevae.kle.exact.ExactSampler
        A file of :meth:`porevae.KLE.save` (its SHA-256 is recorded and checked by workers), or
        an exact sampler (circulant embedding; its grid, model, mean, dtype and tolerance are
        recorded, ``"method": "exact"``, and each worker builds the same one).
    out : str or Path
        Ensemble folder (created if missing). A folder holding the same ensemble (KLE checksum,
        seed, format, transform, grid section, geometry, wells) is resumed: finished
        realizations are kept, ``n`` may grow. Another ensemble, or a non-empty folder without
        a manifest, is refused (FileExistsError) unless ``overwrite``.
    n : int
        Number of realizations ``0 .. n-1``.
    seed : int
        Root seed (>= 0).
    fmt : {"grdecl", "bgrdecl", "roff", "vti", "npy", "h5"}
    transform : Transform, optional
        Gaussian field -> keywords; default ``Transform()`` (``PERMX = exp(Y)``).
    only : int, optional
        Write realization ``only`` alone (always rewritten, even if done); the rest of the
        ensemble is left as it is.
    jobs : int
        Local worker processes (spawn start method); 1 = this process; with ``dask="local"``
        the workers of the local Dask cluster.
    dask : str or distributed.Client, optional
        Run the tasks on a Dask cluster: ``"local"`` (started here, ``jobs`` workers), a
        scheduler address, or a client (see :class:`porevae._parallel.Runner`).
    chunk : int
        Realizations per task (a few hundred: workers amortize loading the KLE).
    grid_section : None, "dxdytops" or "corner"
        GRDECL only: put the grid geometry in every realization's file.
    geometry : dict, optional
        ``{"cell_size": [DX, DY(, DZ)] or "auto", "top": depth}`` in metres: the physical cells
        the fields are written on (default: the KLE grid's own units, top 0; ``"auto"``:
        :func:`porevae.export.formats.default_cell_size`, resolved in the manifest).
    wells : str or Path, optional
        CSV table of well data (:mod:`porevae.kle.welldata`) to condition the KLE on; its
        SHA-256 is recorded and a resumed run refuses a changed table.
    noise : float, optional
        Standard deviation of the data errors (units of the Gaussian field ``Y``); default: the
        table's ``noise`` column, else 0 (every realization honours the data).
    data_space : {"field", "perm"}
        The table's values are ``Y``, or permeability [mD] mapped to ``Y`` through the inverse
        of ``transform`` (:func:`porevae.export.wells.condition_on_wells`).
    one_based : bool
        The table's ``i, j, k`` count from 1.
    overwrite : bool
        Replace what ``out`` holds when it cannot be resumed: its manifest and ``real-*``
        folders are removed first (other files are kept).
    progress : bool
        Progress bar over realizations (:func:`porevae._progress.progress`; moves per task of
        ``chunk`` realizations).

    Returns
    -------
    dict
        The manifest, plus index lists for this call (not stored in the file): ``"written"``,
        ``"skipped"`` (already finished) and ``"changed"`` (rewritten with checksums that differ
        from the ones the manifest held: 0 when regeneration is bit for bit).
    """
    from porevae._version import __version__

    check_int(n, "n", 1)
    seed = check_int(seed, "seed", 0)
    check_format(fmt)
    runner = Runner(jobs, dask)     # checks jobs and dask; starts nothing yet
    check_int(chunk, "chunk", 1)
    if only is not None:
        check_int(only, "only", 0, n - 1)
    if grid_section is not None and fmt != "grdecl":
        raise ValueError("grid_section is for the grdecl format only")
    transform = transform or Transform()
    geometry = _check_geometry(geometry)
    spec = source_spec(source)
    kle = load_source(spec)
    check_target(kle.grid, fmt, grid_section, geometry)
    sampler, wells_record = kle, None
    if wells is not None:
        sampler, wells_record = condition_on_wells(kle, wells, noise=noise, data_space=data_space,
                                                   transform=transform, one_based=one_based)
        wells_record["data"] = sampler.params()["conditioning"]
    elif noise is not None or data_space != "field" or one_based:
        raise ValueError("noise, data_space and one_based are for conditioning on wells: give "
                         "wells (a CSV table)")
    out = Path(out)
    # validate the transform on one realization before creating anything
    check_fields(transform.apply_kle(sampler.sample(1, seed=seed, start=only or 0)[0], kle),
                 kle.grid)
    if geometry.get("cell_size") == "auto":   # the manifest records the sizes used
        geometry["cell_size"] = default_cell_size(kle.grid)
    physical_grid(kle.grid, geometry.get("cell_size"))
    manifest = {"manifest_version": MANIFEST_VERSION, "porevae_version": __version__,
                "method": spec["method"],
                "sampler": None if spec["method"] == "kle" else
                {k: v for k, v in spec.items() if k != "method"},
                "kle_file": spec.get("kle_file"), "kle_sha256": spec.get("kle_sha256"),
                "kle": kle.params(), "seed": seed,
                "n": n, "format": fmt, "transform": transform.to_dict(),
                "grid_section": grid_section, "geometry": geometry, "wells": wells_record,
                "folder": "real-%04d",
                "sampling": "realization i: numpy.random.SeedSequence(seed, spawn_key=(i,))",
                "realizations": {}}
    old = _resumable(out, manifest, overwrite)
    if old is not None:
        manifest["n"] = max(n, old.get("n", n))
        manifest["realizations"] = old.get("realizations", {})
    out.mkdir(parents=True, exist_ok=True)
    _write_manifest(out, manifest)

    wanted = [only] if only is not None else range(n)
    todo, skipped = [], []
    for i in wanted:
        sums = None if only is not None else is_done(out / folder_name(i))
        if sums is None:
            todo.append(i)
        else:
            skipped.append(i)
            manifest["realizations"][str(i)] = sums
    before = {i: manifest["realizations"].get(str(i)) for i in todo}
    tasks = [todo[k:k + chunk] for k in range(0, len(todo), chunk)]
    args = (spec, str(out))
    rest = (seed, fmt, transform.to_dict(), grid_section, geometry,
            None if wells_record is None else wells_record["data"])
    bar = progress_bar(total=len(todo), desc="realizations", enable=progress, unit="real")
    try:
        with runner as run:
            for _, result in run.map(write_realizations,
                                     [(*args, task, *rest) for task in tasks]):
                for i, sums in result.items():
                    manifest["realizations"][str(i)] = sums
                bar.update(len(result))
    finally:
        bar.close()
        manifest["realizations"] = dict(sorted(manifest["realizations"].items(),
                                               key=lambda kv: int(kv[0])))
        _write_manifest(out, manifest)
    changed = [i for i in todo if before[i] not in (None, manifest["realizations"].get(str(i)))]
    return manifest | {"written": todo, "skipped": skipped, "changed": changed}


def _resumable(out: Path, manifest: dict, overwrite: bool) -> dict | None:
    """The manifest of the ensemble in ``out`` if this call resumes it, else None.

    The rule (before anything is written): a missing or empty folder is a new ensemble; a folder
    whose manifest has the same KLE checksum, seed, format, transform, grid section, geometry
    and well conditioning is resumed (``n`` may grow); anything else in ``out`` (another
    ensemble, or files without a manifest) is refused with :class:`FileExistsError` unless
    ``overwrite``, which removes the manifest and the ``real-*`` folders there (other files
    are left alone) so that the ensemble is written anew.
    """
    if not out.is_dir():
        return None
    if (out / MANIFEST).exists():
        old = read_manifest(out)
        why = _wells_difference(out, old.get("wells"), manifest["wells"])
        key = next((k for k in _FIXED if old.get(k, _BEFORE.get(k)) != manifest[k]), None)
        if why is None and key is not None:
            why = (f"{out} holds an ensemble with a different {key} "
                   f"({old.get(key, _BEFORE.get(key))!r}, asked {manifest[key]!r})")
        if why is None:
            return old
    elif any(out.iterdir()):
        why = f"{out} is not empty and holds no ensemble ({MANIFEST})"
    else:
        return None
    if not overwrite:
        raise FileExistsError(f"{why}; pass --overwrite (overwrite=True) to replace it, or use "
                              f"another folder")
    (out / MANIFEST).unlink(missing_ok=True)
    for folder in out.iterdir():
        if folder.is_dir() and re.fullmatch(r"real-\d{4,}", folder.name):
            shutil.rmtree(folder)
    return None


def _wells_difference(out, old: dict | None, new: dict | None) -> str | None:
    """Why the ensemble in ``out`` cannot be resumed with this well conditioning (another
    table, by SHA-256, or other options), or None."""
    keys = ("sha256", "data_space", "noise", "one_based")

    def options(w):
        return None if w is None else {k: w.get(k) for k in keys}

    if options(old) == options(new):
        return None
    if old is None or new is None:
        have = "without wells" if old is None else f"conditioned on wells ({old['file']})"
        ask = "without" if new is None else f"on {new['file']}"
        return f"{out} holds an ensemble {have}, asked {ask}"
    if old["sha256"] != new["sha256"]:
        return (f"{out} holds an ensemble conditioned on a well table of SHA-256 "
                f"{old['sha256'][:12]}... ({old['file']}), but {new['file']} has "
                f"{new['sha256'][:12]}...: the well data changed (restore the table to resume)")
    key = next(k for k in keys if old.get(k) != new.get(k))
    return f"{out} holds an ensemble conditioned with {key}={old.get(key)!r}, asked {new[key]!r}"


def manifest_source(m: dict, kle_path=None) -> dict:
    """The :func:`source_spec` of manifest ``m`` (``kle_path``: a copy of its KLE file
    elsewhere, checked against the recorded SHA-256)."""
    method = m.get("method", "kle")
    if method == "exact":
        return {"method": "exact", **m["sampler"]}
    path = str(Path(kle_path).resolve()) if kle_path is not None else m["kle_file"]
    return {"method": "kle", "kle_file": path, "kle_sha256": m["kle_sha256"]}


def regenerate(out, i: int, dest, kle_path=None) -> dict:
    """Regenerate realization ``i`` of the ensemble in ``out`` into folder ``dest``.

    Uses only the manifest (the KLE file, checked by checksum, or the exact sampler's
    parameters; seed; transform; format; the well data conditioned on, if any); ``kle_path``
    points to a copy of the KLE file elsewhere (same checksum). Returns ``{file: sha256}`` of
    the new files; compare with ``read_manifest(out)["realizations"]``.
    """
    m = read_manifest(out)
    check_int(i, "i", 0, m["n"] - 1)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    return write_realizations(manifest_source(m, kle_path), str(dest), [i], m["seed"],
                              m["format"], m["transform"], m.get("grid_section"),
                              m.get("geometry"), (m.get("wells") or {}).get("data"))[i]


def verify(out) -> list[int]:
    """Indices ``0 .. n-1`` of the manifest whose folder is not finished or does not match."""
    m = read_manifest(out)
    bad = []
    for i in range(m["n"]):
        sums = is_done(Path(out) / folder_name(i))
        if sums is None or m["realizations"].get(str(i)) != sums:
            bad.append(i)
    return bad


__all__ = [
    "folder_name",
    "is_done",
    "load_source",
    "manifest_source",
    "read_manifest",
    "regenerate",
    "source_spec",
    "verify",
    "write_ensemble",
    "write_realizations",
]
