"""Acceptance and rejection tables for every record of the wire contract."""

from __future__ import annotations

import json

import pytest

from schemas import (
    MAX_RECORD_BYTES,
    Autoplay,
    Click,
    Course,
    DeadLetter,
    Dismissal,
    Impression,
    Label,
    Member,
    RankedList,
    Recommendations,
    RecordError,
    parse,
    parse_activity,
)

TS = 1767225600000  # 2026-01-01T00:00:00Z

GOOD = {
    Impression: {
        "event_id": "i1",
        "member_id": "m1",
        "course_id": "c1",
        "channel": "feed",
        "position": 3,
        "model_id": "glmix-1",
        "propensity": 0.25,
        "ts": TS,
    },
    Click: {
        "event_id": "k1",
        "member_id": "m1",
        "course_id": "c1",
        "channel": "email",
        "impression_id": "i1",
        "ts": "2026-01-01T00:05:00Z",
    },
    Autoplay: {
        "event_id": "a1",
        "member_id": "m1",
        "course_id": "c1",
        "watched_s": 31.5,
        "video_s": 30.0,
        "ts": TS,
    },
    Dismissal: {"event_id": "d1", "member_id": "m1", "course_id": "c1", "ts": str(TS)},
    Course: {
        "course_id": "c1",
        "title": "SQL",
        "skills": {"sql": 1.0},
        "category": "data",
        "difficulty": "advanced",
        "duration_s": 3600,
        "released_at": "2025-06-01",
    },
    Member: {
        "member_id": "m1",
        "skills": {"python": 0.5},
        "title": "Engineer",
        "industry": "Software",
        "seniority": 4,
        "followed_skills": ["rust"],
    },
    Label: {
        "member_id": "m1",
        "course_id": "c1",
        "channel": "feed",
        "label": 0,
        "source": "timeout",
        "impression_event_id": "i1",
        "impression_ts": TS,
        "label_ts": TS + 86_400_000,
        "rule": "timeout",
    },
}


def _bytes(record: dict) -> bytes:
    return json.dumps(record).encode()


@pytest.mark.parametrize("model", list(GOOD), ids=lambda m: m.__name__)
def test_good_records_parse_and_round_trip(model):
    record = parse(model, _bytes(GOOD[model]))
    assert parse(model, record.model_dump_json().encode()) == record


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (TS, TS),
        (str(TS), TS),
        ("2026-01-01T00:00:00Z", TS),
        ("2026-01-01T01:00:00+01:00", TS),
        ("2026-01-01T00:00:00", TS),  # naive means UTC
        (TS + 0.9, TS),
    ],
)
def test_timestamps_accept_iso_8601_and_epoch_ms(ts, expected):
    assert parse(Dismissal, _bytes(GOOD[Dismissal] | {"ts": ts})).ts == expected


def _changed(model, **changes):
    record = dict(GOOD[model])
    for name, value in changes.items():
        if value is ...:
            record.pop(name)
        else:
            record[name] = value
    return model, _bytes(record)


REJECTED = [
    ("empty member id", *_changed(Click, member_id=""), "member_id"),
    ("blank course id", *_changed(Click, course_id="   "), "course_id"),
    ("missing ts", *_changed(Click, ts=...), "field 'ts': Field required"),
    ("epoch seconds", *_changed(Click, ts=1767225600), "epoch seconds instead of ms"),
    ("garbage ts", *_changed(Click, ts="yesterday"), "not an ISO-8601 timestamp"),
    ("boolean ts", *_changed(Click, ts=True), "not a boolean"),
    ("unknown channel", *_changed(Click, channel="sms"), "unknown channel 'sms'"),
    ("unknown field", *_changed(Click, colour="red"), "field 'colour': Extra inputs"),
    ("negative position", *_changed(Impression, position=-1), "field 'position'"),
    ("propensity zero", *_changed(Impression, propensity=0), "field 'propensity'"),
    ("negative watched", *_changed(Autoplay, watched_s=-1), "field 'watched_s'"),
    ("watched far beyond video", *_changed(Autoplay, watched_s=600), "far beyond video_s"),
    ("zero-length video", *_changed(Autoplay, video_s=0), "field 'video_s'"),
    ("wrong kind", *_changed(Autoplay, kind="click"), "field 'kind'"),
    ("negative skill weight", *_changed(Course, skills={"sql": -1}), "field 'skills.sql'"),
    ("unknown difficulty", *_changed(Course, difficulty="hard"), "field 'difficulty'"),
    ("negative duration", *_changed(Course, duration_s=-5), "field 'duration_s'"),
    ("seniority out of range", *_changed(Member, seniority=12), "field 'seniority'"),
    ("label not 0/1", *_changed(Label, label=2), "field 'label'"),
    ("label source unknown", *_changed(Label, source="guess"), "field 'source'"),
]


