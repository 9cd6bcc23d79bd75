"""Integration: the worker's labels equal the offline labeller's for the same log."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

from nearline.supervise import running_worker
from nearline.topics import read_topic
from replay.logs import COURSES_FILE, EVENTS_FILE, MEMBERS_FILE
from replay.publish import publish_log
from schemas import Autoplay, Dismissal
from tests.streams.replayed import (
    SPEED,
    finish,
    label_settings,
    mismatch,
    one_member_per_partition,
)


def test_worker_labels_equal_the_offline_labels(kafka_bootstrap, tmp_path, world):
    settings = label_settings(kafka_bootstrap, tmp_path)
    with running_worker(settings, tmp_path / "worker.log"):
        publish_log(world, settings, speed=SPEED, progress=False)
        expected, online = finish(world, settings)
    assert sum(expected.values()) > 700
    assert {json.loads(x)["source"] for x in expected} == {"click", "autoplay", "timeout"}
    assert online == expected, mismatch(online, expected)
    assert read_topic(kafka_bootstrap, settings.topic("deadletter")) == []


def test_topics_with_nothing_left_to_read_hold_no_watermark_back(kafka_bootstrap, tmp_path, world):
    """Autoplays and dismissals only at the log's start (one of each per partition), and
    no topic quiet for an hour: once those topics have nothing left to read, the
    partitions' watermarks must not wait for them, or no later label would come out for
    that hour."""
    log = tmp_path / "log"
    log.mkdir()
    for name in (COURSES_FILE, MEMBERS_FILE):
        shutil.copy(world / name, log / name)
    settings = replace(label_settings(kafka_bootstrap, tmp_path), idle_s=3600)
    rows = (world / EVENTS_FILE).read_bytes().splitlines(keepends=True)
    start = json.loads(rows[0])["ts"]
    opening = []
    for member in one_member_per_partition(settings, "opener"):
        common = {"member_id": member, "course_id": "none", "ts": start}
        opening += [
            Autoplay(event_id=f"{member}-a", watched_s=1.0, video_s=9.0, **common),
            Dismissal(event_id=f"{member}-d", **common),
        ]
    kept = [x for x in rows if json.loads(x)["kind"] in ("impression", "click")]
    (log / EVENTS_FILE).write_bytes(
        b"".join([*(e.model_dump_json().encode() + b"\n" for e in opening), *kept])
    )
    with running_worker(settings, tmp_path / "worker.log"):
        publish_log(log, settings, speed=SPEED, progress=False)
        expected, online = finish(log, settings, kinds=("impression", "click"))
    assert {json.loads(x)["source"] for x in expected} == {"click", "timeout"}
    assert online == expected, mismatch(online, expected)
