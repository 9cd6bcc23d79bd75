"""`nearline worker`: checks, topics, then the Quix Streams worker until SIGINT/SIGTERM."""

from __future__ import annotations

import logging

from models.glmix import GLMixModel, newest_artifact
from nearline.config import Settings
from nearline.logs import quiet_repeats
from nearline.topics import ensure_topics


def run_worker(settings: Settings, loglevel: str = "warning") -> None:
    check_serving(settings)
    ensure_topics(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=loglevel.upper(), format="[%(asctime)s] [%(levelname)s] [%(name)s] : %(message)s"
    )
    from streams.worker import Worker

    worker = Worker(settings, loglevel=loglevel)
    # the client's threads report a broker away once per retry each
    quiet_repeats("quixstreams")
    worker.run()


def check_serving(settings: Settings) -> None:
    """Fail before starting (ValueError: a one-line user error) on a model folder or
    treatments the worker could not use."""
    from scoring.recommend import parse_treatments

    if settings.model_dir is not None:
        GLMixModel.load(newest_artifact(settings.model_dir))
    parse_treatments(settings.treatments, settings.channels)
