"""Integration: the worker's labels equal the offline labeller's for the same log."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

from nearline.supervise import running_worker
from nearline.topics import read_topic
from replay.logs import COURSES_FILE, EVENTS_FILE, MEMBERS_FILE
from replay.publish import publish_log
from tests.streams.replayed import SPEED, finish, label_settings, mismatch


def test_worker_labels_equal_the_offline_labels(kafka_bootstrap, tmp_path, world):
    settings = label_settings(kafka_bootstrap, tmp_path)
    with running_worker(settings, tmp_path / "worker.log"):
        publish_log(world, settings, speed=SPEED, progress=False)
        expected, online = finish(world, settings)
    assert sum(expected.values()) > 700
    assert {json.loads(x)["source"] for x in expected} == {"click", "autoplay", "timeout"}
    assert online == expected, mismatch(online, expected)
    assert read_topic(kafka_bootstrap, settings.topic("deadletter")) == []


def test_topics_with_nothing_to_read_hold_no_watermark_back(kafka_bootstrap, tmp_path, world):
    """A log without autoplays or dismissals, and no topic quiet for an hour: each
    partition's watermark must not wait for those two topics, whose partitions the
    worker sees have nothing to read, or no label would come out for that hour."""
    log = tmp_path / "log"
    log.mkdir()
    for name in (COURSES_FILE, MEMBERS_FILE):
        shutil.copy(world / name, log / name)
    with (world / EVENTS_FILE).open("rb") as src, (log / EVENTS_FILE).open("wb") as dst:
        dst.writelines(x for x in src if json.loads(x)["kind"] in ("impression", "click"))
    settings = replace(label_settings(kafka_bootstrap, tmp_path), idle_s=3600)
    with running_worker(settings, tmp_path / "worker.log"):
        publish_log(log, settings, speed=SPEED, progress=False)
        expected, online = finish(log, settings, kinds=("impression", "click"))
    assert {json.loads(x)["source"] for x in expected} == {"click", "timeout"}
    assert online == expected, mismatch(online, expected)
