"""`nearline worker`: checks, topics, then the Faust worker until SIGINT/SIGTERM."""

from __future__ import annotations

from nearline.config import Settings
from nearline.runtime import require_fast_aiokafka
from nearline.topics import ensure_topics


def run_worker(settings: Settings, loglevel: str = "warning") -> None:
    require_fast_aiokafka()
    ensure_topics(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    from faust.worker import Worker

    from streams.app import app  # reads the same settings from the environment

    Worker(app, loglevel=loglevel.upper(), quiet=True).execute_from_commandline()
