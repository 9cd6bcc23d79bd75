"""Hand-made activity for the labelling tests: short constructors with test defaults."""

from __future__ import annotations

from collections.abc import Iterable

from labels import Labeller, LogLabeller, Reject
from schemas import Autoplay, Click, Dismissal, Impression, Label

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a day boundary
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def imp(event_id: str, ts: int, course: str = "c1", channel: str = "feed", member: str = "m1"):
    return Impression(
        event_id=event_id,
        member_id=member,
        course_id=course,
        channel=channel,
        position=3,
        model_id="glmix-1",
        ts=ts,
    )


def click(
    event_id: str,
    ts: int,
    course: str = "c1",
    channel: str = "feed",
    member: str = "m1",
    impression_id: str | None = None,
):
    return Click(
        event_id=event_id,
        member_id=member,
        course_id=course,
        channel=channel,
        impression_id=impression_id,
        ts=ts,
    )


def auto(
    event_id: str,
    ts: int,
    watched: float,
    video: float = 60.0,
    course: str = "c1",
    member: str = "m1",
    impression_id: str | None = None,
):
    return Autoplay(
        event_id=event_id,
        member_id=member,
        course_id=course,
        impression_id=impression_id,
        watched_s=watched,
        video_s=video,
        ts=ts,
    )


def dismissal(event_id: str, ts: int, course: str = "c1", member: str = "m1"):
    return Dismissal(event_id=event_id, member_id=member, course_id=course, ts=ts)


def run_log(
    events: Iterable, labeller: Labeller, *, close_open: bool = True
) -> list[Label | Reject]:
    """Every label and reject of a log, windows closed at the end by default."""
    run = LogLabeller(labeller)
    results = [r for e in events for r in run.feed(e)]
    return results + run.finish(close_open=close_open)


def outcomes(results: Iterable[Label | Reject]) -> dict[str, tuple[int, str, str]]:
    """impression id -> (label, source, rule); fails on a second label of an impression."""
    seen: dict[str, tuple[int, str, str]] = {}
    for r in results:
        assert isinstance(r, Label), r
        assert r.impression_event_id not in seen, f"second label for {r.impression_event_id}"
        seen[r.impression_event_id] = (r.label, r.source, r.rule)
    return seen
