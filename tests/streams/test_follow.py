"""Integration: where a follower has applied to, and another process's follower judged by
it, on a real broker."""

from __future__ import annotations

import uuid

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from nearline.supervise import wait_until
from streams.follow import Follower


def _topic(bootstrap: str, records: list[tuple[int, bytes]]) -> str:
    """A new two-partition topic holding `records` (partition, value)."""
    name = f"follow-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 2, 1)])[name].result()
    producer = Producer({"bootstrap.servers": bootstrap})
    for partition, value in records:
        producer.produce(name, value=value, key=value, partition=partition)
    producer.flush(30)
    return name


def test_a_follower_tells_how_far_it_applied_and_whether_another_reached_as_far(
    kafka_bootstrap,
):
    name = _topic(kafka_bootstrap, [(0, b"a"), (0, b"b"), (1, b"c")])
    ahead, behind = Follower(kafka_bootstrap, [name]), Follower(kafka_bootstrap, [name])
    ahead.start()
    try:
        ahead.caught_up.wait(30)
        assert ahead.position(name) == {}  # read, not applied yet
        assert sorted(value for _, _, value in ahead.drain()) == [b"a", b"b", b"c"]
        position = ahead.position(name)
        assert position == {0: 2, 1: 1}
        assert ahead.reached(name, position)
        assert not ahead.reached(name, {0: 3, 1: 1})  # a record it has not applied
        assert not behind.reached(name, position)  # nothing read
        behind.start()

        def applied_as_far() -> bool:
            for _ in behind.drain():
                pass
            return behind.reached(name, position)

        wait_until(applied_as_far, 30, "the second follower to apply as far")
        assert behind.position(name) == position
    finally:
        ahead.stop()
        behind.stop()
