"""Training loop: AdamW, optional cosine schedule, mixed precision on CUDA, a progress bar
(:func:`porevae._progress.progress`), CSV log, atomic checkpoints, bit-for-bit resume and
torchrun-compatible data parallelism.

Files in ``out_dir``:

- ``checkpoint.pt``: model, optimiser, scheduler, grad scaler, data-sampler and latent-noise RNG
  states, the step, both configs and ``data`` (what the training data was, :data:`DATA_KEYS`:
  ``checkpoint["data"]["porosity"]`` is the binary data's porosity, the default cut of
  generation); written every ``checkpoint_every`` steps and at the end by rank 0, through a
  temporary file that is fsynced and moved into place with ``os.replace``, so a reader (or a
  resumed run after a kill) never sees a half-written checkpoint.
- ``config.json``: both configs, written when training starts (after a resume was accepted).
- ``log.csv``: one row per ``log_every`` steps: step, total, recon, kl, fisher, s2 (batch means
  over all processes; recon and KL are per-sample sums, see :mod:`porevae.vae.models`), beta_t,
  lr, seconds. On resume, rows after the checkpoint's step are dropped and the run continues.

Data parallelism: launch with ``torchrun --nproc-per-node K`` (the CLI calls
:func:`init_distributed`), or initialise ``torch.distributed`` yourself before building the
:class:`Trainer`. Every process draws the same *global* batch parameters and latent noise and
keeps its slice, and the Fisher batch mean is all-reduced with autograd, so K processes follow
the same trajectory as one process on the same global batch (up to float reduction order).
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from porevae._files import FileIntegrityError, atomic_path, digest_arrays
from porevae._progress import progress
from porevae.data import PRETRAINED, pretrained_path
from porevae.vae.config import ARCHITECTURE, ModelConfig, TrainConfig
from porevae.vae.data import CropSampler
from porevae.vae.generation import latent_map_cells
from porevae.vae.models import VAE

CHECKPOINT = "checkpoint.pt"
LOG = "log.csv"
CONFIG = "config.json"
LOG_FIELDS = ("step", "total", "recon", "kl", "fisher", "s2", "beta_t", "lr", "seconds")
FORMAT_VERSION = 2
#: ``checkpoint["data"]``: ``porosity`` (binary data: the fraction of pore voxels over all
#: training arrays; None for continuous data), ``mean`` / ``std`` (continuous data: the
#: standardisation, also the model's ``data_shift`` / ``data_scale``; None for binary data),
#: ``sha256`` (of the training arrays as the sampler holds them; a resume must use the same
#: data) and what the caller added (``Trainer.data_info``: e.g. the CLI's ``segmentation``).
DATA_KEYS = ("porosity", "mean", "std", "sha256")
#: Buffers computed from the training data, not taken from ``--init`` weights.
DATA_BUFFERS = ("s2_target", "data_shift", "data_scale", "flow_log_ratio")


def resolve_device(device: str = "auto") -> torch.device:
    """"auto" -> this process's CUDA device (``LOCAL_RANK``) when available, else the CPU."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but CUDA is not available")
        if dev.index is None:
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return dev


def init_distributed(device: torch.device) -> bool:
    """Initialise ``torch.distributed`` from torchrun's environment (``WORLD_SIZE`` > 1):
    NCCL for CUDA devices, gloo on the CPU. Returns True when running distributed."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return dist.is_initialized()
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return True


def weights_digest(state: dict) -> str:
    """SHA-256 over a model state dict (names, dtypes, shapes, bytes): stored in checkpoints."""
    return digest_arrays({k: v.detach().cpu().contiguous().numpy() for k, v in state.items()})


def load_checkpoint(path, map_location="cpu") -> dict:
    """The dict saved by :meth:`Trainer.save_checkpoint`, verified: a file that torch cannot
    read (truncated, garbage, another format), that is not a porevae checkpoint, or whose model
    weights do not match their stored SHA-256 raises :class:`~porevae._files.FileIntegrityError`
    naming the file."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- torch raises many types for bad files
        raise FileIntegrityError(f"{path}: not a readable porevae checkpoint (truncated, "
                                 f"corrupt or another format: {type(exc).__name__})") from None
    if not isinstance(state, dict) or not {"model", "model_config", "format_version"} <= set(
            state):
        raise FileIntegrityError(f"{path}: not a porevae checkpoint (no model / model_config)")
    if state["format_version"] != FORMAT_VERSION:
        raise FileIntegrityError(f"{path}: checkpoint format {state['format_version']} is not "
                                 f"{FORMAT_VERSION} (written by another porevae version)")
    if state.get("digest") != weights_digest(state["model"]):
        raise FileIntegrityError(f"{path}: the model weights do not match their stored SHA-256 "
                                 f"checksum; the file is corrupt")
    return state


