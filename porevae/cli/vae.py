"""``porevae train`` (a VAE on binary media or fields) and ``porevae generate`` (samples)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from porevae._files import atomic_path

GENERATE_SUFFIXES = (".npy", ".tif", ".tiff", ".raw")

# ModelConfig / TrainConfig field -> flag type; unset flags keep the TOML value or default
_MODEL_FLAGS = {"kind": str, "ndim": int, "size": int, "depth": int, "channels": int,
                "max_channels": int, "latent_dim": int, "likelihood": str, "norm": str,
                "upsample": str, "beta": float, "gamma": float, "fisher_target": float,
                "fisher": str, "warmup": int}
_TRAIN_FLAGS = {"steps": int, "batch_size": int, "lr": float, "weight_decay": float,
                "scheduler": str, "seed": int, "checkpoint_every": int, "log_every": int,
                "amp": str, "channels_last": str, "device": str}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a VAE / beta-VAE / Fisher VAE on random crops of a volume",
        description="Train a VAE on random crops (with the 8/48 symmetries) of binary media "
                    "(1 = pore) or continuous fields. Configuration: a TOML file with [model] "
                    "and [train] tables (keys = porevae.vae.ModelConfig / TrainConfig fields) "
                    "and/or the flags below, which win. Writes checkpoint.pt, log.csv and "
                    "config.json to --out. Under torchrun it trains data-parallel.")
    p.add_argument("data", nargs="+", help="volume file(s): .npy, .h5/.hdf5, .tif/.tiff")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--config", help="TOML file with [model] and [train] tables")
    p.add_argument("--key", help="HDF5 dataset name (default: the first dataset)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.pt when it exists (bit for bit)")
    p.add_argument("--no-augment", dest="augment", action="store_false", default=None,
                   help="no symmetry augmentation")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None)
    for name, typ in {**_MODEL_FLAGS, **_TRAIN_FLAGS}.items():
        p.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, default=None)
    p.set_defaults(func=run_train)

    g = subparsers.add_parser(
        "generate", help="draw samples from a trained VAE checkpoint",
        description="Decode z ~ N(0, I) (seeded) with a trained model. Binary (Bernoulli) "
                    "models write uint8 0/1 (--binarize mean: each sample cut so that its "
                    "porosity is its mean pore probability; threshold: p >= 0.5; sample: a "
                    "Bernoulli draw; none: float probabilities); Gaussian "
                    "models write float32. Output shape (n, *size); .raw is C order, "
                    "little-endian, with a .json sidecar giving shape and dtype.")
    g.add_argument("checkpoint", help="checkpoint.pt or the training folder")
    g.add_argument("--n", type=int, default=1, help="number of samples (default 1)")
    g.add_argument("--out", required=True, help="output file: .npy, .tif/.tiff or .raw")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--binarize", choices=("mean", "threshold", "sample", "none"), default="mean")
    g.add_argument("--batch", type=int, default=16, help="samples decoded at a time")
    g.add_argument("--device", default="cpu")
    g.set_defaults(func=run_generate)


def _overrides(args) -> dict:
    model = {k: getattr(args, k) for k in _MODEL_FLAGS if getattr(args, k) is not None}
    train = {k: getattr(args, k) for k in (*_TRAIN_FLAGS, "augment", "progress")
             if getattr(args, k) is not None}
    return {"model": model, "train": train}


def run_train(args) -> int:
    import torch

    from porevae.vae import CropSampler, Trainer, build_model
    from porevae.vae.config import config_from_dict, load_config
    from porevae.vae.trainer import init_distributed, resolve_device

    over = _overrides(args)
    cfg = load_config(args.config, over) if args.config else config_from_dict(over, "flags")
    out = Path(args.out)
    device = resolve_device(cfg.train.device)
    init_distributed(device)
    sampler = CropSampler([Path(p) for p in args.data], cfg.model.ndim, cfg.model.shape,
                          augment=cfg.train.augment, seed=cfg.train.seed,
                          binary=cfg.model.likelihood == "bernoulli", key=args.key)
    model = build_model(cfg.model, seed=cfg.train.seed)
    trainer = Trainer(model, sampler, cfg.train, out_dir=out)
    if trainer.rank == 0:
        with atomic_path(out / "config.json") as tmp:
            tmp.write_text(json.dumps(cfg.to_dict(), indent=2))
        print(f"{cfg.model.kind} model, loss = mean_n recon_n + beta_t mean_n KL_n"
              + (f" + {cfg.model.gamma:g} |mean_n F_n - {cfg.model.fisher_target:g}|"
                 if cfg.model.gamma else "")
              + " (recon and KL are sums over one sample's voxels / latent dimensions, "
                "averaged over the batch)")
    history = trainer.fit(resume=args.resume)
    if trainer.rank == 0:
        last = history[-1] if history else None
        msg = (f"step {last['step']}: total {last['total']:.5g} (recon {last['recon']:.5g}, "
               f"kl {last['kl']:.5g}, fisher {last['fisher']:.4g})") if last else \
            f"nothing to do: already at step {trainer.step}"
        print(f"{msg}; checkpoint {out / 'checkpoint.pt'}, log {out / 'log.csv'}")
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return 0


def run_generate(args) -> int:
    import tifffile
    import torch

    from porevae.vae import cut_probabilities, load_model

    out = Path(args.out)
    if out.suffix.lower() not in GENERATE_SUFFIXES:
        raise ValueError(f"--out must end in one of {list(GENERATE_SUFFIXES)}, got {out.name!r}")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"--out folder {str(out.parent)!r} does not exist")
    if args.n < 1 or args.batch < 1:
        raise ValueError(f"--n and --batch must be >= 1, got {args.n} and {args.batch}")
    model = load_model(args.checkpoint, device=args.device)
    binary = model.config.likelihood == "bernoulli" and args.binarize != "none"
    gen = torch.Generator().manual_seed(args.seed)
    z = torch.randn(args.n, model.config.latent_dim, generator=gen)
    chunks = []
    with torch.no_grad():
        for i in range(0, args.n, args.batch):
            mean = model.decode(z[i:i + args.batch].to(model.device)).cpu()[:, 0]
            if not binary:
                chunks.append(mean)
            elif args.binarize == "sample":
                chunks.append(torch.bernoulli(mean, generator=gen).to(torch.uint8))
            else:
                rule = "half" if args.binarize == "threshold" else "mean"
                chunks.append(cut_probabilities(mean, rule).to(torch.uint8))
    samples = torch.cat(chunks).numpy()
    suffix = out.suffix.lower()
    with atomic_path(out) as tmp:
        if suffix == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, samples)
        elif suffix in (".tif", ".tiff"):
            tifffile.imwrite(tmp, samples.reshape(-1, *samples.shape[-2:]),
                             photometric="minisblack")
        else:
            samples.astype(samples.dtype.newbyteorder("<")).tofile(tmp)
    if suffix == ".raw":
        meta = {"shape": list(samples.shape), "dtype": str(samples.dtype), "order": "C",
                "byte_order": "little", "seed": args.seed,
                "model": dataclasses.asdict(model.config)}
        with atomic_path(out.with_name(out.name + ".json")) as tmp:
            tmp.write_text(json.dumps(meta, indent=2))
    what = f"binary (1 = pore), porosity {samples.mean():.4f}" if binary else "float32"
    print(f"wrote {args.n} samples of shape {samples.shape[1:]} ({what}) to {out}")
    return 0
