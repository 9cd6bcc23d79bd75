"""Integration: members of one job title click a course, and another member of that
title is offered it "Trending for your job title" by a real worker on a real broker.

The path under test: the clickers' member agent forwards each positive to its cohort's
partition (`cohort-labels`), the cohort agent counts it into `cohort-state`, whose
changelog (`cohort-trends`) the worker follows into memory, and the next rescore of any
member of that title draws candidates from it. Only the catalog and a few profiles are
published (no activity log), so the cohort is the test's own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from evaluation.run import labels_of
from models.train import train_from_labels
from nearline.supervise import Worker, isolated_settings, running_worker, wait_until
from nearline.topics import Publisher
from replay.logs import last_event_ts, read_courses, read_events, read_members
from schemas import Click, Member

TITLE_REASON = "Trending for your job title"


@pytest.fixture(scope="module")
def worker(kafka_bootstrap, world: Path, tmp_path_factory) -> Iterator[Worker]:
    """A worker with a model of the slice and its whole catalog, which lists every
    candidate (top_k = the catalog's size: the test is about sources, not ranking)."""
    courses = read_courses(world)
    labels = labels_of(read_events(world), "percentile:95:member")
    model = train_from_labels(labels, courses, read_members(world), min_examples=3)
    models = tmp_path_factory.mktemp("models")
    model.save(models / "v0001")
    workdir = tmp_path_factory.mktemp("trending")
    settings = replace(
        isolated_settings(kafka_bootstrap, workdir, f"trd{uuid.uuid4().hex[:8]}."),
        idle_s=3600,
        model_dir=models,
        top_k=len(courses),
    )
    with running_worker(settings, workdir / "worker.log") as running:
        with Publisher(settings) as publisher:
            publisher.send("courses", courses)
        wait_until(
            lambda: running.metrics()["nearline_catalog_courses"] == len(courses),
            60,
            "the worker to load the catalog",
        )
        yield running


def _reasons(worker: Worker, member_id: str) -> dict[str, str] | None:
    body = worker.recommendations(member_id, limit=worker.settings.top_k)
    return None if body is None else {i["course_id"]: i["reason"] for i in body["items"]}


def test_a_course_clicked_by_a_title_trends_for_another_member_of_it(worker, world):
    courses = read_courses(world)
    skills = dict(list(courses[0].skills.items())[:1])  # a profile alone earns a list
    title = f"Trend Tester {uuid.uuid4().hex[:6]}"
    clickers = [Member(member_id=f"trend-{i}", skills=skills, title=title) for i in range(2)]
    course_id = courses[-1].course_id
    ts = last_event_ts(world) + 60_000
    with Publisher(worker.settings) as publisher:
        publisher.send("members", clickers)
        # the profile must be learned before the click, so the click knows the cohort
        wait_until(
            lambda: all(_reasons(worker, m.member_id) for m in clickers),
            30,
            "the clickers' first lists",
        )
        clicks = [
            Click(
                event_id=f"trend-c{i}",
                member_id=m.member_id,
                course_id=course_id,
                channel="feed",
                ts=ts + i,
            )
            for i, m in enumerate(clickers)
        ]
        publisher.send("clicks", clicks)
        # spelled differently, same title; no skills: only cohorts and popularity apply
        peer = Member(member_id="trend-peer", skills={}, title=f"  {title.upper()}")

        def listed(member: Member) -> dict[str, str] | None:
            """The member's reasons once their list holds the course (a profile write
            rescores them, so each poll sees the worker's latest counts)."""
            publisher.send("members", [member])
            reasons = _reasons(worker, member.member_id)
            return reasons if reasons and course_id in reasons else None

        wait_until(
            lambda: (listed(peer) or {}).get(course_id) == TITLE_REASON,
            30,
            f"{course_id} to trend for {peer.member_id}",
            interval_s=0.5,
        )
        # another title: the course is popular now, but does not trend for this title
        other = Member(member_id="trend-other", skills={}, title="Another Title")
        reasons = wait_until(lambda: listed(other), 30, "the other's list", interval_s=0.5)
    assert reasons[course_id] != TITLE_REASON
    assert TITLE_REASON not in reasons.values()
