"""Generation at any shape, in bounded memory: seeded latent noise by blocks, a latent margin
that makes samples stationary, chunked decoding with the decoder's receptive-field halo, the
default cut at the training data's porosity, memory plans, and files written through
:mod:`porevae.media.io`.

Latent map and margin. A sample of ``shape`` voxels is the voxels [0, shape) of the decode of a
latent map of ``cells + 2 m`` cells per axis (cells = ceil(shape / f), m = ``config.halo``, the
decoder's receptive-field radius in latent cells), cropped at m f voxels from each face: every
output voxel sees a full receptive field of latent noise, as in the interior of an infinite
map, so no face differs from the interior (without the margin the decoder's zero padding made
the outer 8 voxels of every face of a Berea sample more porous: 0.34 in the first plane against
0.18 inside). The map is decoded trimmed (:meth:`porevae.vae.models.VAE.decode_logits` with
``trim`` = m: each layer is cropped to what the layers after it reach), so the margin is decoded
at the latent resolution and the full-resolution layers see the sample plus a few voxels: the
2.6x latent cells of a 128^3 Berea sample's map (m = 6, cells = 32) cost 1.8x less than the
whole-map decode, 1.2x less at 256^3 (one thread, interleaved medians, a busy machine). Training
decodes the prior samples of its descriptor loss the same way.

Latent noise. Sample i of seed s has the latent map z_i ~ N(0, 1) i.i.d. per element, drawn by
latent *blocks* of :data:`BLOCK` cells per axis, in map coordinates (cell 0 is the first margin
cell): block (b_1, .., b_d) of sample i is
``np.random.default_rng([s, i, b_1, .., b_d]).standard_normal((C, BLOCK, ..))``. Any region of
the map (a chunk plus its halo) is built from the blocks it touches, so chunks are independent
(any order, any process), sample i does not depend on n, and a sample of a larger shape extends
one of a smaller shape exactly (its corner crop).

Chunked decoding. The decoder is purely local (:mod:`porevae.vae.nets`): an output voxel in latent
cell c depends only on the cells within ``config.halo`` of c. A chunk of output cells [a, b) is
decoded from the map cells [a - halo, b + halo) (always inside the map, thanks to the margin)
and the output voxels of [a f, b f) are kept: the result equals the whole-map decode up to float
rounding (tests/test_vae_generate.py).
"""

from __future__ import annotations

import itertools
import math
import time
from pathlib import Path

import numpy as np
import torch

from porevae._files import digest_arrays
from porevae._parallel import Runner
from porevae._progress import progress as progress_bar
from porevae._validation import available_memory, check_choice, check_int, format_bytes
from porevae.media.io import StackWriter
from porevae.vae.binarize import EXACT_CUTS, cut_bytes, cut_probabilities
from porevae.vae.config import CUT_RULES, ModelConfig
from porevae.vae.models import VAE, evaluating
from porevae.vae.nets import activation_bytes, fuses_head

BLOCK = 16
DEFAULT_CHUNK = None  # latent cells per axis decoded at a time; None: auto_chunk
CHUNK_BUDGET = 2**30  # bytes of decoder activations per chunk for auto_chunk


