"""Studies of porevae's generators, one module each:

- :mod:`~porevae.studies.dimension`: VAE latent size vs KLE terms on log-permeability fields.
- :mod:`~porevae.studies.reconstruction`: a Fisher VAE on a synthetic medium, judged by its
  morphology statistics.
"""

from porevae.studies.dimension import COVARIANCES, dimension_study, latent_layout, study_markdown
from porevae.studies.reconstruction import TARGETS, reconstruction_study

__all__ = ["COVARIANCES", "TARGETS", "dimension_study", "latent_layout", "reconstruction_study",
           "study_markdown"]
