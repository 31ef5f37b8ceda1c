"""Loading the optional CUDA extension ``porevae._cuda`` (built from ``csrc/``), once.

The ``cuda`` backend module of each operation wraps its functions: it passes device pointers of
torch tensors and torch's current CUDA stream, so there are no host/device copies and no
synchronisation beyond what the caller asks for.
"""

from __future__ import annotations

import functools

import torch


@functools.lru_cache(maxsize=1)
def _load():
    try:
        from porevae import _cuda
    except ImportError as exc:
        return None, (f"porevae._cuda is not built ({exc}); reinstall with a CUDA toolkit "
                      f"(nvcc) present, or POREVAE_CUDA=1 to force the build")
    return _cuda, ""


def status(*functions: str) -> dict:
    """``{"available": bool, "reason": str}``: the extension is built, has ``functions``, and
    torch sees a CUDA device."""
    ext, reason = _load()
    if ext is None:
        return {"available": False, "reason": reason}
    missing = [f for f in functions if not hasattr(ext, f)]
    if missing:
        return {"available": False, "reason": f"porevae._cuda was built without {missing}; "
                "rebuild the extension (pip install -e .)"}
    if not torch.cuda.is_available():
        return {"available": False,
                "reason": "porevae._cuda is built but no device: torch sees no CUDA device"}
    return {"available": True, "reason": f"porevae._cuda on {torch.cuda.get_device_name()}"}


def extension(*functions: str):
    """The loaded extension; RuntimeError with the reason when unavailable."""
    st = status(*functions)
    if not st["available"]:
        raise RuntimeError(f"the CUDA backend is unavailable: {st['reason']}")
    return _load()[0]


def stream() -> int:
    """torch's current CUDA stream as an integer handle (``cudaStream_t``)."""
    return torch.cuda.current_stream().cuda_stream
