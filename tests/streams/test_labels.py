"""Integration: the worker's labels equal the offline labeller's for the same log.

A simulated slice is replayed into a real broker (paced below the worker's capacity, as
a replay must be), then one impression, click and autoplay per partition far after the
log moves every partition's event time past every window. The offline labeller is fed
the same log and the same closing events, so both must hold the same multiset.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from kafka import KafkaProducer

from labels import Labeller, LogLabeller
from nearline.config import ACTIVITY, Settings
from nearline.supervise import isolated_settings, running_worker, wait_until
from nearline.topics import partition_of, read_topic, topic_size
from replay.logs import read_events
from replay.publish import publish_log
from replay.simulate import WorldConfig, simulate
from schemas import Autoplay, Click, Impression, Label

RATE = 250.0  # events/s: well below one worker's labelling capacity on 2 cores


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world")
    simulate(WorldConfig(members=250, courses=40, days=4, seed=11), out, progress=False)
    return out


def _settings(bootstrap: str, workdir: Path) -> Settings:
    # Lateness above the simulator's 2 h of planted lateness: no event is rejected. A
    # replay runs event time ~10^5 times faster than life, so the lateness also has to
    # cover the watch statistics' propagation between partitions in event time: a day
    # of it is ~1 s of wall time at RATE (4 h was ~0.15 s, too short on a loaded machine).
    base = isolated_settings(bootstrap, workdir, f"lab{uuid.uuid4().hex[:8]}.")
    return replace(base, lateness_s=24 * 3600, idle_s=5)


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
    labeller = Labeller(
        settings.autoplay_rule,
        window_ms=int(settings.window_s * 1000),
        lateness_ms=int(settings.lateness_s * 1000),
        min_views=settings.min_views,
    )
    run = LogLabeller(labeller)
    results = [r for e in events for r in run.feed(e)]
    results += run.finish()
    return Counter(r.model_dump_json() for r in results if isinstance(r, Label))


def _online(settings: Settings, expected: int) -> Counter:
    wait_until(
        lambda: topic_size(settings.bootstrap, settings.topic("labels")) >= expected,
        90,
        f"{expected} labels",
    )
    labels = read_topic(settings.bootstrap, settings.topic("labels"))
    return Counter(Label.model_validate_json(r.value).model_dump_json() for r in labels)


def _finish(world: Path, settings: Settings) -> tuple[Counter, Counter]:
    """Once every line of the log is validated, close every window; both label sets.

    Waits on outputs, not on committed offsets: Faust may leave a partition's commit
    behind after a handover (faust-streaming#318) although its records were processed."""
    events = list(read_events(world))
    activity = settings.topic(ACTIVITY)
    wait_until(
        lambda: topic_size(settings.bootstrap, activity) >= len(events),
        120,
        "every line of the log on the activity topic",
    )
    closing = _closing_events(settings, max(e.ts for e in events))
    _publish(settings, closing)
    expected = _offline([*events, *closing], settings)
    return expected, _online(settings, sum(expected.values()))


def test_worker_labels_equal_the_offline_labels(kafka_bootstrap, tmp_path, world):
    settings = _settings(kafka_bootstrap, tmp_path)
    with running_worker(settings, tmp_path / "worker.log"):
        publish_log(world, settings, max_rate=RATE, progress=False)
        expected, online = _finish(world, settings)
    assert sum(expected.values()) > 700
    assert {json.loads(x)["source"] for x in expected} == {"click", "autoplay", "timeout"}
    assert online == expected
    assert read_topic(kafka_bootstrap, settings.topic("deadletter")) == []