# -- parameters, checked before any work ------------------------------------------------------
def check_shape(shape, ndim: int) -> tuple:
    """``shape``: ``ndim`` positive integers (voxels per axis); one integer means a cube."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,) * ndim
    shape = tuple(shape)
    if len(shape) == 1:
        shape = shape * ndim
    if len(shape) != ndim:
        raise ValueError(f"shape must be {ndim} positive integers (voxels per axis), got "
                         f"{shape!r}")
    return tuple(check_int(s, "shape entry (voxels)", low=1) for s in shape)


def check_porosity(porosity, name: str = "porosity") -> float | None:
    """None, or a float in the open interval (0, 1)."""
    if porosity is None:
        return None
    if isinstance(porosity, bool) or not isinstance(porosity, (int, float, np.floating)) or \
            not 0.0 < float(porosity) < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {porosity!r}")
    return float(porosity)


def check_request(n, cut: str, porosity, chunk) -> tuple:
    """What :func:`generate` checks before it needs the model: ``n`` >= 1, ``cut`` one of
    :data:`~porevae.vae.config.CUT_RULES`, ``porosity`` in (0, 1) and only with the exact cuts
    ("connected", "data", "mean"), ``chunk`` None or >= 1. Returns ``(n, porosity)``."""
    n = check_int(n, "n", low=1)
    check_choice(cut, "cut", CUT_RULES)
    porosity = check_porosity(porosity)
    if porosity is not None and cut not in EXACT_CUTS:
        raise ValueError(f"porosity is the exact count of cut='connected', 'data' or 'mean'; "
                         f"got cut={cut!r} with porosity={porosity}")
    if chunk is not None:
        check_int(chunk, "chunk (latent cells per axis)", low=1)
    return n, porosity


def data_porosity(model: VAE) -> float | None:
    """The training data's porosity recorded with ``model`` (``checkpoint["data"]["porosity"]``,
    kept by :func:`~porevae.vae.trainer.load_model` as ``model.data_info``), None when the model
    records none (a model built in this process, an older checkpoint, a Gaussian model)."""
    value = (getattr(model, "data_info", None) or {}).get("porosity")
    return None if value is None else float(value)


def resolve_cut(model: VAE, cut: str, porosity) -> tuple:
    """The cut :func:`generate` applies: ``(rule, porosity)`` for
    :func:`~porevae.vae.binarize.cut_probabilities`, ``rule`` None for the float means.

    Gaussian models and ``cut="none"`` keep the means. ``cut="connected"`` (the default) and
    ``cut="data"`` cut at ``porosity``, else at the training data's porosity
    (:func:`data_porosity`); a model that records none falls back to ``"mean"`` (each sample
    keeps its mean pore probability).
    """
    if model.config.likelihood != "bernoulli" or cut == "none":
        if porosity is not None:
            raise ValueError("porosity needs a Bernoulli (binary) model and a cut other than "
                             "'none'")
        return None, None
    if cut in ("connected", "data"):
        porosity = data_porosity(model) if porosity is None else porosity
        return ("mean", None) if porosity is None else (cut, porosity)
    return cut, porosity


# -- latent noise and decoding -------------------------------------------------------------------
def margin(model: VAE) -> int:
    """Latent cells of noise beyond the sample on each side: the decoder's halo."""
    return model.config.halo


def latent_map_cells(model: VAE, shape) -> tuple:
    """Cells per axis of the latent map of a sample of ``shape`` voxels: ceil(shape / f) plus
    the :func:`margin` on both sides."""
    return tuple(c + 2 * margin(model) for c in model.latent_cells(shape))


