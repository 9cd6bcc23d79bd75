"""Log readers validate every line, name the bad one, and pass raw bytes through."""

from __future__ import annotations

from pathlib import Path

import pytest

from replay.logs import EVENTS_FILE, LogError, iter_raw_events, read_events
from schemas import Click, Impression

IMPRESSION = (
    b'{"kind":"impression","event_id":"i1","member_id":"m1","course_id":"c1",'
    b'"channel":"feed","position":0,"ts":1767571200000}'
)
CLICK = (
    b'{"kind":"click","event_id":"k1","member_id":"m1","course_id":"c1",'
    b'"channel":"feed","ts":1767571260000}'
)


def _log(tmp_path: Path, *lines: bytes) -> Path:
    (tmp_path / EVENTS_FILE).write_bytes(b"\n".join(lines) + b"\n")
    return tmp_path


def test_read_events_picks_the_model_by_kind(tmp_path: Path) -> None:
    events = list(read_events(_log(tmp_path, IMPRESSION, b"", CLICK)))
    assert [type(e) for e in events] == [Impression, Click]


def test_read_events_names_file_and_line_of_a_bad_record(tmp_path: Path) -> None:
    bad = CLICK.replace(b'"feed"', b'"sms"')
    with pytest.raises(LogError, match=rf"{EVENTS_FILE}:2: field 'click.channel'"):
        list(read_events(_log(tmp_path, IMPRESSION, bad)))


def test_read_events_rejects_an_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(LogError, match=rf"{EVENTS_FILE}:1: .*kind"):
        list(read_events(_log(tmp_path, IMPRESSION.replace(b"impression", b"view", 1))))


def test_iter_raw_events_maps_kind_to_topic_and_keeps_bytes(tmp_path: Path) -> None:
    spaced = b'{"member_id": "m1", "kind": "click"}'
    pairs = list(iter_raw_events(_log(tmp_path, IMPRESSION, CLICK, spaced)))
    assert pairs == [("impressions", IMPRESSION), ("clicks", CLICK), ("clicks", spaced)]


@pytest.mark.parametrize("line", [b'{"kind":"view"}', b"not json", b"[1, 2]", b'{"kind": 3}'])
def test_iter_raw_events_rejects_lines_without_a_known_kind(tmp_path: Path, line: bytes) -> None:
    with pytest.raises(LogError, match=rf"{EVENTS_FILE}:2: unknown or missing kind"):
        list(iter_raw_events(_log(tmp_path, IMPRESSION, line)))
