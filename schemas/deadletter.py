"""Records that could not be used, with the reason and the original bytes."""

from __future__ import annotations

import base64

from pydantic import BaseModel, ConfigDict, Field

from schemas.parse import ErrorType, RecordError

MAX_RAW_BYTES = 64 * 1024  # of the original value kept in a dead letter
MAX_ERROR_CHARS = 1024
MAX_KEY_BYTES = 1024  # of the original key kept as the dead letter's key
# Bound of a dead letter's value (base64 of MAX_RAW_BYTES, the error at 6 bytes a char as
# JSON escapes, a topic name of at most 249 characters, the rest): far below the 1 MiB
# a broker and a producer accept by default, so no dead letter is ever refused.
MAX_DEAD_LETTER_BYTES = 96 * 1024


class DeadLetter(BaseModel):
    """A record that could not be used: where it was, why, and its first bytes.

    `source_topic` is the contract topic the record was read from, named as in the cluster
    (with the deployment's topic prefix), so that (source_topic, partition, offset) finds
    the original record; never an internal topic. `raw` is the original value,
    base64-encoded so that any bytes survive: its first MAX_RAW_BYTES, all of it unless
    `truncated`; `size` is the original's length (None for a tombstone). `error_type`
    classifies `error` (`schemas.parse.ErrorType`). The last three fields are newer than
    the rest: letters without them read as untyped, untruncated, of unknown size.

    >>> letter = DeadLetter.of(b"{oops", "clicks", 0, 7, RecordError("invalid JSON", "json"))
    >>> letter.original(), letter.error_type, letter.truncated
    (b'{oops', 'json', False)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    source_topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    error: str
    raw: str
    error_type: ErrorType | None = None
    size: int | None = Field(default=None, ge=0)
    truncated: bool = False

    @classmethod
    def of(
        cls,
        raw: bytes | None,
        topic: str,
        partition: int,
        offset: int,
        error: RecordError | str,
        error_type: ErrorType | None = None,
    ) -> DeadLetter:
        """The letter of a message value (None: a tombstone); a RecordError brings its
        type, else `error_type` says it."""
        if isinstance(error, RecordError):
            error_type = error.error_type
        message = str(error)
        if len(message) > MAX_ERROR_CHARS:
            message = message[: MAX_ERROR_CHARS - 3] + "..."
        kept = (raw or b"")[:MAX_RAW_BYTES]
        return cls(
            source_topic=topic,
            partition=partition,
            offset=offset,
            error=message,
            raw=base64.b64encode(kept).decode("ascii"),
            error_type=error_type,
            size=None if raw is None else len(raw),
            truncated=raw is not None and len(raw) > len(kept),
        )

    def original(self) -> bytes:
        """The kept bytes of the original value: all of them unless `truncated`."""
        return base64.b64decode(self.raw)

    def to_bytes(self) -> bytes:
        """The JSON value for the deadletter topic: at most MAX_DEAD_LETTER_BYTES."""
        return self.model_dump_json().encode()


def dead_letter_key(key: bytes | None) -> bytes | None:
    """The deadletter record's key: the original message's, cut to MAX_KEY_BYTES so that
    key and value together stay far below a broker's limit."""
    return key if key is None or len(key) <= MAX_KEY_BYTES else key[:MAX_KEY_BYTES]