def latent_noise(seed: int, index: int, channels: int, region) -> torch.Tensor:
    """The latent noise of sample ``index`` of ``seed`` over ``region`` (a (start, stop) pair of
    map cells per axis, starts >= 0): float32 tensor (channels, *sizes), from the blocks of
    :data:`BLOCK` cells it touches."""
    sizes = [b - a for a, b in region]
    out = np.empty((channels, *sizes), dtype=np.float32)
    ranges = [range(a // BLOCK, (b - 1) // BLOCK + 1) for a, b in region]
    for bid in itertools.product(*ranges):
        block = np.random.default_rng([seed, index, *bid]).standard_normal(
            (channels,) + (BLOCK,) * len(region), dtype=np.float32)
        src, dst = [slice(None)], [slice(None)]
        for k, (a, b) in zip(bid, region):
            lo, hi = max(a, k * BLOCK), min(b, (k + 1) * BLOCK)
            src.append(slice(lo - k * BLOCK, hi - k * BLOCK))
            dst.append(slice(lo - a, hi - a))
        out[tuple(dst)] = block[tuple(src)]
    return torch.from_numpy(out)


def _grown_cells(model: VAE, cells, chunk: int) -> int:
    return math.prod(min(k, chunk) + 2 * model.config.halo for k in cells)


def auto_chunk(model: VAE, shape, budget: int = CHUNK_BUDGET) -> int:
    """The largest chunk (output latent cells per axis, at most the whole sample) whose decoder
    activations (with the halo) fit in ``budget`` bytes: big chunks waste less on the halo."""
    cells = model.latent_cells(shape)
    chunk = max(cells)
    fused = fuses_head(model.config, model.device)
    while chunk > 1 and activation_bytes(model.config, _grown_cells(model, cells, chunk),
                                         fused_head=fused) > budget:
        chunk = max(1, (chunk * 4) // 5)
    return chunk


def chunk_grid(cells, chunk: int):
    """Chunks of at most ``chunk`` latent cells per axis covering ``cells``: list of regions."""
    axes = [[(a, min(a + chunk, c)) for a in range(0, c, chunk)] for c in cells]
    return list(itertools.product(*axes))


@torch.no_grad()
def decode_region(model: VAE, latent, region, shape, halo: int | None = None) -> torch.Tensor:
    """Decoder output (logits or mean, before the sigmoid) of the voxels of the output latent
    cells ``region`` (a (start, stop) pair per axis, in [0, ceil(shape / f))), cropped to
    ``shape``: (1, 1, *voxels) float32 on the CPU.

    latent : callable ``map region -> (C, *sizes)`` tensor (e.g. a slice of the latent map, or
    :func:`latent_noise`), in map coordinates (output cell c is map cell c + :func:`margin`);
    called once, with the region grown by ``halo`` (default the decoder's: exact), and decoded
    trimmed by ``halo`` (:meth:`~porevae.vae.models.VAE.decode_logits`: the grown cells are
    decoded at the latent resolution only), the way training decodes its prior samples.
    """
    f, m = model.config.factor, margin(model)
    halo = model.config.halo if halo is None else halo
    grown = [(a + m - halo, b + m + halo) for a, b in region]
    z = latent(grown)[None].to(model.device)
    out = model.decode_logits(z, trim=halo).float().cpu()
    keep = [slice(None), slice(None)]
    for (a, b), s in zip(region, shape):
        keep.append(slice(0, min(b * f, s) - a * f))
    return out[tuple(keep)]


def _map_slicer(full: torch.Tensor):
    def latent(region):
        return full[(slice(None),) + tuple(slice(a, b) for a, b in region)]
    return latent


@torch.no_grad()
def decode_chunked(model: VAE, latent, shape, chunk: int | None = DEFAULT_CHUNK,
                   out: np.ndarray | None = None, bar=None) -> np.ndarray:
    """Mean of p(x|z) over ``shape`` voxels, decoded chunk by chunk: (*shape) float32 NumPy.

    latent : a (C, *map cells) tensor (:func:`latent_map_cells`: ceil(shape / f) + 2 margin) or
        a callable map region -> tensor. The result is the whole map's decode cropped to the
        voxels [margin f, margin f + shape) per axis.
    chunk : output latent cells per axis per chunk (None: :func:`auto_chunk`).
    """
    cells = model.latent_cells(shape)
    chunk = auto_chunk(model, shape) if chunk is None else chunk
    if isinstance(latent, torch.Tensor):
        want = (model.config.latent_channels, *latent_map_cells(model, shape))
        if tuple(latent.shape) != want:
            raise ValueError(f"latent map must have shape {want} (channels, ceil(shape / f) + "
                             f"2 x margin {margin(model)} cells), got {tuple(latent.shape)}")
        latent = _map_slicer(latent)
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    f = model.config.factor
    with evaluating(model):
        for region in chunk_grid(cells, chunk):
            dst = torch.from_numpy(out[tuple(slice(a * f, min(b * f, s))
                                             for (a, b), s in zip(region, shape))])
            model.mean_of(decode_region(model, latent, region, shape)[0, 0], into=dst)
            if bar is not None:
                bar.update(dst.numel())
    return out


def generation_memory(model: VAE, n: int, shape, chunk: int | None = DEFAULT_CHUNK,
                      rule: str | None = "connected", keep: bool = True,
                      porosity: float | None = None) -> dict:
    """Bytes that generating ``n`` samples of ``shape`` needs, before anything is allocated.

    ``rule``: the cut (:data:`~porevae.vae.config.CUT_RULES`; None: the float means are kept).
    ``result``: the returned stack (n voxels-per-sample x 1 byte binary / 4 bytes float; 0 when
    ``keep`` is False, e.g. streaming to a file); ``sample``: one sample's float32 mean plus what
    its cut needs (:func:`~porevae.vae.binarize.cut_bytes`, at ``porosity``, by default the
    training data's);
    ``chunk``: the decoder's activations and the latent noise of one chunk with its halo.
    ``total`` is their sum.
    """
    shape = check_shape(shape, model.config.ndim)
    voxels = math.prod(shape)
    cells = model.latent_cells(shape)
    n_cells = _grown_cells(model, cells, auto_chunk(model, shape) if chunk is None else chunk)
    binary = rule is not None
    parts = {
        "result": (n * voxels * (1 if binary else 4)) if keep else 0,
        "sample": 4 * voxels + (cut_bytes(rule, voxels, data_porosity(model) if porosity is None
                                          else porosity) if binary else 0),
        "chunk": activation_bytes(model.config, n_cells,
                                  fused_head=fuses_head(model.config, model.device))
        + 4 * model.config.latent_channels * n_cells,
    }
    parts["total"] = sum(parts.values())
    return parts


def check_generation_memory(model: VAE, n: int, shape, chunk=DEFAULT_CHUNK, rule="connected",
                            keep=True, limit: int | None = None,
                            porosity: float | None = None) -> dict:
    """:func:`generation_memory`, refusing (MemoryError naming the bytes) what does not fit in
    ``limit`` bytes (default: the memory available to this process)."""
    need = generation_memory(model, n, shape, chunk, rule, keep, porosity)
    limit = available_memory() if limit is None else int(limit)
    if need["total"] > limit:
        detail = ", ".join(f"{k} {format_bytes(v)}" for k, v in need.items() if k != "total")
        raise MemoryError(
            f"generating {n} sample(s) of shape {tuple(shape)} needs {format_bytes(need['total'])}"
            f" ({need['total']} bytes: {detail}) but only {format_bytes(limit)} is available; "
            f"ask for fewer or smaller samples, a smaller chunk, or write to a file")
    return need


def _noise_of(model: VAE, seed: int, index: int):
    c = model.config.latent_channels
    return lambda region: latent_noise(seed, index, c, region)


def _bar(total: int, enable: bool):
    return progress_bar(total=total, enable=enable, unit="vox", unit_scale=True, desc="generate")


@torch.no_grad()
def sample_means(model: VAE, n: int, shape=None, seed: int | None = None, device=None,
                 chunk: int | None = None, progress: bool = False) -> torch.Tensor:
    """``n`` prior samples, mean of p(x|z): (n, 1, *shape) float32 CPU tensor (see
    :meth:`VAE.sample`). The memory need is checked before allocating."""
    n, _ = check_request(n, "none", None, chunk)
    shape = check_shape(model.config.shape if shape is None else shape, model.config.ndim)
    check_generation_memory(model, n, shape, chunk, rule=None)
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    if device is not None and torch.device(device) != model.device:
        model = model.to(device)
    out = torch.empty((n, 1, *shape), dtype=torch.float32)
    with _bar(n * math.prod(shape), progress) as bar:
        for i in range(n):
            decode_chunked(model, _noise_of(model, seed, i), shape, chunk,
                           out=out[i, 0].numpy(), bar=bar)
    return out


@torch.no_grad()
def generate(model: VAE, n: int = 1, shape=None, seed: int = 0, cut: str = "connected",
             porosity: float | None = None, chunk: int | None = DEFAULT_CHUNK,
             progress: bool = False, writer=None, limit: int | None = None) -> np.ndarray | None:
    """``n`` samples of ``shape`` voxels from the prior, binarised by ``cut``.

    cut : "connected" (default) | "data" | "mean" | "half" | "sample" | "none" (see
        :func:`resolve_cut` and :func:`~porevae.vae.binarize.cut_probabilities`): "connected"
        and "data" make exactly round(P * voxels) voxels of each sample pore, P = ``porosity``
        or else the training data's porosity recorded in the checkpoint (a model without that
        record: each sample's own mean pore probability, as "mean"); "connected" grows the pore
        space from its most probable 70 % through connected voxels, "data" takes the most
        probable voxels wherever they are. Gaussian models give the float32 mean.
    porosity : float in (0, 1), optional (with "connected", "data" or "mean")
    writer : callable ``(index, sample) -> None``, optional
        Receives each finished sample (e.g. a :class:`porevae.media.io.StackWriter`); then
        nothing is kept and the function returns None, so the memory need is one sample plus
        one chunk.
    Returns (n, *shape): uint8 0/1 (1 = pore) or float32. Every parameter and the memory need
    are checked first (one-line ValueError / MemoryError), before any decoding.
    """
    n, porosity = check_request(n, cut, porosity, chunk)
    shape = check_shape(model.config.shape if shape is None else shape, model.config.ndim)
    rule, porosity = resolve_cut(model, cut, porosity)
    binary = rule is not None
    check_generation_memory(model, n, shape, chunk, rule, keep=writer is None, limit=limit,
                            porosity=porosity)
    result = None if writer is not None else np.empty(
        (n, *shape), dtype=np.uint8 if binary else np.float32)
    gen = torch.Generator().manual_seed(seed)
    with _bar(n * math.prod(shape), progress) as bar:
        for i in range(n):
            mean = decode_chunked(model, _noise_of(model, seed, i), shape, chunk, bar=bar)
            if binary:
                mean = cut_probabilities(mean[None], rule, porosity=porosity,
                                         generator=gen)[0].view(np.uint8)
            if writer is None:
                result[i] = mean
            else:
                writer(i, mean)
    return result


def generate_file(model: VAE, path, n: int = 1, shape=None, dataset: str = "volume",
                  attrs: dict | None = None, **kwargs) -> Path:
    """:func:`generate` written to ``path`` through :class:`porevae.media.io.StackWriter`
    (any suffix of :mod:`porevae.media.io`): for ``n`` > 1 a stack ``(n, *shape)`` with the
    stack flag, for ``n`` = 1 the volume ``(*shape)``; checksum, atomic write. One sample at a
    time: the memory need is one sample plus one decoder chunk (TIFF assembles the file in
    memory). ``attrs`` (JSON) are kept with the data (the seed, the cut, ... by the CLI);
    ``kwargs``: those of :func:`generate`."""
    n, porosity = check_request(n, kwargs.get("cut", "connected"), kwargs.get("porosity"),
                                kwargs.get("chunk"))
    shape = check_shape(model.config.shape if shape is None else shape, model.config.ndim)
    rule, _ = resolve_cut(model, kwargs.get("cut", "connected"), porosity)
    dtype = np.uint8 if rule is not None else np.float32
    with StackWriter(path, (n, *shape) if n > 1 else shape, dtype, dataset=dataset,
                     stack=n > 1, attrs=attrs) as w:
        generate(model, n, shape, writer=lambda i, s: w.write(s[None] if n > 1 else s),
                 **kwargs)
    return Path(path)


# -- volumes larger than memory: chunk tasks, two passes, slabs through media.io -------------
HIST_BINS = 1 << 16


def _payload(model: VAE) -> tuple:
    """What a chunk task needs to rebuild ``model``: ``(key, config dict, state dict)``; the
    key (the weights' SHA-256 and the configuration) lets a worker build it once."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    config = model.config.to_dict()
    key = digest_arrays({k: v.numpy() for k, v in state.items()}) + repr(sorted(config.items()))
    return key, config, state


def _job_model(payload):
    """Rebuild a model from :func:`_payload` (once per worker process)."""
    held = _job_model.cache
    if held is None or held[0] != payload[0]:
        model = VAE.from_config(ModelConfig(**payload[1]))
        model.load_state_dict(payload[2])
        _job_model.cache = held = (payload[0], model.eval())
    return held[1]


_job_model.cache = None


def _chunk_task(payload, seed, shape, region, what, threshold=None, take=0):
    """One chunk of sample 0 of ``seed``: ``what="hist"`` -> histogram of the pore
    probabilities (HIST_BINS bins on [0, 1]); ``"cut"`` -> uint8 block with pore where p is
    above the threshold bin, plus the first ``take`` voxels (C order) inside it."""
    torch.set_num_threads(1)
    model = _job_model(payload)
    latent = _noise_of(model, seed, 0)
    with torch.no_grad():
        p = model.mean_of(decode_region(model, latent, region, shape))[0, 0].numpy()
    b = np.minimum((p * HIST_BINS).astype(np.int64), HIST_BINS - 1)
    if what == "hist":
        return np.bincount(b.ravel(), minlength=HIST_BINS)
    out = b > threshold
    if take:
        flat = out.reshape(-1)
        flat[np.flatnonzero(b.reshape(-1) == threshold)[:take]] = True
    return out.view(np.uint8)


def generate_volume(model: VAE, path, shape, seed: int = 0, porosity: float | None = None,
                    chunk: int | None = None, dataset: str = "volume", jobs: int = 1,
                    dask=None, progress: bool = False) -> dict:
    """One binary volume of any ``shape`` (larger than memory) written to ``path`` (``.h5``,
    ``.npy`` or ``.raw``, through :class:`porevae.media.io.StackWriter`: checksum, atomic),
    decoded chunk by chunk, each chunk an independent task run by
    :class:`porevae._parallel.Runner` (here, on ``jobs`` local processes, or on a Dask cluster:
    ``dask`` = "local", a scheduler address or a ``distributed.Client``); the volume does not
    depend on where the tasks run.

    The volume is sample 0 of ``seed``: its pore probabilities are those of
    :func:`generate` (same latent noise, same chunk-exact decode). Binarisation is the global
    threshold of ``cut="data"`` (the connected cut of :func:`generate`'s default needs the whole
    volume in memory: this is what a volume larger than memory gets). It hits
    ``porosity`` (default: the training data's, :func:`data_porosity`) exactly in two passes:
    pass 1 sums per-chunk histograms of p (65536 bins) and finds the threshold bin; pass 2
    decodes again, slab by slab along axis 0 (one row of chunks), and writes p above that bin as
    pore, plus as many voxels of that bin (in chunk order, then C order) as the exact count
    needs. This differs from the in-memory cut only in the order of voxels within one bin
    (width 1/65536). Memory: one chunk per task on the workers; one slab (chunk f x the other
    axes, 1 byte per voxel) on the client. Returns ``{"shape", "chunk", "tasks", "porosity",
    "seconds"}``.
    """
    shape = check_shape(shape, model.config.ndim)
    porosity = check_porosity(porosity)
    if chunk is not None:
        check_int(chunk, "chunk (latent cells per axis)", low=1)
    if model.config.likelihood != "bernoulli":
        raise ValueError("generate_volume writes binary media: it needs a Bernoulli model")
    porosity = data_porosity(model) if porosity is None else porosity
    if porosity is None:
        raise ValueError("porosity is needed: the model records no training-data porosity")
    chunk = auto_chunk(model, shape) if chunk is None else chunk
    cells = model.latent_cells(shape)
    regions = chunk_grid(cells, chunk)
    t0 = time.perf_counter()
    f = model.config.factor
    total = math.prod(shape)
    want = round(porosity * total)
    with Runner(jobs=jobs, dask=dask) as run, \
            progress_bar(total=2 * len(regions), enable=progress, desc="generate") as bar, \
            StackWriter(path, shape, np.uint8, dataset=dataset, stack=False,
                        attrs={"seed": seed, "porosity": porosity}) as w:
        payload = run.share(_payload(model))
        hist = np.zeros(HIST_BINS, np.int64)
        counts = [None] * len(regions)
        for k, h in run.map(_chunk_task, [(payload, seed, shape, r, "hist") for r in regions]):
            hist += h
            counts[k] = h
            bar.update()
        above = np.cumsum(hist[::-1])[::-1]  # voxels in bins >= k
        threshold = int(np.flatnonzero(above >= want)[-1]) if want else HIST_BINS - 1
        missing = want - int(above[threshold + 1]) if threshold + 1 < HIST_BINS else want
        takes = []
        for h in counts:  # in chunk order
            takes.append(min(int(h[threshold]), missing))
            missing -= takes[-1]
        pore = 0
        for rows, group in itertools.groupby(range(len(regions)), key=lambda i: regions[i][0]):
            slab_ids = list(group)
            lo = rows[0] * f
            slab = np.empty((min(rows[1] * f, shape[0]) - lo, *shape[1:]), np.uint8)
            calls = [(payload, seed, shape, regions[i], "cut", threshold, takes[i])
                     for i in slab_ids]
            for k, block in run.map(_chunk_task, calls):
                region = regions[slab_ids[k]]
                slab[tuple(slice(a * f - (lo if ax == 0 else 0), min(b * f, s) - (
                    lo if ax == 0 else 0)) for ax, ((a, b), s) in enumerate(zip(region, shape)))] \
                    = block
                pore += int(block.sum())
                bar.update()
            w.write(slab)
    return {"shape": shape, "chunk": chunk, "tasks": 2 * len(regions),
            "porosity": pore / total, "seconds": time.perf_counter() - t0}
