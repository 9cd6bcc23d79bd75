"""`nearline worker`: checks, topics, then the Faust worker until SIGINT/SIGTERM."""

from __future__ import annotations

from models.glmix import GLMixModel, newest_artifact
from nearline.config import Settings
from nearline.runtime import require_fast_aiokafka
from nearline.topics import ensure_topics


def run_worker(settings: Settings, loglevel: str = "warning") -> None:
    require_fast_aiokafka()
    check_serving(settings)
    ensure_topics(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    from faust.worker import Worker

    from streams.app import app  # reads the same settings from the environment
    from streams.serving import serving  # noqa: F401  (registers the serving agents)

    Worker(app, loglevel=loglevel.upper(), quiet=True).execute_from_commandline()


def check_serving(settings: Settings) -> None:
    """Fail before starting Faust (ValueError: a one-line user error) on a model folder
    or treatments the worker could not use."""
    from scoring.recommend import parse_treatments

    if settings.model_dir is not None:
        GLMixModel.load(newest_artifact(settings.model_dir))
    parse_treatments(settings.treatments, settings.channels)
