"""What every worker follows into memory: the catalog, course effects, cohort trends and
watch statistics, read from the start of their topics on every partition.

A background thread only reads (a confluent-kafka consumer without a group, read
committed) and queues what it read; the processing thread applies it between records
(`drain`), so the scorer, catalog and statistics are only ever touched by one thread.
Every follower reads the same records in the same order, so where one has applied to
(`applied`) says whether another, in another process, has applied as much.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import deque
from collections.abc import Collection, Iterable, Iterator

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from streams.offsets import watermarks

log = logging.getLogger(__name__)
POLL_S = 0.2
TIMEOUT_S = 30.0  # for the topics' metadata and offsets
BATCH = 5000

Record = tuple[str, bytes | None, bytes | None]


class Follower(threading.Thread):
    """Reads `topics` from the beginning into a queue of (topic, key, value) batches;
    `caught_up` is set once it has read what they held when it started."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        super().__init__(daemon=True, name="follower")
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"nearline-follower-{uuid.uuid4().hex}",  # never commits
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "enable.partition.eof": False,
                "log_level": 3,
                "logger": log,  # through logging: a broker away is told once a while
            }
        )
        self.topics = topics
        # appends and pops of a deque are atomic: the processing thread, which looks
        # before every record, takes no lock and an empty deque costs it a truth test
        # each with the next offset of every partition it read from
        self.batches: deque[tuple[list[Record], dict[tuple[str, int], int]]] = deque()
        self.applied: dict[tuple[str, int], int] = {}  # what `drain` has handed out
        self.caught_up = threading.Event()
        self.stopping = threading.Event()

    def _assign(self) -> dict[tuple[str, int], int]:
        """Every partition of the topics from the beginning; their end offsets now."""
        metadata = self.consumer.list_topics(timeout=TIMEOUT_S)
        every = [(t, p) for t in self.topics for p in metadata.topics[t].partitions]
        offsets = watermarks(self.consumer, every, TIMEOUT_S)
        self.consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in every])
        return {at: high for at, (low, high) in offsets.items() if high > low}

    def run(self) -> None:
        try:
            behind = self._assign()
            if not behind:
                self.caught_up.set()
            while not self.stopping.is_set():
                records = self.consumer.consume(BATCH, POLL_S)
                batch, read = [], {}
                for r in records:
                    if r.error() is not None:
                        continue  # transient (broker away): librdkafka retries
                    batch.append((r.topic(), r.key(), r.value()))
                    read[r.topic(), r.partition()] = r.offset() + 1
                if batch:
                    self.batches.append((batch, read))
                if behind:
                    self._passed(behind)
                    if not behind:
                        self.caught_up.set()
        except KafkaException:
            log.exception("the follower stopped")
        finally:
            self.consumer.close()

    def _passed(self, behind: dict[tuple[str, int], int]) -> None:
        """Forget the partitions read up to their end offsets (transaction markers
        included: the position moves past them)."""
        for tp in self.consumer.position([TopicPartition(t, p) for t, p in behind]):
            if tp.offset >= behind[tp.topic, tp.partition]:
                del behind[tp.topic, tp.partition]

    def drain(self) -> Iterator[Record]:
        """Every record read since the last drain, in order."""
        while self.batches:
            batch, read = self.batches.popleft()
            yield from batch
            self.applied.update(read)

    def position(self, topic: str) -> dict[int, int]:
        """The next offset of every partition of `topic` drained from, by partition."""
        return {p: at for (t, p), at in self.applied.items() if t == topic}

    def reached(self, topic: str, position: dict[int, int]) -> bool:
        """Whether `topic` is drained up to `position` (another follower's `position`)."""
        return all(self.applied.get((topic, p), 0) >= at for p, at in position.items())

    def stop(self) -> None:
        self.stopping.set()


def newest(records: Iterable[Record], whole: Collection[str]) -> list[tuple[str, bytes, bytes]]:
    """`records` without tombstones and, on the topics in `whole` (each value a key's
    whole state), without the values a later one of the same key replaces; each kept
    record at the place of the last of its key. A stage writes a key's state per record
    it handles, and the worker then decodes a key once per batch read.

    >>> newest([("e", b"c1", b"1"), ("s", b"x", b"a"), ("e", b"c1", b"2"), ("s", b"x", b"b"),
    ...         ("e", b"c2", None)], whole={"e"})
    [('s', b'x', b'a'), ('e', b'c1', b'2'), ('s', b'x', b'b')]
    """
    out: dict[tuple[str, bytes] | int, tuple[str, bytes, bytes]] = {}
    for i, (topic, key, value) in enumerate(records):
        if key is None or value is None:
            continue
        at: tuple[str, bytes] | int = (topic, key) if topic in whole else i
        out.pop(at, None)
        out[at] = topic, key, value
    return list(out.values())
