"""Bytes in, a validated record or one readable error out: the edge of every agent."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from schemas.fields import DEFAULT_CHANNELS

MAX_RECORD_BYTES = 64 * 1024
M = TypeVar("M", bound=BaseModel)


class RecordError(ValueError):
    """A record that cannot be used; the message names the field and the reason."""


def describe(error: ValidationError) -> str:
    """One line per problem: `field 'watched_s': Input should be greater than or equal to 0`."""
    parts = []
    for e in error.errors(include_url=False):
        where = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "json_invalid":
            parts.append(f"invalid JSON: {e['ctx'].get('error', msg) if e.get('ctx') else msg}")
        else:
            parts.append(f"field '{where}': {msg}" if where else msg)
    return "; ".join(parts)


def parse(
    model: type[M],
    raw: bytes,
    *,
    channels: Iterable[str] = DEFAULT_CHANNELS,
    max_bytes: int = MAX_RECORD_BYTES,
) -> M:
    """Validate one wire record.

    >>> from schemas.activity import Click
    >>> parse(Click, b'{"event_id": "e", "member_id": "m", "course_id": "c",'
    ...                b' "channel": "sms", "ts": 1767225600000}')
    Traceback (most recent call last):
    ...
    schemas.parse.RecordError: field 'channel': unknown channel 'sms' (known: email, ...)
    """
    if raw is None:
        raise RecordError("empty message (tombstone) where a record was expected")
    if len(raw) > max_bytes:
        raise RecordError(f"payload of {len(raw)} bytes exceeds the {max_bytes} byte limit")
    try:
        return model.model_validate_json(raw, context={"channels": frozenset(channels)})
    except ValidationError as e:
        raise RecordError(describe(e)) from None
