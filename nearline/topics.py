"""Topic administration: create the contract topics up front (so partition counts match
for co-partitioning), and read exactly what a topic or a consumer group holds."""

from __future__ import annotations

import contextlib
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.partitioner.default import murmur2
from pydantic import BaseModel

from nearline.config import COMPACTED_TOPICS, Settings

STALL_S = 30.0  # reading a whole topic: this long without a record read is a failure


def ensure_topics(settings: Settings) -> list[str]:
    """Create missing topics (compacted where the contract says so); returns those created."""
    admin = KafkaAdminClient(
        bootstrap_servers=settings.bootstrap,
        client_id="nearline-admin",
        bootstrap_timeout_ms=10_000,
    )
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                settings.topic(name),
                num_partitions=settings.partitions,
                replication_factor=1,
                topic_configs={"cleanup.policy": "compact"} if name in COMPACTED_TOPICS else {},
            )
            for name in settings.contract_topics()
            if settings.topic(name) not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(wanted)
        return [t.name for t in wanted]
    finally:
        admin.close()


class Publisher:
    """Sends contract records keyed as the contract says (courses by course_id, everything
    else by member_id); `send` returns once the broker has them. For tests and benchmarks
    that act as a producer one record at a time (the replay publishes whole logs)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.producer = KafkaProducer(bootstrap_servers=settings.bootstrap)

    def send(self, topic: str, records: list[BaseModel]) -> None:
        for r in records:
            key = r.course_id if topic == "courses" else r.member_id
            value = r.model_dump_json().encode()
            self.producer.send(self.settings.topic(topic), key=key.encode(), value=value)
        self.producer.flush()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.producer.close()


def end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    """The offsets after the last committed record (transaction markers included)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed")
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return consumer.end_offsets(partitions) if partitions else {}
    finally:
        consumer.close()


def topic_size(bootstrap: str, topic: str) -> int:
    """Offsets ever taken in `topic` (the sum of its partitions' end offsets): its records
    where no transaction wrote to it, an upper bound where one did (markers)."""
    return sum(end_offsets(bootstrap, topic).values())


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) gives `key`: what every
    producer here uses, so tables and topics keyed alike are co-partitioned."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def read_topic(bootstrap: str, topic: str) -> list:
    """Every committed record currently in `topic` (read committed: what a transaction
    aborted or has not committed yet is not there), up to its end offsets; an error
    once `STALL_S` pass without a record read."""
    ends = {tp: end for tp, end in end_offsets(bootstrap, topic).items() if end > 0}
    if not ends:
        return []
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed"
    )
    consumer.assign(list(ends))
    consumer.seek_to_beginning(*ends)
    records = []
    try:
        deadline = time.monotonic() + STALL_S
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end")
            for batch in consumer.poll(timeout_ms=500).values():
                deadline = time.monotonic() + STALL_S
                records.extend(
                    r for r in batch if r.offset < ends[TopicPartition(r.topic, r.partition)]
                )
    finally:
        consumer.close()
    return records


def group_lag(bootstrap: str, group: str, topics: list[str]) -> dict[str, int] | None:
    """Records `group` has not committed yet, by `topic:partition` (only those behind);
    None while the group coordinator is not reachable yet."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        committed = admin.list_group_offsets(group).get(group, {})
    except KafkaError as e:
        if e.retriable:  # the offsets topic or the group coordinator is still coming up
            return None
        raise
    finally:
        admin.close()
    lag = {}
    for topic in topics:
        for tp, end in end_offsets(bootstrap, topic).items():
            done = committed[tp].offset if tp in committed else 0
            if end > done:
                lag[f"{tp.topic}:{tp.partition}"] = end - done
    return lag


def group_caught_up(bootstrap: str, group: str, topics: list[str]) -> bool:
    """True when `group` has committed the end offset of every partition of `topics`."""
    return group_lag(bootstrap, group, topics) == {}
