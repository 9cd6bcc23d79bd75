"""`nearline worker`: checks, topics, then the Quix Streams worker until SIGINT/SIGTERM."""

from __future__ import annotations

import logging

from models.glmix import ArtifactError, GLMixModel, newest_artifact
from nearline.config import Settings
from nearline.logs import LOG_FORMAT, quiet_repeats
from nearline.topics import ensure_topics


def run_worker(settings: Settings, loglevel: str = "warning") -> None:
    check_serving(settings)
    ensure_topics(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=loglevel.upper(), format=LOG_FORMAT)
    from streams.worker import Worker

    worker = Worker(settings, loglevel=loglevel)
    # every client thread reports a broker away once per retry
    quiet_repeats("quixstreams", "streams.ticks", "streams.follow")
    worker.run()


def check_serving(settings: Settings) -> None:
    """Fail before starting (ValueError: a one-line user error) on a model folder or
    treatments the worker could not use. A folder without a version yet is fine: the
    worker serves the prior model until one is written there."""
    from scoring.recommend import parse_treatments

    model_dir = settings.model_dir
    if model_dir is not None:
        if model_dir.exists() and not model_dir.is_dir():
            raise ValueError(f"{model_dir} is not a model folder")
        try:
            newest = newest_artifact(model_dir)
        except ArtifactError:  # cold start: the first version written there rolls in
            newest = None
        if newest is not None:
            GLMixModel.load(newest)
    parse_treatments(settings.treatments, settings.channels)