def load_model(path, device="cpu") -> VAE:
    """Rebuild the trained model (eval mode; channels-last for 3-D models) from a checkpoint file
    or its folder (verified by :func:`load_checkpoint`)."""
    ck = load_checkpoint(path)
    try:
        model = VAE.from_config(ModelConfig(**ck["model_config"]))
        state = dict(ck["model"])
        if model.config.likelihood == "gaussian":
            # written before the data scaling existed: such a model works on the data's own
            # units, which are those of shift 0 and scale 1
            state.setdefault("data_shift", torch.zeros(()))
            state.setdefault("data_scale", torch.ones(()))
        model.load_state_dict(state)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise FileIntegrityError(f"{path}: the checkpoint does not match this porevae's models "
                                 f"({str(exc).splitlines()[0]})") from None
    model.data_info = dict(ck.get("data") or {})
    # channels-last 3-D activations decode a 128^3 Berea volume in 0.55 s instead of 0.92 s on
    # one CPU thread (bench/bench_generate.py); 2-D models keep the contiguous layout
    return model.to(resolve_device(device)).set_channels_last(model.config.ndim == 3).eval()


def export_model(checkpoint, path, meta: dict | None = None) -> Path:
    """Write a weights-only copy of a (verified) checkpoint to ``path``: format version, step,
    both configs, the model state and its SHA-256, the training ``data`` record (when the
    checkpoint has one) and ``meta`` (e.g. the training command and data checksum) -- what
    :func:`load_model` needs, without the optimiser state (a third of the size). It cannot be
    resumed."""
    state = load_checkpoint(checkpoint)
    out = {k: state[k] for k in ("format_version", "step", "model_config", "train_config",
                                 "model", "digest", "data") if k in state}
    out["meta"] = dict(meta or {})
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(out, tmp)
    load_checkpoint(path)  # read back and verified
    return path


def init_checkpoint(source, config: ModelConfig) -> dict:
    """The weights of ``--init SOURCE`` for a model of ``config``: SOURCE is a checkpoint file,
    a run folder or a shipped model's name (:data:`porevae.data.PRETRAINED`). Verified by
    :func:`load_checkpoint`; refused in one line (ValueError) unless the checkpoint's
    architecture (the :data:`~porevae.vae.config.ARCHITECTURE` fields) is ``config``'s. The
    crop size, the loss and its weights may differ. Returns the model state without the
    buffers computed from the data (:data:`DATA_BUFFERS`), for :func:`apply_weights`."""
    path = Path(source)
    if str(source) in PRETRAINED and not path.exists():
        path = pretrained_path(str(source))
    state = load_checkpoint(path)
    theirs = state["model_config"]
    diff = [f"{k} {theirs.get(k)!r} (this run: {getattr(config, k)!r})" for k in ARCHITECTURE
            if theirs.get(k) != getattr(config, k)]
    if diff:
        raise ValueError(f"--init {source}: another architecture: {', '.join(diff)}")
    return {k: v for k, v in state["model"].items() if k not in DATA_BUFFERS}


def apply_weights(model: VAE, weights: dict) -> VAE:
    """Load ``weights`` (from :func:`init_checkpoint`) into ``model``: every parameter, the
    data buffers left to the trainer (:data:`DATA_BUFFERS`)."""
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if unexpected or not set(missing) <= set(DATA_BUFFERS):
        raise ValueError(f"the initial weights do not fit the model (missing {missing}, "
                         f"unexpected {unexpected})")
    return model


class RunExistsError(ValueError):
    """The output folder already holds a run (a checkpoint or a log) and neither resume nor
    overwrite was asked for."""


