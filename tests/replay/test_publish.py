"""Replay into a real broker: keyed by member, and bad lines passed on, not fatal."""

from __future__ import annotations

import json
import uuid

from nearline.config import Settings
from nearline.topics import partition_of, read_topic
from replay.logs import COURSES_FILE, EVENTS_FILE, MEMBERS_FILE
from replay.publish import publish_log

GOOD = {
    "kind": "click",
    "event_id": "k1",
    "member_id": "m7",
    "course_id": "c1",
    "channel": "feed",
    "ts": "2026-01-05T10:00:00Z",
}


def test_every_line_reaches_its_topic_even_the_unusable_ones(kafka_bootstrap, tmp_path):
    broken = b'{"kind":"click","event_id":"k2",'  # a producer bug: truncated JSON
    no_member = json.dumps({k: v for k, v in GOOD.items() if k != "member_id"}).encode()
    (tmp_path / COURSES_FILE).write_text("")
    (tmp_path / MEMBERS_FILE).write_text("")
    (tmp_path / EVENTS_FILE).write_bytes(
        b"\n".join([json.dumps(GOOD).encode(), broken, no_member]) + b"\n"
    )
    settings = Settings(bootstrap=kafka_bootstrap, topic_prefix=f"pub{uuid.uuid4().hex[:8]}.")

    counts = publish_log(tmp_path, settings, speed=1.0, progress=False)

    assert counts == {"clicks": 3}
    records = {r.value: r for r in read_topic(kafka_bootstrap, settings.topic("clicks"))}
    assert set(records) == {json.dumps(GOOD).encode(), broken, no_member}
    good = records[json.dumps(GOOD).encode()]
    assert good.key == b"m7" and good.partition == partition_of(b"m7", settings.partitions)
    assert records[broken].key is None and records[no_member].key is None
