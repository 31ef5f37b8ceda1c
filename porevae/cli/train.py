"""``porevae train``: a VAE / beta-VAE / Fisher VAE on binary media or continuous fields.

Every model / training flag is generated from the fields of
:class:`~porevae.vae.ModelConfig` and :class:`~porevae.vae.TrainConfig`: its help is the field's
docstring, its choices the config's own constants, so the command line cannot drift from the API.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

# fields that are not flags: ndim is inferred from the data; betas is TOML-only; progress and
# augment get --x/--no-x flags of their own; batch_size / seed are shared vocabulary
_NOT_FLAGS = {"ndim", "betas", "progress", "augment"}


def _choices():
    from porevae.vae import config as c

    return {"kind": c.KINDS, "likelihood": c.LIKELIHOODS, "fisher": c.FISHER_FORMS,
            "scheduler": c.SCHEDULERS, "amp": c.AMP_MODES, "channels_last": c.TRISTATE,
            "latent_backend": c.LATENT_BACKENDS, "s2_cut": c.S2_CUTS}


def _add_config_flags(group, cls, choices) -> list:
    from porevae.cli import dataclass_help

    names = []
    docs = dataclass_help(cls, defaults=False)
    for f in dataclasses.fields(cls):
        if f.name in _NOT_FLAGS:
            continue
        typ = {"int": int, "float": float, "str": str}.get(
            f.type if isinstance(f.type, str) else f.type.__name__, str)
        kwargs = {"dest": f.name, "default": None, "help": docs.get(f.name, "")}
        if f.name in ("size", "s2_size"):
            kwargs.update(type=int, nargs="+", metavar="N")
        else:
            kwargs["type"] = typ
        if f.name in choices:
            kwargs["choices"] = choices[f.name]
        group.add_argument("--" + f.name.replace("_", "-"), **kwargs)
        names.append(f.name)
    return names



def register(subparsers) -> None:
    from porevae.vae import ModelConfig, TrainConfig

    p = subparsers.add_parser(
        "train", help="train a VAE / beta-VAE / Fisher VAE on random crops of a volume",
        description="Train a fully convolutional VAE on random crops (with the 8/48 "
                    "symmetries) of binary media (1 = pore) or continuous fields. The number of "
                    "spatial axes comes from the data (2 axes: an image; 3: a volume; 4: a stack "
                    "of volumes; a stack that porevae wrote, e.g. by sample, is read as its "
                    "images). Configuration: a TOML file with [model] and [train] tables "
                    "(keys = porevae.vae.ModelConfig / TrainConfig fields) and/or the flags "
                    "below, which win; each --kind starts from its class's defaults (FisherVAE: "
                    "gamma 0.1; BetaVAE: beta 4). Writes checkpoint.pt (with a SHA-256 of the "
                    "weights), log.csv and config.json to --out. Under torchrun it trains "
                    "data-parallel.")
    p.add_argument("data", nargs="+", help="volume file(s): .npy, .raw (+ .json sidecar), "
                   ".h5/.hdf5, .tif/.tiff")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--config", help="TOML file with [model] and [train] tables")
    p.add_argument("--dataset", help="HDF5 dataset name (default: the reader's default)")
    run = p.add_mutually_exclusive_group()
    run.add_argument("--resume", action="store_true",
                     help="continue from OUT/checkpoint.pt (bit for bit)")
    run.add_argument("--overwrite", action="store_true",
                     help="start again in a folder that holds a run (replaces it)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random cube / square symmetry per crop (default on)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="tqdm bar (default on)")
    choices = _choices()
    model_flags = _add_config_flags(p.add_argument_group("model (ModelConfig)"), ModelConfig,
                                    choices)
    train_flags = _add_config_flags(p.add_argument_group("training (TrainConfig)"),
                                    TrainConfig, choices)
    p.set_defaults(func=run_train, model_flags=model_flags,
                   train_flags=train_flags + ["augment", "progress"])


def build_config(args, ndim: int):
    """The Config of ``porevae train``, each layer overriding the one before: the kind's class
    defaults (:data:`porevae.vae.KIND_DEFAULTS`), ``ndim`` of the data, the TOML file, the
    flags."""
    from porevae.vae import KIND_DEFAULTS
    from porevae.vae.config import config_from_dict, read_toml

    model = {k: getattr(args, k) for k in args.model_flags if getattr(args, k) is not None}
    for key in ("size", "s2_size"):
        if key in model:
            model[key] = model[key][0] if len(model[key]) == 1 else list(model[key])
    train = {k: getattr(args, k) for k in args.train_flags if getattr(args, k) is not None}
    toml = read_toml(args.config) if args.config else {}
    extra = sorted(set(toml) - {"model", "train"})
    if extra:
        raise ValueError(f"unknown table(s) {extra} in {args.config}; allowed: ['model', 'train']")
    kind = model.get("kind", toml.get("model", {}).get("kind", "vae"))
    if kind not in KIND_DEFAULTS:
        raise ValueError(f"kind must be one of {sorted(KIND_DEFAULTS)}, got {kind!r}")
    data = {"model": {**KIND_DEFAULTS[kind], "ndim": ndim, **toml.get("model", {}), **model,
                      "kind": kind},
            "train": {**toml.get("train", {}), **train}}
    return config_from_dict(data, args.config or "flags")


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


def run_train(args) -> int:
    import torch

    from porevae.vae import CropSampler, Trainer, build_model
    from porevae.vae.trainer import init_distributed, resolve_device

    arrays = _read_data(args)
    cfg = build_config(args, _infer_ndim(arrays, args.data))
    out = Path(args.out)
    device = resolve_device(cfg.train.device)
    init_distributed(device)
    sampler = CropSampler(arrays, cfg.model.ndim, cfg.model.shape, augment=cfg.train.augment,
                          seed=cfg.train.seed, binary=cfg.model.likelihood == "bernoulli")
    model = build_model(cfg.model, seed=cfg.train.seed)
    trainer = Trainer(model, sampler, cfg.train, out_dir=out)
    trainer.check_out_dir(args.resume, args.overwrite)
    trainer.save_config()
    if trainer.rank == 0:
        print(f"{cfg.model.kind} model, latent {cfg.model.latent_channels} x "
              f"{'x'.join(str(s // cfg.model.factor) for s in cfg.model.shape)} per crop; "
              f"{model.loss_formula()} (recon and KL are sums over one sample's voxels / latent "
              f"elements, F a mean over latent elements, all averaged over the batch)")
    if args.resume and (out / "checkpoint.pt").is_file() and trainer.rank == 0:
        from porevae.vae.trainer import load_checkpoint

        step = load_checkpoint(out / "checkpoint.pt")["step"]
        print(f"resuming from step {step} of {cfg.train.steps} ({out / 'checkpoint.pt'})")
    history = trainer.fit(resume=args.resume, overwrite=args.overwrite)
    if trainer.rank == 0:
        last = history[-1] if history else None
        msg = (f"step {last['step']}: total {last['total']:.5g} = recon {last['recon']:.5g} + "
               f"{last['beta_t']:g} x kl {last['kl']:.5g}"
               + (f" + {cfg.model.gamma:g} x |fisher {last['fisher']:.4g} - "
                  f"{cfg.model.fisher_target:g}|" if cfg.model.gamma else
                  f" (fisher {last['fisher']:.4g}, not in the loss)")
               + (f" + {cfg.model.s2_weight:g} x s2 {last['s2']:.5g}"
                  if cfg.model.s2_weight else "")) if last else \
            f"nothing to do: already at step {trainer.step}"
        print(f"{msg}; checkpoint {out / 'checkpoint.pt'}, log {out / 'log.csv'}")
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return 0
