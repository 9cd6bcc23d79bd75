"""Per-member labelling state: the value of a RocksDB table keyed by member_id.

Everything the labeller knows about one member, so that a worker restarted from the
changelog continues exactly where it stopped:

- `watermark_ms`: events with ts < watermark are final (processed, or rejected as late).
- `buffer`: accepted events with ts >= watermark, a heap in processing order.
- `pending`: impressions processed but not yet labelled, oldest first.
- `seen`: 64-bit hashes of accepted (kind, event_id) with their ts, for duplicates.
- `stats`: the member's own watch times (scope `member` of percentile rules).
"""

from __future__ import annotations

import hashlib
import heapq
import operator
import struct
from dataclasses import dataclass, field
from typing import Any

import orjson

from labels.watchtime import WatchStats
from schemas import Autoplay, Click, Dismissal, Impression
from schemas.parse import trusted

Event = Impression | Click | Autoplay
# Processing order among equal timestamps: an impression before the click on it, and a
# click before an autoplay (a click wins a tie).
KINDS: tuple[type[Event], ...] = (Impression, Click, Autoplay)
_RANK = {cls.model_fields["kind"].default: rank for rank, cls in enumerate(KINDS)}
# Wire fields stored per event, in declared order; member_id is stored once per state,
# kind as the rank. Every kind declares event_id, member_id, course_id, ts, kind first.
_FIELDS = {cls: [f for f in cls.model_fields if f not in ("member_id", "kind")] for cls in KINDS}
_NAMES = {cls: tuple(cls.model_fields) for cls in KINDS}
_STORED = {cls: operator.itemgetter(*_FIELDS[cls]) for cls in KINDS}  # of a record's __dict__
_KIND = {cls: cls.model_fields["kind"].default for cls in KINDS}
_HEADER = struct.Struct("<BII")
NEVER_MS = 2**63 - 1  # later than any timestamp


def order_key(event: Event) -> tuple[int, int, str]:
    """Event-time processing order: ts, then kind, then event_id."""
    return event.ts, _RANK[event.kind], event.event_id


