"""Generation at any shape, in bounded memory: seeded latent noise by blocks, chunked decoding
with the decoder's receptive-field halo, exact-porosity cuts, memory plans and HDF5 streaming.

Latent noise. Sample i of seed s has the latent map z_i ~ N(0, 1) i.i.d. per element, drawn by
latent *blocks* of :data:`BLOCK` cells per axis: block (b_1, .., b_d) of sample i is
``np.random.default_rng([s, i, b_1, .., b_d]).standard_normal((C, BLOCK, ..))``. Any region of
the map (a chunk plus its halo) is built from the blocks it touches, so chunks are independent
(any order, any process), sample i does not depend on n, and a larger shape extends a smaller one.

Chunked decoding. The decoder is purely local (:mod:`porevae.vae.nets`): an output voxel in latent
cell c depends only on the cells within ``config.halo`` of c. A chunk of latent cells [a, b) is
decoded from [a - halo, b + halo) (clipped to the map, where the whole-map decode sees the same
zero padding) and the output voxels of [a f, b f) are kept: the result equals the whole-map
decode up to float rounding (tests/test_vae_generate.py).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from tqdm.auto import tqdm

from porevae._validation import available_memory, format_bytes
from porevae.vae.binarize import CUT_RULES, cut_probabilities
from porevae.vae.models import VAE, evaluating
from porevae.vae.nets import activation_bytes, fuses_head

BLOCK = 16
DEFAULT_CHUNK = None  # latent cells per axis decoded at a time; None: auto_chunk
CHUNK_BUDGET = 2**30  # bytes of decoder activations per chunk for auto_chunk


def _check_shape(model: VAE, shape) -> tuple:
    shape = tuple(model.config.shape if shape is None else shape)
    if len(shape) != model.config.ndim or any(
            isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in shape):
        raise ValueError(f"shape must be {model.config.ndim} positive integers (voxels per axis), "
                         f"got {shape!r}")
    return tuple(int(s) for s in shape)


def _check_count(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    return int(n)


def latent_noise(seed: int, index: int, channels: int, region) -> torch.Tensor:
    """The latent noise of sample ``index`` of ``seed`` over ``region`` (a (start, stop) pair of
    latent cells per axis, starts >= 0): float32 tensor (channels, *sizes), from the blocks of
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
    return math.prod(min(k, min(k, chunk) + 2 * model.config.halo) for k in cells)


