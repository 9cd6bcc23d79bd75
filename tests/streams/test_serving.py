"""Integration: labels -> near-line GLMix -> rescoring -> lists served over HTTP.

A simulated slice with a batch model trained on its own offline labels is replayed into a
real broker and worker; then single members click, dismiss, and a course is retired, and
each change must show in the served lists within a deadline (polled, never slept).
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from labels import Labeller, label_log
from models.glmix import GLMixModel
from models.train import train_from_labels
from nearline.broker import free_port
from nearline.config import Settings
from nearline.supervise import (
    Worker,
    isolated_settings,
    partitions_split,
    running_worker,
    settled,
    wait_until,
)
from nearline.topics import Publisher, end_offsets, partition_of, read_topic
from replay.logs import last_event_ts, read_courses, read_events, read_members
from replay.publish import publish_log
from replay.simulate import WorldConfig, simulate
from schemas import Click, Dismissal, Impression, Label, Recommendations

FRESH_S = 2.0  # the bound: a member's action shows in their list within 2 s


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world")
    simulate(WorldConfig(members=400, courses=200, days=7, seed=5), out, progress=False)
    return out


@pytest.fixture(scope="module")
def model_dir(world: Path, tmp_path_factory) -> Path:
    labeller = Labeller("percentile:95:member", window_ms=86_400_000, lateness_ms=4 * 3600_000)
    labels = [r for r in label_log(read_events(world), labeller, close_open=True)]
    labels = [r for r in labels if isinstance(r, Label)]
    model = train_from_labels(labels, read_courses(world), read_members(world), min_examples=3)
    return model.save(tmp_path_factory.mktemp("models") / "v0001")


def _deployment(bootstrap: str, workdir: Path, name: str, model_dir: Path, **kw) -> Settings:
    """A deployment of its own serving the model; no idle ticks (idle_s is an hour)."""
    return replace(
        isolated_settings(bootstrap, workdir, f"{name}{uuid.uuid4().hex[:8]}."),
        lateness_s=4 * 3600,
        idle_s=3600,
        model_dir=model_dir.parent,
        top_k=10,
        **kw,
    )


@pytest.fixture(scope="module")
def served(kafka_bootstrap, world, model_dir, tmp_path_factory) -> Iterator[Worker]:
    """One worker with the model, after the whole slice was replayed and every member
    who appears in the log (or has a profile) has a list. No idle ticks (idle_s is an
    hour), so nothing changes a list unless a test acts."""
    workdir = tmp_path_factory.mktemp("serving")
    settings = _deployment(kafka_bootstrap, workdir, "srv", model_dir)
    with running_worker(settings, workdir / "worker.log") as worker:
        publish_log(world, settings, max_rate=600, progress=False)
        members = {m.member_id for m in read_members(world)}
        wait_until(
            lambda: all(worker.recommendations(m) for m in members), 90, "a list for every member"
        )
        wait_until(settled(worker), 60, "the worker to finish every rescore")
        # before any test acts (a later one rolls in v0002): every list is the model's
        assert {worker.recommendations(m)["model_id"] for m in members} == {"glmix-v0001"}
        yield worker


def _after_log(world: Path) -> int:
    return last_event_ts(world) + 60_000


def test_every_member_gets_a_list_with_reasons(served, world):
    courses = {c.course_id for c in read_courses(world)}
    for member in read_members(world):
        body = served.recommendations(member.member_id)
        assert body["member_id"] == member.member_id and body["channel"] == "feed"
        assert body["model_id"].startswith("glmix-v")
        assert {i["course_id"] for i in body["items"]} <= courses
        scores = [i["score"] for i in body["items"]]
        assert scores == sorted(scores, reverse=True)
        assert all(i["reason"] for i in body["items"])


def _rescorers(pid: int) -> list[int]:
    """The processes the worker `pid` spawned to score (not multiprocessing's tracker)."""
    tasks = Path(f"/proc/{pid}/task")
    children = [int(c) for t in tasks.iterdir() for c in (t / "children").read_text().split()]
    return [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def test_a_rescorer_process_that_ends_is_replaced(served, world):
    """The worker scores lists in a process of its own; killed, it is replaced, and a
    change that comes meanwhile still shows in the member's list."""
    (rescorer,) = _rescorers(served.proc.pid)
    os.kill(rescorer, signal.SIGKILL)
    _dismiss_top(served, read_members(world)[2].member_id, "dis-2", _after_log(world), 30)
    assert "the rescorer process ended" in served.log.read_text()
    assert _rescorers(served.proc.pid) not in ([], [rescorer])
    assert served.proc.poll() is None


def test_clicked_categories_rise_within_two_seconds(served, world):
    """Four members each click six courses of the category their list shows least of
    (among those with courses to spare); every one's list shows more of it in 2 s."""
    catalog = {c.course_id: c for c in read_courses(world)}
    by_category = Counter(c.category for c in catalog.values())
    ts = _after_log(world)
    chosen, shown, events = {}, {}, []
    for member in [m.member_id for m in read_members(world)[:4]]:
        before = Counter(
            catalog[i["course_id"]].category for i in served.recommendations(member)["items"]
        )
        category = min((c for c, n in by_category.items() if n >= 12), key=lambda c: before[c])
        chosen[member], shown[member] = category, before[category]
        clicked = [c for c in catalog.values() if c.category == category][:6]
        for i, course in enumerate(clicked):
            common = {"member_id": member, "course_id": course.course_id, "channel": "feed"}
            events += [
                Impression(event_id=f"rise-{member}-i{i}", position=i, ts=ts + i, **common),
                Click(
                    event_id=f"rise-{member}-c{i}",
                    impression_id=f"rise-{member}-i{i}",
                    ts=ts + i + 1,
                    **common,
                ),
            ]
    with Publisher(served.settings) as publisher:
        publisher.send("impressions", [e for e in events if e.kind == "impression"])
        sent = time.monotonic()
        publisher.send("clicks", [e for e in events if e.kind == "click"])

    def risen(member: str) -> bool:
        items = served.recommendations(member)["items"]
        return (
            sum(catalog[i["course_id"]].category == chosen[member] for i in items) > shown[member]
        )

    wait_until(lambda: all(map(risen, chosen)), 10, f"each clicked category to rise: {chosen}")
    assert time.monotonic() - sent < FRESH_S


def test_dismissed_course_disappears(served, world):
    _dismiss_top(served, read_members(world)[1].member_id, "dis-1", _after_log(world), 10)


def _dismiss_top(served: Worker, member: str, event_id: str, ts: int, within_s: float) -> None:
    """The member dismisses the top course of their list: it leaves within `within_s`."""
    top = served.recommendations(member)["items"][0]["course_id"]
    dismissal = Dismissal(event_id=event_id, member_id=member, course_id=top, ts=ts)
    with Publisher(served.settings) as publisher:
        publisher.send("dismissals", [dismissal])
    wait_until(
        lambda: top not in {i["course_id"] for i in served.recommendations(member)["items"]},
        within_s,
        f"{top} to leave {member}'s list",
    )


def test_retired_course_disappears_touching_only_its_holders(served, world):
    settings = served.settings
    members = [m.member_id for m in read_members(world)]
    bodies = {m: served.recommendations(m) for m in members}
    held = Counter(i["course_id"] for b in bodies.values() for i in b["items"])
    course_id, _ = held.most_common(1)[0]
    holders = {m for m, b in bodies.items() if course_id in {i["course_id"] for i in b["items"]}}
    assert 0 < len(holders) < len(members)
    topic = settings.topic("recommendations")
    before = {tp.partition: end for tp, end in end_offsets(settings.bootstrap, topic).items()}
    course = next(c for c in read_courses(world) if c.course_id == course_id)
    with Publisher(served.settings) as publisher:
        publisher.send("courses", [course.model_copy(update={"retired": True})])

    def gone() -> bool:
        return all(
            course_id not in {i["course_id"] for i in served.recommendations(m)["items"]}
            for m in holders
        )

    wait_until(gone, 15, f"retired {course_id} to leave every list")
    rescored = [r for r in read_topic(settings.bootstrap, topic) if r.offset >= before[r.partition]]
    touched = {r.key.decode() for r in rescored}
    assert touched == holders
    for r in rescored:
        assert course_id not in Recommendations.model_validate_json(r.value).courses


def test_worker_endpoints_answer_json_and_prometheus_text(served):
    status, body = served.get("/recommendations/x")  # lists are the reader's now
    assert status == 404 and "/health" in body["error"]
    wait_until(settled(served), 60, "the worker to finish what earlier tests sent")
    health = served.get("/health")[1]
    assert health["status"] == "ok" and health["partitions"] == [0, 1, 2, 3]
    assert health["model"] == "v0001" and health["lag"] == 0
    metrics = served.metrics()
    assert metrics["nearline_rescore_seconds_count"] > 0 and metrics["nearline_consumer_lag"] == 0
    assert metrics["nearline_events_in_total"] > 0


def test_worker_endpoints_answer_every_error_in_json(served):
    request = urllib.request.Request(
        f"http://127.0.0.1:{served.settings.web_port}/health", data=b"{}", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 405 and refused.value.headers["Allow"] == "GET, HEAD"
    assert "not allowed" in json.loads(refused.value.read())["error"]
    # what no HTTP client sends: answered in JSON, not an HTML page or a dropped socket
    assert served.raw(b"NONSENSE\r\n\r\n")[0] == 400
    assert served.raw(b"GET /" + b"x" * 20_000 + b" HTTP/1.1\r\n\r\n")[0] == 431
    assert served.raw(b"GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n")[0] == 404
    status, health = served.raw(b"GET /health HTTP/1.0\r\n\r\n")
    assert status == 200 and health["app"] == served.settings.app_id


def test_a_new_model_version_rolls_in_without_a_restart(served, world, model_dir):
    GLMixModel.load(model_dir).save(model_dir.parent / "v0002")
    wait_until(lambda: served.get("/health")[1].get("model") == "v0002", 30, "v0002 to roll in")
    member = read_members(world)[5].member_id
    course = read_courses(world)[0].course_id
    click = Click(
        event_id="roll-c", member_id=member, course_id=course, channel="feed", ts=_after_log(world)
    )
    with Publisher(served.settings) as publisher:
        publisher.send("clicks", [click])
    wait_until(
        lambda: served.recommendations(member)["model_id"] == "glmix-v0002",
        10,
        f"{member}'s list to come from the new model",
    )


def test_two_workers_share_the_members_and_both_rescore(served, world, tmp_path):
    first = served
    second_settings = replace(first.settings, web_port=free_port(), data_dir=tmp_path / "state")
    members = [m.member_id for m in read_members(world)]
    courses = [c.course_id for c in read_courses(world)]
    with running_worker(second_settings, tmp_path / "worker2.log") as second:
        mine, theirs = wait_until(
            lambda: partitions_split([first, second]), 60, "the two workers to share the partitions"
        )
        n = first.settings.partitions
        clickers = [
            next(m for m in members[10:] if partition_of(m.encode(), n) in owned)
            for owned in (mine, theirs)
        ]
        before = {m: first.recommendations(m)["generated_at"] for m in clickers}
        ts = _after_log(world) + 10_000
        clicks = [
            Click(event_id=f"two-{m}", member_id=m, course_id=courses[1], channel="feed", ts=ts)
            for m in clickers
        ]
        with Publisher(first.settings) as publisher:
            publisher.send("clicks", clicks)
        for m in clickers:
            wait_until(
                lambda m=m: first.recommendations(m)["generated_at"] != before[m],
                30,
                f"{m}'s list rescored by the worker owning it",
            )