def event_hash(event: Event | Dismissal) -> int:
    """Stable signed 64-bit hash of (kind, event_id); collisions are ~n**2 / 2**64."""
    digest = hashlib.blake2b(f"{event.kind}:{event.event_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


@dataclass
class MemberLabelState:
    """One member's labelling state, serialised compactly for a RocksDB table.

    Layout of `to_bytes`: a header (version, JSON length, seen count), JSON with the
    member id, watermark, buffered events and pending impressions as positional arrays,
    then the seen hashes and timestamps as int64 buffers, then `WatchStats.to_bytes`.

    >>> s = MemberLabelState(member_id="m1", watermark_ms=1767225600000)
    >>> MemberLabelState.from_bytes(s.to_bytes()) == s
    True
    """

    member_id: str = ""
    watermark_ms: int = 0
    buffer: list[tuple[int, int, str, Event]] = field(default_factory=list)  # order_key, event
    pending: dict[str, Impression] = field(default_factory=dict)  # insertion = ts order
    seen: dict[int, int] = field(default_factory=dict)
    stats: WatchStats = field(default_factory=WatchStats)
    version: int = 1
    # The oldest ts in `seen` (derived, not stored): the hourly `forget_before` of a member
    # with nothing to forget, the common case, then costs one comparison.
    _oldest_seen: int = field(init=False, repr=False, compare=False)
    # Pending impressions as `to_bytes` writes them, by event id, with the impression
    # they encode (derived): the state is written after every event, and its pending
    # impressions mostly stay the same.
    _rows: dict[str, tuple[Impression, list[Any]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self._oldest_seen = min(self.seen.values(), default=NEVER_MS)

    def push(self, event: Event, key: int) -> None:
        """Remember an accepted event (`key`: its `event_hash`) until the watermark passes it."""
        self.remember(key, event.ts)
        heapq.heappush(self.buffer, (*order_key(event), event))

    def remember(self, key: int, ts: int) -> None:
        """Count the event with `event_hash` `key` as seen (duplicates of it are dropped)."""
        self.seen[key] = ts
        if ts < self._oldest_seen:
            self._oldest_seen = ts

    def take_before(self, watermark_ms: int) -> list[Event]:
        """The buffered events with ts < watermark_ms, removed, in processing order."""
        buffer, events = self.buffer, []
        while buffer and buffer[0][0] < watermark_ms:
            events.append(heapq.heappop(buffer)[3])
        return events

    def seen_since(self, key: int, since_ms: int) -> bool:
        """Whether the event with `event_hash` `key` was accepted before, counting only ids
        with ts >= since_ms."""
        ts = self.seen.get(key)
        return ts is not None and ts >= since_ms

    def forget_before(self, since_ms: int) -> None:
        """Drop seen ids older than `since_ms` (they can only come back as late events)."""
        if self._oldest_seen < since_ms:  # most hours drop nothing
            self.seen = {h: ts for h, ts in self.seen.items() if ts >= since_ms}
            self._oldest_seen = min(self.seen.values(), default=NEVER_MS)

    def to_bytes(self) -> bytes:
        doc = {
            "m": self.member_id,
            "w": self.watermark_ms,
            "b": [_encode(e) for *_, e in sorted(self.buffer)],
            "p": self._pending_rows(),
        }
        text = orjson.dumps(doc)
        n = len(self.seen)
        return b"".join(
            (
                _HEADER.pack(self.version, len(text), n),
                text,
                struct.pack(f"<{n}q", *self.seen),
                struct.pack(f"<{n}q", *self.seen.values()),
                self.stats.to_bytes(),
            )
        )

    def _pending_rows(self) -> list[list[Any]]:
        rows, out = self._rows, []
        for event_id, imp in self.pending.items():
            known = rows.get(event_id)
            if known is None or known[0] is not imp:
                known = rows[event_id] = (imp, _encode(imp)[1:])
            out.append(known[1])
        if len(rows) > len(out):  # labelled since: forget their rows
            self._rows = {event_id: rows[event_id] for event_id in self.pending}
        return out

    @classmethod
    def from_bytes(cls, raw: bytes) -> MemberLabelState:
        version, n_text, n_seen = _HEADER.unpack_from(raw)
        if version != cls.version:
            raise ValueError(f"MemberLabelState version {version} is not {cls.version}")
        at = _HEADER.size
        doc = orjson.loads(raw[at : at + n_text])
        at += n_text
        hashes = struct.unpack_from(f"<{n_seen}q", raw, at)
        stamps = struct.unpack_from(f"<{n_seen}q", raw, at + 8 * n_seen)
        member = doc["m"]
        buffered = [_decode(member, row) for row in doc["b"]]
        pending = [(_decode(member, [0, *row]), row) for row in doc["p"]]
        state = cls(
            member_id=member,
            watermark_ms=doc["w"],
            buffer=[(*order_key(e), e) for e in buffered],  # sorted, hence a heap
            pending={imp.event_id: imp for imp, _ in pending},  # type: ignore[misc]
            seen=dict(zip(hashes, stamps, strict=True)),
            stats=WatchStats.from_bytes(raw[at + 16 * n_seen :]),
        )
        state._rows = {imp.event_id: (imp, row) for imp, row in pending}  # type: ignore[misc]
        return state


def _encode(event: Event) -> list[Any]:
    fields = event.__dict__  # past pydantic's attribute hook: this is the hot path
    return [_RANK[fields["kind"]], *_STORED[type(event)](fields)]


def _decode(member_id: str, row: list[Any]) -> Event:
    cls = KINDS[row[0]]
    # Written by `_encode` from validated records, so no second validation.
    values = (row[1], member_id, row[2], row[3], _KIND[cls], *row[4:])
    return trusted(cls, dict(zip(_NAMES[cls], values, strict=True)))
