"""Push a recorded or simulated log into Kafka, keyed as the contract says.

Catalog and profiles go first (compacted topics keyed by course_id / member_id), then
activity in the log's arrival order keyed by member_id, so a worker sees what a live
deployment would. Delivery is confirmed: the idempotent producer retries transient
errors (a broker away for a while) without duplicating, every acknowledgement is
counted, and records the broker did not acknowledge within the delivery timeout make
`publish_log` raise `Undelivered` with both counts, never return full ones.
It is confluent-kafka's producer (librdkafka), chosen for its publishing rate.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from confluent_kafka import KafkaError, Message, Producer
from tqdm import tqdm

from nearline.config import Settings
from nearline.topics import ensure_topics
from replay.logs import COURSES_FILE, EVENTS_FILE, MEMBERS_FILE, iter_raw_events, lines
from schemas import to_epoch_ms

DELIVERY_TIMEOUT_S = 60.0  # a record not acknowledged by then is undelivered
FLUSH_GRACE_S = 10.0


class Undelivered(RuntimeError):
    """Some records were not acknowledged; `delivered` and `failed` count them by topic."""

    def __init__(self, delivered: Counter[str], failed: Counter[str], error: str):
        self.delivered = delivered
        self.failed = failed
        super().__init__(
            f"{sum(failed.values())} of {sum(delivered.values()) + sum(failed.values())} "
            f"records not delivered ({error}): "
            + " ".join(f"{topic}={n}" for topic, n in sorted(failed.items()))
        )


class Pacer:
    """When each record is due, so that publishing follows event time sped up by `speed`,
    or stays under `max_rate` events per second; with neither, every record is due now.

    >>> pacer = Pacer(max_rate=10.0)
    >>> [round(pacer.due(1767225600000), 1) for _ in range(3)]
    [0.0, 0.1, 0.2]
    """

    def __init__(self, speed: float | None = None, max_rate: float | None = None):
        self.speed = speed
        self.max_rate = max_rate
        self._first_ts: int | None = None
        self._sent = 0

    def due(self, ts_ms: int) -> float:
        """Seconds after the start at which this record is due (0 when unpaced)."""
        if self.speed is not None:
            if self._first_ts is None:
                self._first_ts = ts_ms
            due = max(0, ts_ms - self._first_ts) / 1000 / self.speed
        elif self.max_rate is not None:
            due = self._sent / self.max_rate
        else:
            return 0.0
        self._sent += 1
        return due


class _Tally:
    """Delivery reports, by topic name without the prefix."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.delivered: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.error: KafkaError | None = None

    def __call__(self, error: KafkaError | None, message: Message) -> None:
        topic = message.topic().removeprefix(self.prefix)
        if error is None:
            self.delivered[topic] += 1
        else:
            self.failed[topic] += 1
            self.error = self.error or error


def _keyed_lines(path: Path, key_field: str) -> Iterator[tuple[bytes, bytes]]:
    for _, line in lines(path):
        yield str(json.loads(line)[key_field]).encode(), line


def _activity(log_dir: Path) -> Iterator[tuple[str, bytes | None, int | None, bytes]]:
    """(topic, key, ts, value) of each event, the value bytes passed through as read. A
    record without a usable member_id or ts still goes out, unkeyed and unpaced, so that
    the worker dead-letters it with the reason, as it would from a live producer."""
    for topic, raw in iter_raw_events(log_dir):
        try:
            record = json.loads(raw)
            yield topic, str(record["member_id"]).encode(), to_epoch_ms(record["ts"]), raw
        except (ValueError, KeyError, TypeError):
            yield topic, None, None, raw


def publish_log(
    log_dir: Path,
    settings: Settings,
    speed: float | None = None,
    max_rate: float | None = None,
    progress: bool = True,
    delivery_timeout_s: float = DELIVERY_TIMEOUT_S,
) -> Counter[str]:
    """Publish every record of `log_dir`; returns how many each topic acknowledged, or
    raises `Undelivered` when the broker did not acknowledge some."""
    for required in (COURSES_FILE, MEMBERS_FILE, EVENTS_FILE):
        if not (log_dir / required).is_file():
            raise FileNotFoundError(f"{log_dir / required} is missing: not a log directory")
    ensure_topics(settings)
    tally = _Tally(settings.topic_prefix)
    producer = Producer(
        {
            "bootstrap.servers": settings.bootstrap,
            "enable.idempotence": True,  # acks=all; retries neither duplicate nor reorder
            "partitioner": "murmur2_random",  # Kafka's default (partition_of), not librdkafka's
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 200_000,
            "delivery.timeout.ms": int(delivery_timeout_s * 1000),
            "on_delivery": tally,
            "log_level": 2,  # an outage ends in Undelivered, not in a line per reconnect
        }
    )
    pacer = Pacer(speed, max_rate)
    start = time.monotonic()
    sent = 0

    def send(topic: str, key: bytes | None, value: bytes) -> None:
        nonlocal sent
        while True:
            try:
                producer.produce(settings.topic(topic), key=key, value=value)
                break
            except BufferError:  # the local queue is full: wait for acknowledgements
                producer.poll(0.1)
        sent += 1
        if sent % 1000 == 0:
            producer.poll(0)

    for name, key_field in ((COURSES_FILE, "course_id"), (MEMBERS_FILE, "member_id")):
        for key, value in _keyed_lines(log_dir / name, key_field):
            send(name.removesuffix(".jsonl"), key, value)
    events = tqdm(_activity(log_dir), desc="replay", unit="ev", disable=not progress)
    for topic, key, ts, value in events:
        if ts is not None:
            due = start + pacer.due(ts)
            while (wait := due - time.monotonic()) > 0:
                producer.poll(wait)
        send(topic, key, value)
    left = producer.flush(delivery_timeout_s + FLUSH_GRACE_S)
    if tally.failed or left:
        failed = tally.failed.copy()
        if left:
            failed["unreported"] += left
        reason = tally.error.str() if tally.error else f"{left} still queued"
        raise Undelivered(tally.delivered, failed, reason)
    return tally.delivered
