"""Transitional alias of :mod:`porevae.studies` (the two studies now live in
:mod:`porevae.studies.dimension` and :mod:`porevae.studies.reconstruction`): kept only while
``porevae/cli/media.py`` still imports it; delete it when the ``study`` sub-commands come from
:mod:`porevae.cli.study`."""

from porevae.studies import (
    COVARIANCES,
    TARGETS,
    dimension_study,
    reconstruction_study,
    study_markdown,
)

__all__ = ["COVARIANCES", "TARGETS", "dimension_study", "reconstruction_study", "study_markdown"]
