"""Integration: workers come and go mid-stream, and no label is lost or repeated.

A killed worker's replacement starts with the same consumer group and state folder,
recovers member state from the changelog and resumes from the committed offsets; a
second worker joining a running one takes over some partitions. Meanwhile the replay
goes on, and the labels topic must equal the offline labeller's labels exactly. Whether
a kill lands between a label's delivery and its state write is luck, so the fence that
holds back such a label is also tested on purpose (labels already on the topic).

Where workers come and go, autoplays are labelled by a rule that reads no watch
statistics: a worker that takes partitions over catches their backlog up partition by
partition, so one partition's event time may run days ahead of another's, further than
the views the other one has not counted yet (thresholds read completed days, see
labels.shared); which labels that changes is timing, not what these tests are about.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from nearline.broker import free_port
from nearline.config import Settings
from nearline.supervise import partitions_split, running_worker, wait_until
from nearline.topics import ensure_topics
from replay.publish import publish_log
from tests.streams.replayed import (
    RATE,
    Replay,
    finish,
    label_settings,
    mismatch,
    offline_labels,
    publish_labels,
    wait_mid_stream,
)


def handover_settings(bootstrap: str, workdir: Path) -> Settings:
    return replace(label_settings(bootstrap, workdir), autoplay_rule="fraction:0.5")


def test_a_killed_worker_is_replaced_without_losing_or_repeating_labels(
    kafka_bootstrap, tmp_path, world
):
    settings = handover_settings(kafka_bootstrap, tmp_path)
    with running_worker(settings, tmp_path / "killed.log") as worker:
        replay = Replay(world, settings)
        replay.start()
        wait_mid_stream(world, settings)
        worker.proc.kill()
        worker.proc.wait()
    with running_worker(replace(settings, web_port=free_port()), tmp_path / "replacement.log"):
        replay.join()
        expected, online = finish(world, settings)
    assert online == expected, mismatch(online, expected)


def test_a_second_worker_shares_the_partitions_without_losing_or_repeating_labels(
    kafka_bootstrap, tmp_path, world
):
    settings = handover_settings(kafka_bootstrap, tmp_path / "first")
    second = replace(settings, web_port=free_port(), data_dir=tmp_path / "second" / "state")
    with running_worker(settings, tmp_path / "first.log") as first:
        replay = Replay(world, settings)
        replay.start()
        wait_mid_stream(world, settings)
        with running_worker(second, tmp_path / "second.log") as joined:
            owned = wait_until(
                lambda: partitions_split([first, joined]),
                60,
                "the two workers splitting the activity partitions",
            )
            replay.join()
            expected, online = finish(world, settings)
            assert partitions_split([first, joined]) == owned
    assert online == expected, mismatch(online, expected)


def test_labels_already_on_the_topic_are_not_sent_again(kafka_bootstrap, tmp_path, world):
    """As if an owner had sent every third label and died before its state recorded
    them: the worker processes the same records and must hold back exactly those."""
    settings = label_settings(kafka_bootstrap, tmp_path)
    expected = offline_labels(world, settings)
    ensure_topics(settings)
    publish_labels(settings, sorted(expected.elements())[::3])
    with running_worker(settings, tmp_path / "worker.log"):
        publish_log(world, settings, max_rate=RATE, progress=False)
        _, online = finish(world, settings)
    assert online == expected, mismatch(online, expected)
