"""Catalog and profile records (compacted topics, keyed by course_id / member_id)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.fields import Id, Name, Timestamp, Weights

Difficulty = Literal["beginner", "intermediate", "advanced"]
DIFFICULTIES: tuple[Difficulty, ...] = ("beginner", "intermediate", "advanced")


class Course(BaseModel):
    """A course in the catalog; `retired` courses are never served.

    >>> Course(course_id="c1", title="Intro to SQL", skills={"sql": 1.0}, category="data",
    ...        difficulty="beginner", duration_s=3600, released_at=1767225600000).retired
    False
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    course_id: Id
    title: Name
    skills: Weights
    category: Name
    difficulty: Difficulty
    duration_s: float = Field(gt=0.0, le=1_000_000.0, allow_inf_nan=False)
    released_at: Timestamp
    author: Name | None = None
    retired: bool = False


class Member(BaseModel):
    """A member profile; seniority is an ordinal level (0 = entry .. 9 = executive).

    >>> Member(member_id="m1", skills={"python": 0.8}, seniority=3).followed_skills
    ()
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    member_id: Id
    skills: Weights
    title: Name | None = None
    industry: Name | None = None
    seniority: int | None = Field(default=None, ge=0, le=9)
    followed_skills: tuple[Id, ...] = Field(default=(), max_length=256)
