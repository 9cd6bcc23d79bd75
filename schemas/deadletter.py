"""Records that could not be used, with the reason and the original bytes."""

from __future__ import annotations

import base64

from pydantic import BaseModel, ConfigDict, Field


class DeadLetter(BaseModel):
    """`raw` is the original message value, base64-encoded so that any bytes survive.

    >>> DeadLetter.of(b"{oops", "clicks", 0, 7, "invalid JSON").original()
    b'{oops'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    source_topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    error: str
    raw: str

    @classmethod
    def of(cls, raw: bytes, topic: str, partition: int, offset: int, error: str) -> DeadLetter:
        return cls(
            source_topic=topic,
            partition=partition,
            offset=offset,
            error=error,
            raw=base64.b64encode(raw).decode("ascii"),
        )

    def original(self) -> bytes:
        return base64.b64decode(self.raw)