@pytest.mark.parametrize(
    ("model", "raw", "reason"), [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED]
)
def test_nonsense_is_rejected_with_the_field_and_reason(model, raw, reason):
    with pytest.raises(RecordError, match=None) as caught:
        parse(model, raw)
    assert reason in str(caught.value)
    assert caught.value.error_type == "schema"


@pytest.mark.parametrize("control", ["\x00", "\n", "\t", "\x1b", "\x7f", "\x85"])
@pytest.mark.parametrize("field", ["event_id", "member_id", "course_id", "impression_id"])
def test_control_characters_inside_ids_are_rejected(field, control):
    raw = _bytes(GOOD[Click] | {field: f"m{control}1"})
    with pytest.raises(RecordError, match=f"field '{field}': control characters"):
        parse(Click, raw)


def test_ids_keep_any_printable_text():
    raw = _bytes(GOOD[Click] | {"member_id": "Zoë 中文 #1", "course_id": " c1 "})
    record = parse(Click, raw)
    assert (record.member_id, record.course_id) == ("Zoë 中文 #1", "c1")


def test_an_error_lists_a_few_problems_however_many_the_record_has():
    raw = _bytes(GOOD[Click] | {f"x{i}": i for i in range(4000)})
    with pytest.raises(RecordError) as caught:
        parse(Click, raw)
    assert str(caught.value).endswith("; and 3995 more")
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinite_durations_are_rejected(literal):
    raw = _bytes(GOOD[Autoplay]).replace(b"31.5", literal)
    with pytest.raises(RecordError, match="watched_s"):
        parse(Autoplay, raw)


@pytest.mark.parametrize(
    ("raw", "reason", "error_type"),
    [
        (b"{not json", "invalid JSON", "json"),
        (b'{"event_id": "e1", "member_id": "m', "invalid JSON: EOF", "json"),
        (b'{"event_id": "\xff"}', "invalid JSON", "json"),
        (b"", "empty message value", "empty"),
        (b"[1, 2]", "Input should be an object", "schema"),
        (None, "tombstone", "tombstone"),
        (b" " * (MAX_RECORD_BYTES + 1), "exceeds the", "too_large"),
    ],
)
def test_unusable_payloads_are_rejected(raw, reason, error_type):
    with pytest.raises(RecordError) as caught:
        parse(Click, raw)
    assert reason in str(caught.value)
    assert caught.value.error_type == error_type


def test_configured_channels_replace_the_defaults():
    raw = _bytes(GOOD[Click] | {"channel": "sms"})
    assert parse(Click, raw, channels={"sms"}).channel == "sms"
    with pytest.raises(RecordError, match="unknown channel 'email'"):
        parse(Click, _bytes(GOOD[Click]), channels={"sms"})


def test_activity_is_parsed_by_its_topic():
    assert isinstance(parse_activity("clicks", b"m1", _bytes(GOOD[Click]), None), Click)
    wrong = parse_activity("clicks", b"m1", _bytes(GOOD[Autoplay]), None)
    assert isinstance(wrong, RecordError) and "field 'watched_s': Extra inputs" in str(wrong)
    catalog = parse_activity("courses", b"c1", _bytes(GOOD[Course]), None)
    assert isinstance(catalog, RecordError) and catalog.error_type == "topic"
    assert "not an activity topic" in str(catalog)


def test_dead_letter_keeps_the_original_bytes_exactly():
    raw = bytes(range(256))
    dead = DeadLetter.of(raw, "clicks", 2, 41, "invalid JSON")
    again = DeadLetter.model_validate_json(dead.model_dump_json())
    assert again.original() == raw
    assert (again.source_topic, again.partition, again.offset) == ("clicks", 2, 41)


def test_compact_record_rejects_indices_outside_its_tables():
    ranked = RankedList(channel="feed", model_id="m", items=(2,), scores=(0.1,), reasons=(0,))
    with pytest.raises(ValueError, match="course index out of range"):
        Recommendations(
            member_id="m1",
            generated_at=TS,
            courses=("c1", "c2"),
            reasons=("Popular",),
            lists=(ranked,),
        )
    with pytest.raises(ValueError, match="same length"):
        RankedList(channel="feed", model_id="m", items=(0, 1), scores=(0.1,), reasons=(0,))
