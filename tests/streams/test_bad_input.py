"""Integration: malformed records among valid ones, on a real broker.

Every malformed record the worker's edge rejects (all but the late ones, which the
labelling tests judge) lands in `deadletter` once, with its error type, the contract
topic, partition and offset it came from, and at most 64 KiB of its bytes: four of them
are 1 MB payloads, whose letters used to be too large for the broker to take.
"""

from __future__ import annotations

import time
import uuid

from kafka import KafkaProducer

from nearline.supervise import isolated_settings, read_at_least, running_worker, wait_until
from nearline.topics import group_caught_up
from replay.logs import read_events
from replay.simulate import simulate
from replay.world import WorldConfig
from schemas import ACTIVITY_TOPICS, DeadLetter
from schemas.deadletter import MAX_DEAD_LETTER_BYTES, MAX_RAW_BYTES
from tests.badinput import CASES, LARGEST, MEGABYTE, Span, corpus, interleave, wire


def test_malformed_records_are_dead_lettered_once_with_their_type_and_bounded(
    kafka_bootstrap, tmp_path
):
    simulate(WorldConfig(members=50, courses=20, days=3, seed=5), tmp_path / "log", progress=False)
    log = list(read_events(tmp_path / "log"))[:300]
    first, last = min(e.ts for e in log), max(e.ts for e in log)
    members = sorted({e.member_id for e in log})
    span = Span(members, sorted({e.course_id for e in log}), first, last, int(time.time() * 1000))
    bad = [m for m in corpus(12 * len(CASES), span) if m.expected != "late"]
    assert sum(len(m.value or b"") >= MEGABYTE for m in bad) == LARGEST
    prefix = f"bad{uuid.uuid4().hex[:8]}."
    settings = isolated_settings(kafka_bootstrap, tmp_path, prefix)
    with running_worker(settings, tmp_path / "worker.log") as worker:
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=2**21)
        sent = [
            (m, producer.send(prefix + m.topic, key=m.key, value=m.value))
            for m in interleave([wire(e) for e in log], bad, settings.partitions)
        ]
        producer.flush()
        producer.close()
        expected = {}
        for m, future in sent:
            meta = future.get(timeout=30)
            if m.expected is not None:
                expected[meta.topic, meta.partition, meta.offset] = m
        inputs = [prefix + t for t in ACTIVITY_TOPICS]
        wait_until(
            lambda: group_caught_up(kafka_bootstrap, settings.app_id, inputs),
            120,
            "the worker to commit every input record",
        )
        records = read_at_least(
            kafka_bootstrap,
            prefix + "deadletter",
            len(bad),
            60,
            "a dead letter per malformed record",
        )
        assert worker.healthy()

    assert len(records) == len(bad)
    assert max(len(r.value) for r in records) <= MAX_DEAD_LETTER_BYTES
    for record in records:
        letter = DeadLetter.model_validate_json(record.value)
        m = expected.pop((letter.source_topic, letter.partition, letter.offset))
        assert letter.error_type == m.expected, (m.case, letter.error)
        raw = m.value or b""
        assert letter.original() == raw[:MAX_RAW_BYTES]
        assert (letter.truncated, letter.size) == (
            len(raw) > MAX_RAW_BYTES,
            None if m.value is None else len(raw),
        )
    assert expected == {}
    log_text = (tmp_path / "worker.log").read_text(errors="replace")
    assert "Traceback" not in log_text and "MessageSizeTooLarge" not in log_text
