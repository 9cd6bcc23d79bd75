"""The labeller on hand-made sequences: matching, rules, fallback, timeouts, lateness."""

from __future__ import annotations

import pytest

from labels import Labeller, MemberLabelState, Reject, WatchStats
from schemas import Label
from tests.labels.label_events import (
    DAY,
    HOUR,
    MINUTE,
    T0,
    auto,
    click,
    dismissal,
    imp,
    outcomes,
    run_log,
)

CLICKS = Labeller("fixed:9")


def test_click_by_impression_id_is_a_positive_carrying_the_impression():
    results = run_log([imp("i1", T0), click("k1", T0 + MINUTE, impression_id="i1")], CLICKS)
    [label] = results
    assert isinstance(label, Label)
    assert (label.label, label.source, label.rule) == (1, "click", "click")
    assert (label.impression_ts, label.label_ts) == (T0, T0 + MINUTE)
    assert (label.channel, label.position, label.model_id) == ("feed", 3, "glmix-1")


def test_click_without_id_takes_most_recent_open_impression_of_course_and_channel():
    log = [
        imp("i1", T0),
        imp("i2", T0 + MINUTE),
        imp("i3", T0 + 2 * MINUTE, channel="email"),
        imp("i4", T0 + 3 * MINUTE, course="c2"),
        click("k1", T0 + 4 * MINUTE),
        click("k2", T0 + 5 * MINUTE),
    ]
    got = outcomes(run_log(log, CLICKS))
    assert got["i2"][:2] == (1, "click")
    assert got["i1"][:2] == (1, "click")  # the second click takes the next open one
    assert got["i3"][:2] == got["i4"][:2] == (0, "timeout")


def test_click_before_its_impression_or_on_another_course_does_not_match():
    log = [
        click("k0", T0 - MINUTE),
        imp("i1", T0),
        click("k1", T0 + MINUTE, course="c2", impression_id="i1"),
    ]
    assert outcomes(run_log(log, CLICKS)) == {"i1": (0, "timeout", "timeout")}


@pytest.mark.parametrize(("delay", "expected"), [(DAY, (1, "click")), (DAY + 1, (0, "timeout"))])
def test_attribution_window_includes_its_last_millisecond(delay, expected):
    results = run_log([imp("i1", T0), click("k1", T0 + delay)], CLICKS)
    [label] = results
    assert (label.label, label.source) == expected
    if expected[0] == 0:
        assert label.label_ts == T0 + DAY


@pytest.mark.parametrize(
    ("rule", "watched", "video", "positive"),
    [
        ("fixed:9", 9.0, 60.0, True),
        ("fixed:9", 8.9, 60.0, False),
        ("fixed:29", 28.0, 60.0, False),
        ("fraction:0.5", 30.0, 60.0, True),
        ("fraction:0.5", 29.9, 60.0, False),
        ("fraction:0.9", 100.0, 120.0, False),
        ("fraction:0.9", 108.0, 120.0, True),
    ],
)
def test_fixed_and_fraction_rules(rule, watched, video, positive):
    log = [imp("i1", T0), auto("a1", T0 + MINUTE, watched, video)]
    expected = (1, "autoplay", rule) if positive else (0, "timeout", "timeout")
    assert outcomes(run_log(log, Labeller(rule))) == {"i1": expected}


def test_first_engagement_in_event_time_wins_and_click_wins_a_tie():
    log = [
        imp("i1", T0),
        click("k1", T0 + 2 * MINUTE),
        auto("a1", T0 + MINUTE, 30.0),
        imp("i2", T0, course="c2"),
        auto("a2", T0 + MINUTE, 30.0, course="c2"),
        click("k2", T0 + MINUTE, course="c2"),
    ]
    got = outcomes(run_log(log, Labeller("fixed:9")))
    assert got == {"i1": (1, "autoplay", "fixed:9"), "i2": (1, "click", "click")}


def test_short_autoplay_leaves_the_impression_open_for_a_click():
    log = [imp("i1", T0), auto("a1", T0 + MINUTE, 3.0), click("k1", T0 + 2 * MINUTE)]
    assert outcomes(run_log(log, Labeller("fixed:9"))) == {"i1": (1, "click", "click")}


