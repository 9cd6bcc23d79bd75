"""Malformed activity of every kind, each with the error type it must be dead-lettered
for, and its interleaving with valid events: the bad-input tests, in memory and on a
real broker.

A bad message aims at the members of the valid log (with ts inside its time range
unless time is what is wrong), so that one that got through would change their labels.
Lateness needs a watermark, and a stream's watermark needs every source seen: a record
behind it can only be judged once each labelled kind (impressions, clicks, autoplays)
has arrived on its partition. So `interleave` puts late records only after that warm-up
of valid events; every other bad record is rejected by itself and goes anywhere.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from labels.clock import SOURCES
from nearline.topics import partition_of
from schemas import KIND_TOPICS, AnyActivity, ErrorType
from schemas.fields import MAX_TS_MS, MIN_TS_MS
from schemas.parse import MAX_RECORD_BYTES

MEGABYTE = 1_000_000  # the largest payloads: under a broker's default 1 MiB message limit
LARGEST = 4  # this many of the too-large payloads are a megabyte, the rest just over the limit
HOUR_MS = 3_600_000
SOURCE_TOPICS = frozenset(KIND_TOPICS[kind] for kind in SOURCES)


@dataclass(frozen=True)
class Message:
    """One activity message as a producer sends it; `expected` None for a valid record."""

    topic: str  # contract topic, without prefix
    key: bytes | None
    value: bytes | None
    expected: ErrorType | None = None
    case: str = ""  # what is wrong with it


def wire(event: AnyActivity) -> Message:
    """A valid record as its producer sends it: keyed by member, without `kind`."""
    value = event.model_dump_json(exclude={"kind"}, exclude_none=True).encode()
    return Message(KIND_TOPICS[event.kind], event.member_id.encode(), value)


@dataclass(frozen=True)
class Span:
    """What the bad messages aim at: the valid log's members and time, the wall clock."""

    members: Sequence[str]
    courses: Sequence[str]
    first_ms: int  # the valid log's first and last event time
    last_ms: int
    now_ms: int  # the wall clock: far-future ts stay beyond the bound for an hour after
    max_future_ms: int = HOUR_MS
    lateness_ms: int = HOUR_MS


# A case: its name, the error type expected, the topics it spoils a record of, and how
# (given the random source, the span, the topic, a valid record of it, and how many
# records of the case came before).
Spoil = Callable[[random.Random, Span, str, dict, int], tuple[str, bytes | None, bytes | None]]
CASES: list[tuple[str, ErrorType, tuple[str, ...], Spoil]] = []
TOPICS = tuple(sorted(KIND_TOPICS.values()))


def case(
    name: str, expected: ErrorType, topics: tuple[str, ...] = TOPICS
) -> Callable[[Spoil], Spoil]:
    def register(spoil: Spoil) -> Spoil:
        CASES.append((name, expected, topics, spoil))
        return spoil

    return register


