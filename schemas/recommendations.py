"""Served recommendations: the compact stored record and the HTTP view of one list."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.fields import Channel, Finite, Id, Name, Timestamp


class RankedList(BaseModel):
    """One (channel, model) list as indices into the record's course and reason tables."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    channel: Channel
    model_id: Id
    items: tuple[int, ...]
    scores: tuple[Finite, ...]
    reasons: tuple[int, ...]

    @model_validator(mode="after")
    def aligned(self) -> Self:
        if not len(self.items) == len(self.scores) == len(self.reasons):
            raise ValueError("items, scores and reasons must have the same length")
        return self


class Recommendations(BaseModel):
    """Compact record (paper Figure 8): the union of course ids once, then per
    (channel, model) a list of indices into it, so overlapping lists cost little.

    >>> r = Recommendations(member_id="m1", generated_at=1767225600000, courses=("c1", "c2"),
    ...     reasons=("Popular",), lists=(RankedList(channel="feed", model_id="glmix-1",
    ...     items=(1, 0), scores=(0.9, 0.5), reasons=(0, 0)),))
    >>> [i.course_id for i in r.view("feed").items]
    ['c2', 'c1']
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    member_id: Id
    generated_at: Timestamp
    courses: tuple[Id, ...]
    reasons: tuple[Name, ...]
    lists: tuple[RankedList, ...] = Field(max_length=64)

    @model_validator(mode="after")
    def indices_in_range(self) -> Self:
        for ranked in self.lists:
            if any(not 0 <= i < len(self.courses) for i in ranked.items):
                raise ValueError(f"{ranked.channel}/{ranked.model_id}: course index out of range")
            if any(not 0 <= i < len(self.reasons) for i in ranked.reasons):
                raise ValueError(f"{ranked.channel}/{ranked.model_id}: reason index out of range")
        return self

    def view(self, channel: str, limit: int | None = None) -> RecommendationsView:
        """The served list for a channel; KeyError when the member has none there."""
        for ranked in self.lists:
            if ranked.channel == channel:
                rows = zip(ranked.items, ranked.scores, ranked.reasons, strict=True)
                items = tuple(
                    Item(course_id=self.courses[i], score=s, reason=self.reasons[r])
                    for i, s, r in list(rows)[:limit]
                )
                return RecommendationsView(
                    member_id=self.member_id,
                    channel=channel,
                    model_id=ranked.model_id,
                    generated_at=self.generated_at,
                    items=items,
                )
        raise KeyError(channel)


class Item(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    course_id: Id
    score: Finite
    reason: Name


class RecommendationsView(BaseModel):
    """Body of `GET /recommendations/{member_id}`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    member_id: Id
    channel: Channel
    model_id: Id
    generated_at: Timestamp
    items: tuple[Item, ...]
