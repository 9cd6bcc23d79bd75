"""`nearline train --bootstrap` and `nearline trainer`: refits of the batch GLMix from the
topics, once or on a schedule (decisions in `models.trainer`)."""

from __future__ import annotations

import time
from collections.abc import Callable

from models.trainer import NoTrainingData, RefitResult, Refitter, Schedule, TrainingData
from nearline.config import Settings
from nearline.snapshot import SnapshotError, read_snapshot
from scoring.cohort_skills import as_scored

TRAINING_TOPICS = ("labels", "courses", "members")


def refit_from_topics(
    settings: Settings, refitter: Refitter, progress: bool = False
) -> RefitResult:
    """Read the training topics up to now and refit once."""
    records = read_snapshot(settings, TRAINING_TOPICS, progress=progress)
    data = TrainingData.from_records(records["labels"], records["courses"], records["members"])
    data.members = as_scored(data.members, settings.cohort_skill_table())  # as workers do
    return refitter.refit(data, source={t: len(r) for t, r in records.items()})


def summary(result: RefitResult) -> str:
    """One line: the version, where it went and why (the held-out AUCs)."""
    m = result.metrics
    verb = "published" if result.published else "refused"
    return f"{m['version']} {verb} -> {result.path} ({m['reason']})"


def run_trainer(
    settings: Settings,
    refitter: Refitter,
    every_s: float,
    say: Callable[[str], None] = print,
) -> None:
    """Refit every `every_s` until interrupted. The first refit's failure ends the run (a
    wrong broker or folder is the user's to fix); a later one is reported and retried at
    the next tick, so a broker restart does not stop the schedule."""
    schedule = Schedule(every_s)
    first = True
    while True:
        time.sleep(schedule.delay())
        try:
            say(summary(refit_from_topics(settings, refitter, refitter.progress)))
        except (SnapshotError, NoTrainingData) as e:
            if first:
                raise
            say(f"refit failed, next at the next tick: {e}")
        first = False
