"""The rock demo: generate Berea-like volumes with the shipped model and compare them with the
real Berea sandstone on porevae's own statistics, beside the PorousMediaGAN DCGAN's published
figures (:func:`berea_comparison`, :func:`run_rock_demo`)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from porevae._files import atomic_path, digest_arrays
from porevae.media.bars import BARS, FLOW_BARS, S2_BAR, Z, describe, judge, judge_s2

#: The PorousMediaGAN DCGAN's relative errors on Berea (its own estimators, each against its
#: own reference: Mosser et al. 2017, the repository's covariance_data.json and Minkowski
#: tables, as quoted in issue 10; permeability: the mean poreFoam Stokes permeability along
#: x, y, z of its 21 generated 128^3 samples, analysis/perms/berea/sampled/128, against that of
#: its 27 real 128^3 crops, analysis/perms/berea/original/128, as its own notebook pairs them).
PEER_DCGAN = {"specific_surface": 0.044, "mean_pore_chord": -0.028,
              "mean_solid_chord": -0.037, "euler_density": -0.02,
              "permeability_x": -0.190, "permeability_y": -0.242, "permeability_z": -0.238}


def real_crops(volume: np.ndarray, n: int, size: int, seed: int) -> list:
    """n random size^3 crops of ``volume`` (corners uniform, seeded)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        c = [int(rng.integers(s - size + 1)) for s in volume.shape]
        out.append(volume[tuple(slice(a, a + size) for a in c)])
    return out


def _stats(volumes):
    from porevae.media import scalar_statistics, two_point_correlation

    rows = [scalar_statistics(v) for v in volumes]
    r_max = min(S2_BAR[0], min(volumes[0].shape) - 1)
    s2 = np.array([two_point_correlation(v, r_max=r_max)[1] for v in volumes])
    return rows, s2


BEREA = "the real Berea image"


#: Bumped whenever the flow statistics of a volume change (solver, settings): entries of a
#: ``cache`` folder (:func:`_flow`) written under another version are not read.
FLOW_CACHE_VERSION = 1


def _flow_entry(cache: Path, volume: np.ndarray, tortuosity: bool) -> Path:
    """The cache file of ``volume``'s flow statistics: named by :data:`FLOW_CACHE_VERSION`,
    whether TauFactor's solve is in it, and the digest of its voxels (shape included,
    :func:`porevae._files.digest_arrays`)."""
    key = digest_arrays({"pore": np.asarray(volume, dtype=bool)})
    return cache / f"flow-v{FLOW_CACHE_VERSION}-{'tau' if tortuosity else 'k'}-{key}.json"


