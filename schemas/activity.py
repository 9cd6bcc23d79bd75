"""Member activity: impressions, clicks, autoplay views, dismissals (keyed by member_id)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from schemas.fields import DEFAULT_CHANNELS, Channel, Finite, Id, Timestamp
from schemas.parse import RecordError, parse

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


def parse_activity(topic: str, raw: bytes, channels: Iterable[str] = DEFAULT_CHANNELS) -> Activity:
    """Validate a message of one of the contract's activity topics (named without prefix)."""
    model = ACTIVITY_TOPICS.get(topic)
    if model is None:
        raise RecordError(f"{topic!r} is not an activity topic")
    return parse(model, raw, channels=channels)


# Parses a record that carries its `kind` (the internal `activity` topic, log files).
ACTIVITY_ADAPTER: TypeAdapter[AnyActivity] = TypeAdapter(AnyActivity)

ACTIVITY_TOPICS: dict[str, type[Activity]] = {
    "impressions": Impression,
    "clicks": Click,
    "autoplays": Autoplay,
    "dismissals": Dismissal,
}
