"""Integration: the member stage's validation on a real broker.

Good records of every kind are processed and none is dead-lettered; malformed ones land
in `deadletter` with the reason and their exact bytes, each once.
"""

from __future__ import annotations

import json
import uuid

from kafka import KafkaProducer

from nearline.supervise import isolated_settings, read_at_least, running_worker, wait_until
from nearline.topics import group_caught_up
from schemas import ACTIVITY_TOPICS, DeadLetter

TS = 1767225600000
N_GOOD = 25  # per topic

GOOD = {
    "impressions": {"channel": "feed", "position": 1},
    "clicks": {"channel": "email"},
    "autoplays": {"watched_s": 12.0, "video_s": 30.0},
    "dismissals": {},
}

# (topic, raw bytes, a phrase the dead letter's error must contain)
BAD = [
    ("impressions", b"{not json", "invalid JSON"),
    ("impressions", b'{"event_id": "x"}', "field 'member_id': Field required"),
    (
        "clicks",
        json.dumps(
            {"event_id": "b1", "member_id": "m1", "course_id": "c1", "channel": "sms", "ts": TS}
        ).encode(),
        "unknown channel 'sms'",
    ),
    ("clicks", b"\xff\xfe binary", "invalid JSON"),
    (
        "autoplays",
        json.dumps(
            {
                "event_id": "b2",
                "member_id": "m1",
                "course_id": "c1",
                "watched_s": 900.0,
                "video_s": 30.0,
                "ts": TS,
            }
        ).encode(),
        "far beyond video_s",
    ),
    (
        "autoplays",
        b'{"event_id": "b3", "member_id": "m1", "course_id": "c1", '
        b'"watched_s": NaN, "video_s": 30.0, "ts": 1767225600000}',
        "watched_s",
    ),
    (
        "dismissals",
        json.dumps({"event_id": "b4", "member_id": "", "course_id": "c1", "ts": TS}).encode(),
        "member_id",
    ),
    (
        "dismissals",
        json.dumps(
            {"event_id": "b5", "member_id": "m1", "course_id": "c1", "ts": 1767225600}
        ).encode(),
        "epoch seconds",
    ),
]


def _good(topic: str, i: int) -> dict:
    return {
        "event_id": f"{topic}-{i}",
        "member_id": f"m{i % 7}",
        "course_id": f"c{i}",
        "ts": TS + i * 1000,
    } | GOOD[topic]


def test_valid_records_flow_on_and_malformed_ones_are_dead_lettered(kafka_bootstrap, tmp_path):
    prefix = f"v{uuid.uuid4().hex[:8]}."
    settings = isolated_settings(kafka_bootstrap, tmp_path, prefix)
    with running_worker(settings, tmp_path / "worker.log") as worker:
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
        for topic in ACTIVITY_TOPICS:
            for i in range(N_GOOD):
                record = _good(topic, i)
                producer.send(
                    prefix + topic,
                    key=record["member_id"].encode(),
                    value=json.dumps(record).encode(),
                )
        for topic, raw, _ in BAD:
            producer.send(prefix + topic, key=b"m1", value=raw)
        producer.flush()
        producer.close()

        inputs = [prefix + t for t in ACTIVITY_TOPICS]
        wait_until(
            lambda: group_caught_up(kafka_bootstrap, worker.settings.app_id, inputs),
            60,
            "the worker to commit every input record",
        )
        processed = worker.metrics()["nearline_events_in_total"]
        dead = read_at_least(kafka_bootstrap, prefix + "deadletter", len(BAD), 30, "dead letters")

    assert processed == N_GOOD * len(ACTIVITY_TOPICS) + len(BAD)
    assert len(dead) == len(BAD)
    letters = [DeadLetter.model_validate_json(r.value) for r in dead]
    by_raw = {letter.original(): letter for letter in letters}
    for topic, raw, reason in BAD:
        letter = by_raw[raw]
        assert letter.source_topic == prefix + topic
        assert reason in letter.error, (reason, letter.error)
    assert len({(d.source_topic, d.partition, d.offset) for d in letters}) == len(BAD)
