"""Integration: partitions' offsets, asked of a real broker the moment a topic is made."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from nearline.supervise import wait_until
from streams.offsets import watermarks


def consumer(bootstrap: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"offsets-{uuid.uuid4().hex}",
            "isolation.level": "read_committed",
        }
    )


def test_a_new_topic_is_asked_until_it_answers_and_high_is_the_last_stable(kafka_bootstrap):
    name = f"offsets-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(name, 2, 1)])[name].result()
    asking = consumer(kafka_bootstrap)
    try:
        assert watermarks(asking, [(name, 0), (name, 1)], 30) == {
            (name, 0): (0, 0),
            (name, 1): (0, 0),
        }
        producer = Producer(
            {"bootstrap.servers": kafka_bootstrap, "transactional.id": f"offsets-{name}"}
        )
        producer.init_transactions(30)
        producer.begin_transaction()
        for _ in range(3):
            producer.produce(name, value=b"x", partition=1)
        producer.flush(30)
        assert watermarks(asking, [(name, 1)], 30) == {(name, 1): (0, 0)}  # not committed
        producer.commit_transaction(30)
        # the commit's marker is written after commit_transaction returns
        wait_until(lambda: watermarks(asking, [(name, 1)], 30)[name, 1][1] > 0, 30, "the marker")
        assert watermarks(asking, [(name, 1)], 30) == {(name, 1): (0, 4)}
    finally:
        asking.close()


def test_a_partition_that_never_answers_fails_after_the_timeout(kafka_bootstrap):
    asking = consumer(kafka_bootstrap)
    try:
        with pytest.raises(KafkaException):
            watermarks(asking, [(f"offsets-none-{uuid.uuid4().hex[:8]}", 0)], 1.0)
    finally:
        asking.close()
