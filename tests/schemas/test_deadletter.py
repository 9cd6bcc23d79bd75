"""Dead letters: bounded whatever the record, and saying what they kept."""

from __future__ import annotations

import json

from labels import Reject
from schemas import DeadLetter, Dismissal, RecordError, dead_letter_key
from schemas.deadletter import MAX_DEAD_LETTER_BYTES, MAX_KEY_BYTES, MAX_RAW_BYTES

MEGABYTE = 1_000_000


def test_a_megabyte_payload_keeps_its_first_64_kib_and_says_so():
    raw = bytes(range(256)) * (MEGABYTE // 256)
    letter = DeadLetter.of(raw, "t1.clicks", 3, 12, RecordError("too big", "too_large"))
    encoded = letter.to_bytes()
    assert len(encoded) <= MAX_DEAD_LETTER_BYTES
    again = DeadLetter.model_validate_json(encoded)
    assert again.original() == raw[:MAX_RAW_BYTES]
    assert (again.truncated, again.size, again.error_type) == (True, len(raw), "too_large")
    assert (again.source_topic, again.partition, again.offset) == ("t1.clicks", 3, 12)


def test_the_bound_holds_for_the_longest_error_and_topic_name():
    error = "\x00\u2028" * 10_000  # every character escaped in JSON
    letter = DeadLetter.of(b"\xff" * MEGABYTE, "t" * 249, 2**31 - 1, 2**63 - 1, error)
    assert len(letter.to_bytes()) <= MAX_DEAD_LETTER_BYTES
    assert letter.error.endswith("...")


def test_a_small_record_is_kept_whole():
    letter = DeadLetter.of(b"{oops", "clicks", 0, 1, "invalid JSON", "json")
    assert (letter.original(), letter.truncated, letter.size) == (b"{oops", False, 5)
    assert letter.error_type == "json"


def test_a_tombstone_has_no_size():
    letter = DeadLetter.of(None, "clicks", 0, 1, RecordError("tombstone", "tombstone"))
    assert (letter.original(), letter.size, letter.truncated) == (b"", None, False)


def test_letters_with_only_the_contract_fields_still_read():
    old = {"source_topic": "clicks", "partition": 0, "offset": 4, "error": "e", "raw": "eyI="}
    letter = DeadLetter.model_validate_json(json.dumps(old))
    assert (letter.error_type, letter.size, letter.truncated) == (None, None, False)
    assert letter.original() == b'{"'


def test_a_late_reject_becomes_a_late_letter():
    event = Dismissal(event_id="d1", member_id="m1", course_id="c1", ts=1767225600000)
    letter = DeadLetter.of(b"{}", "dismissals", 0, 1, Reject(event, "late dismissal").error)
    assert (letter.error, letter.error_type) == ("late dismissal", "late")


def test_the_letters_key_is_the_original_cut_to_its_limit():
    assert dead_letter_key(None) is None
    assert dead_letter_key(b"m1") == b"m1"
    assert dead_letter_key(b"k" * MEGABYTE) == b"k" * MAX_KEY_BYTES
