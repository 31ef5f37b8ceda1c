"""``porevae train``: a VAE / beta-VAE / Fisher VAE on binary media or continuous fields, one
configuration or a preset of stages (``--preset rock``: the shipped models' recipe).

Every model / training flag is generated from the fields of
:class:`~porevae.vae.ModelConfig` and :class:`~porevae.vae.TrainConfig`: its help is the field's
docstring, its choices the config's own constants, ``--kind``'s choices and per-kind defaults
the registry's (:data:`porevae.vae.config.CONFIGS`), so the command line cannot drift from the
API.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from porevae.cli import add_output

# fields that are not flags: ndim is inferred from the data; betas is TOML-only; progress and
# augment get --x/--no-x flags of their own
_NOT_FLAGS = {"ndim", "betas", "progress", "augment"}
# training fields that a resumed single run may change (they do not change what is learned,
# except steps, which extends or shortens the run); a preset run keeps its steps too
RESUMABLE = ("steps", "progress", "device", "amp", "checkpoint_every", "log_every",
             "channels_last")
PORE_VALUES = ("0", "1", "255", "dark", "bright")


def _choices():
    from porevae.vae import config as c

    return {"kind": c.KINDS, "likelihood": c.LIKELIHOODS, "fisher": c.FISHER_FORMS,
            "scheduler": c.SCHEDULERS, "amp": c.AMP_MODES, "channels_last": c.TRISTATE,
            "latent_backend": c.LATENT_BACKENDS, "s2_cut": c.S2_CUTS}


def _kind_help() -> str:
    """``--kind``'s help from the registry: each kind's config class and its own defaults."""
    from porevae.vae.config import CONFIGS, ModelConfig

    base = {f.name: f.default for f in dataclasses.fields(ModelConfig)}
    parts = []
    for kind, cls in CONFIGS.items():
        own = [f"{f.name} {f.default:g}" for f in dataclasses.fields(cls)
               if f.name != "kind" and f.default != base[f.name]]
        parts.append(f"{kind} ({cls.__name__}{': ' + ', '.join(own) if own else ''})")
    return ("loss family; each kind starts from its config class's defaults: "
            + "; ".join(parts) + " (default vae)")


def _kind_defaults() -> dict:
    """``{field: {kind: default}}`` for the fields whose default depends on the kind."""
    from porevae.vae.config import CONFIGS

    defaults = {k: {f.name: f.default for f in dataclasses.fields(c)} for k, c in CONFIGS.items()}
    names = next(iter(defaults.values()))
    return {n: {k: d[n] for k, d in defaults.items()} for n in names if n != "kind" and
            len({d[n] for d in defaults.values()}) > 1}


def _flag_type(f):
    name = f.type if isinstance(f.type, str) else f.type.__name__
    return {"int": int, "float": float, "str": str}.get(name.split("|")[0].strip(), str)


def _add_config_flags(group, cls, choices) -> list:
    from porevae.cli import dataclass_help

    names = []
    docs = dataclass_help(cls, defaults=True)
    bare = dataclass_help(cls, defaults=False)
    for name, per_kind in _kind_defaults().items() if "kind" in docs else ():
        docs[name] = bare[name] + " (default per kind: " + ", ".join(
            f"{k} {v:g}" for k, v in per_kind.items()) + ")"
    if "kind" in docs:
        docs["kind"] = _kind_help()
    for f in dataclasses.fields(cls):
        if f.name in _NOT_FLAGS:
            continue
        kwargs = {"dest": f.name, "default": None, "help": docs.get(f.name, "")}
        if f.name in ("size", "s2_size"):
            kwargs.update(type=int, nargs="+", metavar="N")
        else:
            kwargs["type"] = _flag_type(f)
        if f.name in choices:
            kwargs["choices"] = choices[f.name]
        group.add_argument("--" + f.name.replace("_", "-"), **kwargs)
        names.append(f.name)
    return names


def register(subparsers) -> None:
    from porevae.vae.config import ModelConfig, TrainConfig
    from porevae.vae.presets import preset_names

    p = subparsers.add_parser(
        "train", help="train a VAE / beta-VAE / Fisher VAE on random crops of a volume",
        description="Train a fully convolutional VAE on random crops (with the 8/48 "
                    "symmetries) of binary media (pore = 1 after --pore-value) or continuous "
                    "fields (--likelihood gaussian: standardised by the data's mean and std, "
                    "stored with the model). The number of spatial axes comes from the data (2 "
                    "axes: an image; 3: a volume; 4: a stack of volumes; a stack that porevae "
                    "wrote is read as its images). Configuration: --preset NAME (a recipe of "
                    "stages shipped in porevae/vae/presets; 'rock' is the shipped Berea "
                    "model's: 2000 steps of 48^3 crops, then 400 + 300 of 64^3, about 18 "
                    "minutes on 2 CPU cores; 'flow' is the two permeability stages after it, "
                    "--preset flow --init RUN/checkpoint.pt, about 42 minutes; a preset sizes "
                    "the latent cell to the data's mean pore chord unless --depth or --init), "
                    "or a TOML file with [model] and [train] tables (keys = "
                    "porevae.vae.ModelConfig / TrainConfig fields; a preset's stage file is one), "
                    "and the flags below, which win (with --preset: in every stage). Writes "
                    "checkpoint.pt (with a SHA-256 of the weights and the training data's "
                    "porosity), log.csv and config.json to --out (a preset: one folder per stage, "
                    "the final OUT/checkpoint.pt). --resume continues a run with its own settings. "
                    "Under torchrun it trains data-parallel.")
    p.add_argument("data", nargs="+", help="volume file(s): .npy, .raw (+ .json sidecar), "
                   ".h5/.hdf5, .tif/.tiff")
    add_output(p, "output folder")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out (bit for bit) with its own configuration; "
                        "only --steps and the flags that do not change what is learned "
                        f"({', '.join('--' + k.replace('_', '-') for k in RESUMABLE[1:])}) may "
                        "differ from the run's")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--config", help="TOML file with [model] and [train] tables")
    source.add_argument("--preset", choices=preset_names(),
                        help="run every stage of this recipe in turn, each from the weights of "
                             "the one before, resumable across stages")
    p.add_argument("--init", metavar="MODEL",
                   help="start from these weights: a checkpoint, a run folder or a shipped "
                        "model's name (berea, spheres); same architecture, any loss")
    p.add_argument("--pore-value", choices=PORE_VALUES,
                   help="which voxels are pore (binary models): 0, 1 or 255 for two-valued "
                        "data; dark / bright for grey levels (cut at Otsu's threshold, printed). "
                        "Default: 0/1 data have pore = 1; 0/255 and grey data must say")
    p.add_argument("--dataset", help="HDF5 dataset name (default: the reader's default)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random cube / square symmetry per crop (default on)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar per stage on stderr (default on)")
    choices = _choices()
    model_flags = _add_config_flags(p.add_argument_group("model (ModelConfig)"), ModelConfig,
                                    choices)
    train_flags = _add_config_flags(p.add_argument_group("training (TrainConfig)"),
                                    TrainConfig, choices)
    p.set_defaults(func=run_train, model_flags=model_flags,
                   train_flags=train_flags + ["augment", "progress"])


def _overrides(args) -> dict:
    """``{"model": {...}, "train": {...}}``: the TOML file's tables under the flags given."""
    from porevae.vae.config import read_toml

    model = {k: getattr(args, k) for k in args.model_flags if getattr(args, k) is not None}
    for key in ("size", "s2_size"):
        if key in model:
            model[key] = model[key][0] if len(model[key]) == 1 else list(model[key])
    train = {k: getattr(args, k) for k in args.train_flags if getattr(args, k) is not None}
    toml = read_toml(args.config) if getattr(args, "config", None) else {}
    extra = sorted(set(toml) - {"model", "train", "stage"})
    if extra:
        raise ValueError(f"unknown table(s) {extra} in {args.config}; allowed: ['model', "
                         f"'stage', 'train']")
    return {"model": {**toml.get("model", {}), **model},
            "train": {**toml.get("train", {}), **train}, "stage": toml.get("stage", {})}


