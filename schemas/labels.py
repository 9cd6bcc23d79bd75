"""Training labels derived from activity (the `labels` topic, keyed by member_id)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.fields import Channel, Finite, Id, Name, Timestamp

LabelSource = Literal["click", "autoplay", "timeout"]


class Label(BaseModel):
    """One labelled impression: positive from a click or a long-enough autoplay, negative
    when the attribution window closed without engagement.

    >>> Label(member_id="m1", course_id="c1", channel="feed", label=1, source="click",
    ...       impression_event_id="i1", impression_ts=1767225600000,
    ...       label_ts=1767225660000, rule="click").label
    1
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    member_id: Id
    course_id: Id
    channel: Channel
    label: Literal[0, 1]
    source: LabelSource
    impression_event_id: Id | None = None
    impression_ts: Timestamp | None = None
    label_ts: Timestamp
    rule: Name
    position: int | None = Field(default=None, ge=0)
    model_id: Id | None = None
    propensity: Finite | None = Field(default=None, gt=0.0, le=1.0)
