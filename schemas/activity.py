"""Member activity: impressions, clicks, autoplay views, dismissals (keyed by member_id)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from schemas.fields import DEFAULT_CHANNELS, Channel, Finite, Id, Timestamp
from schemas.parse import MAX_RECORD_BYTES, RecordError, validate

# An autoplay may report a little more than the video's length (seek, rounding, replays
# of the last seconds); anything beyond this is a broken client.
WATCH_SLACK = 1.1
WATCH_SLACK_S = 5.0


class Activity(BaseModel):
    """Fields every activity record shares; `event_id` makes redelivery idempotent."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    event_id: Id
    member_id: Id
    course_id: Id
    ts: Timestamp


class Impression(Activity):
    """A course shown to a member in a channel at a position, by a model.

    >>> Impression(event_id="i1", member_id="m1", course_id="c1", channel="feed",
    ...            position=0, ts="2026-03-02T10:00:00Z").ts
    1772445600000
    """

    kind: Literal["impression"] = "impression"
    channel: Channel
    position: int = Field(ge=0, le=10_000)
    model_id: Id | None = None
    propensity: Finite | None = Field(default=None, gt=0.0, le=1.0)


class Click(Activity):
    """A click on a course, attributed to an impression by id or by (member, course, channel)."""

    kind: Literal["click"] = "click"
    channel: Channel
    impression_id: Id | None = None


class Autoplay(Activity):
    """A video preview that played; labelled positive when `watched_s` passes the rule."""

    kind: Literal["autoplay"] = "autoplay"
    impression_id: Id | None = None
    watched_s: Finite = Field(ge=0.0)
    video_s: Finite = Field(gt=0.0, le=86_400.0)

    @model_validator(mode="after")
    def watched_within_video(self) -> Self:
        if self.watched_s > self.video_s * WATCH_SLACK + WATCH_SLACK_S:
            raise ValueError(f"watched_s {self.watched_s:g} is far beyond video_s {self.video_s:g}")
        return self


class Dismissal(Activity):
    """A member asked never to see a course again."""

    kind: Literal["dismissal"] = "dismissal"


AnyActivity = Annotated[Impression | Click | Autoplay | Dismissal, Field(discriminator="kind")]


@dataclass(frozen=True)
class Bounds:
    """What a live activity record must satisfy beyond its schema (`Settings.bounds()`).

    >>> Bounds(max_future_ms=60_000).max_future_ms
    60000
    """

    channels: frozenset[str] = DEFAULT_CHANNELS
    max_future_ms: int = 3_600_000
    max_bytes: int = MAX_RECORD_BYTES
    context: dict[str, Any] = field(init=False, repr=False, compare=False)  # validation's

    def __post_init__(self) -> None:
        if self.max_future_ms < 0 or self.max_bytes < 1:
            raise ValueError("need max_future_ms >= 0 and max_bytes >= 1")
        object.__setattr__(self, "context", {"channels": frozenset(self.channels)})


def parse_activity(
    topic: str,
    key: bytes | None,
    value: bytes | None,
    now_ms: int | None,
    bounds: Bounds = Bounds(),
) -> Activity | RecordError:
    """The record of one message of an activity topic, or why it cannot be used.

    `topic` is the contract topic (`clicks`, without prefix). The message key must be the
    record's member_id: it decided the partition, hence which worker holds the member's
    state. A `ts` more than `bounds.max_future_ms` ahead of `now_ms`, the wall clock at
    arrival, is a broken client clock: it must not move event time. Recorded logs have no
    arrival time, so their readers do not bound the future (`now_ms` None). The error is
    returned, not raised: the caller sends it on as a dead letter.

    >>> parse_activity("clicks", b"m1", b'{"event_id": "e", "member_id": "m1", "course_id":'
    ...     b' "c", "channel": "feed", "ts": 4000000000000}', now_ms=1767225600000)
    RecordError('ts 4000000000000 is 2232774400 s ahead of the wall clock (at most 3600 s)')
    """
    model = ACTIVITY_TOPICS.get(topic)
    if model is None:
        return RecordError(f"{topic!r} is not an activity topic", "topic")
    try:
        record = validate(model, value, bounds.context, bounds.max_bytes)
    except RecordError as error:
        return error
    fields = record.__dict__  # read past pydantic's attribute hook: this is the hot path
    member, ts = fields["member_id"], fields["ts"]
    if not key:
        return RecordError("no message key: activity is keyed by member_id", "key")
    if key != member.encode():
        return RecordError(f"key {key[:64]!r} is not the member_id {member!r}", "key")
    if now_ms is not None and ts > now_ms + bounds.max_future_ms:
        return RecordError(
            f"ts {ts} is {(ts - now_ms) // 1000} s ahead of the wall clock"
            f" (at most {bounds.max_future_ms // 1000} s)",
            "future",
        )
    return record


# Parses a record that carries its `kind` (the internal `activity` topic, log files).
ACTIVITY_ADAPTER: TypeAdapter[AnyActivity] = TypeAdapter(AnyActivity)

ACTIVITY_TOPICS: dict[str, type[Activity]] = {
    "impressions": Impression,
    "clicks": Click,
    "autoplays": Autoplay,
    "dismissals": Dismissal,
}
# Activity `kind` -> contract topic name.
KIND_TOPICS: dict[str, str] = {
    model.model_fields["kind"].default: topic for topic, model in ACTIVITY_TOPICS.items()
}