def build_config(args, ndim: int):
    """The Config of a single ``porevae train`` run: the kind's config class defaults
    (:data:`porevae.vae.config.CONFIGS`), ``ndim`` of the data, the TOML file, the flags."""
    from porevae.vae.config import config_from_dict

    over = _overrides(args)
    over["model"] = {"ndim": ndim, **over["model"]}
    return config_from_dict(over, args.config or "flags")


def _read_data(args) -> list:
    """The training arrays: a file that porevae wrote as a stack (``sample``, ``generate``)
    gives its images, any other file its array as stored."""
    from porevae.media.io import HDF5_SUFFIXES, read_volume, stored_stack

    arrays = []
    for p in args.data:
        kwargs = {"dataset": args.dataset} if args.dataset and Path(p).suffix.lower() in \
            HDF5_SUFFIXES else {}
        arr = read_volume(p, **kwargs)
        arrays.extend(list(arr) if stored_stack(p, kwargs.get("dataset")) else [arr])
    return arrays


def _infer_ndim(arrays, paths) -> int:
    dims = {a.ndim for a in arrays}
    if not dims <= {2, 3, 4} or len({min(d, 3) for d in dims}) > 1:
        raise ValueError(f"data must be images (2 axes), volumes (3) or stacks of volumes (4), "
                         f"all alike; got {[a.shape for a in arrays]} from {list(paths)}")
    return 2 if dims == {2} else 3


