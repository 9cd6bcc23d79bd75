"""Integration: the worker's labels equal the offline labeller's for the same log."""

from __future__ import annotations

import json

from nearline.supervise import running_worker
from nearline.topics import read_topic
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
