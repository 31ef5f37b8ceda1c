"""Studies of porevae's generators, one module each:

- :mod:`~porevae.studies.dimension`: VAE latent size vs KLE terms on log-permeability fields.
- :mod:`~porevae.studies.reconstruction`: a Fisher VAE on a synthetic medium, judged by its
  morphology statistics.

Names are imported on first use (PEP 562), so that the CLI reads a study's defaults without
importing the other study.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from porevae._lazy import lazy_exports

if TYPE_CHECKING:  # pragma: no cover
    from porevae.studies.dimension import (
        DEFAULT_COVARIANCES,
        dimension_study,
        latent_layout,
        study_markdown,
    )
    from porevae.studies.reconstruction import TARGETS, reconstruction_study

_NAMES = {"DEFAULT_COVARIANCES": "porevae.studies.dimension",
          "dimension_study": "porevae.studies.dimension",
          "latent_layout": "porevae.studies.dimension",
          "study_markdown": "porevae.studies.dimension",
          "TARGETS": "porevae.studies.reconstruction",
          "reconstruction_study": "porevae.studies.reconstruction"}

__all__ = ["DEFAULT_COVARIANCES", "TARGETS", "dimension_study", "latent_layout",
           "reconstruction_study", "study_markdown"]


__getattr__, __dir__ = lazy_exports(__name__, _NAMES, __all__)