def segment_data(arrays, paths, pore_value, likelihood: str):
    """Binary models: each array as pore = True by :func:`porevae.media.io.segment` (the one
    rule of ``--pore-value``); returns ``(arrays, descriptions)``, one line per file. Gaussian
    models take the values as they are and refuse ``--pore-value``."""
    from porevae.media.io import segment

    if likelihood != "bernoulli":
        if pore_value is not None:
            raise ValueError("--pore-value segments binary data; it does not apply to "
                             "--likelihood gaussian (continuous values are used as they are)")
        return arrays, []
    names = list(paths) if len(paths) == len(arrays) else [paths[0]] * len(arrays)
    out, said = [], {}
    for arr, name in zip(arrays, names):
        pore, text = segment(arr, pore_value, name=f"volume in {name}")
        out.append(pore)
        said.setdefault(name, text)
    return out, list(said.values())


def _norm(key: str, value, ndim: int):
    if key in ("size", "s2_size") and isinstance(value, int):
        return [value] * ndim
    return list(value) if isinstance(value, tuple) else value


def _contradictions(recorded: dict, over: dict, free) -> list:
    """``--flag value (the run's: value)`` for each given setting that differs from the run."""
    ndim = recorded["model"]["ndim"]
    bad = []
    for table in ("model", "train"):
        for key, value in over.get(table, {}).items():
            if key in free:
                continue
            theirs = recorded[table].get(key)
            if _norm(key, value, ndim) != _norm(key, theirs, ndim):
                bad.append(f"--{key.replace('_', '-')} {value!r} (the run's: {theirs!r})")
    return bad


def _recorded_run(out: Path):
    """``("preset", record)`` or ``("single", {"model": ..., "train": ...})`` of the run in
    ``out``: a preset's ``preset.json``, else the checkpoint's configurations, else
    ``config.json`` (a run stopped before its first checkpoint)."""
    import json

    from porevae.vae.presets import read_record
    from porevae.vae.trainer import CHECKPOINT, CONFIG, load_checkpoint

    record = read_record(out)
    if record is not None:
        return "preset", record
    if (out / CHECKPOINT).is_file():
        ck = load_checkpoint(out / CHECKPOINT)
        return "single", {"model": ck["model_config"], "train": ck["train_config"]}
    if (out / CONFIG).is_file():
        return "single", json.loads((out / CONFIG).read_text())
    raise ValueError(f"--resume: {str(out)!r} holds no run to resume (no {CHECKPOINT}, "
                     f"{CONFIG} or preset.json)")


def _plan_resume(args, over: dict, out: Path):
    """Check a ``--resume`` before anything is read or written: the run's own configuration,
    no flag that contradicts it (one line naming them). Returns ``(preset or None, stages or
    Config)``."""
    from porevae.vae.config import config_from_dict
    from porevae.vae.presets import stages_from_record

    if args.init:
        raise ValueError("--init starts a new run from other weights; it does not go with "
                         "--resume (the run continues from its own checkpoint)")
    kind, record = _recorded_run(out)
    if kind == "preset":
        if args.preset not in (None, record["preset"]):
            raise ValueError(f"--resume: the run in {str(out)!r} is preset "
                             f"{record['preset']!r}, not {args.preset!r}")
        free = RESUMABLE[1:]
        bad = sorted({b for s in record["stages"] for b in _contradictions(s, over, free)})
    else:
        if args.preset:
            raise ValueError(f"--resume: the run in {str(out)!r} is a single run, not preset "
                             f"{args.preset!r}")
        bad = _contradictions(record, over, RESUMABLE)
    if bad:
        raise ValueError(f"--resume continues the run in {str(out)!r} with its own settings; "
                         f"these contradict it: {', '.join(bad)} (drop them, or start again "
                         f"with --overwrite)")
    keep = {t: {k: v for k, v in over.get(t, {}).items() if k in RESUMABLE}
            for t in ("model", "train")}
    if kind == "preset":
        return record["preset"], stages_from_record(record, keep)
    merged = {t: {**record[t], **keep[t]} for t in ("model", "train")}
    return None, config_from_dict(merged, f"the run in {out}")


def _check_new_out(args, out: Path) -> None:
    from porevae.cli import check_out

    if out.exists() and not args.overwrite:
        raise FileExistsError(f"--out {str(out)!r}: the folder exists; continue its run with "
                              f"--resume or replace it with --overwrite")
    check_out(args, inputs=args.data, folder=True)


