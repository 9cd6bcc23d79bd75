"""No output twice after a handover, without Kafka transactions.

At-least-once processing re-processes the records after a partition's committed offset
when the partition moves (a killed worker, a rebalance), and a recovered outbox holds
outputs that may have reached their topic already (see streams.outbox). The fence reads
what the output topic already holds and admits each such record once less.

Which records to read: the records processed again are those from an input partition's
committed offset on, the first records it delivers after an assignment. They were
appended before the previous owner processed them, so every output they produced was
created after the oldest of them was stamped, less SKEW_MS for clocks and stamps out of
order; an outbox's output was created when it was stamped. The fence of an output
partition is read when the first output to it is about to be sent, and read further
back when an older input or output turns up.

Faust's exactly_once guarantee would do this with Kafka transactions, but
faust-streaming 0.15.3 still repeats outputs after a kill with it (faust#517, #177,
#323 are open).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition

log = logging.getLogger(__name__)
SKEW_MS = 60_000  # tolerated clock difference between the producers of inputs and outputs
SLOW_S = 10.0  # a wait on Kafka this long is logged

# (partition, since_ms, before_offset or None) -> (first offset read, values)
Reader = Callable[[int, int, int | None], Awaitable[tuple[int, list[bytes]]]]


@dataclass
class Fence:
    """Per output partition: the values already on the topic, not yet produced again."""

    read: Reader
    identity: Callable[[bytes], bytes] = lambda value: value
    since: dict[int, int] = field(default_factory=dict)  # partition -> covered since (ms)
    first: dict[int, int] = field(default_factory=dict)  # partition -> first offset read
    held: dict[int, Counter[bytes]] = field(default_factory=dict)

    def reset(self) -> None:
        """After a rebalance every assigned partition restarts at its committed offset."""
        self.since.clear()
        self.first.clear()
        self.held.clear()

    async def cover(self, partition: int, input_since_ms: int) -> None:
        """Know every output of the input records stamped from `input_since_ms` on."""
        since = input_since_ms - SKEW_MS
        if partition in self.since and self.since[partition] <= since:
            return
        first, values = await self.read(partition, since, self.first.get(partition))
        self.held.setdefault(partition, Counter()).update(map(self.identity, values))
        self.since[partition] = since
        self.first[partition] = min(first, self.first.get(partition, first))

    def admit(self, partition: int, value: bytes) -> bool:
        """False (once per copy on the topic) for an output produced before."""
        held = self.held.get(partition)
        if not held:
            return True
        key = self.identity(value)
        if held[key] <= 0:
            return True
        held[key] -= 1
        if not held[key]:
            del held[key]  # nothing left to hold: later values skip the identity
        log.info("fence: held back a copy of %r", value[:80])
        return False


@dataclass
class Reprocessing:
    """Per input partition, the stamp of the oldest record delivered since the last
    assignment: everything after the committed offsets is older than none of them."""

    first_ms: dict[tuple[str, int], int] = field(default_factory=dict)

    def reset(self) -> None:
        self.first_ms.clear()

    def since(self, topic: str, partition: int, ts_ms: int) -> int:
        """Where the fences must reach for outputs of this record (of `partition`)."""
        if (topic, partition) not in self.first_ms:
            log.info("first record of %s[%d] since the assignment: %d", topic, partition, ts_ms)
            self.first_ms[topic, partition] = ts_ms
        return min(ms for (_, p), ms in self.first_ms.items() if p == partition)


def topic_reader(bootstrap: str, topic: str) -> Reader:
    """Reads `topic`'s partition from a creation time up to an offset (or its end) with
    one consumer without a group kept for the worker's life (a read is then a few round
    trips), starting over with a new one (and saying so) when an attempt takes longer
    than SLOW_S."""
    consumer: AIOKafkaConsumer | None = None

    async def read(partition: int, since_ms: int, before: int | None) -> tuple[int, list[bytes]]:
        nonlocal consumer
        attempt = 1
        while True:
            try:
                if consumer is None:
                    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
                    await asyncio.wait_for(consumer.start(), SLOW_S)
                return await asyncio.wait_for(
                    read_once(consumer, partition, since_ms, before), SLOW_S
                )
            except TimeoutError:
                log.warning("fence: %s[%d] read timed out (attempt %d)", topic, partition, attempt)
                stale, consumer = consumer, None
                await asyncio.wait_for(stale.stop(), SLOW_S)
                attempt += 1

    async def read_once(
        consumer: AIOKafkaConsumer, partition: int, since_ms: int, before: int | None
    ) -> tuple[int, list]:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        end = before if before is not None else (await consumer.end_offsets([tp]))[tp]
        found = (await consumer.offsets_for_times({tp: max(since_ms, 0)}))[tp]
        start = min(found.offset, end) if found is not None else end
        consumer.seek(tp, start)
        values: list[bytes] = []
        while await consumer.position(tp) < end:
            for record in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
                if record.offset < end:
                    values.append(record.value)
        log.info("fence: %s[%d] holds %d since %d", topic, partition, len(values), since_ms)
        return start, values

    return read


def label_identity(value: bytes) -> bytes:
    """An impression is labelled once, whatever the label says; other labels by value.

    >>> label_identity(b'{"impression_event_id": "i1", "label": 0}')
    b'impression:i1'
    """
    impression = json.loads(value).get("impression_event_id")
    return f"impression:{impression}".encode() if impression else value
