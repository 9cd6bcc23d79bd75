"""Replay a simulated slice into workers and compare their labels with the offline
labeller's (shared by the labelling integration tests).

A slice is replayed into a real broker (paced below the worker's capacity, as a replay
must be), then one impression, click and autoplay per partition far after the log moves
every partition's event time past every window. The offline labeller is fed the same
log and the same closing events, so both must hold the same multiset.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path

from kafka import KafkaProducer

from labels import label_log
from nearline.config import ACTIVITY, Settings
from nearline.supervise import isolated_settings, wait_until
from nearline.topics import partition_of, read_topic, topic_size
from replay.logs import read_events
from replay.publish import publish_log
from schemas import Autoplay, Click, Impression, Label

RATE = 250.0  # events/s: well below one worker's labelling capacity on 2 cores


def label_settings(bootstrap: str, workdir: Path) -> Settings:
    # Lateness above the simulator's 2 h of planted lateness: no event is rejected. A
    # replay runs event time ~10^5 times faster than life, so the lateness also has to
    # cover the watch statistics' propagation between partitions in event time: two
    # days of it are ~2 s of wall time at RATE (4 h was ~0.15 s, too short on a loaded
    # machine; one day, ~1 s, failed once with five test suites sharing 2 cores).
    base = isolated_settings(bootstrap, workdir, f"lab{uuid.uuid4().hex[:8]}.")
    return replace(base, lateness_s=48 * 3600, idle_s=5)


class Replay(threading.Thread):
    """The log, published at RATE in the background; `join` re-raises its error."""

    def __init__(self, world: Path, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.world, self.settings = world, settings
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            publish_log(self.world, self.settings, max_rate=RATE, progress=False)
        except BaseException as error:
            self.error = error

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self.error is not None:
            raise self.error


def wait_mid_stream(world: Path, settings: Settings) -> None:
    """Until a third of the log is validated and labels are coming out: members hold
    pending impressions and buffered events."""
    third = sum(1 for _ in read_events(world)) // 3

    def mid_stream() -> bool:
        validated = topic_size(settings.bootstrap, settings.topic(ACTIVITY))
        return validated >= third and topic_size(settings.bootstrap, settings.topic("labels")) > 0

    wait_until(mid_stream, 60, "a third of the log validated and labels coming out")


def _closing_events(settings: Settings, last_ts: int) -> list:
    """Per partition, one event of each labelled kind after every window has closed."""
    ts = last_ts + int((settings.window_s + settings.lateness_s) * 1000) + 1
    members: dict[int, str] = {}
    n = 0
    while len(members) < settings.partitions:
        member = f"closer{n}"
        members.setdefault(partition_of(member.encode(), settings.partitions), member)
        n += 1
    events = []
    for member in members.values():
        common = {"member_id": member, "ts": ts}
        events += [
            Impression(
                event_id=f"{member}-i", course_id="none", channel="feed", position=0, **common
            ),
            Click(event_id=f"{member}-k", course_id="none2", channel="feed", **common),
            Autoplay(
                event_id=f"{member}-a", course_id="none2", watched_s=1.0, video_s=9.0, **common
            ),
        ]
    return events


def _publish(settings: Settings, events: list) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap)
    topics = {"impression": "impressions", "click": "clicks", "autoplay": "autoplays"}
    for e in events:
        producer.send(
            settings.topic(topics[e.kind]),
            key=e.member_id.encode(),
            value=e.model_dump_json().encode(),
        )
    producer.flush()
    producer.close()


def _offline(events: list, settings: Settings) -> Counter:
    results = label_log(events, settings.labeller())
    return Counter(r.model_dump_json() for r in results if isinstance(r, Label))


def _online(settings: Settings, expected: int) -> Counter:
    wait_until(
        lambda: topic_size(settings.bootstrap, settings.topic("labels")) >= expected,
        90,
        f"{expected} labels",
    )
    labels = read_topic(settings.bootstrap, settings.topic("labels"))
    return Counter(Label.model_validate_json(r.value).model_dump_json() for r in labels)


def mismatch(online: Counter, offline: Counter) -> str:
    """What only the worker emitted and what only the offline labeller did."""
    return f"worker only: {sorted((online - offline).items())}\n" + (
        f"offline only: {sorted((offline - online).items())}"
    )


def offline_labels(world: Path, settings: Settings) -> Counter:
    """The offline labeller's labels of the log and the closing events (JSON, counted)."""
    events = list(read_events(world))
    return _offline([*events, *_closing_events(settings, max(e.ts for e in events))], settings)


def publish_labels(settings: Settings, labels: list[str]) -> None:
    """Labels on the labels topic, keyed (so partitioned) as the worker sends them."""
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap)
    for label in labels:
        key = Label.model_validate_json(label).member_id.encode()
        producer.send(settings.topic("labels"), key=key, value=label.encode())
    producer.flush()
    producer.close()


def finish(world: Path, settings: Settings) -> tuple[Counter, Counter]:
    """Once every line of the log is validated, close every window; both label sets
    (offline, online).

    Waits on outputs, not on committed offsets: Faust may leave a partition's commit
    behind after a handover (faust-streaming#318) although its records were processed."""
    events = list(read_events(world))
    activity = settings.topic(ACTIVITY)
    wait_until(
        lambda: topic_size(settings.bootstrap, activity) >= len(events),
        120,
        "every line of the log on the activity topic",
    )
    _publish(settings, _closing_events(settings, max(e.ts for e in events)))
    expected = offline_labels(world, settings)
    return expected, _online(settings, sum(expected.values()))