class NonFiniteLossError(ValueError):
    """The training loss became NaN or infinite; the run stops without writing a checkpoint."""


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes whose gradient is the sum of the processes' upstream gradients, so
    that a loss term shared by all processes (|mean F - F*|) gets the single-process gradient
    after DDP averages the parameter gradients."""

    @staticmethod
    def forward(ctx, t):
        t = t.clone()
        dist.all_reduce(t)
        return t

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class Trainer:
    """Train a :class:`~porevae.vae.models.VAE` (or subclass) on random crops.

    Parameters
    ----------
    model : VAE
        Initialised by the caller (seed it with ``torch.manual_seed`` for reproducibility; under
        DDP rank 0's parameters are broadcast).
    data : CropSampler, array(s) or path(s)
        Anything else than a :class:`~porevae.vae.data.CropSampler` is wrapped in one with crops
        of the model's input shape, ``config.augment`` and ``config.seed``.
    config : TrainConfig, optional
        Defaults plus ``**overrides`` (field names of :class:`TrainConfig`).
    out_dir : path, optional
        Where checkpoints and the CSV log go; None = neither (in-memory history only).
    callbacks : sequence of callables ``f(trainer, step, terms) -> bool | None``
        Called after every step with the batch-mean terms (floats); returning True stops the
        run after a checkpoint (a graceful interruption).
    label : str
        The progress bar's description (e.g. a preset's stage).

    ``data_info`` (dict, :data:`DATA_KEYS`) describes the training data and is saved in the
    checkpoint as ``checkpoint["data"]``; a caller may add keys before :meth:`fit`. For a
    Gaussian model the trainer sets the model's standardisation from the data
    (:meth:`~porevae.vae.models.VAE.set_data_scaling`).
    """

    def __init__(self, model: VAE, data, config: TrainConfig | None = None, out_dir=None,
                 callbacks=(), label: str = "train", **overrides):
        if config is None:
            config = TrainConfig(**overrides)
        elif overrides:
            config = TrainConfig(**{**config.to_dict(), **overrides})
        self.config = cfg = config
        self.device = resolve_device(cfg.device)
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world_size = dist.get_world_size() if self.distributed else 1
        if cfg.batch_size % self.world_size:
            raise ValueError(f"batch_size must be divisible by the number of processes "
                             f"({self.world_size}), got {cfg.batch_size}")
        mc = model.config
        self.sampler = data if isinstance(data, CropSampler) else CropSampler(
            data, mc.ndim, mc.shape, augment=cfg.augment, seed=cfg.seed,
            binary=mc.likelihood == "bernoulli")
        if tuple(self.sampler.crop) != tuple(mc.shape):
            raise ValueError(f"sampler crop {self.sampler.crop} != model input shape {mc.shape}")
        cuda = self.device.type == "cuda"
        self.channels_last = cfg.channels_last == "on" or (
            cfg.channels_last == "auto" and (cuda or mc.ndim == 3))
        self.model = model.to(self.device).set_channels_last(self.channels_last)
        self.net = self.model
        if self.distributed:
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if cuda else None)
        self.amp_dtype = None
        if cuda and cfg.amp != "off":
            bf16 = cfg.amp == "bf16" or (cfg.amp == "auto" and torch.cuda.is_bf16_supported())
            self.amp_dtype = torch.bfloat16 if bf16 else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr,
                                           betas=cfg.betas, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.noise = torch.Generator(self.device).manual_seed(cfg.seed + 1)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        if self.out_dir is not None and self.rank == 0:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self.prior_batch = cfg.prior_batch or cfg.batch_size
        if self.prior_batch % self.world_size:
            raise ValueError(f"prior_batch must be divisible by the number of processes "
                             f"({self.world_size}), got {self.prior_batch}")
        items = self.sampler.items
        self.data_info = {"porosity": self.sampler.porosity, "mean": None, "std": None,
                          "sha256": digest_arrays({f"{i:06d}": np.asarray(a)
                                                   for i, a in enumerate(items)})}
        if mc.likelihood == "gaussian":
            self.data_info["mean"], self.data_info["std"] = self.model.set_data_scaling(items)
        if mc.s2_weight:  # after the scaling: a Gaussian model's target is standardised
            self.model.set_descriptor_targets(items)
        self.label = label
        self.callbacks = list(callbacks)
        self.step = 0
        self.history: list[dict] = []

    def _lr_factor(self, step: int) -> float:
        if self.config.scheduler == "none":
            return 1.0
        r, t = self.config.min_lr_ratio, min(step, self.config.steps) / self.config.steps
        return r + (1 - r) * 0.5 * (1 + math.cos(math.pi * t))

    # -- checkpoints --------------------------------------------------------------------------
    def state_dict(self) -> dict:
        model = self.model.state_dict()
        return {
            "format_version": FORMAT_VERSION,
            "step": self.step,
            "model_config": self.model.config.to_dict(),
            "train_config": self.config.to_dict(),
            "model": model,
            "digest": weights_digest(model),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "sampler": self.sampler.state_dict(),
            "noise": self.noise.get_state(),
            "data": dict(self.data_info),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` (verified by :func:`load_checkpoint` when read from a
        file). Refuses a checkpoint of another model configuration, or whose optimiser state
        does not match the model's parameters (count or shapes)."""
        if state.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"checkpoint format {state.get('format_version')} is not "
                             f"{FORMAT_VERSION}")
        if state["model_config"] != self.model.config.to_dict():
            raise ValueError("checkpoint was written for a different model configuration: "
                             f"{state['model_config']}")
        digest = (state.get("data") or {}).get("sha256")
        if digest is not None and digest != self.data_info["sha256"]:
            raise ValueError(f"the checkpoint was trained on other data (sha256 {digest[:12]}, "
                             f"this data {self.data_info['sha256'][:12]}); resume with the "
                             f"run's own data")
        params = list(self.model.parameters())
        opt = state["optimizer"]
        ids = [i for g in opt.get("param_groups", []) for i in g.get("params", [])]
        shapes_ok = len(ids) == len(params) and all(
            tuple(opt["state"][i]["exp_avg"].shape) == tuple(p.shape)
            for i, p in zip(ids, params) if i in opt.get("state", {}))
        if not shapes_ok:
            raise ValueError("the checkpoint's optimiser state does not match the model "
                             f"({len(ids)} parameter tensors for {len(params)}, or other shapes)")
        self.model.load_state_dict(state["model"])
        self.model.set_channels_last(self.channels_last)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.sampler.load_state_dict(state["sampler"])
        self.noise.set_state(state["noise"].cpu())  # generator states are CPU byte tensors
        self.data_info = {**self.data_info, **(state.get("data") or {})}
        self.step = int(state["step"])

    def save_config(self) -> Path | None:
        """Write both configs as ``out_dir/config.json`` atomically (rank 0; None without an
        out_dir): the run's settings in a form a person reads."""
        if self.out_dir is None or self.rank != 0:
            return None
        path = self.out_dir / CONFIG
        text = json.dumps({"model": self.model.config.to_dict(),
                           "train": self.config.to_dict()}, indent=2)
        with atomic_path(path) as tmp:
            tmp.write_text(text)
        return path

    def save_checkpoint(self) -> Path | None:
        """Write ``out_dir/checkpoint.pt`` atomically (rank 0; None without an out_dir)."""
        if self.out_dir is None or self.rank != 0:
            return None
        path = self.out_dir / CHECKPOINT
        state = self.state_dict()
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
        return path

    def _resume(self) -> None:
        path = None if self.out_dir is None else self.out_dir / CHECKPOINT
        if path is None or not path.is_file():  # nothing to resume: start from step 0
            if self.out_dir is not None and self.rank == 0:
                (self.out_dir / LOG).unlink(missing_ok=True)  # rows of a run killed early
            return
        self.load_state_dict(load_checkpoint(path, map_location=self.device))
        log = self.out_dir / LOG
        if self.rank == 0 and log.is_file():
            with open(log, newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= self.step]
            self._write_log(rows, mode="w")
        self.history = []

    def _write_log(self, rows, mode="a") -> None:
        if self.out_dir is None or self.rank != 0:
            return
        path = self.out_dir / LOG
        if mode == "w":
            with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
                w = csv.DictWriter(fh, LOG_FIELDS)
                w.writeheader()
                w.writerows(rows)
            return
        new = not path.is_file()
        with open(path, "a", newline="") as fh:
            w = csv.DictWriter(fh, LOG_FIELDS)
            if new:
                w.writeheader()
            w.writerows(rows)

    # -- the loop -----------------------------------------------------------------------------
    def _global_mean(self, t: torch.Tensor, grad: bool) -> torch.Tensor:
        if self.world_size == 1:
            return t
        if grad:
            return _AllReduceSum.apply(t) / self.world_size
        t = t.clone()
        dist.all_reduce(t)
        return t / self.world_size

    def _noise(self, batch: int, shape=None, margin: bool = False) -> torch.Tensor:
        """This process's slice of a global batch of latent noise (batch, C, *cells) for
        outputs of ``shape`` voxels (default the training crop); with ``margin`` the latent
        map of generation, ``config.halo`` cells wider on every side (prior samples)."""
        mc = self.model.config
        shape = mc.shape if shape is None else shape
        cells = latent_map_cells(self.model, shape) if margin else self.model.latent_cells(shape)
        eps = torch.randn(batch, mc.latent_channels, *cells, generator=self.noise,
                          device=self.device)
        per = batch // self.world_size
        return eps[self.rank * per:(self.rank + 1) * per]

    def train_step(self) -> dict:
        """One optimiser step on a fresh global batch; returns the batch-mean terms (floats).

        Raises :class:`NonFiniteLossError` before the optimiser step when the loss is NaN or
        infinite (the parameters and the last checkpoint are left as they were).
        """
        cfg = self.config
        x = self.sampler.sample(cfg.batch_size, self.rank, self.world_size)
        x = x.to(self.device, non_blocking=True)
        eps = self._noise(cfg.batch_size)
        eps_prior = self._noise(self.prior_batch, self.model.config.s2_shape, margin=True) \
            if self.model.config.s2_weight else None
        self.net.train()
        with torch.autocast(self.device.type, dtype=self.amp_dtype,
                            enabled=self.amp_dtype is not None):
            terms = self.net(x, eps, eps_prior=eps_prior)
        fbar = self._global_mean(terms["fisher"].mean(), grad=True)
        s2bar = self._global_mean(terms["s2"].mean(0), grad=True) if "s2" in terms else None
        ebar = self._global_mean(terms["euler"].mean(), grad=True) if "euler" in terms else None
        pbar = self._global_mean(terms["pattern"].mean(), grad=True) \
            if "pattern" in terms else None
        loss = self.model.combine(terms, self.step, fisher_mean=fbar, s2_mean=s2bar,
                                  euler_mean=ebar, pattern_mean=pbar)
        if not torch.isfinite(loss["total"].detach()).item():
            raise NonFiniteLossError(
                f"non-finite loss at step {self.step + 1} (recon {loss['recon'].item():.4g}, "
                f"kl {loss['kl'].item():.4g}, fisher {fbar.item():.4g}); training stopped, the "
                f"last checkpoint (step <= {self.step}) is kept")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss["total"]).backward()
        if cfg.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        self.step += 1
        vals = torch.stack([loss[k].detach().float() for k in ("total", "recon", "kl")])
        vals = self._global_mean(vals, grad=False).tolist()
        return {"step": self.step, "total": vals[0], "recon": vals[1], "kl": vals[2],
                "fisher": float(fbar.detach()), "s2": float(loss["s2"].detach()),
                "beta_t": loss["beta_t"], "lr": lr}

    def check_out_dir(self, resume: bool = False, overwrite: bool = False) -> None:
        """Refuse to start a fresh run over a folder that already holds a checkpoint or a log,
        unless ``resume`` (continue it) or ``overwrite`` (start again: the old checkpoint and
        log are replaced)."""
        if self.out_dir is None or resume or overwrite:
            return
        found = [n for n in (CHECKPOINT, LOG) if (self.out_dir / n).exists()]
        if found:
            raise RunExistsError(f"{self.out_dir} already holds {' and '.join(found)} of a "
                                  f"run; continue it with resume (--resume) or start again "
                                  f"with overwrite (--overwrite)")

    def fit(self, resume: bool = False, max_steps: int | None = None,
            overwrite: bool = False) -> list[dict]:
        """Train up to ``config.steps`` steps in total (or stop early at ``max_steps``, writing
        a checkpoint). ``resume=True`` first loads ``out_dir/checkpoint.pt`` when it exists and
        continues bit for bit; a folder that holds a run is refused unless ``resume`` or
        ``overwrite`` (:meth:`check_out_dir`). Training stops with :class:`NonFiniteLossError`
        at the first NaN / infinite loss, leaving the last checkpoint untouched. Nothing is
        written before the checkpoint to resume is accepted (same model configuration and
        data); then ``config.json``. Returns the rows logged by this call (dicts of
        LOG_FIELDS)."""
        cfg = self.config
        self.check_out_dir(resume, overwrite)
        if resume:
            if self.out_dir is None:
                raise ValueError("resume=True needs an out_dir")
            self._resume()
        elif overwrite and self.out_dir is not None and self.rank == 0:
            (self.out_dir / LOG).unlink(missing_ok=True)
        self.save_config()
        stop_at = cfg.steps if max_steps is None else min(max_steps, cfg.steps)
        bar = progress(total=cfg.steps, initial=self.step, desc=self.label, dynamic_ncols=True,
                       enable=cfg.progress and self.rank == 0)
        t0 = time.perf_counter()
        try:
            while self.step < stop_at:
                terms = self.train_step()
                bar.update(1)
                stop = any(bool(cb(self, self.step, terms)) for cb in self.callbacks)
                if self.step % cfg.log_every == 0 or self.step == stop_at or stop:
                    row = {**terms, "seconds": time.perf_counter() - t0}
                    self.history.append(row)
                    self._write_log([row])
                    bar.set_postfix({k: f"{terms[k]:.4g}" for k in  # shown at the next draw:
                                     ("total", "recon", "kl", "fisher", "s2", "beta_t")},
                                    refresh=False)  # a redraw per log row defeats the rate limit
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    self.save_checkpoint()
                if stop:
                    break
            if not (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0):
                self.save_checkpoint()
        finally:
            bar.close()
        if self.distributed:
            dist.barrier()
        return self.history