def run_train(args) -> int:
    import torch

    from porevae.vae import Trainer, build_model
    from porevae.vae.config import config_from_dict
    from porevae.vae.data import CropSampler
    from porevae.vae.presets import STARTS_FROM, load_preset, load_preset_for, train_stages
    from porevae.vae.trainer import (
        apply_weights,
        init_checkpoint,
        init_distributed,
        load_checkpoint,
        resolve_device,
    )

    out = Path(args.out)
    if args.resume and args.overwrite:
        raise ValueError("--resume continues the run in --out and --overwrite replaces it: "
                         "give one of them")
    over = _overrides(args)
    if args.resume:
        preset, plan = _plan_resume(args, over, out)
    else:
        _check_new_out(args, out)
        preset = args.preset
        if preset in STARTS_FROM and not args.init:
            raise ValueError(f"--preset {preset} continues a model of --preset "
                             f"{STARTS_FROM[preset]}: give --init (that run's checkpoint, or "
                             f"berea)")
    arrays = _read_data(args)
    ndim = _infer_ndim(arrays, args.data)
    if not args.resume:
        over["model"] = {"ndim": ndim, **over["model"]}
        plan = load_preset(preset, over) if preset else \
            config_from_dict(over, args.config or "flags")
    first = plan[0].config if preset else plan
    if first.model.ndim != ndim:
        raise ValueError(f"the data have {ndim} spatial axes, the run in {str(out)!r} "
                         f"{first.model.ndim}")
    arrays, said = segment_data(arrays, args.data, args.pore_value, first.model.likelihood)
    if preset and not args.resume and not args.init:  # --init fixes the architecture
        plan, line = load_preset_for(preset, arrays, over)
        said += [line] if line else []
        first = plan[0].config
    weights = init_checkpoint(args.init, first.model) if args.init else None
    device = resolve_device(first.train.device)
    init_distributed(device)
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    info = {"segmentation": said, "pore_value": args.pore_value}

    def say(line):
        if rank == 0:
            print(line, flush=True)

    for line in said:
        say(line)
    if args.init:
        say(f"initial weights: {args.init}")
    if preset:
        final = train_stages(plan, arrays, out, preset=preset, resume=args.resume,
                             overwrite=args.overwrite, init=weights, data_info=info, log=say)
        say(f"preset {preset}: {len(plan)} stages done; model {final} (porevae generate {out})")
        return 0
    cfg = plan
    sampler = CropSampler(arrays, cfg.model.ndim, cfg.model.shape, augment=cfg.train.augment,
                          seed=cfg.train.seed, binary=cfg.model.likelihood == "bernoulli")
    model = build_model(cfg.model, seed=cfg.train.seed)
    if weights is not None:
        apply_weights(model, weights)
    trainer = Trainer(model, sampler, cfg.train, out_dir=out)
    trainer.data_info.update(info)
    say(describe_single(cfg, model))
    if args.resume and (out / "checkpoint.pt").is_file():
        step = load_checkpoint(out / "checkpoint.pt")["step"]
        say(f"resuming from step {step} of {cfg.train.steps} ({out / 'checkpoint.pt'})")
    history = trainer.fit(resume=args.resume, overwrite=args.overwrite)
    last = history[-1] if history else None
    msg = (f"step {last['step']}: total {last['total']:.5g} = recon {last['recon']:.5g} + "
           f"{last['beta_t']:g} x kl {last['kl']:.5g}"
           + (f" + {cfg.model.gamma:g} x |fisher {last['fisher']:.4g} - "
              f"{cfg.model.fisher_target:g}|" if cfg.model.gamma else
              f" (fisher {last['fisher']:.4g}, not in the loss)")
           + (f" + {cfg.model.s2_weight:g} x s2 {last['s2']:.5g}"
              if cfg.model.s2_weight else "")) if last else \
        f"nothing to do: already at step {trainer.step}"
    say(f"{msg}; checkpoint {out / 'checkpoint.pt'}, log {out / 'log.csv'}")
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return 0


def describe_single(cfg, model) -> str:
    """The header line of a single run: the kind, the latent map and the loss it trains."""
    m = cfg.model
    data = ("" if m.likelihood == "bernoulli" else
            f"; data standardised (mean {float(model.data_shift):.4g}, std "
            f"{float(model.data_scale):.4g}), observation noise "
            + ("the batch's RMS residual" if m.obs_std is None else f"{m.obs_std:g}"))
    return (f"{m.kind} model, latent {m.latent_channels} x "
            f"{'x'.join(str(s // m.factor) for s in m.shape)} per crop; {model.loss_formula()} "
            f"(recon and KL are sums over one sample's voxels / latent elements, F a mean over "
            f"latent elements, all averaged over the batch){data}")
