"""Read topics from their beginning up to the end offsets they had when the read started.

What a batch refit learns from: the committed records (aborted transactions skipped, the
end of a partition its last stable offset) up to a fixed point, so records written while
the read goes on wait for the next refit. confluent-kafka (librdkafka) reads them:
kafka-python spends most of a read in its pure-Python CRC checks.
Only moves bytes; `models.trainer` parses and decides.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from tqdm import tqdm

from nearline.config import Settings
from streams.offsets import watermarks

Records = list[tuple[bytes | None, bytes | None]]  # (key, value) in offset order per partition
READ_TIMEOUT_S = 120.0
CONNECT_TIMEOUT_S = 10.0
_BATCH = 10_000
log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())  # shown only where the application configures logging


class SnapshotError(RuntimeError):
    """The broker could not be reached or a topic could not be read to its end."""


def read_snapshot(
    settings: Settings, topics: Iterable[str], progress: bool = False
) -> dict[str, Records]:
    """(key, value) of every committed record of each contract topic (prefixed through
    `settings`) up to its end offsets at the start; a missing topic reads as empty."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap,
            "group.id": f"{settings.app_id}-trainer",  # never joined: partitions are assigned
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "fetch.max.bytes": 64 << 20,
            "max.partition.fetch.bytes": 16 << 20,
        },
        logger=log,  # librdkafka's connection errors: to logging, not stderr
    )
    try:
        return _read(consumer, settings, list(topics), progress)
    except KafkaException as e:
        raise SnapshotError(f"cannot read from Kafka at {settings.bootstrap}: {e}") from None
    finally:
        consumer.close()


def _read(
    consumer: Consumer, settings: Settings, topics: list[str], progress: bool
) -> dict[str, Records]:
    names = {settings.topic(t): t for t in topics}
    try:
        listed = consumer.list_topics(timeout=CONNECT_TIMEOUT_S).topics
    except KafkaException:
        raise SnapshotError(f"cannot reach Kafka at {settings.bootstrap}") from None
    found = [
        (name, p)
        for name in names
        if (meta := listed.get(name)) is not None and meta.error is None
        for p in sorted(meta.partitions)
    ]
    todo: dict[tuple[str, int], int] = {}  # (topic, partition) -> end offset
    total = 0
    for at, (low, high) in watermarks(consumer, found, CONNECT_TIMEOUT_S).items():
        if high > low:
            todo[at] = high
            total += high - low
    out: dict[str, Records] = {t: [] for t in topics}
    if not todo:
        return out
    consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in todo])
    deadline = time.monotonic() + READ_TIMEOUT_S
    with tqdm(total=total, disable=not progress, desc="reading topics", unit="rec") as bar:
        while todo:
            if time.monotonic() > deadline:
                left = ", ".join(f"{t}:{p}" for t, p in todo)
                raise SnapshotError(f"could not read {left} to the end within {READ_TIMEOUT_S} s")
            kept = 0
            for m in consumer.consume(num_messages=_BATCH, timeout=0.5):
                at, offset, error = (m.topic(), m.partition()), m.offset(), m.error()
                end = todo.get(at)
                if end is None:
                    continue
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        raise KafkaException(error)
                    if offset >= end:
                        del todo[at]
                    continue
                if offset < end:
                    out[names[at[0]]].append((m.key(), m.value()))
                    kept += 1
                if offset + 1 >= end:
                    del todo[at]
            bar.update(kept)
    return out
