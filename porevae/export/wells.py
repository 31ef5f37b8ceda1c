"""Well data in the space of the written field: a table (:mod:`porevae.kle.welldata`) -> a
conditioned KLE (:class:`porevae.kle.conditioning.ConditionalKLE`) or exact sampler
(:class:`porevae.kle.exact.ConditionalExact`, kriging of the residuals) and the record that
ensemble manifests and stack files keep.

``data_space="field"``: the table's values are the Gaussian field ``Y`` of the KLE.
``data_space="perm"``: they are permeability [mD], mapped to ``Y`` by the inverse of the run's
transform (:meth:`porevae.export.transforms.Transform.field_from_perm`), so that the written
permeability honours noise-free data (to rounding: relative 1e-12 or so in float64). The noise,
given or in the table, is a standard deviation of ``Y`` in either case.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from porevae._validation import check_choice
from porevae.kle.conditioning import ConditionalKLE, condition
from porevae.kle.exact import ConditionalExact, ExactSampler
from porevae.kle.welldata import read_wells

DATA_SPACES = ("field", "perm")


def condition_on_wells(kle, path, *, noise=None, data_space: str = "field", transform=None,
                       one_based: bool = False) -> tuple[ConditionalKLE | ConditionalExact, dict]:
    """``(posterior, record)``: ``kle`` conditioned on the well table ``path``.

    Parameters
    ----------
    kle : porevae.KLE or porevae.kle.exact.ExactSampler
    path : str or Path
        CSV well table (:mod:`porevae.kle.welldata`: header ``x, y[, z]`` or ``i, j[, k]``,
        ``value``, optionally ``noise`` and ``well``).
    noise : float, optional
        Standard deviation of every datum's error (units of ``Y``); default: the table's
        ``noise`` column, else 0 (exact data). Refused with a ``noise`` column.
    data_space : {"field", "perm"}
        What the values are: the Gaussian field ``Y``, or permeability [mD] (needs
        ``transform`` with a permeability: ``perm`` "exp", "geometric" or "arithmetic").
    transform : porevae.export.Transform, optional
        The run's transform; used only with ``data_space="perm"``.
    one_based : bool
        The table's ``i, j, k`` count from 1.

    Returns
    -------
    posterior : ConditionalKLE or ConditionalExact
    record : dict
        ``{"file", "sha256", "data_space", "noise", "one_based", "n_data"}`` (JSON): where the
        data came from and how they were read (``"noise"``: the one standard deviation used, or
        ``"table"`` for the table's column); ``posterior.params()["conditioning"]`` holds the
        data as used (cells, field values, noise).
    """
    check_choice(data_space, "data_space", DATA_SPACES)
    table = read_wells(path, kle.grid, one_based=one_based)
    values = table.values
    if data_space == "perm":
        values = _perm_to_field(table, transform, kle)
    if isinstance(kle, ExactSampler):
        if noise is not None and table.noise is not None:
            raise ValueError(f"{table.path} has a noise column: give no other noise (or remove "
                             f"the column)")
        r = table.noise if table.noise is not None else (0.0 if noise is None else noise)
        post = kle.condition(table.locations, values, r, cells=table.cells, labels=table.labels)
    else:
        post = table.condition(kle, values, noise)
    record = {"file": str(Path(path).resolve()), "sha256": table.sha256,
              "data_space": data_space,
              "noise": "table" if table.noise is not None else float(noise or 0.0),
              "one_based": bool(one_based), "n_data": len(table)}
    return post, record


def conditional_from_data(kle, data: dict) -> ConditionalKLE | ConditionalExact:
    """The posterior again from its ``params()["conditioning"]`` (``{"cells", "values",
    "noise"}``, as kept in a manifest): how ensemble workers condition ``kle`` (a KLE or an
    exact sampler)."""
    if isinstance(kle, ExactSampler):
        return kle.condition(None, data["values"], np.asarray(data["noise"]),
                             cells=data["cells"])
    return condition(kle, None, data["values"], np.asarray(data["noise"]), cells=data["cells"])


def _perm_to_field(table, transform, kle) -> np.ndarray:
    """The table's permeability values [mD] as field values, refusing (naming the line) those
    that the transform never gives."""
    if transform is None or transform.perm == "gaussian":
        raise ValueError("data_space='perm' needs a transform with a permeability (perm 'exp', "
                         "'geometric' or 'arithmetic'): the values are then in mD")
    k = table.values
    low, high = transform.perm_bounds
    for label, v in zip(table.labels, k):
        if not v > 0 or (low is not None and v < low) or (high is not None and v > high):
            raise ValueError(f"{label}, column 'value': {v:g} mD is not a permeability the "
                             f"transform gives (> 0, within the bounds {[low, high]} mD)")
    return transform.field_from_perm(k, kle.mean, kle.cov.variance)
