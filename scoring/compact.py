"""Compact record encode / decode (paper §4.3, Figure 8).

Lists of one member overlap heavily across channels and models, so the record stores each
course id and each reason string once and every (channel, model) list as indices into
those tables: the paper reports about 3x less storage than one full list per model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import orjson

from schemas import RankedList, Recommendations, RecommendationsView


def encode(views: Sequence[RecommendationsView]) -> Recommendations:
    """One member's (channel, model) lists as one compact record, tables in first-seen order.

    >>> from schemas import Item
    >>> v = RecommendationsView(member_id="m1", channel="feed", model_id="glmix-a",
    ...     generated_at=1767225600000, items=(Item(course_id="c2", score=0.9, reason="New"),
    ...     Item(course_id="c1", score=0.5, reason="New")))
    >>> r = encode([v, v.model_copy(update={"model_id": "glmix-b"})])
    >>> r.courses, r.reasons, r.lists[1].items, decode(r)[0] == v
    (('c2', 'c1'), ('New',), (0, 1), True)
    """
    if not views:
        raise ValueError("no lists to encode")
    member_id, generated_at = views[0].member_id, views[0].generated_at
    courses: dict[str, int] = {}
    reasons: dict[str, int] = {}
    lists = []
    for v in views:
        if (v.member_id, v.generated_at) != (member_id, generated_at):
            raise ValueError("lists of one record share member_id and generated_at")
        lists.append(
            RankedList(
                channel=v.channel,
                model_id=v.model_id,
                items=tuple(courses.setdefault(i.course_id, len(courses)) for i in v.items),
                scores=tuple(i.score for i in v.items),
                reasons=tuple(reasons.setdefault(i.reason, len(reasons)) for i in v.items),
            )
        )
    return Recommendations(
        member_id=member_id,
        generated_at=generated_at,
        courses=tuple(courses),
        reasons=tuple(reasons),
        lists=tuple(lists),
    )


def decode(record: Recommendations) -> tuple[RecommendationsView, ...]:
    """Every (channel, model) list of the record, in stored order (the inverse of `encode`)."""
    return tuple(
        record.model_copy(update={"lists": (ranked,)}).view(ranked.channel)
        for ranked in record.lists
    )


def record_sizes(views: Sequence[RecommendationsView]) -> tuple[int, int]:
    """(compact, naive) JSON bytes of the same lists; naive stores every list in full, with
    its course ids and reason strings, as a served-list table keyed by (member, model) would.
    """
    naive = sum(len(v.model_dump_json()) for v in views)
    lists = [
        Ranking(
            v.channel,
            v.model_id,
            [i.course_id for i in v.items],
            np.array([i.score for i in v.items]),
            [i.reason for i in v.items],
        )
        for v in views
    ]
    return len(record_bytes(views[0].member_id, views[0].generated_at, lists)[0]), naive


@dataclass(frozen=True)
class Ranking:
    """One (channel, model) list as the rescorer holds it: course ids, scores, reasons."""

    channel: str
    model_id: str
    course_ids: list[str]
    scores: np.ndarray
    reasons: list[str]


def record_bytes(
    member_id: str, generated_at: int, lists: Sequence[Ranking]
) -> tuple[bytes, tuple[str, ...]]:
    """The compact record of one member's lists as `encode` lays it out, as JSON bytes
    straight from one encoder (no model per item), and its course table. The texts are
    taken as valid (`scoring.reasons.reason_text`): nothing is validated per item.

    >>> raw, courses = record_bytes("m1", 1767225600000, [Ranking("feed", "glmix-a",
    ...     ["c2", "c1"], np.array([0.9, 0.5]), ["New", "New"])])
    >>> Recommendations.model_validate_json(raw).lists[0].items, courses
    ((0, 1), ('c2', 'c1'))
    """
    courses: dict[str, int] = {}
    reasons: dict[str, int] = {}
    encoded: dict[int, list] = {}  # id of a list's parts -> their encoding (channels share)
    out = []
    for r in lists:
        if id(r.course_ids) not in encoded:
            encoded[id(r.course_ids)] = [courses.setdefault(c, len(courses)) for c in r.course_ids]
        if id(r.scores) not in encoded:
            encoded[id(r.scores)] = r.scores.tolist()
        if id(r.reasons) not in encoded:
            encoded[id(r.reasons)] = [reasons.setdefault(t, len(reasons)) for t in r.reasons]
        out.append(
            {
                "channel": r.channel,
                "model_id": r.model_id,
                "items": encoded[id(r.course_ids)],
                "scores": encoded[id(r.scores)],
                "reasons": encoded[id(r.reasons)],
            }
        )
    record = {
        "member_id": member_id,
        "generated_at": generated_at,
        "courses": list(courses),
        "reasons": list(reasons),
        "lists": out,
    }
    return orjson.dumps(record), tuple(courses)
