"""The broker fixture is a real Kafka: records round-trip through kafka-python."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest
from kafka import KafkaProducer

from nearline.broker import (
    LOWEST_FREE_PORT,
    BrokerError,
    LocalBroker,
    ephemeral_ports,
    free_port,
)
from nearline.config import Settings
from nearline.topics import ensure_topics, read_topic


def test_records_round_trip_through_the_broker_keyed_by_member(kafka_bootstrap):
    settings = Settings(bootstrap=kafka_bootstrap, topic_prefix=f"rt{uuid.uuid4().hex[:8]}.")
    ensure_topics(settings)
    topic = settings.topic("clicks")
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    sent = {f"m{i}".encode(): f"value-{i}".encode() for i in range(50)}
    for key, value in sent.items():
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()

    records = read_topic(kafka_bootstrap, topic)
    assert {r.key: r.value for r in records} == sent
    assert len({r.partition for r in records}) > 1, "keys spread over the 4 partitions"


def test_topics_are_created_once_with_the_contract_layout(kafka_bootstrap):
    settings = Settings(bootstrap=kafka_bootstrap, topic_prefix=f"tl{uuid.uuid4().hex[:8]}.")
    created = ensure_topics(settings)
    assert sorted(created) == sorted(settings.topic(t) for t in settings.contract_topics())
    assert ensure_topics(settings) == []


def test_a_stale_pid_file_is_not_mistaken_for_a_running_broker(tmp_path: Path):
    broker = LocalBroker(tmp_path, port=1)
    broker.pid_file.write_text(str(os.getpid()))  # alive, but not a Kafka process
    assert broker.pid() is None
    assert broker.stop() is False
    assert not broker.pid_file.exists()


def test_cluster_ids_never_look_like_an_option():
    from nearline.broker import _cluster_id

    ids = [_cluster_id() for _ in range(2000)]  # ~31 would start with '-' by chance
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)


def test_free_ports_are_below_the_ephemeral_range():
    ports = {free_port() for _ in range(20)}
    assert all(LOWEST_FREE_PORT <= p < ephemeral_ports().start for p in ports)


def test_a_failed_start_reports_the_brokers_own_bind_error(tmp_path: Path):
    with socket.socket() as taken:
        port = free_port()
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with pytest.raises(BrokerError) as failed:
            LocalBroker(tmp_path, port=port).start(timeout_s=120)
    assert f"failed to bind to 127.0.0.1:{port}: Address already in use" in str(failed.value)
    assert "shut down" not in str(failed.value).lower()
