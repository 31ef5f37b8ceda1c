"""Modules loaded on first use: startup without the heavy libraries.

``torch = lazy_module("torch")`` binds a module object whose code runs at its first attribute
access (:class:`importlib.util.LazyLoader`, the recipe of the Python documentation). A module
that needs torch, Numba or h5py only to compute can then be imported by a path that only plans
(``porevae kle`` refuses a request that does not fit before any of them loads) and pay for them
when it computes. A module already imported is returned as it is.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


def lazy_module(name: str) -> types.ModuleType:
    """The module ``name``, executed at its first attribute access (``sys.modules`` holds it
    from now on, so a later ``import name`` gets the same object)."""
    if name in sys.modules:
        return sys.modules[name]
    parent = name.rpartition(".")[0]
    if parent:  # the parent package itself is imported now (cheap for porevae's packages)
        importlib.import_module(parent)
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    if parent:
        setattr(sys.modules[parent], name.rpartition(".")[2], module)
    return module


def lazy_exports(package: str, names: dict, public, modules=()) -> tuple:
    """``(__getattr__, __dir__)`` of a package whose public names are imported on first use
    (PEP 562): ``names`` maps a public name to the module that defines it (imported, the value
    then bound on the package), ``modules`` names submodules returned as they are, ``public``
    is the package's ``__all__`` (what ``dir()`` lists)."""

    def __getattr__(name):
        if name in modules:
            return importlib.import_module(f"{package}.{name}")
        if name in names:
            value = getattr(importlib.import_module(names[name]), name)
            setattr(sys.modules[package], name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(public)

    return __getattr__, __dir__
