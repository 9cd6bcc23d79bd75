"""Integration: workers come and go mid-stream, and no label is lost or repeated.

A killed worker's replacement starts with the same consumer group and state folder and
resumes from the last committed transaction (outputs, state changelogs and offsets
commit together, so what the killed one had not committed is processed again and seen
once); a second worker joining a running one takes over some partitions. Meanwhile the
replay goes on, and the labels topic (read committed) must equal the offline labeller's
labels exactly.

Where workers come and go, autoplays are labelled by a rule that reads no watch
statistics: a worker that takes partitions over catches their backlog up partition by
partition, so one partition's event time may run days ahead of another's, further than
the views the other one has not counted yet (thresholds read completed days, see
labels.shared); which labels that changes is timing, not what these tests are about.
"""

from __future__ import annotations

import signal
import time
from dataclasses import replace

import pytest
from kafka import KafkaConsumer, TopicPartition

from nearline.broker import free_port
from nearline.config import CLOCK_TICKS, Settings
from nearline.supervise import partitions_split, running_worker, wait_until
from schemas import ACTIVITY_TOPICS
from tests.streams.replayed import (
    Replay,
    finish,
    handover_settings,
    mismatch,
    wait_mid_stream,
)

# Longer than the worker's consumer session (10 s): the group forgets it meanwhile.
PAUSE_S = 15.0
# A killed worker's open transaction is aborted by the broker within the worker's
# transaction timeout (10 s) plus the broker's sweep for timed-out ones (every 10 s).
HELD_S = 30.0


@pytest.mark.parametrize("state", ["same", "empty"])
def test_a_killed_worker_is_replaced_without_losing_or_repeating_labels(
    kafka_bootstrap, tmp_path, world, state
):
    """Killed mid-stream (SIGKILL); the replacement keeps the state folder or starts with
    an empty one (state restored from the changelogs)."""
    settings = handover_settings(kafka_bootstrap, tmp_path)
    with running_worker(settings, tmp_path / "killed.log") as worker:
        replay = Replay(world, settings)
        replay.start()
        wait_mid_stream(world, settings)
        worker.proc.kill()
        worker.proc.wait()
    folder = settings.data_dir if state == "same" else tmp_path / "empty"
    replacement = replace(settings, web_port=free_port(), data_dir=folder)
    with running_worker(replacement, tmp_path / "replacement.log") as worker:
        replay.join()
        expected, online = finish(world, settings)
        # partitions it took over with nothing new in them count as caught up too
        wait_until(lambda: worker.get("/health")[1]["lag"] == 0, 30, "the replacement's lag 0")
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


def test_a_worker_the_group_forgot_goes_on_without_losing_or_repeating_labels(
    kafka_bootstrap, tmp_path, world
):
    """Paused (SIGSTOP) mid-stream past its session: the group drops it, and the
    transaction it held cannot commit once it runs again (SIGCONT). The worker aborts
    it, starts over from the last commit and goes on by itself."""
    settings = handover_settings(kafka_bootstrap, tmp_path)
    with running_worker(settings, tmp_path / "paused.log") as worker:
        replay = Replay(world, settings)
        replay.start()
        wait_mid_stream(world, settings)
        worker.proc.send_signal(signal.SIGSTOP)
        time.sleep(PAUSE_S)  # the pause is the condition under test, not a wait
        worker.proc.send_signal(signal.SIGCONT)
        replay.join()
        expected, online = finish(world, settings)
        wait_until(lambda: worker.get("/health")[1]["lag"] == 0, 30, "the worker's lag 0")
        assert worker.proc.poll() is None, "the worker stopped"
    assert online == expected, mismatch(online, expected)


def _held(settings: Settings) -> list[str]:
    """Partitions of what a deployment's workers write in transactions (outputs, stage
    topics, state changelogs) whose last offset is past their read-committed end: an open
    transaction, or records written while asking (the read-committed end is asked
    first, so none is missed)."""
    written_outside = {settings.topic(t) for t in (*ACTIVITY_TOPICS, "members", "courses")}
    written_outside.add(settings.topic(CLOCK_TICKS))
    consumers = {
        isolation: KafkaConsumer(bootstrap_servers=settings.bootstrap, isolation_level=isolation)
        for isolation in ("read_committed", "read_uncommitted")
    }
    topics = consumers["read_committed"].topics()
    tps = [
        TopicPartition(t, p)
        for t in sorted(topics)
        if settings.topic_prefix in t and t not in written_outside
        for p in consumers["read_committed"].partitions_for_topic(t)
    ]
    ends = {isolation: c.end_offsets(tps) for isolation, c in consumers.items()}
    for consumer in consumers.values():
        consumer.close()
    return [
        f"{tp.topic}:{tp.partition}"
        for tp, end in ends["read_uncommitted"].items()
        if ends["read_committed"][tp] < end
    ]


def _paused_in_a_transaction(proc, settings: Settings) -> list[str]:
    """Pause the worker (SIGSTOP); the partitions its open transaction holds, or, if
    none, let it go on (SIGCONT) and say so (an empty list)."""
    proc.send_signal(signal.SIGSTOP)
    held = _held(settings)
    if not held:
        proc.send_signal(signal.SIGCONT)
    return held


def test_a_killed_workers_open_transaction_holds_readers_briefly(kafka_bootstrap, tmp_path, world):
    """SIGKILL in a transaction leaves it open on what the worker wrote: readers of lists
    and labels (read committed) see nothing past it until the broker aborts it."""
    settings = handover_settings(kafka_bootstrap, tmp_path)
    with running_worker(settings, tmp_path / "killed.log") as worker:
        replay = Replay(world, settings)
        replay.start()
        wait_mid_stream(world, settings)
        held = wait_until(lambda: _paused_in_a_transaction(worker.proc, settings), 60, "one")
        worker.proc.kill()
        killed = time.monotonic()
        worker.proc.wait()
    wait_until(lambda: not _held(settings), 90, f"{held} released")
    assert (held_s := time.monotonic() - killed) < HELD_S, f"held {held_s:.0f} s"
    replay.join()
