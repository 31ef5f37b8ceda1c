"""The one backend dispatch of :mod:`porevae.ops`.

An operation has up to four backends, one module each beside its public function
(``porevae/ops/<op>/{reference,numba_cpu,numba_cuda,cuda}.py``), each exposing ``status()`` and
the operation's functions under the same names (every operation has ``reference.py``; one without
a module reports that backend unavailable and says so):

========== ============================== ================================================
backend    module                         runs on
========== ============================== ================================================
torch      ``reference.py``               any torch device (pure PyTorch: oracle, baseline)
numba      ``numba_cpu.py``               the host (Numba, all cores)
numba_cuda ``numba_cuda.py``              CUDA devices (Numba CUDA kernels; the fallback)
cuda       ``cuda.py``                    CUDA devices (thin wrapper of ``porevae._cuda``)
========== ============================== ================================================

``backend="auto"`` picks, for the inputs' device, the first usable backend among those the call
supports: ``cuda``, ``numba_cuda``, ``torch`` for CUDA tensors; ``numba``, ``torch`` on the host.
An explicit backend that is unusable, unsupported by the call, or on the wrong device raises
with the reason. Backend modules are imported on first use (``numba.cuda`` only with a device).
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from pathlib import Path

import torch

from porevae._validation import check_choice
from porevae.ops._choices import BACKENDS

DEVICE_BACKENDS = ("cuda", "numba_cuda")
MODULES = {"torch": "reference", "numba": "numba_cpu", "numba_cuda": "numba_cuda",
           "cuda": "cuda"}
_PREFERENCE = {True: ("cuda", "numba_cuda", "torch"), False: ("numba", "torch")}


def backend_module(op: str, backend: str):
    """The module of ``backend`` for operation ``op`` (a sub-package of ``porevae.ops``)."""
    return importlib.import_module(f"porevae.ops.{op}.{MODULES[backend]}")


def has_backend(op: str, backend: str) -> bool:
    """Whether operation ``op`` has a module for ``backend`` at all."""
    return importlib.util.find_spec(f"porevae.ops.{op}.{MODULES[backend]}") is not None


def status(op: str, backend: str) -> dict:
    """``{"available": bool, "reason": str}`` of one backend of one operation."""
    if not has_backend(op, backend):
        return {"available": False, "reason": f"{op} has no {backend} backend"}
    if backend == "numba_cuda" and not torch.cuda.is_available():  # before importing numba.cuda
        return {"available": False, "reason": "torch sees no CUDA device"}
    try:
        module = backend_module(op, backend)
    except ImportError as exc:  # pragma: no cover - numba is a dependency
        return {"available": False, "reason": f"{MODULES[backend]} not importable: {exc}"}
    return module.status()


def resolve(op: str, backend: str, on_cuda: bool, supported=tuple(MODULES), why: str = ""):
    """The backend module to run ``op`` with.

    ``on_cuda``: the inputs are CUDA tensors. ``supported``: the backends this call can use
    (e.g. only ``torch`` for a covariance without a compiled closed form on points), with
    ``why`` saying what limits it.
    """
    check_choice(backend, "backend", BACKENDS)
    if backend == "auto":
        for name in _PREFERENCE[on_cuda]:
            if name in supported and status(op, name)["available"]:
                return backend_module(op, name)
        raise RuntimeError(f"no usable backend for {op}: {backends(op)}")  # torch always is
    if backend not in supported:
        raise ValueError(f"backend={backend!r} cannot run this {op} call{why}; use one of "
                         f"{[b for b in supported]}")
    st = status(op, backend)
    if not st["available"]:
        raise RuntimeError(f"backend={backend!r} is unavailable: {st['reason']}")
    if (backend in DEVICE_BACKENDS) != on_cuda and backend != "torch":
        where = "CUDA tensors" if backend in DEVICE_BACKENDS else "host arrays or CPU tensors"
        raise ValueError(f"backend={backend!r} needs {where} (no implicit host/device copies)")
    return backend_module(op, backend)


def operations() -> tuple[str, ...]:
    """The operations: the sub-packages of :mod:`porevae.ops` (one folder each)."""
    here = [str(Path(__file__).parent)]
    return tuple(sorted(m.name for m in pkgutil.iter_modules(here) if m.ispkg))


def backends(op: str | None = None) -> dict:
    """Availability of each backend: ``{name: {"available": bool, "reason": str}}``.

    With ``op`` (one of :func:`operations`) the answer is for that operation (the CUDA extension
    may lack one operation's kernels); without, a backend counts as available when it runs every
    operation that has it.
    """
    ops = (op,) if op is not None else operations()
    out = {}
    for name in MODULES:
        states = [status(o, name) for o in ops if op is not None or has_backend(o, name)]
        bad = [s for s in states if not s["available"]]
        out[name] = bad[0] if bad else states[0]
    return out
