"""Reusable constrained types shared by every record on the wire."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, ValidationInfo

DEFAULT_CHANNELS = frozenset({"feed", "email", "learning_home"})

# Epoch milliseconds of 2000-01-01 and 2100-01-01: values outside are almost always
# seconds passed as milliseconds (or garbage), so they are rejected rather than misplaced.
MIN_TS_MS = 946_684_800_000
MAX_TS_MS = 4_102_444_800_000

# Ids are keys of state, topics and URLs: no control characters (NUL, newlines, C1). A
# pattern is checked inside pydantic-core; a Python validator would cost a call per id.
ID_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]+$"
Id = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128, pattern=ID_PATTERN),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
NonNegative = Annotated[float, Field(allow_inf_nan=False, ge=0.0)]
Weights = Annotated[
    dict[Annotated[str, StringConstraints(min_length=1, max_length=128)], NonNegative],
    Field(max_length=512),
]


def to_epoch_ms(value: Any) -> int:
    """Epoch ms from epoch ms (int, float or digit string) or an ISO-8601 string.

    >>> to_epoch_ms("2026-01-01T00:00:00Z"), to_epoch_ms(1767225600000)
    (1767225600000, 1767225600000)
    """
    if type(value) is int and MIN_TS_MS <= value < MAX_TS_MS:  # the common case, first
        return value
    if isinstance(value, bool):
        raise ValueError("timestamp must be ISO-8601 or epoch milliseconds, not a boolean")
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("timestamp must be finite")
        ms = int(value)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"not an ISO-8601 timestamp: {value[:40]!r}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        ms = int(parsed.timestamp() * 1000)
    else:
        raise ValueError("timestamp must be ISO-8601 or epoch milliseconds")
    if not MIN_TS_MS <= ms < MAX_TS_MS:
        raise ValueError(f"timestamp {ms} is outside 2000..2100 (epoch seconds instead of ms?)")
    return ms


def _known_channel(value: str, info: ValidationInfo) -> str:
    channels = (info.context or {}).get("channels", DEFAULT_CHANNELS)
    if value not in channels:
        raise ValueError(f"unknown channel {value!r} (known: {', '.join(sorted(channels))})")
    return value


Timestamp = Annotated[int, BeforeValidator(to_epoch_ms)]
Channel = Annotated[str, AfterValidator(_known_channel)]
