"""Offline runs: the log clock, the end of the log, and the `nearline labels` function."""

from __future__ import annotations

import time

import pytest

from labels import Labeller, LogLabeller, MemberLabelState, Reject, label_log, run_labels_cli
from labels.watchtime import WatchStats
from replay.logs import EVENTS_FILE, write_records
from schemas import Dismissal, Label
from tests.labels.label_events import DAY, HOUR, MINUTE, T0, auto, click, dismissal, imp


def every_source(ts: int, member: str = "m2") -> list:
    """An event of each labelled kind at `ts`, none of which makes a label."""
    return [
        imp(f"i-{ts}", ts, course="cx", member=member),
        click(f"k-{ts}", ts, course="cy", member=member),
        auto(f"a-{ts}", ts, 1.0, course="cy", member=member),
    ]


def test_log_clock_closes_an_idle_members_window_at_the_next_day():
    run = LogLabeller(Labeller("fixed:9"))
    assert run.feed(imp("i1", T0)) == []
    labels = [x for e in every_source(T0 + 2 * DAY) for x in run.feed(e)]
    assert [(x.impression_event_id, x.source) for x in labels] == [("i1", "timeout")]


def test_a_source_not_seen_yet_holds_the_watermark_back_a_day():
    run = LogLabeller(Labeller("fixed:9", lateness_ms=HOUR))
    run.feed(imp("i1", T0))
    assert run.feed(imp("i2", T0 + DAY + 2 * HOUR, member="m2")) == []  # no click yet
    [label] = run.feed(imp("i3", T0 + 2 * DAY + 2 * HOUR, member="m2"))
    assert (label.impression_event_id, label.source) == ("i1", "timeout")


def test_event_more_than_lateness_behind_the_log_clock_is_late():
    run = LogLabeller(Labeller("fixed:9", lateness_ms=HOUR))
    run.feed(imp("i1", T0))
    for event in every_source(T0 + DAY):  # a new day: every member's watermark moves
        run.feed(event)
    assert run.feed(imp("i3", T0 + DAY - HOUR)) == []
    [reject] = run.feed(imp("i4", T0 + DAY - HOUR - 1))
    assert isinstance(reject, Reject) and "late impression" in reject.reason


def test_a_late_dismissal_or_a_new_members_late_event_is_rejected_offline():
    run = LogLabeller(Labeller("fixed:9", lateness_ms=HOUR))
    for event in every_source(T0 + 3 * DAY):
        run.feed(event)
    late = [dismissal("d1", T0 + DAY, member="m2"), imp("i9", T0 + DAY, member="new")]
    assert all(isinstance(r, Reject) for e in late for r in run.feed(e))
    assert run.counts["rejects"] == 2 and "new" not in run.members
    assert run.feed(dismissal("d2", T0 + 3 * DAY, member="m2")) == []
    assert run.counts["rejects"] == 2


def test_windows_open_at_the_end_stay_unlabelled_unless_closed():
    log = [imp("i1", T0), imp("i2", T0 + 2 * DAY), click("k1", T0 + 2 * DAY + MINUTE)]
    open_end = list(label_log(log, Labeller("fixed:9")))
    assert [(x.impression_event_id, x.source) for x in open_end] == [
        ("i1", "timeout"),
        ("i2", "click"),
    ]
    imp3 = imp("i3", T0 + 2 * DAY + HOUR)
    closed = list(label_log([*log, imp3], Labeller("fixed:9"), close_open=True))
    assert [x.source for x in closed][-1] == "timeout" and len(closed) == 3


def test_run_labels_cli_writes_label_jsonl_and_counts(tmp_path):
    log = [
        imp("i1", T0),
        imp("i2", T0 + MINUTE, course="c2"),
        imp("i3", T0 + 2 * MINUTE, course="c3"),
        click("k1", T0 + 3 * MINUTE),
        click("k1", T0 + 3 * MINUTE),  # redelivered
        auto("a1", T0 + 4 * MINUTE, 30.0, course="c2"),
        Dismissal(event_id="d1", member_id="m1", course_id="c3", ts=T0 + 5 * MINUTE),
        imp("i4", T0 + 3 * HOUR, course="c4"),
        click("k3", T0 + 3 * HOUR, course="c9"),  # no impression: no label
        auto("a2", T0 + 3 * HOUR, 1.0, course="c9"),
        click("k2", T0 + HOUR, course="c3"),  # 2 h behind every source: late
    ]
    write_records(tmp_path / EVENTS_FILE, log)
    out = tmp_path / "labels.jsonl"
    counts = run_labels_cli(tmp_path, "fixed:9", out, progress=False, close_open=True)
    labels = [Label.model_validate_json(line) for line in out.read_text().splitlines()]
    assert sorted((x.impression_event_id, x.source) for x in labels) == [
        ("i1", "click"),
        ("i2", "autoplay"),
        ("i3", "timeout"),
        ("i4", "timeout"),
    ]
    assert counts == {
        "events": 11,
        "duplicates": 1,
        "rejects": 1,
        "click": 1,
        "autoplay": 1,
        "timeout": 2,
        "positives": 2,
        "negatives": 2,
    }


def test_a_log_is_labelled_by_its_own_time_however_far_ahead_of_the_wall_clock(tmp_path):
    """A log records no arrival time: its readers have no wall clock to bound ts by."""
    later = T0 + 60 * 365 * DAY  # 2085
    assert later > time.time() * 1000 + 3_600_000
    log = [imp("i1", later), click("k1", later + MINUTE), auto("a1", later + MINUTE, 1.0)]
    write_records(tmp_path / EVENTS_FILE, log)
    counts = run_labels_cli(tmp_path, "fixed:9", tmp_path / "out.jsonl", progress=False)
    assert (counts["click"], counts.get("rejects", 0)) == (1, 0)


def test_run_labels_cli_rejects_a_bad_rule_before_reading(tmp_path):
    with pytest.raises(ValueError, match="bad autoplay rule 'fixed:'"):
        run_labels_cli(tmp_path / "missing", "fixed:", tmp_path / "out.jsonl", progress=False)


def test_a_source_running_hours_ahead_of_another_changes_no_label():
    """A consumer may deliver a topic's backlog long before another's: impressions of
    eight hours first, then their clicks. The watermark waits for the lagging source."""
    impressions = [imp(f"i{n}", T0 + n * HOUR, course=f"c{n}") for n in range(8)]
    clicks = [click(f"k{n}", T0 + n * HOUR + MINUTE, course=f"c{n}") for n in range(0, 8, 2)]
    in_order = sorted([*impressions, *clicks], key=lambda e: e.ts)
    skewed = [*impressions, *clicks]

    def labels(log):
        out = label_log(log, Labeller("fixed:9", lateness_ms=HOUR), close_open=True)
        return sorted((x.impression_event_id, x.source) for x in out)

    assert labels(skewed) == labels(in_order)
    assert [s for _, s in labels(skewed)].count("click") == 4
    per_member = Labeller("fixed:9", lateness_ms=HOUR)  # a member-only clock would reject
    state = MemberLabelState()
    rejects = [r for e in skewed for r in per_member.step(state, e, {}, WatchStats()).rejects]
    assert len(rejects) == 3, "without the stream clock, clicks > 1 h behind are late"