def _read_entry(path: Path):
    """``(values, notes)`` of a cache file, or None when it is missing, unreadable or does not
    match the checksum it carries (it is then computed and written again)."""
    try:
        entry = json.loads(path.read_text())
        body = json.dumps([entry["values"], entry["notes"]], sort_keys=True)
        if hashlib.sha256(body.encode()).hexdigest() == entry["sha256"]:
            return entry["values"], entry["notes"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _flow(volumes, progress: bool, label: str, tortuosity: bool, cache=None):
    """Per-volume :func:`porevae.media.report.flow_statistics` rows, the distinct notes and how
    many rows came from ``cache`` (a folder, or None: no cache). With a cache each volume's
    row is written there as soon as it is computed (one JSON file with its checksum,
    :func:`_flow_entry`), and read instead of solved when the same voxels come again: an
    interrupted comparison resumes, and other samples against the same crops solve only the
    samples."""
    from porevae._progress import progress as progress_bar
    from porevae.media.report import flow_statistics
    from porevae.media.transport import transport_available

    keyed = tortuosity and transport_available()  # with TauFactor's solve in the row or not
    rows, notes, hits = [], [], 0
    for v in progress_bar(volumes, enable=progress, desc=f"flow ({label})", unit="volume"):
        path = None if cache is None else _flow_entry(Path(cache), v, keyed)
        found = None if path is None else _read_entry(path)
        if found is None:
            values, lines = flow_statistics(v, tortuosity=tortuosity)
            values = {k: float(x) for k, x in values.items()}
            if path is not None:
                body = json.dumps([values, lines], sort_keys=True)
                with atomic_path(path) as tmp:
                    Path(tmp).write_text(json.dumps(
                        {"values": values, "notes": lines,
                         "sha256": hashlib.sha256(body.encode()).hexdigest()}))
        else:
            (values, lines), hits = found, hits + 1
        rows.append(values)
        notes += [line for line in lines if line not in notes]
    return rows, notes, hits


def berea_comparison(samples, real=None, n_real: int = 8, seed: int = 0,
                     reference: str = BEREA, flow: bool = False, tortuosity: bool = True,
                     progress: bool = False, cache=None) -> dict:
    """Compare binary ``samples`` (list of size^3 volumes, 1 = pore) with size^3 crops of the
    real Berea image (or of ``real``, named ``reference`` in the text) on porevae's statistics.
    The DCGAN's published figures stand beside only when the reference is the Berea image.

    Returns ``{"table": rows, "s2": {...}, "markdown": str}``; each row: ``statistic``,
    ``real_mean``, ``real_std``, ``model_mean``, ``model_std``, ``diff`` (absolute or relative,
    by :data:`porevae.media.bars.BARS`), ``se`` (its standard error), ``bar``, ``met`` (the
    mean difference meets the bar), ``verdict`` ("yes" / "no" beyond twice the standard error,
    "noise" when the samples are too few or too small to tell:
    :func:`porevae.media.bars.verdict`), ``peer_dcgan`` (its relative error, where published).
    ``flow``: add the rows of :data:`porevae.media.bars.FLOW_BARS` (permeability along each
    axis, tortuosity factor, isolated pore fraction: a Stokes solve per volume and axis, about
    half a minute each at 128^3; ``tortuosity=False`` leaves out TauFactor's solve), their
    notes in ``"flow_notes"``; ``cache``: a folder that keeps each volume's flow figures
    (:func:`_flow`), ``"flow_cached"`` says how many volumes it answered.
    ``s2``: radial S2 (lags 0..32, or 0..size - 1 for smaller volumes) of real crops and
    samples (means), their mean absolute difference and its verdict
    (:func:`porevae.media.bars.judge_s2`).
    """
    from porevae.data import berea

    size = samples[0].shape[0]
    real = real_crops(berea() if real is None else real, n_real, size, seed)
    (r_rows, r_s2), (m_rows, m_s2) = _stats(real), _stats(samples)
    notes: list = []
    hits = 0
    if flow:
        r_flow, r_notes, r_hits = _flow(real, progress, "crops", tortuosity, cache)
        m_flow, m_notes, m_hits = _flow(samples, progress, "samples", tortuosity, cache)
        r_rows = [{**a, **b} for a, b in zip(r_rows, r_flow)]
        m_rows = [{**a, **b} for a, b in zip(m_rows, m_flow)]
        notes = [f"crops: {n}" for n in r_notes] + [f"samples: {n}" for n in m_notes]
        hits = r_hits + m_hits
    table = []
    for name in [*BARS, *(n for n in FLOW_BARS if flow and n in r_rows[0])]:
        r = np.array([row[name] for row in r_rows])
        m = np.array([row[name] for row in m_rows])
        if not (np.isfinite(r).all() and np.isfinite(m).all()):  # tortuosity without a path
            notes.append(f"{name}: left out for {np.count_nonzero(~np.isfinite(r))} crops and "
                         f"{np.count_nonzero(~np.isfinite(m))} samples (no pore path)")
            r, m = r[np.isfinite(r)], m[np.isfinite(m)]
            if not (r.size and m.size):
                continue
        row = judge(name, m, r)
        table.append({"statistic": name, "real_mean": float(r.mean()), "real_std": float(r.std()),
                      "model_mean": float(m.mean()), "model_std": float(m.std()),
                      "diff": row["diff"], "se": row["se"], "kind": row["kind"],
                      "bar": row["bar"], "met": row["met"], "verdict": row["verdict"],
                      "peer_dcgan": PEER_DCGAN.get(name) if reference == BEREA else None})
    s2 = {"r": list(range(len(r_s2[0]))), "real": r_s2.mean(0).tolist(),
          "model": m_s2.mean(0).tolist(), **judge_s2(m_s2, r_s2)}
    markdown = comparison_markdown(table, s2, size, len(samples), n_real, reference)
    if notes:
        markdown += "\n\n" + "\n".join(f"- {n}" for n in notes)
    return {"table": table, "s2": s2, "markdown": markdown, "flow_notes": notes,
            "flow_cached": hits}


def comparison_markdown(table, s2, size, n_model, n_real, reference: str = BEREA) -> str:
    """The comparison as a Markdown table (porevae vs real, the difference with twice its
    standard error, bars and verdicts, the peer DCGAN beside)."""
    lines = [(f"{n_model} generated {size}^3 samples vs {n_real} random {size}^3 crops of "
              f"{reference} (porevae's estimators on both sides). 'met': yes / no when the "
              f"difference is more than {Z:g} standard errors inside / outside the bar; noise "
              f"when the bar lies within that spread (too few or too small volumes to tell)."),
             "", ("| statistic | real (mean ± std) | porevae (mean ± std) | difference "
                  f"± {Z:g} SE | bar | met | PorousMediaGAN DCGAN |"),
             "|---|---|---|---|---|---|---|"]
    for t in table:
        fmt = (lambda v: f"{v:+.4f}") if t["kind"] == "abs" else (lambda v: f"{v:+.1%}")
        spread = f"{Z * t['se']:.4f}" if t["kind"] == "abs" else f"{Z * t['se']:.1%}"
        peer = "" if t["peer_dcgan"] is None else f"{t['peer_dcgan']:+.1%}"
        lines.append(f"| {t['statistic']} | {t['real_mean']:.5g} ± {t['real_std']:.2g} | "
                     f"{t['model_mean']:.5g} ± {t['model_std']:.2g} | {fmt(t['diff'])} ± "
                     f"{spread} | {describe(t['statistic'])} | {t['verdict']} | {peer} |")
    lines.append(f"| radial S2, r <= {s2['r'][-1]} (mean abs. diff.) | | | {s2['mad']:.4f} "
                 f"(SE {s2['se']:.4f}) | <= {s2['bar']} | {s2['verdict']} | |")
    return "\n".join(lines)


def run_rock_demo(out_dir, n: int = 8, size: int = 128, seed: int = 0,
                  model: str = "berea", porosity: float | None = None,
                  n_real: int | None = None, flow_crops: int = 4) -> dict:
    """Generate ``n`` Berea-like size^3 volumes with the shipped model ``model``, compare them
    with ``n_real`` crops of the real image (default: 8 of 128^3, and as many more of a smaller
    size as fill the same volume, at most 64: the rock's spread is then well measured, and
    statistics of small crops are quick), and write to ``out_dir``: ``rock.tif`` (the first
    sample), ``rock_slices.png`` (middle slices, real crop above a generated sample: look at it
    first), ``rock_comparison.md`` / ``.json`` (the bars table with the verdicts of
    :mod:`porevae.media.bars`, beside the peer DCGAN), and the :func:`porevae.media.compare`
    report (S2 / lineal-path / pore-size plots, ``summary.md``) of the samples against a real
    crop. ``porosity``: each sample's exact porosity (default: the training data's, recorded in
    the checkpoint: 0.19645 for Berea, as ``porevae generate`` with no flag). ``flow_crops``:
    the flow rows (permeability along each axis and the isolated pore fraction of
    :data:`porevae.media.bars.FLOW_BARS`; ``porevae judge --flow`` adds the tortuosity) judge
    the samples against the first that many of the crops (a Stokes solve per volume and axis;
    0 leaves them out). Few or small
    volumes give a noisy comparison: the table then says "noise" rather than a verdict.
    Returns ``{"markdown", "seconds", "files", "table", "s2"}``; no training and no download:
    the image and the model ship with porevae."""
    from porevae.data import berea, pretrained_path
    from porevae.media import compare
    from porevae.media.io import write_volume
    from porevae.vae.generation import generate, resolve_cut
    from porevae.vae.plots import plot_slices
    from porevae.vae.trainer import load_model

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    net = load_model(pretrained_path(model))
    t0 = time.perf_counter()
    given = porosity
    rule, porosity = resolve_cut(net, "connected", porosity)
    samples = generate(net, n, (size,) * 3, seed=seed, porosity=porosity)
    seconds = time.perf_counter() - t0
    volume = berea()
    if n_real is None:
        n_real = max(8, min(64, 8 * (128 // size) ** 3))
    bools = [s.astype(bool) for s in samples]
    res = berea_comparison(bools, real=volume, n_real=n_real, seed=seed)
    if flow_crops:
        k = min(n_real, flow_crops)
        fl = berea_comparison(bools, real=volume, n_real=k, seed=seed, flow=True,
                              tortuosity=False)
        res["table"] += [t for t in fl["table"] if t["statistic"] in FLOW_BARS]
        res["markdown"] = "\n".join([comparison_markdown(res["table"], res["s2"], size, n,
                                                         n_real), "",
                                     f"Flow rows: the samples against the first {k} of those "
                                     f"crops (a Stokes solve per volume and axis).",
                                     *(f"- {line}" for line in fl["flow_notes"])])
    ref = real_crops(volume, 1, size, seed + 1)[0]
    files = [str(out / "rock.tif")]
    write_volume(out / "rock.tif", samples[0])
    files.append(plot_slices({"real Berea crop": ref, "porevae sample": samples[0]},
                             out / "rock_slices.png"))
    rep = compare(ref, bools, out_dir=out)
    files += list(rep.files)
    cut = "each sample's mean pore probability" if rule == "mean" else \
        f"{porosity:.5f}" + (" (the training data's)" if given is None else "")
    text = (f"# Berea sandstone: porevae's shipped model vs the real rock\n\n"
            f"{n} samples of {size}^3 generated in {seconds:.1f} s on this machine, cut to "
            f"porosity {cut}.\n\n![slices](rock_slices.png)\n\n"
            f"{res['markdown']}\n")
    for name, body in (("rock_comparison.md", text),
                       ("rock_comparison.json", json.dumps(
                           {"table": res["table"], "s2": res["s2"], "seconds": seconds},
                           indent=1))):
        with atomic_path(out / name) as tmp:
            Path(tmp).write_text(body)
        files.append(str(out / name))
    return {"markdown": text, "seconds": seconds, "files": files, "table": res["table"],
            "s2": res["s2"]}


SPHERES_REFERENCE = "an independent realization of the sphere medium"


def reference_medium(reference: str) -> tuple:
    """``(volume, description)`` of a reference medium: ``"berea"`` (the shipped image),
    ``"spheres"`` (a realization, seed 1, of the overlapping-sphere medium the shipped
    ``spheres`` model was trained on, seed 0: its parameters are in that checkpoint's ``meta``),
    or a volume file (read through :mod:`porevae.media.io`, 0/1 with 1 = pore)."""
    from porevae.data import berea, pretrained_path
    from porevae.media import overlapping_spheres
    from porevae.media.io import read_volume
    from porevae.vae.trainer import load_checkpoint

    if reference == "berea":
        return berea(), BEREA
    if reference == "spheres":
        m = load_checkpoint(pretrained_path("spheres"))["meta"]["medium"]
        return overlapping_spheres(tuple(m["shape"]), m["porosity"], m["radius"],
                                   periodic=m["periodic"], seed=1), SPHERES_REFERENCE
    volume = read_volume(reference, binary=True)
    if volume.ndim != 3:
        raise ValueError(f"reference {reference!r} must be one 3-D volume, got shape "
                         f"{volume.shape}")
    return volume, f"{Path(reference).name}"


def judge_model(source, reference: str, n: int = 8, size: int = 128, seed: int = 0,
                n_real: int = 8, crop_seed: int = 0, porosity: float | None = None,
                progress: bool = False, flow: bool = False, cache=None) -> dict:
    """Judge a generative model on its medium by the bars of :mod:`porevae.media.bars`: ``n``
    samples of size^3 from ``source`` (a checkpoint, its folder, or a shipped model's name;
    latent seed ``seed``), cut as ``porevae generate`` cuts them with no flag (at the training
    data's porosity) unless ``porosity`` is given, against ``n_real`` random size^3 crops
    (corners seeded by ``crop_seed``) of ``reference`` (:func:`reference_medium`), porevae's
    estimators on both sides (:func:`berea_comparison`). Every parameter is checked before the
    model is loaded. ``flow``: the flow bars too, each volume's figures kept in the folder
    ``cache`` if given (:func:`berea_comparison`). Returns that
    comparison plus ``"header"`` (one line: what was compared)."""
    from porevae._files import check_output_folder
    from porevae._validation import check_int
    from porevae.data import PRETRAINED, pretrained_path
    from porevae.vae.generation import check_porosity, generate, resolve_cut
    from porevae.vae.trainer import load_model

    for value, name in ((n, "n"), (size, "size"), (n_real, "n_real")):
        check_int(value, name, low=2 if name == "size" else 1)
    check_porosity(porosity)
    if cache is not None:
        if not flow:
            raise ValueError("cache keeps the flow figures: it needs flow (--flow)")
        check_output_folder(cache, "--cache").mkdir(exist_ok=True)
    volume, name = reference_medium(reference)
    if size > min(volume.shape):
        raise ValueError(f"size must be at most the reference's smallest edge "
                         f"{min(volume.shape)}, got {size}")
    path = pretrained_path(source) if source in PRETRAINED else source
    model = load_model(path)
    rule, cut = resolve_cut(model, "connected", porosity)
    samples = generate(model, n, (size,) * 3, seed=seed, porosity=porosity, progress=progress)
    res = berea_comparison([s.astype(bool) for s in samples], real=volume, n_real=n_real,
                           seed=crop_seed, reference=name, flow=flow, progress=progress,
                           cache=cache)
    how = "each sample's mean pore probability" if rule == "mean" else \
        f"porosity {cut:.5f}" + (" (the training data's)" if porosity is None else "") + \
        " by the connected cut"
    res["header"] = (f"{source} on {name}: cut at {how}, sample seed {seed}, crop seed "
                     f"{crop_seed}")
    return res
