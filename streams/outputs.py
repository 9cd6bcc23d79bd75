"""What the stages produce, straight into the application's transactional producer.

Quix's own way out (`to_topic` after an expanding `apply`) builds a row per record,
serializes it through the topic and polls the producer after every record: more than
the member stage's own work on most records. Here a record is one call into
librdkafka, in the open transaction; the delivery reports go to Quix's callback, served
by the poll Quix makes once per record it consumes, so a failed delivery fails the
checkpoint as it would have.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from quixstreams import Application

from nearline.config import COHORT_LABELS, COURSE_LABELS

TOGETHER = (COURSE_LABELS, COHORT_LABELS)  # halves of one key sent as one record


class Out(NamedTuple):
    """One record to produce: the stage's topic name (unprefixed), key and value."""

    topic: str
    key: bytes
    value: bytes


class Outputs:
    """Produces `Out` records to the topics `names` maps them to (unprefixed -> name)."""

    def __init__(self, app: Application, names: Mapping[str, str]) -> None:
        self.internal = app._producer  # Quix has no public handle on its producer
        self.names = names

    def produce(self, outs: list[Out], timestamp_ms: int = 0) -> None:
        """`outs` (joined by `together`), timestamped `timestamp_ms` (0: now)."""
        internal = self.internal
        producer, report = internal._producer._producer, internal._on_delivery
        for out in together(outs):
            topic = self.names[out.topic]
            try:
                producer.produce(
                    topic, out.value, out.key, on_delivery=report, timestamp=timestamp_ms
                )
            except BufferError:  # the local queue is full: Quix's way waits for room
                internal.produce(topic, out.value, out.key, timestamp=timestamp_ms or None)


def together(outs: list[Out]) -> list[Out]:
    """`outs` with the course halves and cohort positives of one key joined into one
    record (a JSON array, in order): a daily sweep labels many members at once, and
    their halves then cost the course and cohort stages one record per key."""
    joined: dict[tuple[str, bytes], list[bytes]] = {}
    kept: list[Out] = []
    for out in outs:
        if out.topic in TOGETHER:
            joined.setdefault((out.topic, out.key), []).append(out.value)
        else:
            kept.append(out)
    kept += (Out(t, k, b"[" + b",".join(v) + b"]") for (t, k), v in joined.items())
    return kept
