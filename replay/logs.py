"""The on-disk activity log shared by replay, labelling and evaluation.

A log directory holds four files:

- `courses.jsonl`, `members.jsonl`: one `Course` / `Member` record per line.
- `events.jsonl`: one activity record per line, tagged by its `kind` field
  (impression, click, autoplay, dismissal). Lines are in arrival order, which is event-time
  order except for late events and redelivered duplicates (same `event_id`, same bytes).
- `truth.json`: the parameters the simulator planted, for evaluation only.

Readers validate through the wire schemas, so a log that reads cleanly replays cleanly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from schemas import ACTIVITY_ADAPTER, KIND_TOPICS, AnyActivity, Course, Label, Member
from schemas.parse import describe

COURSES_FILE = "courses.jsonl"
MEMBERS_FILE = "members.jsonl"
EVENTS_FILE = "events.jsonl"
TRUTH_FILE = "truth.json"

M = TypeVar("M", bound=BaseModel)


class LogError(ValueError):
    """A log line that cannot be used; the message starts with `file:line:`."""


def write_records(path: Path, records: Iterable[BaseModel]) -> int:
    """Write records one per line (None fields left out); returns the number written."""
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(record.model_dump_json(exclude_none=True))
            f.write("\n")
            n += 1
    return n


def lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines with their 1-based number, newline stripped."""
    with path.open("rb") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield lineno, line


def _validated(path: Path, validate: Any) -> Iterator[Any]:
    for lineno, line in lines(path):
        try:
            yield validate(line)
        except ValidationError as e:
            raise LogError(f"{path}:{lineno}: {describe(e)}") from None


def _read_models(path: Path, model: type[M]) -> list[M]:
    return list(_validated(path, model.model_validate_json))


def read_courses(log_dir: str | Path) -> list[Course]:
    """Every course in the catalog file."""
    return _read_models(Path(log_dir) / COURSES_FILE, Course)


def read_members(log_dir: str | Path) -> list[Member]:
    """Every member in the profile file."""
    return _read_models(Path(log_dir) / MEMBERS_FILE, Member)


def read_labels(path: str | Path) -> list[Label]:
    """Labels from a JSONL file (`nearline labels` output), one per non-empty line."""
    return _read_models(Path(path), Label)


def read_events(log_dir: str | Path) -> Iterator[AnyActivity]:
    """Activity records in arrival order, validated one line at a time (streaming)."""
    return _validated(Path(log_dir) / EVENTS_FILE, ACTIVITY_ADAPTER.validate_json)


def last_event_ts(log_dir: str | Path) -> int:
    """The newest event time in the log: records after it are news to a replayed worker."""
    return max(e.ts for e in read_events(log_dir))


def iter_raw_events(log_dir: str | Path) -> Iterator[tuple[str, bytes]]:
    """(topic, raw JSON value) in arrival order for the Kafka replayer.

    The bytes are passed through untouched so that bad input reaches the deadletter path
    as it would from a real producer; only the `kind` is read to pick the topic. Lines the
    simulator writes start with `{"kind":"<kind>",`, others are parsed to find it.
    """
    path = Path(log_dir) / EVENTS_FILE
    for lineno, line in lines(path):
        kind = _kind(line)
        if kind not in KIND_TOPICS:
            raise LogError(f"{path}:{lineno}: unknown or missing kind {kind!r}")
        yield KIND_TOPICS[kind], line


def _kind(line: bytes) -> str | None:
    prefix = b'{"kind":"'
    if line.startswith(prefix):
        return line[len(prefix) : line.find(b'"', len(prefix))].decode("utf-8", "replace")
    try:
        record = json.loads(line)
    except ValueError:
        return None
    kind = record.get("kind") if isinstance(record, dict) else None
    return kind if isinstance(kind, str) else None


def read_truth(log_dir: str | Path) -> dict[str, Any]:
    """The planted parameters (see `replay.simulate.truth`)."""
    return json.loads((Path(log_dir) / TRUTH_FILE).read_text(encoding="utf-8"))
