"""Batch refits from what the topics hold, published as versions of a model folder.

A refit learns the settled labels (`models.train.settled`) except those of the newest
settled impression day, which it holds out: the candidate and the serving model (the
folder's newest version) are both scored on that day, neither having learned it, and the
comparison goes in `metrics.json` beside the candidate. Serving loses nothing by the
hold-out: workers learn that day near-line on top of the batch model, and the next
day's refit learns it. A candidate whose AUC there falls more than `max_auc_drop` below
the serving model's is kept under `refused/` instead of published; workers roll in the
newest version by name, so a version appears whole (written aside, then renamed).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from models.examples import Examples, event_ts
from models.glmix import META, GLMixModel
from models.history import DAY_MS
from models.refit import batch_logits
from models.spec import FeatureSpec
from models.train import featurise, quality, settled, train
from schemas import Course, Label, Member

METRICS = "metrics.json"
REFUSED = "refused"
INCOMING = ".incoming"  # versions being written, renamed into place when whole
_VERSION = re.compile(r"v(\d+)")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
Fit = Callable[..., GLMixModel]  # (examples, spec, init, **hyperparameters) -> model


class NoTrainingData(ValueError):
    """The topics hold nothing a refit can learn from."""


def parse_duration(text: str) -> float:
    """Seconds of `30s`, `15m`, `24h`, `7d` (or a bare number of seconds).

    >>> parse_duration("24h"), parse_duration("2s"), parse_duration("0.5")
    (86400.0, 2.0, 0.5)
    """
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smhd]?)\s*", text)
    if m is None or float(m[1]) <= 0:
        raise ValueError(f"not a positive duration: {text!r} (e.g. 30s, 15m, 24h, 7d)")
    return float(m[1]) * _UNITS.get(m[2], 1.0)


@dataclass
class TrainingData:
    """Labels, catalog and profiles as parsed from their topics; records that do not
    parse are counted in `invalid` (the worker dead-letters them the same way)."""

    labels: list[Label]
    courses: list[Course]
    members: list[Member]
    invalid: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_records(
        cls,
        labels: Iterable[tuple[bytes | None, bytes | None]],
        courses: Iterable[tuple[bytes | None, bytes | None]],
        members: Iterable[tuple[bytes | None, bytes | None]],
    ) -> TrainingData:
        """From (key, value) records in offset order: every valid label; of the compacted
        `courses` and `members`, the newest record per key (a tombstone deletes it).

        >>> c = b'{"member_id": "m1", "skills": {"sql": 1.0}}'
        >>> d = TrainingData.from_records([(b"m1", b"{}")], [], [(b"m1", c), (b"m2", c)])
        >>> d.invalid, [m.member_id for m in d.members]
        ({'labels': 1}, ['m1', 'm1'])
        """
        invalid: dict[str, int] = {}
        parsed = [_parsed(Label, v, "labels", invalid) for _, v in labels]
        return cls(
            [lb for lb in parsed if lb is not None],
            _newest_by_key(Course, courses, "courses", invalid),
            _newest_by_key(Member, members, "members", invalid),
            invalid,
        )

    def require(self) -> None:
        """Raise `NoTrainingData` naming what is missing."""
        for name in ("courses", "labels"):
            if not getattr(self, name):
                raise NoTrainingData(f"topic {name} holds no valid records")


def _parsed(model: type[BaseModel], raw: bytes | None, topic: str, invalid: dict[str, int]):
    try:
        return model.model_validate_json(raw or b"")
    except ValidationError:
        invalid[topic] = invalid.get(topic, 0) + 1
        return None


def _newest_by_key(
    model: type[BaseModel],
    records: Iterable[tuple[bytes | None, bytes | None]],
    topic: str,
    invalid: dict[str, int],
) -> list:
    newest: dict[bytes | None, Any] = {}
    for key, value in records:
        if value is None:
            newest.pop(key, None)
        elif (record := _parsed(model, value, topic, invalid)) is not None:
            newest[key] = record
    return list(newest.values())


@dataclass
class Split:
    """Settled labels to learn and those of the held-out day (its UTC midnight, epoch
    ms; None when there is only one day, which is then learned and not held out)."""

    train: list[Label]
    held_out: list[Label]
    day: int | None


def hold_out_newest_day(labels: Iterable[Label], days: int | None = None) -> Split:
    """Split settled labels by impression day: the newest day held out, the `days - 1`
    days before it (all of them without `days`) to learn.

    >>> lb = lambda day: Label(member_id="m", course_id="c", channel="feed", label=0,
    ...     source="timeout", impression_ts=day * DAY_MS, label_ts=(day + 1) * DAY_MS, rule="r")
    >>> s = hold_out_newest_day([lb(20000), lb(20001), lb(20002)], days=2)
    >>> len(s.train), len(s.held_out), s.day == 20002 * DAY_MS
    (1, 1, True)
    """
    labels = list(labels)
    if not labels:
        return Split([], [], None)
    newest = max(event_ts(lb) for lb in labels) // DAY_MS
    first = -math.inf if days is None else newest - days + 1
    kept = [lb for lb in labels if event_ts(lb) // DAY_MS >= first]
    train_ = [lb for lb in kept if event_ts(lb) // DAY_MS < newest]
    if not train_:
        return Split(kept, [], None)
    return Split(train_, [lb for lb in kept if event_ts(lb) // DAY_MS == newest], newest * DAY_MS)


@dataclass(frozen=True)
class Gate:
    """Publish a candidate unless its held-out AUC is more than `max_auc_drop` below the
    serving model's (None: always publish, the comparison is only recorded).

    >>> Gate(0.01).decide(0.70, 0.705)
    (True, 'AUC 0.7000 vs serving 0.7050: within 0.01')
    >>> Gate(0.01).decide(0.60, 0.705)[0]
    False
    """

    max_auc_drop: float | None = None

    def decide(self, candidate: float | None, serving: float | None) -> tuple[bool, str]:
        if serving is None or candidate is None:
            return True, "nothing to compare with"
        said = f"AUC {candidate:.4f} vs serving {serving:.4f}"
        if self.max_auc_drop is None:
            return True, f"{said}: not gated"
        if candidate >= serving - self.max_auc_drop:
            return True, f"{said}: within {self.max_auc_drop:g}"
        return False, f"{said}: more than {self.max_auc_drop:g} worse"


class ModelFolder:
    """A folder of versioned artifacts `v0001`, `v0002`, ... (newest by name serves),
    and under `refused/` the candidates a gate kept back.

    >>> folder = ModelFolder(tempfile.mkdtemp())
    >>> folder.newest() is None, folder.next_name()
    (True, 'v0001')
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def versions(self) -> list[Path]:
        """Published artifacts, oldest first."""
        if not self.path.is_dir():
            return []
        return sorted(p for p in self.path.iterdir() if (p / META).exists())

    def newest(self) -> Path | None:
        versions = self.versions()
        return versions[-1] if versions else None

    def next_name(self) -> str:
        numbers = [int(m[1]) for p in self.versions() if (m := _VERSION.fullmatch(p.name))]
        return f"v{max(numbers, default=0) + 1:04d}"

    def write(self, model: GLMixModel, metrics: dict[str, Any], published: bool) -> Path:
        """Write the artifact and its metrics aside, then move them in whole."""
        parent = self.path if published else self.path / REFUSED
        final = parent / metrics["version"]
        incoming = self.path / INCOMING  # a folder no reader takes for a version
        incoming.mkdir(parents=True, exist_ok=True)
        parent.mkdir(parents=True, exist_ok=True)
        aside = Path(tempfile.mkdtemp(prefix=f"{final.name}-", dir=incoming))
        model.save(aside)
        (aside / METRICS).write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        if final.exists():  # only a refused candidate's name is used twice
            shutil.rmtree(final)
        aside.rename(final)
        return final

    def prune(self, keep: int) -> list[Path]:
        """Delete all but the `keep` newest published versions and refused candidates."""
        refused = ModelFolder(self.path / REFUSED).versions()
        gone = self.versions()[:-keep] + refused[:-keep]
        for p in gone:
            shutil.rmtree(p)
        return gone


