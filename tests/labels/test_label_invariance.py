"""Properties over random logs: arrival order within the lateness, worker restarts and
malformed records among the valid ones change no label."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from labels import Labeller, LogLabeller, MemberLabelState, Reject, WatchStats
from replay.logs import read_events
from replay.simulate import simulate
from replay.world import WorldConfig
from schemas import Autoplay, Label, RecordError, parse_activity
from tests.badinput import CASES, Message, Span, corpus, interleave, wire
from tests.labels.label_events import HOUR, MINUTE, T0, auto, click, imp, run_log

LATENESS = HOUR
RULES = [
    "fixed:20",
    "fraction:0.5",
    "percentile:50:member:1d",
    "percentile:90:video:2d",
    "percentile:75:global:1d",
]
SLOTS = 3 * 24 * 6  # three days of 10-minute slots: plenty of equal timestamps


@st.composite
def logs(draw: st.DrawFn) -> list:
    """Impressions of three members, and clicks and autoplays mostly engaging one of them
    (by id or not, some after the window), in event-time order."""
    events: list = []
    impressions: list = []
    for n in range(draw(st.integers(1, 80))):
        kind = draw(st.sampled_from(["impression", "click", "autoplay", "autoplay"]))
        ts = T0 + draw(st.integers(0, SLOTS)) * 10 * MINUTE
        member = draw(st.sampled_from(["m1", "m2", "m3"]))
        course = draw(st.sampled_from(["c1", "c2", "c3"]))
        channel = draw(st.sampled_from(["feed", "email"]))
        target = None
        if kind != "impression" and impressions and draw(st.integers(0, 3)):
            target = draw(st.sampled_from(impressions))
            ts = target.ts + draw(st.integers(0, 48)) * 10 * MINUTE
            member, course, channel = target.member_id, target.course_id, target.channel
        named = target.event_id if target and draw(st.booleans()) else None
        if kind == "impression":
            impressions.append(imp(f"i{n}", ts, course, channel, member))
            events.append(impressions[-1])
        elif kind == "click":
            events.append(click(f"k{n}", ts, course, channel, member, named))
        else:
            watched = draw(st.sampled_from([0.0, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0]))
            events.append(auto(f"a{n}", ts, watched, 60.0, course, member, named))
    return sorted(events, key=lambda e: e.ts)


def _labeller(rule: str) -> Labeller:
    return Labeller(rule, window_ms=6 * HOUR, lateness_ms=LATENESS, min_views=2)


def _multiset(results: list) -> Counter[str]:
    assert all(isinstance(r, Label) for r in results), "no event was late"
    return Counter(r.model_dump_json() for r in results)


@settings(max_examples=60, deadline=None)
@given(
    log=logs(),
    rule=st.sampled_from(RULES),
    data=st.data(),
    close_open=st.booleans(),
)
def test_any_arrival_order_within_lateness_gives_the_same_labels(log, rule, data, close_open):
    # Each event (and some redelivered copies) arrives up to LATENESS after its ts, so
    # none arrives more than LATENESS behind the newest ts already seen.
    copies = log + [e for e in log if data.draw(st.integers(0, 4)) == 0]
    n = len(copies)
    delays = data.draw(st.lists(st.integers(0, LATENESS), min_size=n, max_size=n))
    ties = data.draw(st.permutations(range(len(copies))))
    arrival = [
        e
        for *_, e in sorted(
            zip([e.ts + d for e, d in zip(copies, delays, strict=True)], ties, copies, strict=True)
        )
    ]
    reference = run_log(log, _labeller(rule), close_open=close_open)
    shuffled = run_log(arrival, _labeller(rule), close_open=close_open)
    assert _multiset(shuffled) == _multiset(reference)
    impressions = {e.event_id for e in log if e.kind == "impression"}
    if close_open:  # every impression labelled exactly once
        assert sorted(r.impression_event_id for r in reference) == sorted(impressions)


@settings(max_examples=40, deadline=None)
@given(log=logs(), rule=st.sampled_from(RULES), data=st.data())
def test_restoring_state_from_bytes_after_every_event_changes_nothing(log, rule, data):
    """A worker restarted from its changelog after any event emits the same labels."""
    redelivered = [e for e in log if data.draw(st.integers(0, 4)) == 0]
    log = sorted(log + redelivered, key=lambda e: e.ts)
    lab = _labeller(rule)
    straight = _replay(lab, log, restart=False)
    assert straight == _replay(lab, log, restart=True)


def _replay(lab: Labeller, log: list, *, restart: bool) -> list[Label]:
    """Near-line style: member states and video/global stats as bytes between events."""
    states: dict[str, bytes] = {}
    videos: dict[str, WatchStats] = {}
    everyone = WatchStats()
    live: dict[str, MemberLabelState] = {}
    labels: list[Label] = []
    for event in log:
        if restart:
            raw = states.get(event.member_id)
            state = MemberLabelState.from_bytes(raw) if raw else MemberLabelState()
            videos = {c: WatchStats.from_bytes(s.to_bytes()) for c, s in videos.items()}
            everyone = WatchStats.from_bytes(everyone.to_bytes())
        else:
            state = live.setdefault(event.member_id, MemberLabelState())
        out = lab.step(state, event, videos, everyone)
        labels += out.labels
        if out.accepted and isinstance(event, Autoplay):
            videos.setdefault(event.course_id, WatchStats()).add(event.watched_s, event.ts)
            everyone.add(event.watched_s, event.ts)
        states[event.member_id] = state.to_bytes()
        written = MemberLabelState.from_bytes(states[event.member_id]).pending
        assert list(written.items()) == list(state.pending.items())  # nothing written stale
    for member, raw in states.items():
        state = MemberLabelState.from_bytes(raw) if restart else live[member]
        labels += lab.advance(state, log[-1].ts + lab.window_ms + LATENESS, videos, everyone)
    return labels


def _parsed(messages: list[Message], now_ms: int) -> tuple[list, list[tuple[Message, str]]]:
    """Labels and rejects (with the error type) of messages parsed as the runtime does,
    then labelled by the offline run."""
    run = LogLabeller(_labeller("fixed:20"))
    labels, rejects = [], []
    for m in messages:
        record = parse_activity(m.topic, m.key, m.value, now_ms)
        if isinstance(record, RecordError):
            rejects.append((m, record.error_type))
            continue
        for r in run.feed(record):
            if isinstance(r, Reject):
                rejects.append((m, r.error_type))
            else:
                labels.append(r)
    return labels + run.finish(close_open=True), rejects


def _span(log: list, members: list[str], courses: list[str]) -> Span:
    first, last = min(e.ts for e in log), max(e.ts for e in log)
    return Span(members, courses, first, last, now_ms=last + HOUR, lateness_ms=LATENESS)


def _same_labels_and_every_bad_one_rejected(log: list, bad: list[Message], seed: int) -> None:
    valid = [wire(e) for e in log]
    now_ms = max(e.ts for e in log) + HOUR
    alone, alone_rejects = _parsed(valid, now_ms)
    mixed, mixed_rejects = _parsed(interleave(valid, bad, partitions=1, seed=seed), now_ms)
    assert _multiset(mixed) == _multiset(alone)
    assert [(m, t) for m, t in mixed_rejects if m.expected is None] == alone_rejects
    wrong = [(m.case, m.expected, t) for m, t in mixed_rejects if t != (m.expected or t)]
    assert wrong == []
    assert sum(m.expected is not None for m, _ in mixed_rejects) == len(bad)


def test_ten_thousand_bad_records_among_valid_ones_change_no_label(tmp_path):
    simulate(WorldConfig(members=200, courses=60, days=16, seed=3), tmp_path, progress=False)
    log = list(read_events(tmp_path))[:2000]
    members = sorted({e.member_id for e in log})
    bad = corpus(10_000, _span(log, members, sorted({e.course_id for e in log})))
    assert {m.case for m in bad} == {name for name, *_ in CASES}
    _same_labels_and_every_bad_one_rejected(log, bad, seed=1)


@settings(max_examples=40, deadline=None)
@given(log=logs(), n=st.integers(1, 80), seed=st.integers(0, 2**16))
def test_bad_records_anywhere_they_can_be_judged_change_no_label(log, n, seed):
    bad = corpus(n, _span(log, ["m1", "m2", "m3"], ["c1", "c2", "c3"]), seed=seed)
    if not {"impression", "click", "autoplay"} <= {e.kind for e in log}:  # no watermark
        bad = [m for m in bad if m.expected != "late"]
    _same_labels_and_every_bad_one_rejected(log, bad, seed)