def auto_chunk(model: VAE, shape, budget: int = CHUNK_BUDGET) -> int:
    """The largest chunk (latent cells per axis, at most the whole map) whose decoder
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
    """Decoder output (logits or mean, before the sigmoid) of the voxels of latent ``region``,
    cropped to ``shape``: (1, 1, *voxels) float32 on the CPU.

    latent : callable ``region -> (C, *sizes)`` tensor (e.g. a slice of a map, or
    :func:`latent_noise`); called once, with the region grown by the halo and clipped to the map.
    """
    f = model.config.factor
    halo = model.config.halo if halo is None else halo
    cells = model.latent_cells(shape)
    grown = [(max(0, a - halo), min(c, b + halo)) for (a, b), c in zip(region, cells)]
    z = latent(grown)[None].to(model.device)
    out = model.decode_logits(z).float().cpu()
    keep = [slice(None), slice(None)]
    for (a, b), (ga, _), s in zip(region, grown, shape):
        keep.append(slice((a - ga) * f, (min(b * f, s) - ga * f)))
    return out[tuple(keep)]


@torch.no_grad()
def decode_chunked(model: VAE, latent, shape, chunk: int | None = DEFAULT_CHUNK,
                   out: np.ndarray | None = None, bar=None) -> np.ndarray:
    """Mean of p(x|z) over ``shape`` voxels, decoded chunk by chunk: (*shape) float32 NumPy.

    latent : a (C, *cells) tensor (cells = ceil(shape / f)) or a callable region -> tensor.
    chunk : latent cells per axis per chunk (None: :func:`auto_chunk`).
    """
    cells = model.latent_cells(shape)
    chunk = auto_chunk(model, shape) if chunk is None else chunk
    if isinstance(latent, torch.Tensor):
        full = latent
        want = (model.config.latent_channels, *cells)
        if tuple(full.shape) != want:
            raise ValueError(f"latent map must have shape {want}, got {tuple(full.shape)}")
        def latent(region, full=full):
            return full[(slice(None),) + tuple(slice(a, b) for a, b in region)]
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
                      binary: bool = True, keep: bool = True) -> dict:
    """Bytes that generating ``n`` samples of ``shape`` needs, before anything is allocated.

    ``result``: the returned stack (n voxels-per-sample x 1 byte binary / 4 bytes float; 0 when
    ``keep`` is False, e.g. streaming to a file); ``sample``: one sample's float32 mean plus the
    float32 copy the exact cut partitions (binary); ``chunk``: the decoder's activations and the
    latent noise of one chunk with its halo. ``total`` is their sum.
    """
    shape = _check_shape(model, shape)
    voxels = math.prod(shape)
    cells = model.latent_cells(shape)
    n_cells = _grown_cells(model, cells, auto_chunk(model, shape) if chunk is None else chunk)
    parts = {
        "result": (n * voxels * (1 if binary else 4)) if keep else 0,
        "sample": voxels * (8 if binary else 4),
        "chunk": activation_bytes(model.config, n_cells,
                                  fused_head=fuses_head(model.config, model.device))
        + 4 * model.config.latent_channels * n_cells,
    }
    parts["total"] = sum(parts.values())
    return parts


def check_generation_memory(model: VAE, n: int, shape, chunk=DEFAULT_CHUNK, binary=True,
                            keep=True, limit: int | None = None) -> dict:
    """:func:`generation_memory`, refusing (MemoryError naming the bytes) what does not fit in
    ``limit`` bytes (default: the memory available to this process)."""
    need = generation_memory(model, n, shape, chunk, binary, keep)
    limit = available_memory() if limit is None else int(limit)
    if need["total"] > limit:
        detail = ", ".join(f"{k} {format_bytes(v)}" for k, v in need.items() if k != "total")
        raise MemoryError(
            f"generating {n} sample(s) of shape {tuple(shape)} needs {format_bytes(need['total'])}"
            f" ({need['total']} bytes: {detail}) but only {format_bytes(limit)} is available; "
            f"ask for fewer or smaller samples, a smaller chunk, or stream to an .h5 file")
    return need


@torch.no_grad()
def sample_means(model: VAE, n: int, shape=None, seed: int | None = None, device=None,
                 chunk: int | None = None, progress: bool = False) -> torch.Tensor:
    """``n`` prior samples, mean of p(x|z): (n, 1, *shape) float32 CPU tensor (see
    :meth:`VAE.sample`). The memory need is checked before allocating."""
    n, shape = _check_count(n), _check_shape(model, shape)
    check_generation_memory(model, n, shape, chunk, binary=False)
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    if device is not None and torch.device(device) != model.device:
        model = model.to(device)
    out = torch.empty((n, 1, *shape), dtype=torch.float32)
    with tqdm(total=n * math.prod(shape), unit="vox", unit_scale=True, desc="generate",
              disable=not progress) as bar:
        for i in range(n):
            decode_chunked(model, _noise_of(model, seed, i), shape, chunk,
                           out=out[i, 0].numpy(), bar=bar)
    return out


def _noise_of(model: VAE, seed: int, index: int):
    c = model.config.latent_channels
    return lambda region: latent_noise(seed, index, c, region)


@torch.no_grad()
def generate(model: VAE, n: int = 1, shape=None, seed: int = 0, cut: str = "mean",
             porosity: float | None = None, chunk: int | None = DEFAULT_CHUNK,
             progress: bool = False, writer=None, limit: int | None = None) -> np.ndarray | None:
    """``n`` samples of ``shape`` voxels from the prior, binarised by ``cut``.

    cut : "mean" | "half" | "sample" | "none" (see :func:`~porevae.vae.cut_probabilities`);
        Gaussian models always give the float32 mean ("none").
    porosity : float in (0, 1), optional
        Each sample's cut makes exactly round(porosity * voxels) voxels pore (with "mean").
    writer : callable ``(index, sample) -> None``, optional
        Receives each finished sample (e.g. an HDF5 dataset row); then nothing is kept and the
        function returns None, so the memory need is one sample plus one chunk.
    Returns (n, *shape): uint8 0/1 (1 = pore) or float32. The memory need is checked first
    (:func:`check_generation_memory`, MemoryError with the bytes when it does not fit).
    """
    n, shape = _check_count(n), _check_shape(model, shape)
    if cut not in CUT_RULES:
        raise ValueError(f"cut must be one of {list(CUT_RULES)}, got {cut!r}")
    binary = model.config.likelihood == "bernoulli" and cut != "none"
    if porosity is not None and (not binary or cut != "mean"):
        raise ValueError("porosity needs a Bernoulli model and cut='mean'")
    check_generation_memory(model, n, shape, chunk, binary, keep=writer is None, limit=limit)
    result = None if writer is not None else np.empty(
        (n, *shape), dtype=np.uint8 if binary else np.float32)
    gen = torch.Generator().manual_seed(seed)
    with tqdm(total=n * math.prod(shape), unit="vox", unit_scale=True, desc="generate",
              disable=not progress) as bar:
        for i in range(n):
            mean = decode_chunked(model, _noise_of(model, seed, i), shape, chunk, bar=bar)
            if binary:
                mean = cut_probabilities(mean[None], cut, porosity=porosity,
                                         generator=gen)[0].view(np.uint8)
            if writer is None:
                result[i] = mean
            else:
                writer(i, mean)
    return result


def generate_hdf5(model: VAE, path, n: int = 1, shape=None, dataset: str = "volume",
                  **kwargs) -> None:
    """:func:`generate` streamed into an HDF5 dataset ``(n, *shape)`` (uint8 0/1 or float32,
    gzip, one HDF5 chunk per sample slab of at most 64 voxels per axis), one sample at a time:
    the memory need is one sample plus one decoder chunk, whatever n. Written atomically (a
    temporary file moved into place). ``kwargs``: those of :func:`generate`."""
    import h5py

    from porevae._files import atomic_path

    n, shape = _check_count(n), _check_shape(model, shape)
    binary = model.config.likelihood == "bernoulli" and kwargs.get("cut", "mean") != "none"
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as fh:
        ds = fh.create_dataset(dataset, shape=(n, *shape),
                               dtype=np.uint8 if binary else np.float32, compression="gzip",
                               chunks=(1, *(min(s, 64) for s in shape)))
        ds.attrs["pore"] = 1
        ds.attrs["seed"] = kwargs.get("seed", 0)

        def write(i, sample):
            ds[i] = sample

        generate(model, n, shape, writer=write, **kwargs)


# -- volumes larger than memory: chunk tasks, two passes, a chunked HDF5 store ---------------
HIST_BINS = 1 << 16


def _job_model(payload):
    """Rebuild a model from ``(config dict, state dict)`` (once per worker process)."""
    from porevae.vae.config import ModelConfig

    held = _job_model.cache
    if held is None or held[0] is not payload:
        model = VAE.from_config(ModelConfig(**payload[0]))
        model.load_state_dict(payload[1])
        _job_model.cache = held = (payload, model.eval())
    return held[1]


_job_model.cache = None


def _chunk_task(payload, seed, shape, region, what, threshold=None, take=0):
    """One chunk of sample 0 of ``seed``: ``what="hist"`` -> (histogram of the pore
    probabilities, HIST_BINS bins on [0, 1]); ``"cut"`` -> (region, uint8 block) with pore where
    p is above the threshold bin, plus the first ``take`` voxels (C order) inside it."""
    import torch as _torch

    _torch.set_num_threads(1)
    model = _job_model(payload)
    latent = _noise_of(model, seed, 0)
    with _torch.no_grad():
        p = model.mean_of(decode_region(model, latent, region, shape))[0, 0].numpy()
    b = np.minimum((p * HIST_BINS).astype(np.int64), HIST_BINS - 1)
    if what == "hist":
        return np.bincount(b.ravel(), minlength=HIST_BINS)
    out = b > threshold
    if take:
        flat = out.reshape(-1)
        flat[np.flatnonzero(b.reshape(-1) == threshold)[:take]] = True
    return region, out.view(np.uint8)


def generate_volume_hdf5(model: VAE, path, shape, seed: int = 0, porosity: float = 0.2,
                         chunk: int | None = None, dataset: str = "volume", dask=None,
                         progress: bool = False) -> dict:
    """One binary volume of any ``shape`` (larger than memory) into a chunked HDF5 dataset,
    decoded chunk by chunk, each chunk an independent task (here, or on a Dask cluster:
    ``dask`` = a ``distributed.Client`` or a scheduler address).

    The volume is sample 0 of ``seed``: its pore probabilities are those of
    :func:`generate` (same latent noise, same chunk-exact decode). Binarisation hits
    ``porosity`` exactly in two passes: pass 1 sums per-chunk histograms of p (65536 bins)
    and finds the threshold bin; pass 2 decodes again and writes p above that bin as pore, plus
    as many voxels of that bin (in chunk order, then C order) as the exact count needs. This
    differs from the in-memory cut only in the order of voxels within one bin (width 1/65536).
    Memory: one chunk per task on the workers, one chunk at a time on the client. Returns
    ``{"shape", "chunk", "tasks", "porosity", "seconds"}``.
    """
    import time as _time

    import h5py

    from porevae._files import atomic_path

    shape = _check_shape(model, shape)
    if model.config.likelihood != "bernoulli":
        raise ValueError("generate_volume_hdf5 writes binary media: it needs a Bernoulli model")
    if not 0.0 < float(porosity) < 1.0:
        raise ValueError(f"porosity must be in (0, 1), got {porosity!r}")
    chunk = auto_chunk(model, shape) if chunk is None else chunk
    cells = model.latent_cells(shape)
    regions = chunk_grid(cells, chunk)
    payload = (model.config.to_dict(), {k: v.cpu() for k, v in model.state_dict().items()})
    run = _dask_runner(dask) if dask is not None else _local_runner
    t0 = _time.perf_counter()
    f = model.config.factor
    total = math.prod(shape)
    want = round(float(porosity) * total)
    with tqdm(total=2 * len(regions), desc="generate", disable=not progress) as bar:
        hist = np.zeros(HIST_BINS, np.int64)
        counts = []
        for region, h in run(payload, seed, shape, regions, "hist"):
            hist += h
            counts.append((region, h))
            bar.update()
        above = np.cumsum(hist[::-1])[::-1]  # voxels in bins >= k
        threshold = int(np.flatnonzero(above >= want)[-1]) if want else HIST_BINS - 1
        missing = want - int(above[threshold + 1]) if threshold + 1 < HIST_BINS else want
        order = {r: i for i, r in enumerate(regions)}
        takes = {}
        for region, h in sorted(counts, key=lambda c: order[c[0]]):
            takes[region] = min(int(h[threshold]), missing)
            missing -= takes[region]
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as fh:
            ds = fh.create_dataset(dataset, shape=shape, dtype=np.uint8, compression="gzip",
                                   chunks=tuple(min(s, chunk * f) for s in shape))
            ds.attrs["pore"] = 1
            ds.attrs["seed"] = seed
            pore = 0
            for region, block in run(payload, seed, shape, regions, "cut", threshold, takes):
                ds[tuple(slice(a * f, min(b * f, s)) for (a, b), s in zip(region, shape))] = \
                    block
                pore += int(block.sum())
                bar.update()
    return {"shape": shape, "chunk": chunk, "tasks": 2 * len(regions),
            "porosity": pore / total, "seconds": _time.perf_counter() - t0}


def _local_runner(payload, seed, shape, regions, what, threshold=None, takes=None):
    for region in regions:
        if what == "hist":
            yield region, _chunk_task(payload, seed, shape, region, "hist")
        else:
            yield _chunk_task(payload, seed, shape, region, "cut", threshold, takes[region])


def _dask_runner(dask):
    try:
        from distributed import Client, as_completed
    except ImportError as exc:  # pragma: no cover - dask is an optional extra
        raise ImportError("the Dask path needs the optional 'dask' extra: "
                          "pip install 'porevae[dask]'") from exc
    client = dask if isinstance(dask, Client) else Client(dask)
    held = {}  # the model, scattered once to every worker for both passes

    def run(payload, seed, shape, regions, what, threshold=None, takes=None):
        if "model" not in held:
            held["model"] = client.scatter(payload, broadcast=True, hash=False)
        shared = held["model"]
        futures = {}
        for region in regions:
            args = (shared, seed, shape, region, what) + (
                () if what == "hist" else (threshold, takes[region]))
            futures[client.submit(_chunk_task, *args, pure=False)] = region
        for fut in as_completed(futures):
            result = fut.result()
            yield (futures[fut], result) if what == "hist" else result
            fut.release()

    return run
