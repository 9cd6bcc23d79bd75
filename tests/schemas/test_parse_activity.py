"""The runtime's way in: topic, key and value of a message, and the wall clock."""

from __future__ import annotations

import json

import pytest

from schemas import Bounds, Click, Dismissal, RecordError, parse_activity

NOW = 1_767_225_600_000  # the wall clock at arrival
HOUR = 3_600_000


def _click(**changes: object) -> bytes:
    record = {"event_id": "k1", "member_id": "m1", "course_id": "c1", "channel": "feed"}
    return json.dumps(record | {"ts": NOW} | changes).encode()


def test_a_record_keyed_by_its_member_is_parsed():
    assert parse_activity("clicks", b"m1", _click(), NOW) == Click.model_validate_json(_click())


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (None, "no message key"),
        (b"", "no message key"),
        (b"m2", "key b'm2' is not the member_id 'm1'"),
        (b" m1", "key b' m1' is not the member_id 'm1'"),  # keyed apart from its member
        (b"m1\x00", "is not the member_id"),
        (b"\xff" * 4096, "is not the member_id"),
    ],
)
def test_a_missing_or_disagreeing_key_is_rejected(key, reason):
    error = parse_activity("clicks", key, _click(), NOW)
    assert isinstance(error, RecordError) and error.error_type == "key"
    assert reason in str(error)
    assert len(str(error)) < 400  # a long key is cut


def test_a_ts_beyond_the_future_bound_is_rejected_and_one_at_it_is_not():
    bounds = Bounds(max_future_ms=HOUR)
    at_bound = parse_activity("clicks", b"m1", _click(ts=NOW + HOUR), NOW, bounds)
    assert isinstance(at_bound, Click)
    beyond = parse_activity("clicks", b"m1", _click(ts=NOW + HOUR + 1), NOW, bounds)
    assert isinstance(beyond, RecordError) and beyond.error_type == "future"
    assert "ahead of the wall clock (at most 3600 s)" in str(beyond)


def test_the_future_bound_follows_the_bounds_and_is_off_without_a_wall_clock():
    raw = json.dumps({"event_id": "d", "member_id": "m1", "course_id": "c", "ts": NOW + HOUR})
    tight = parse_activity("dismissals", b"m1", raw.encode(), NOW, Bounds(max_future_ms=60_000))
    assert isinstance(tight, RecordError) and tight.error_type == "future"
    far = _click(ts="2099-12-31T00:00:00Z")
    assert isinstance(parse_activity("clicks", b"m1", far, None), Click)
    assert isinstance(parse_activity("dismissals", b"m1", raw.encode(), None), Dismissal)


def test_schema_errors_come_before_the_key_and_the_clock():
    error = parse_activity("clicks", None, _click(ts=NOW + 99 * HOUR, channel="sms"), NOW)
    assert isinstance(error, RecordError) and error.error_type == "schema"


def test_the_bounds_carry_the_channels_and_the_size_limit():
    sms = _click(channel="sms")
    assert isinstance(parse_activity("clicks", b"m1", sms, NOW, Bounds(channels={"sms"})), Click)
    small = parse_activity("clicks", b"m1", _click(), NOW, Bounds(max_bytes=10))
    assert isinstance(small, RecordError) and small.error_type == "too_large"


def test_bounds_refuse_a_negative_future():
    with pytest.raises(ValueError, match="max_future_ms >= 0"):
        Bounds(max_future_ms=-1)