@dataclass
class RefitResult:
    path: Path
    published: bool
    metrics: dict[str, Any]


class Refitter:
    """One refit: split, featurise, fit warm-started from the newest version when its
    feature spec still fits the catalog, compare on the held-out day, write the version.

    >>> from models.synthetic import planted_records
    >>> courses, members, labels = planted_records(n_members=40, n_courses=12, n_labels=3000)
    >>> data = TrainingData(labels, courses, members)
    >>> folder = ModelFolder(tempfile.mkdtemp())
    >>> [Refitter(folder, window_ms=3_600_000).refit(data).path.name for _ in range(2)]
    ['v0001', 'v0002']
    >>> GLMixModel.load(folder.newest()).meta["warm_start"]
    'v0001'
    """

    def __init__(
        self,
        folder: ModelFolder,
        *,
        window_ms: int = DAY_MS,
        days: int | None = None,
        keep: int | None = None,
        max_auc_drop: float | None = None,
        fit: Fit = train,
        progress: bool = False,
        **hyperparameters: Any,
    ):
        self.folder = folder
        self.window_ms = window_ms
        self.days = days
        self.keep = keep
        self.max_auc_drop = max_auc_drop
        self.fit = fit
        self.progress = progress
        self.hyperparameters = hyperparameters

    def refit(self, data: TrainingData, source: dict[str, Any] | None = None) -> RefitResult:
        """Fit, compare and write the next version (published, or refused by the gate)."""
        data.require()
        usable = settled(data.labels, self.window_ms)
        split = hold_out_newest_day(usable, self.days)
        if not split.train:
            raise NoTrainingData(
                f"none of {len(data.labels)} labels is settled (attribution window of "
                f"{self.window_ms / 3_600_000:g} h not closed since the impression)"
            )
        spec = FeatureSpec.for_courses(data.courses)
        newest = self.folder.newest()
        serving, unreadable = None, None
        if newest is not None:
            try:
                serving = GLMixModel.load(newest)
            except ValueError as e:  # another artifact format or feature layout: train cold
                unreadable = {"version": newest.name, "unreadable": str(e)}
        init = serving if serving is not None and serving.spec == spec else None
        labels = split.train + split.held_out
        ex, skipped = featurise(labels, data.courses, data.members, spec, self.progress)
        held = ex.ts // DAY_MS == (split.day or -DAY_MS) // DAY_MS
        model = self.fit(ex.subset(np.flatnonzero(~held)), spec, init, **self.hyperparameters)
        candidate = _scored(model, ex.subset(np.flatnonzero(held)))
        against = unreadable
        if serving is not None:
            if serving.spec != spec:  # the catalog's categories changed since it was trained
                ex = featurise(labels, data.courses, data.members, serving.spec)[0]
            against = {"version": newest.name, **_scored(serving, ex.subset(np.flatnonzero(held)))}
        ok, reason = Gate(self.max_auc_drop).decide(
            candidate["auc"], None if against is None else against.get("auc")
        )
        model.meta["warm_start"] = None if init is None else newest.name
        model.meta["data"].update(
            skipped_unknown_course=skipped,
            unsettled_left_out=len(data.labels) - len(usable),
            older_left_out=len(usable) - len(labels),
            invalid_records=data.invalid,
            **({} if source is None else {"records_read": source}),
        )
        metrics = {
            "version": self.folder.next_name(),
            "held_out_day": None if split.day is None else _iso_day(split.day),
            "candidate": candidate,
            "serving": against,
            "max_auc_drop": self.max_auc_drop,
            "published": ok,
            "reason": reason,
            "warm_start": model.meta["warm_start"],
        }
        path = self.folder.write(model, metrics, published=ok)
        if self.keep is not None:
            self.folder.prune(self.keep)
        return RefitResult(path, ok, metrics)


def _scored(model: GLMixModel, ex: Examples) -> dict[str, Any]:
    """{labels, auc, log_loss} of a model on examples (no AUC without both classes)."""
    if len(np.unique(ex.y)) < 2:
        return {"labels": len(ex), "auc": None, "log_loss": None}
    return {"labels": len(ex), **quality(ex.y, batch_logits(model, ex))}


def _iso_day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


class Schedule:
    """Ticks `every_s` apart, the first at once; a tick taken late (the previous refit
    overran) comes at once, and the next `every_s` after it.

    >>> s = Schedule(10.0, clock=iter([0.0, 3.0, 25.0]).__next__)
    >>> s.delay(), s.delay(), s.delay()
    (0.0, 7.0, 0.0)
    """

    def __init__(self, every_s: float, clock: Callable[[], float] = time.monotonic):
        self.every_s = every_s
        self.clock = clock
        self._due: float | None = None

    def delay(self) -> float:
        """Seconds to wait for the next tick (which is then counted as taken)."""
        now = self.clock()
        start = now if self._due is None else max(self._due, now)
        self._due = start + self.every_s
        return start - now
