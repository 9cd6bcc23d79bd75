"""Integration: a flood of malformed records among a replayed log on a real broker.

Thousands of bad records of every kind the contract rejects (not JSON, truncated,
wrong types, missing fields, impossible durations, unknown channels, not UTF-8, empty
values and tombstones) are sent among the log's valid events: every bad one lands in
`deadletter` once with a reason and its bytes, the labels equal the offline labeller's
on the valid events alone, and the worker runs through it in one process.
"""

from __future__ import annotations

import json
import random

from kafka import KafkaProducer

from nearline.supervise import read_at_least, running_worker
from replay.logs import read_events
from schemas import ACTIVITY_TOPICS, DeadLetter
from tests.streams.replayed import Replay, finish, label_settings, mismatch

N_BAD = 2000
TS = 1767225600000


def malformed(rng: random.Random, members: list[str]) -> list[tuple[str, bytes | None, bytes]]:
    """(topic, value, key) of bad records, every kind in turn."""
    good = {
        "event_id": "e",
        "member_id": "m",
        "course_id": "c",
        "channel": "feed",
        "position": 0,
        "ts": TS,
    }
    kinds = [
        lambda: b"{not json",
        lambda: json.dumps(good).encode()[: rng.randint(1, 40)],  # truncated
        lambda: json.dumps(good | {"position": "first"}).encode(),  # wrong type
        lambda: json.dumps({k: v for k, v in good.items() if k != "course_id"}).encode(),
        lambda: json.dumps(good | {"channel": "carrier-pigeon"}).encode(),
        lambda: b"\xff\xfe\xfa not utf-8",
        lambda: b"",
        lambda: None,  # a tombstone
    ]
    autoplay = json.dumps(
        {k: v for k, v in good.items() if k not in ("channel", "position")}
        | {"watched_s": 900.0, "video_s": 30.0}
    ).encode()
    records = []
    for i in range(N_BAD):
        member = rng.choice(members)
        if i % (len(kinds) + 1) == len(kinds):
            records.append(("autoplays", autoplay, member.encode()))  # impossible duration
        else:
            records.append(("impressions", kinds[i % (len(kinds) + 1)](), member.encode()))
    return records


def test_a_flood_of_bad_records_changes_no_label(kafka_bootstrap, tmp_path, world):
    settings = label_settings(kafka_bootstrap, tmp_path)
    members = sorted({e.member_id for e in read_events(world)})
    bad = malformed(random.Random(5), members)
    with running_worker(settings, tmp_path / "worker.log") as worker:
        replay = Replay(world, settings)
        replay.start()
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
        for topic, value, key in bad:
            producer.send(settings.topic(topic), key=key, value=value)
        producer.flush()
        producer.close()
        replay.join()
        expected, online = finish(world, settings)
        dead = read_at_least(
            kafka_bootstrap, settings.topic("deadletter"), N_BAD, 60, f"{N_BAD} dead letters"
        )
        assert worker.proc.poll() is None
    assert online == expected, mismatch(online, expected)
    letters = [DeadLetter.model_validate_json(r.value) for r in dead]
    assert len(letters) == N_BAD
    assert all(letter.error for letter in letters)
    assert {letter.source_topic for letter in letters} <= {
        settings.topic(t) for t in ACTIVITY_TOPICS
    }
    sent = sorted(value or b"" for _, value, _ in bad)
    assert sorted(letter.original() for letter in letters) == sent
    assert worker.log.read_text().count("The application started") == 1
