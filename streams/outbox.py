"""Outputs kept in the member's state until Kafka acknowledged them.

Without transactions a killed worker may leave any subset of one record's writes on
Kafka: its member state (the changelog) and its outputs (labels, views, updates) are
separate records, sent together and acknowledged in any order. The label agent writes
the state together with the outputs it is about to send (the outbox), then sends them
without waiting. A replacement recovers the outbox with the state and sends again what
the output topic does not hold yet (streams.fence reads what it holds); the outputs of
records processed again whose state was lost are held back by the same fence. So no
output is lost or repeated, and no record waits for an acknowledgement.

An output leaves the outbox at the member's next state write after its
acknowledgement (every member of a partition is rewritten each event-time day).
"""

from __future__ import annotations

import asyncio
import json
import struct
from dataclasses import dataclass, field

_LENGTH = struct.Struct(">I")


@dataclass(frozen=True)
class Output:
    """One record for an output topic (short name), stamped when it was created."""

    topic: str
    key: bytes
    value: bytes
    created_ms: int


def pack(state: bytes, outbox: list[Output]) -> bytes:
    """The table value: the state's bytes, then the outbox as JSON.

    >>> unpack(pack(b"s", [Output("labels", b"m1", b"{}", 5)]))
    (b's', [Output(topic='labels', key=b'm1', value=b'{}', created_ms=5)])
    """
    entries = [[o.topic, o.key.decode(), o.value.decode(), o.created_ms] for o in outbox]
    return _LENGTH.pack(len(state)) + state + json.dumps(entries).encode()


def unpack(raw: bytes) -> tuple[bytes, list[Output]]:
    """(state bytes, outbox) of a table value written by `pack`."""
    (n,) = _LENGTH.unpack_from(raw)
    end = _LENGTH.size + n
    entries = json.loads(raw[end:])
    outbox = [Output(t, k.encode(), v.encode(), ms) for t, k, v, ms in entries]
    return raw[_LENGTH.size : end], outbox


@dataclass
class Outbox:
    """Which outputs of this worker's outboxes Kafka acknowledged, and which input
    partitions were reconciled since the last assignment."""

    sent: dict[Output, asyncio.Future | None] = field(default_factory=dict)
    reconciled: set[int] = field(default_factory=set)

    def reset(self) -> None:
        """After a rebalance every partition's outboxes are reconciled again."""
        self.sent.clear()
        self.reconciled.clear()

    def first_since_assignment(self, partition: int) -> bool:
        """True once per input partition after an assignment: reconcile it now."""
        if partition in self.reconciled:
            return False
        self.reconciled.add(partition)
        return True

    def track(self, output: Output, future: asyncio.Future | None) -> None:
        """`output` was sent (`future` resolves on the acknowledgement), or the topic
        already holds it (None)."""
        self.sent[output] = future

    def unacknowledged(self, outbox: list[Output]) -> list[Output]:
        """What must stay in the outbox: not yet acknowledged, or not yet reconciled."""
        keep = []
        for output in outbox:
            if output in self.sent and _acknowledged(self.sent[output]):
                del self.sent[output]
            else:
                keep.append(output)
        return keep


def _acknowledged(future: asyncio.Future | None) -> bool:
    if future is None:  # found on the topic
        return True
    return future.done() and not future.cancelled() and future.exception() is None
