"""Replay a simulated slice into workers and compare their labels with the offline
labeller's (shared by the labelling integration tests).

A slice is replayed into a real broker, paced by event time as a replay must be (below
the worker's capacity, and slow enough for what workers share), then one impression,
click and autoplay per partition far after the log moves every partition's event time
past every window. The offline labeller is fed the same log and the same closing
events, so both must hold the same multiset.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path

from kafka import KafkaProducer

from labels import label_log
from nearline.config import Settings
from nearline.supervise import isolated_settings, read_at_least, wait_until
from nearline.topics import group_lag, partition_of, read_topic, topic_size
from replay.logs import read_events
from replay.publish import publish_log
from schemas import ACTIVITY_TOPICS, KIND_TOPICS, Autoplay, Click, Impression, Label

DAY_S = 4.0  # wall seconds per simulated day: the world's ~850 events at ~60 per second
SPEED = 86_400 / DAY_S


def label_settings(bootstrap: str, workdir: Path) -> Settings:
    """Lateness above the simulator's 2 h of planted lateness, so no event is rejected.

    A replay runs event time SPEED times faster than life, so the lateness must also
    cover the watch statistics' propagation between partitions in event time (two
    transactions and a follower's read): two days are 2 * DAY_S of wall time. Paced by
    count instead, the world's four days passed in ~3.5 s, and propagation slower than
    two days (~1.8 s) on a busy machine turned autoplay positives into timeouts.
    """
    base = isolated_settings(bootstrap, workdir, f"lab{uuid.uuid4().hex[:8]}.")
    return replace(base, lateness_s=48 * 3600, idle_s=5)


def handover_settings(bootstrap: str, workdir: Path) -> Settings:
    """Where workers or the broker come and go: autoplays labelled by a rule that reads
    no watch statistics (see tests.streams.test_restart)."""
    return replace(label_settings(bootstrap, workdir), autoplay_rule="fraction:0.5")


class Replay(threading.Thread):
    """The log, published at SPEED in the background; `join` re-raises its error."""

    def __init__(self, world: Path, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.world, self.settings = world, settings
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            publish_log(self.world, self.settings, speed=SPEED, progress=False)
        except BaseException as error:
            self.error = error

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self.error is not None:
            raise self.error


def processed(settings: Settings) -> int:
    """Activity records the worker's group has committed (processed exactly once)."""
    lag = group_lag(settings.bootstrap, settings.app_id, activity_topics(settings))
    published = sum(sizes(settings).values())
    return 0 if lag is None else published - sum(lag.values())


def activity_topics(settings: Settings) -> list[str]:
    return [settings.topic(t) for t in ACTIVITY_TOPICS]


def sizes(settings: Settings) -> dict[str, int]:
    return {t: topic_size(settings.bootstrap, t) for t in activity_topics(settings)}


def wait_mid_stream(world: Path, settings: Settings) -> None:
    """Until a third of the log is processed and labels are coming out: members hold
    pending impressions and buffered events."""
    third = sum(1 for _ in read_events(world)) // 3

    def mid_stream() -> bool:
        labels = read_topic(settings.bootstrap, settings.topic("labels"))
        return processed(settings) >= third and len(labels) > 0

    wait_until(mid_stream, 60, "a third of the log processed and labels coming out")


LABELLED = ("impression", "click", "autoplay")


def one_member_per_partition(settings: Settings, prefix: str) -> list[str]:
    """Member ids `prefix0`, `prefix1`, ... one on each partition."""
    members: dict[int, str] = {}
    n = 0
    while len(members) < settings.partitions:
        member = f"{prefix}{n}"
        members.setdefault(partition_of(member.encode(), settings.partitions), member)
        n += 1
    return list(members.values())


def _closing_events(settings: Settings, last_ts: int, kinds: tuple[str, ...] = LABELLED) -> list:
    """Per partition, one event of each of `kinds` after every window has closed."""
    ts = last_ts + int((settings.window_s + settings.lateness_s) * 1000) + 1
    events = []
    for member in one_member_per_partition(settings, "closer"):
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
    return [e for e in events if e.kind in kinds]


def _publish(settings: Settings, events: list) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap)
    for e in events:
        producer.send(
            settings.topic(KIND_TOPICS[e.kind]),
            key=e.member_id.encode(),
            value=e.model_dump_json().encode(),
        )
    producer.flush()
    producer.close()


def _offline(events: list, settings: Settings) -> Counter:
    results = label_log(events, settings.labeller())
    return Counter(r.model_dump_json() for r in results if isinstance(r, Label))


def _online(settings: Settings, expected: int) -> Counter:
    """The labels topic, read committed, once it holds `expected` labels and the worker
    has processed everything sent to it (a repeated label would show)."""
    topic = settings.topic("labels")
    read_at_least(settings.bootstrap, topic, expected, 90, f"{expected} labels")
    wait_until(lambda: caught_up(settings), 60, "the worker to process the closing events")
    labels = read_topic(settings.bootstrap, topic)
    return Counter(Label.model_validate_json(r.value).model_dump_json() for r in labels)


def caught_up(settings: Settings) -> bool:
    return group_lag(settings.bootstrap, settings.app_id, activity_topics(settings)) == {}


def mismatch(online: Counter, offline: Counter) -> str:
    """What only the worker emitted and what only the offline labeller did."""
    return f"worker only: {sorted((online - offline).items())}\n" + (
        f"offline only: {sorted((offline - online).items())}"
    )


def offline_labels(world: Path, settings: Settings, kinds: tuple[str, ...] = LABELLED) -> Counter:
    """The offline labeller's labels of the log and the closing events (JSON, counted)."""
    events = list(read_events(world))
    closing = _closing_events(settings, max(e.ts for e in events), kinds)
    return _offline([*events, *closing], settings)


def finish(
    world: Path, settings: Settings, kinds: tuple[str, ...] = LABELLED
) -> tuple[Counter, Counter]:
    """Once every line of the log is processed (committed by the worker's group), close
    every window with closing events of `kinds`; both label sets (offline, online)."""
    events = list(read_events(world))
    wait_until(lambda: processed(settings) >= len(events), 120, "every line of the log processed")
    _publish(settings, _closing_events(settings, max(e.ts for e in events), kinds))
    expected = offline_labels(world, settings, kinds)
    return expected, _online(settings, sum(expected.values()))
