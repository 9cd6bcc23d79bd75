"""Pydantic models of every record on the wire, and the one way to parse them."""

from schemas.activity import (
    ACTIVITY_ADAPTER,
    ACTIVITY_TOPICS,
    KIND_TOPICS,
    Activity,
    AnyActivity,
    Autoplay,
    Bounds,
    Click,
    Dismissal,
    Impression,
    parse_activity,
)
from schemas.catalog import DIFFICULTIES, Course, Member
from schemas.deadletter import DeadLetter, dead_letter_key
from schemas.fields import DEFAULT_CHANNELS, to_epoch_ms
from schemas.labels import Label
from schemas.parse import MAX_RECORD_BYTES, ErrorType, RecordError, parse
from schemas.recommendations import Item, RankedList, Recommendations, RecommendationsView

__all__ = [
    "ACTIVITY_ADAPTER",
    "ACTIVITY_TOPICS",
    "DEFAULT_CHANNELS",
    "DIFFICULTIES",
    "KIND_TOPICS",
    "MAX_RECORD_BYTES",
    "Activity",
    "AnyActivity",
    "Autoplay",
    "Bounds",
    "Click",
    "Course",
    "DeadLetter",
    "Dismissal",
    "ErrorType",
    "Impression",
    "Item",
    "Label",
    "Member",
    "RankedList",
    "Recommendations",
    "RecommendationsView",
    "RecordError",
    "dead_letter_key",
    "parse",
    "parse_activity",
    "to_epoch_ms",
]