def test_autoplay_without_impression_emits_nothing_but_counts_in_member_stats():
    lab = Labeller("fixed:9")
    state = MemberLabelState()
    out = lab.step(state, auto("a1", T0, 30.0), {}, WatchStats())
    assert lab.advance(state, T0 + 2 * DAY, {}, WatchStats()) == []
    assert out.accepted
    assert state.stats.views(day=T0 // DAY + 1, window_days=30) == 1


def _history(views: int, watched: float, day_offset: int = -1) -> WatchStats:
    stats = WatchStats()
    for _ in range(views):
        stats.add(watched, T0 + day_offset * DAY + HOUR)
    return stats


def _percentile_outcome(rule, watched, member, video, everyone, min_views=3):
    """Label of one impression + autoplay on day T0 given prepared statistics."""
    lab = Labeller(rule, min_views=min_views)
    state = MemberLabelState(stats=member)
    videos = {"c1": video}
    for event in (imp("i1", T0 + HOUR), auto("a1", T0 + HOUR + MINUTE, watched)):
        lab.step(state, event, videos, everyone)
    [label] = lab.advance(state, T0 + 3 * DAY, videos, everyone)
    return label.label, label.rule


@pytest.mark.parametrize(
    ("member_views", "video_views", "global_views", "watched", "expected"),
    [
        (3, 3, 3, 11.0, (1, "percentile:50:member")),
        (3, 3, 3, 9.0, (0, "timeout")),
        (2, 3, 3, 21.0, (1, "percentile:50:video")),
        (2, 3, 3, 19.0, (0, "timeout")),
        (2, 2, 1, 41.0, (1, "percentile:50:global")),
        (2, 2, 1, 39.0, (0, "timeout")),
        (0, 0, 0, 60.0, (0, "timeout")),  # no history anywhere: undecided
    ],
)
def test_percentile_member_falls_back_to_video_then_global(
    member_views, video_views, global_views, watched, expected
):
    got = _percentile_outcome(
        "percentile:50:member",
        watched,
        _history(member_views, 10.0),
        _history(video_views, 20.0),
        _history(global_views, 40.0),
    )
    assert got == expected


def test_percentile_video_scope_never_uses_member_history():
    got = _percentile_outcome(
        "percentile:50:video", 11.0, _history(9, 10.0), _history(3, 20.0), _history(3, 40.0)
    )
    assert got == (0, "timeout")


def test_threshold_reads_only_complete_days_inside_the_window():
    member = _history(5, 10.0, day_offset=0)  # the autoplay's own day: not yet complete
    member.merge(_history(5, 1.0, day_offset=-8))  # before a 7-day window
    got = _percentile_outcome(
        "percentile:50:member:7d", 21.0, member, _history(3, 20.0), _history(3, 40.0)
    )
    assert got == (1, "percentile:50:video:7d")


def test_negative_is_emitted_once_when_the_watermark_passes_the_window():
    lab, stats = Labeller("fixed:9"), WatchStats()
    state = MemberLabelState()
    lab.step(state, imp("i1", T0), {}, stats)
    assert lab.advance(state, T0 + DAY, {}, stats) == []  # a click at T0 + DAY may come
    labels = lab.advance(state, T0 + DAY + 1, {}, stats)
    assert [(x.label, x.label_ts) for x in labels] == [(0, T0 + DAY)]
    for w in (T0 + DAY + 2, T0 + 2 * DAY, T0 + 40 * DAY):
        assert lab.advance(state, w, {}, stats) == []
    redelivered = lab.step(state, imp("i1", T0), {}, stats)
    assert redelivered.labels == [] and not redelivered.accepted


def test_duplicates_count_once():
    log = [
        imp("i1", T0),
        imp("i1", T0),
        imp("i2", T0 + MINUTE),
        click("k1", T0 + 2 * MINUTE),
        click("k1", T0 + 2 * MINUTE),
    ]
    lab = Labeller("fixed:9")
    got = outcomes(run_log(log, lab))
    assert got == {"i2": (1, "click", "click"), "i1": (0, "timeout", "timeout")}
    state = MemberLabelState()
    first = lab.step(state, auto("a1", T0, 30.0), {}, WatchStats())
    again = lab.step(state, auto("a1", T0, 30.0), {}, WatchStats())
    assert (first.accepted, again.accepted, again.duplicate) == (True, False, True)


def test_late_event_is_rejected_with_reason_and_not_used():
    lab = Labeller("fixed:9", lateness_ms=HOUR)
    state, stats = MemberLabelState(), WatchStats()
    lab.step(state, imp("i1", T0), {}, stats)
    lab.step(state, imp("i2", T0 + 3 * HOUR, course="c2"), {}, stats)
    late = lab.step(state, click("k1", T0 + 2 * HOUR - 1), {}, stats)
    [reject] = late.rejects
    assert isinstance(reject, Reject) and reject.event.event_id == "k1"
    assert reject.reason.startswith("late click: ts") and str(T0 + 2 * HOUR) in reject.reason
    timely = lab.step(state, click("k2", T0 + 2 * HOUR), {}, stats)
    assert timely.accepted and timely.rejects == []
    labels = lab.advance(state, T0 + 3 * DAY, {}, stats)
    assert {(x.impression_event_id, x.source) for x in labels} == {
        ("i1", "click"),
        ("i2", "timeout"),
    }


def test_a_member_without_state_is_judged_by_the_streams_watermark():
    lab = Labeller("fixed:9", lateness_ms=HOUR)
    state = MemberLabelState()
    out = lab.step(state, imp("i1", T0), {}, WatchStats(), watermark_ms=T0 + 1)
    [reject] = out.rejects
    assert "before the stream's watermark" in reject.reason and reject.error_type == "late"
    assert state == MemberLabelState(), "a rejected event changes no state"
    assert lab.step(state, imp("i2", T0 + 1), {}, WatchStats(), watermark_ms=T0 + 1).accepted


def test_the_higher_of_the_members_and_the_streams_watermark_judges():
    lab = Labeller("fixed:9", lateness_ms=HOUR)
    state, stats = MemberLabelState(), WatchStats()
    lab.step(state, imp("i1", T0 + 5 * HOUR), {}, stats)  # the member's: T0 + 4 h
    out = lab.step(state, imp("i2", T0 + 3 * HOUR), {}, stats, watermark_ms=T0)  # a fresh clock
    assert "before the member's watermark" in out.rejects[0].reason


@pytest.mark.parametrize("watermark_ms", [None, T0 + DAY])
def test_a_late_dismissal_is_rejected_and_a_timely_one_accepted_once(watermark_ms):
    lab = Labeller("fixed:9", lateness_ms=HOUR)
    state, stats = MemberLabelState(), WatchStats()
    lab.step(state, imp("i1", T0 + 2 * DAY), {}, stats, watermark_ms)
    late = lab.step(state, dismissal("d1", T0 + 2 * DAY - 48 * HOUR), {}, stats, watermark_ms)
    assert "late dismissal" in late.rejects[0].reason
    timely = lab.step(state, dismissal("d2", T0 + 2 * DAY), {}, stats, watermark_ms)
    assert (timely.accepted, timely.labels) == (True, [])
    assert lab.step(state, dismissal("d2", T0 + 2 * DAY), {}, stats, watermark_ms).duplicate
    assert state.buffer[0][3].event_id == "i1" and len(state.buffer) == 1  # not buffered


def test_state_rejects_an_event_of_another_member():
    lab, state = Labeller("fixed:9"), MemberLabelState()
    lab.step(state, imp("i1", T0), {}, WatchStats())
    with pytest.raises(ValueError, match="m2"):
        lab.step(state, imp("i2", T0, member="m2"), {}, WatchStats())


@pytest.mark.parametrize(
    "kwargs", [{"window_ms": 0}, {"lateness_ms": -1}, {"min_views": 0}, {"rule": "fixed:x"}]
)
def test_bad_settings_fail_at_construction(kwargs):
    with pytest.raises(ValueError):
        Labeller(**kwargs)
