"""ERT forward-model support: KLE coefficients from ``parameters.json`` to a field file.

ERT samples a ``GEN_KW`` group of standard normal coefficients ``XI_0000, XI_0001, ...`` (priors
``NORMAL 0 1``, see :func:`write_priors`) and, in every run folder, writes them to
``parameters.json``. ERT versions have used three layouts, all read here:

- grouped: ``{"KLE": {"XI_0000": 0.12, ...}, ...}``;
- grouped plus ``"KLE:XI_0000": 0.12`` composite keys (older versions);
- flat with values as records: ``{"XI_0000": {"value": 0.12}, ...}`` (recent versions).

The forward-model step ``porevae field`` turns them into ``Y = kle.field(xi)`` and writes the
transformed field (e.g. ``PERMX.GRDECL``) into the run folder, where the simulator deck includes
it. The ensemble smoother then updates a few hundred coefficients instead of every cell.
Coefficients missing beyond the group's last index are taken as 0 (a shorter expansion).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from porevae._files import atomic_path

DEFAULT_GROUP = "KLE"
DEFAULT_PREFIX = "XI_"


def _value(v, name):
    if isinstance(v, dict):
        v = v.get("value")
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
        raise ValueError(f"parameter {name} must be a finite number, got {v!r}")
    return float(v)


def read_coefficients(path, n_terms: int, group: str = DEFAULT_GROUP,
                      prefix: str = DEFAULT_PREFIX) -> np.ndarray:
    """KLE coefficients ``xi`` (n_terms,) from an ERT ``parameters.json``.

    Parameters named ``prefix + index`` (e.g. ``XI_0007``) are taken from ``group`` (or from
    the top level in the flat layout); indices must be ``0 .. m-1`` with ``m <= n_terms``, the
    remaining coefficients are 0.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a JSON parameter file ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of parameters, got "  # noqa: TRY004
                         f"{type(data).__name__}")
    entries = data.get(group) if isinstance(data.get(group), dict) else data
    pattern = re.compile(rf"^{re.escape(prefix)}(\d+)$")
    found = {}
    for name, v in entries.items():
        match = pattern.match(name)
        if match:
            found[int(match.group(1))] = _value(v, name)
    if not found:
        raise ValueError(f"{path}: no parameters {prefix}0000... in group {group!r} "
                         f"(keys: {sorted(entries)[:5]}...)")
    m = max(found) + 1
    if sorted(found) != list(range(m)):
        missing = sorted(set(range(m)) - set(found))[:5]
        raise ValueError(f"{path}: coefficients {prefix}{missing} are missing")
    if m > n_terms:
        raise ValueError(f"{path}: {m} coefficients but the KLE has only {n_terms} terms")
    xi = np.zeros(n_terms)
    xi[:m] = [found[i] for i in range(m)]
    return xi


def write_priors(path, n: int, prefix: str = DEFAULT_PREFIX) -> Path:
    """ERT ``GEN_KW`` prior file: ``XI_0000 NORMAL 0 1`` ... for ``n`` coefficients."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="ascii") as fh:
        fh.writelines(f"{prefix}{i:04d} NORMAL 0 1\n" for i in range(n))
    return path
