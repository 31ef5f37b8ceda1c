"""Training recipes shipped with the package: a preset is an ordered list of stages, each a
complete TOML config (``[stage] about``, ``[model]``, ``[train]``) in
``porevae/vae/presets/NAME/``, run in file-name order.

``rock`` is the recipe of the shipped Berea model (``porevae/data/models/berea/README.md``):
a Fisher VAE (gamma 1000) with an S2 descriptor loss on decoded prior samples, 2000 steps of 48³
crops on the soft pore probability, then 400 + 300 steps of 64³ crops on the exact-porosity cut
at lower learning rates (about 18 minutes on 2 CPU cores).
``porevae train ROCK.tif --out run --preset rock`` runs it (:func:`train_stages`); each stage
file is also a ``--config`` of its own.

``flow`` is two stages run after it, from its weights (``porevae train ROCK.tif --out run-flow
--preset flow --init run/checkpoint.pt``): stage 3 of ``rock`` with the permeability term
(:attr:`~porevae.vae.config.ModelConfig.flow_weight`), which makes the prior samples' pore
space carry Stokes flow like the data's tiles, and a specific-surface term
(:attr:`~porevae.vae.config.ModelConfig.surface_weight`) that keeps it from doing so by
coarsening the rock; then the same again at twice the rate, since the first stage's rate has
decayed while its samples are still ~20 % less permeable than the tiles (three 64³ Stokes
solves per step, about 21 minutes per stage on 2 CPU cores). It is kept apart so that
``rock`` stays an 18-minute recipe.

A preset sizes the latent cell to the data (:func:`load_preset_for`, :func:`latent_depth`): the
stage files' ``depth`` is the largest it takes, and a medium whose mean pore chord is under two
such cells gets a smaller one, unless ``--depth`` or ``--init`` fixes the architecture (the
rock preset's f = 4 gave the sphere medium, mean pore chord 6.4 voxels, Euler +36 %; f = 2
gave −12 %).

A run of a preset is a folder::

    OUT/preset.json        the preset's name and every stage's resolved configuration
    OUT/<stage>/           one run per stage (checkpoint.pt, config.json, log.csv)
    OUT/checkpoint.pt      the last stage's weights (export_model), once every stage is done

Stage k > 1 starts from stage k - 1's final weights with a fresh optimiser, its own seeded data
sampler and latent noise, and descriptor targets recomputed from the data; stage 1 from the
model's seeded initialisation or the ``init`` weights. A stage is therefore a function of the
previous stage's checkpoint, and a run resumed at any step of any stage ends with the same
weights, bit for bit, as an uninterrupted one.

Listing and reading presets needs no torch (``porevae train --help`` lists them); the training
modules are imported by the functions that run stages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from porevae._files import atomic_path
from porevae._progress import write
from porevae.vae.config import Config, config_from_dict, read_toml

#: The record of a preset run in its folder.
PRESET_FILE = "preset.json"
#: Presets that continue another's model: ``porevae train --preset NAME`` needs ``--init``.
STARTS_FROM = {"flow": "rock"}


def _root() -> Path:
    return Path(str(resources.files(__package__))) / "presets"


def preset_names() -> tuple:
    """The shipped presets (folders of ``porevae/vae/presets``)."""
    return tuple(sorted(p.name for p in _root().iterdir() if p.is_dir() and
                        any(p.glob("*.toml"))))


def preset_files(name: str) -> list[Path]:
    """The stage files of preset ``name``, in order (their names start with the stage number)."""
    if name not in preset_names():
        raise ValueError(f"preset must be one of {list(preset_names())}, got {name!r}")
    return sorted((_root() / name).glob("*.toml"))


@dataclass
class Stage:
    """One stage of a preset: ``name`` (its file's stem, also its folder in the run) and its
    :class:`~porevae.vae.config.Config`."""

    name: str
    config: Config


def _merge(data: dict, overrides: dict | None) -> dict:
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for table, values in (overrides or {}).items():
        out.setdefault(table, {}).update(values)
    return out


def latent_depth(volumes, most: int) -> tuple[int, float]:
    """The depth of a preset's model for binary ``volumes`` (arrays, 1 = pore, 2-D or 3-D):
    the largest ``d`` in ``[1, most]`` whose latent cell ``f = 2**d`` fits twice in the data's
    mean pore chord ``c = 4 phi / Sv`` (3-D; ``pi phi / Sv`` in 2-D; voxels, the judge's
    ``mean_pore_chord``, phi and Sv pooled over the volumes by their voxels): ``2 f <= c``, so
    that a pore spans two cells. Returns ``(d, c)``; a volume without interface gives ``most``.
    """
    import numpy as np

    from porevae.media import porosity, specific_surface

    sizes = np.array([np.size(v) for v in volumes], dtype=float)
    phi = np.dot(sizes, [porosity(v) for v in volumes]) / sizes.sum()
    sv = np.dot(sizes, [specific_surface(v) for v in volumes]) / sizes.sum()
    chord = (4.0 if np.ndim(volumes[0]) == 3 else np.pi) * phi / sv if sv > 0 else np.inf
    depth = most
    while depth > 1 and 2 * 2**depth > chord:
        depth -= 1
    return depth, float(chord)


def load_preset(name: str, overrides: dict | None = None) -> list[Stage]:
    """The stages of preset ``name``, each file's tables updated by ``overrides``
    (``{"model": {...}, "train": {...}}``, e.g. from command-line flags: the same values for
    every stage, such as ``ndim`` of the data or a smaller ``size``)."""
    return [Stage(p.stem, config_from_dict(_merge(read_toml(p), overrides), str(p)))
            for p in preset_files(name)]


def load_preset_for(name: str, volumes, overrides: dict | None = None
                    ) -> tuple[list[Stage], str | None]:
    """:func:`load_preset` with the latent cell sized to the training data: unless
    ``overrides`` set ``depth`` or the preset's model is not Bernoulli, every stage takes
    ``depth = latent_depth(volumes, the stage files' depth)`` (binary ``volumes``, 1 = pore).
    Returns the stages and the line that says which cell and why (None when not sized).
    ``porevae train --preset`` calls it unless ``--init`` fixes the architecture."""
    stages = load_preset(name, overrides)
    model = stages[0].config.model
    if "depth" in (overrides or {}).get("model", {}) or model.likelihood != "bernoulli":
        return stages, None
    depth, chord = latent_depth(volumes, model.depth)
    line = (f"latent cell f = {2**depth} voxels: the data's mean pore chord is {chord:.1f} "
            f"voxels and a pore spans two cells (f <= chord / 2, at most {model.factor}; "
            f"--depth sets it)")
    if depth != model.depth:
        model_over = {**(overrides or {}).get("model", {}), "depth": depth}
        stages = load_preset(name, {**(overrides or {}), "model": model_over})
    return stages, line


def stages_from_record(record: dict, overrides: dict | None = None) -> list[Stage]:
    """The stages recorded in a run's ``preset.json`` (:func:`read_record`), with
    ``overrides`` on top."""
    return [Stage(s["name"], config_from_dict(_merge({k: s[k] for k in ("model", "train")},
                                                     overrides), f"{PRESET_FILE} {s['name']}"))
            for s in record["stages"]]


def read_record(out) -> dict | None:
    """The ``preset.json`` of a preset run in ``out`` (None when ``out`` holds none)."""
    path = Path(out) / PRESET_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        raise ValueError(f"{path}: not a readable preset record (JSON)") from None


def _record(out: Path, preset: str, stages: list[Stage]) -> None:
    text = json.dumps({"preset": preset, "stages": [
        {"name": s.name, "about": s.config.about, **s.config.to_dict()} for s in stages]},
        indent=2)
    with atomic_path(out / PRESET_FILE) as tmp:
        tmp.write_text(text)


def stage_steps(out, stages: list[Stage]) -> list[int]:
    """Steps done in each stage of the run in ``out`` (0 where the stage has no checkpoint)."""
    from porevae.vae.trainer import CHECKPOINT, load_checkpoint

    done = []
    for s in stages:
        path = Path(out) / s.name / CHECKPOINT
        done.append(int(load_checkpoint(path)["step"]) if path.is_file() else 0)
    return done


def describe(stage: Stage, index: int, count: int) -> str:
    """The log line of a stage: what it optimises, the loss with its weights, the schedule."""
    from porevae.vae.models import VAE

    t = stage.config.train
    lr = f"lr {t.lr:g}" + (f" cosine to {t.lr * t.min_lr_ratio:g}" if t.scheduler == "cosine"
                           else "")
    model = VAE.from_config(stage.config.model)
    return (f"stage {index}/{count} {stage.name}: {t.steps} steps of {t.batch_size} crops "
            f"{'x'.join(map(str, stage.config.model.shape))}, {lr}; optimises "
            f"{stage.config.about or 'the loss below'}: {model.loss_formula()}")


def train_stages(stages: list[Stage], data, out, *, preset: str = "custom", resume=False,
                 overwrite=False, init: dict | None = None, data_info: dict | None = None,
                 callbacks=(), log=write) -> Path | None:
    """Run ``stages`` in order into the folder ``out``; returns ``out/checkpoint.pt`` (None
    when a callback stopped a stage early: ``resume=True`` continues it).

    data : what :class:`~porevae.vae.data.CropSampler` takes (arrays or paths); each stage
        draws its own crops of its own shape with its own seed.
    resume : continue where the run stopped: finished stages are kept, the stage that was
        interrupted resumes from its checkpoint (bit for bit), later stages start afresh.
    overwrite : run every stage again in a folder that holds a run.
    init : weights for stage 1 (:func:`~porevae.vae.trainer.init_checkpoint`); later stages
        start from the stage before.
    data_info : keys added to each checkpoint's ``data`` record (e.g. the segmentation).
    callbacks : passed to each stage's :class:`~porevae.vae.trainer.Trainer`.
    log : called with one line per stage (:func:`describe`) and one when a stage is skipped.
    """
    from porevae.vae.data import CropSampler
    from porevae.vae.models import build_model
    from porevae.vae.trainer import (
        CHECKPOINT,
        Trainer,
        apply_weights,
        export_model,
        init_checkpoint,
    )

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if not resume or read_record(out) is None:
        _record(out, preset, stages)
    done = stage_steps(out, stages) if resume else [0] * len(stages)
    weights = init
    for k, stage in enumerate(stages, 1):
        cfg = stage.config
        folder = out / stage.name
        if resume and done[k - 1] >= cfg.train.steps:
            log(f"stage {k}/{len(stages)} {stage.name}: done ({done[k - 1]} steps), kept")
        else:
            log(describe(stage, k, len(stages)))
            model = build_model(cfg.model, seed=cfg.train.seed)
            if weights is not None:
                apply_weights(model, weights)
            sampler = CropSampler(data, cfg.model.ndim, cfg.model.shape,
                                  augment=cfg.train.augment, seed=cfg.train.seed,
                                  binary=cfg.model.likelihood == "bernoulli")
            trainer = Trainer(model, sampler, cfg.train, out_dir=folder, callbacks=callbacks,
                              label=f"stage {k}/{len(stages)} {stage.name}")
            trainer.data_info.update(data_info or {})
            again = resume and done[k - 1] > 0
            trainer.fit(resume=again, overwrite=not again)
            if trainer.step < cfg.train.steps:  # a callback stopped it: resume later
                return None
        weights = init_checkpoint(folder / CHECKPOINT, cfg.model)
    final = out / CHECKPOINT
    export_model(out / stages[-1].name / CHECKPOINT, final,
                 meta={"preset": preset, "stages": [s.name for s in stages]})
    return final