def corpus(n: int, span: Span, seed: int = 0) -> list[Message]:
    """`n` bad messages, the cases in turn (each appears once n reaches their number)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        name, expected, topics, spoil = CASES[i % len(CASES)]
        topic = rng.choice(topics)
        record = _valid(f"bad-{i}", topic, rng, span)
        topic, key, value = spoil(rng, span, topic, record, i // len(CASES))
        out.append(Message(topic, key, value, expected, name))
    return out


def interleave(
    valid: Sequence[Message], bad: Sequence[Message], partitions: int, seed: int = 0
) -> list[Message]:
    """The valid messages in their order with the bad ones among them at random; late
    ones only after every partition has seen every source (ValueError if it never has)."""
    warm = _warm_up(valid, partitions) if any(m.expected == "late" for m in bad) else 0
    rng = random.Random(seed)
    slots = sorted(
        (rng.randint(warm if m.expected == "late" else 0, len(valid)), rng.random(), i)
        for i, m in enumerate(bad)
    )
    out: list[Message] = []
    at = 0
    for slot, _, i in slots:
        out += valid[at:slot]
        at = max(at, slot)
        out.append(bad[i])
    return out + list(valid[at:])


def _warm_up(valid: Sequence[Message], partitions: int) -> int:
    """Messages until each partition has had a message of each source topic."""
    missing = {(p, t) for p in range(partitions) for t in SOURCE_TOPICS}
    for n, m in enumerate(valid, 1):
        if m.key is not None:
            missing.discard((partition_of(m.key, partitions), m.topic))
        if not missing:
            return n
    raise ValueError(f"the valid messages never show every source on every partition: {missing}")


def _valid(event_id: str, topic: str, rng: random.Random, span: Span) -> dict:
    record = {
        "event_id": event_id,
        "member_id": rng.choice(span.members),
        "course_id": rng.choice(span.courses),
        "ts": rng.randint(span.first_ms, span.last_ms),
    }
    if topic in ("impressions", "clicks"):
        record["channel"] = "feed"
    if topic == "impressions":
        record["position"] = rng.randint(0, 9)
    if topic == "autoplays":
        record |= {"watched_s": 10.0, "video_s": 60.0}
    return record


def _json(record: dict) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode()


def _keyed(topic: str, record: dict) -> tuple[str, bytes, bytes]:
    """The record as it is, keyed by its own member."""
    return topic, record["member_id"].encode(), _json(record)


@case("non-JSON", "json")
def _non_json(rng, span, topic, record, nth):
    garbage = rng.choice(
        [
            b"<event member='m1'/>",
            b"event_id,member_id\nx,m1",
            b"\x00\x01\x02" + rng.randbytes(rng.randint(1, 200)),
            b"{'event_id': 'single quotes'}",
            b"{" + rng.randbytes(rng.randint(1, 200)),
        ]
    )
    return topic, record["member_id"].encode(), garbage


@case("truncated", "json")
def _truncated(rng, span, topic, record, nth):
    value = _json(record)
    return topic, record["member_id"].encode(), value[: rng.randint(1, len(value) - 1)]


@case("wrong type", "schema")
def _wrong_type(rng, span, topic, record, nth):
    field, value = rng.choice(
        [("member_id", 5), ("course_id", {"id": 1}), ("ts", [1, 2]), ("event_id", None)]
        + {
            "impressions": [("position", "third"), ("channel", 3)],
            "clicks": [("channel", ["feed"]), ("impression_id", 7)],
            "autoplays": [("watched_s", "long"), ("video_s", {"s": 1})],
            "dismissals": [("ts", "yesterday")],
        }[topic]
    )
    return topic, record["member_id"].encode(), _json(record | {field: value})


@case("missing field", "schema")
def _missing(rng, span, topic, record, nth):
    key = record["member_id"].encode()
    del record[rng.choice(list(record))]
    return topic, key, _json(record)


@case("impossible duration", "schema", ("autoplays",))
def _duration(rng, span, topic, record, nth):
    watched, video = rng.choice(
        [(-5.0, 60.0), (600.0, 60.0), (10.0, 0.0), (10.0, -1.0), (10.0, 1e9), (1e308, 60.0)]
    )
    value = _json(record | {"watched_s": watched, "video_s": video})
    if rng.random() < 0.3:
        value = value.replace(f'"watched_s": {watched!r}'.encode(), b'"watched_s": NaN')
    return topic, record["member_id"].encode(), value


@case("far-future ts", "future")
def _future(rng, span, topic, record, nth):
    earliest = span.now_ms + span.max_future_ms + HOUR_MS  # an hour of margin to parse
    return _keyed(topic, record | {"ts": rng.randint(earliest, MAX_TS_MS - 1)})


@case("ts out of 2000..2100", "schema")
def _out_of_range(rng, span, topic, record, nth):
    ts = rng.choice([0, 1, -5, span.first_ms // 1000, MAX_TS_MS, 10**15, "1969-07-20T20:17:00Z"])
    return _keyed(topic, record | {"ts": ts})


@case("ancient ts", "late")
def _ancient(rng, span, topic, record, nth):
    ts = rng.randint(MIN_TS_MS, span.first_ms - span.lateness_ms - 48 * HOUR_MS)
    iso = datetime.fromtimestamp(ts / 1000, UTC).isoformat()
    return _keyed(topic, record | {"ts": rng.choice([ts, iso])})


@case("late event", "late")
def _late(rng, span, topic, record, nth):
    # Behind every watermark once every source was seen: before the first valid ts
    # minus the lateness (a 48 h late dismissal was applied once).
    ts = span.first_ms - span.lateness_ms - rng.randint(1, 48 * HOUR_MS)
    return _keyed(topic, record | {"ts": ts})


@case("unknown channel", "schema", ("impressions", "clicks"))
def _channel(rng, span, topic, record, nth):
    return _keyed(topic, record | {"channel": rng.choice(["sms", "FEED", "", "push", "feed "])})


@case("payload too large", "too_large")
def _large(rng, span, topic, record, nth):
    size = MEGABYTE if nth < LARGEST else MAX_RECORD_BYTES + rng.randint(1, 1024)
    value = _json(record | {"note": ""})
    value = value.replace(b'"note": ""', b'"note": "' + b"x" * (size - len(value)) + b'"')
    return topic, record["member_id"].encode(), value


@case("control character in an id", "schema")
def _control(rng, span, topic, record, nth):
    field = rng.choice(["event_id", "member_id", "course_id"])
    control = rng.choice(["\x00", "\n", "\x1b", "\x85", "\x7f"])
    spoilt = record | {field: record[field][:1] + control + record[field][1:]}  # inside
    return topic, record["member_id"].encode(), _json(spoilt)


@case("raw NUL byte", "json")
def _nul(rng, span, topic, record, nth):
    event_id = record["event_id"].encode()
    value = _json(record).replace(event_id, event_id + b"\0")
    return topic, record["member_id"].encode(), value


@case("non-UTF-8", "json")
def _not_utf8(rng, span, topic, record, nth):
    value = _json(record | {"course_id": "café"})
    value = rng.choice([value.replace("é".encode(), b"\xe9"), b"\xff\xfe" + value])
    return topic, record["member_id"].encode(), value


@case("mismatched key", "key")
def _mismatched(rng, span, topic, record, nth):
    member = record["member_id"]
    other = rng.choice([m for m in span.members if m != member] or [member + "x"])
    key = rng.choice([other, " " + member, member.upper() + "X", member + "\0"])
    return topic, key.encode(), _json(record)


@case("missing key", "key")
def _no_key(rng, span, topic, record, nth):
    return topic, rng.choice([None, b""]), _json(record)


@case("empty value", "empty")
def _empty(rng, span, topic, record, nth):
    return topic, record["member_id"].encode(), b""


@case("tombstone", "tombstone")
def _tombstone(rng, span, topic, record, nth):
    return topic, record["member_id"].encode(), None


@case("unknown fields", "schema")
def _extra(rng, span, topic, record, nth):
    extra = rng.choice([{"colour": "red"}, {f"x{i}": i for i in range(2000)}])
    return _keyed(topic, record | extra)


@case("not an object", "schema")
def _not_object(rng, span, topic, record, nth):
    value = rng.choice([b"[1, 2]", b"null", b"42", b'"click"', b"true"])
    return topic, record["member_id"].encode(), value


@case("another topic's record", "schema")
def _other_topic(rng, span, topic, record, nth):
    other = "impressions" if topic == "autoplays" else "autoplays"
    return _keyed(topic, _valid(record["event_id"], other, rng, span))
