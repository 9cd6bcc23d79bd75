"""The labeller: impressions joined with clicks and autoplays in event time.

Semantics, per member (the state is one `MemberLabelState`):

- Watermark W: the stream's (`labels.clock.StreamClock`: the minimum over the sources
  of their newest event time, minus lateness), passed to `step`; without one, the
  member's own newest event time minus lateness. `advance` raises it further (the
  daily sweep, a tick, the end of an offline log). It never decreases.
- An event with ts < W is late: rejected with a reason, never used, whatever its kind
  (dismissals included) and whether or not the member has state yet: W is the higher of
  the member's watermark and the stream's. An event whose (kind, event_id) was accepted
  before is a duplicate: dropped, whatever its lateness, as long as that id is still
  remembered (ts >= the member's W - window); older ones are late anyway.
- A dismissal is judged like any event (late, duplicate) but makes no label: the caller
  applies an accepted one.
- Accepted events wait in the state until ts < W, then are processed in the order
  (ts, impression < click < autoplay, event_id). Processing order therefore never depends
  on arrival order, which is what makes every label arrival-order invariant; the price
  is that a label is emitted once the watermark passes its event, `lateness` after it.
- An impression at t is open for engagement during [t, t + window]. When the
  processing time passes t + window it gets a negative (source and rule `timeout`,
  label_ts t + window), exactly once, since it leaves the state.
- A click engages an open impression: the one named by `impression_id` (same course),
  else the most recent open impression of the same course and channel. Positive, rule
  `click`.
- An autoplay engages an open impression the same way, without the channel. It counts
  when watched_s >= the rule's threshold (see `labels.rules`); positive, rule = the rule
  that decided. Below the threshold (or undecidable) the impression stays open.
- The first engagement in processing order labels the impression; a click wins a tie
  on ts. Later engagements of a labelled impression, and unmatched ones, emit nothing.
- Every processed autoplay, matched or not, counts in the member's watch times. Video
  and global watch times are the caller's: it adds every accepted autoplay
  (`Outcome.accepted`) to them, and thresholds read only days before the autoplay's day.
  A day-D autoplay is processed once the member's watermark passes it, i.e. at least
  `lateness` after the start of day D in event time; near-line labels equal offline
  ones when by then the video/global statistics hold every accepted autoplay of the
  days before D (propagation lag plus partition skew below `lateness`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from labels.rules import DEFAULT_RULE, Rule, Scope
from labels.state import NEVER_MS, Event, MemberLabelState, event_hash
from labels.watchtime import DAY_MS, WatchStats, day_of
from schemas import Click, Dismissal, Impression, Label
from schemas.labels import LabelSource
from schemas.parse import ErrorType, RecordError, trusted

HOUR_MS = 3_600_000
DEFAULT_MIN_VIEWS = 20


@dataclass(frozen=True)
class Reject:
    """An event the labeller could not use; the worker sends it to deadletter."""

    event: Event | Dismissal
    reason: str
    error_type: ErrorType = "late"

    @property
    def error(self) -> RecordError:
        """The reason as the error a dead letter carries (`DeadLetter.of`)."""
        return RecordError(self.reason, self.error_type)


@dataclass(slots=True)
class Outcome:
    """What one event did: labels now final, and the event itself rejected or duplicate."""

    labels: list[Label] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    duplicate: bool = False

    @property
    def accepted(self) -> bool:
        """True for a new, timely event; add accepted autoplays to video/global stats."""
        return not (self.duplicate or self.rejects)


class Labeller:
    """Labels impressions from clicks, autoplays and timeouts; state is passed in.

    >>> from schemas import Autoplay
    >>> lab = Labeller("fixed:9", window_ms=DAY_MS, lateness_ms=HOUR_MS)
    >>> state, videos, everyone = MemberLabelState(), {}, WatchStats()
    >>> t = 1767225600000
    >>> _ = lab.step(state, Impression(event_id="i1", member_id="m1", course_id="c1",
    ...     channel="feed", position=0, ts=t), videos, everyone)
    >>> _ = lab.step(state, Autoplay(event_id="a1", member_id="m1", course_id="c1",
    ...     watched_s=12.0, video_s=60.0, ts=t + 1000), videos, everyone)
    >>> [(x.label, x.source, x.rule) for x in lab.advance(state, t + HOUR_MS, videos, everyone)]
    [(1, 'autoplay', 'fixed:9')]
    """

    def __init__(
        self,
        rule: str | Rule = DEFAULT_RULE,
        *,
        window_ms: int = DAY_MS,
        lateness_ms: int = HOUR_MS,
        min_views: int = DEFAULT_MIN_VIEWS,
    ) -> None:
        # Parsed and checked here so that a bad option fails before any event is read.
        self.rule = rule if isinstance(rule, Rule) else Rule.parse(rule)
        if window_ms <= 0 or lateness_ms < 0 or min_views < 1:
            raise ValueError("need window_ms > 0, lateness_ms >= 0 and min_views >= 1")
        self.window_ms = window_ms
        self.lateness_ms = lateness_ms
        self.min_views = min_views

    @property
    def keep_days(self) -> int:
        """Days of video/global statistics any threshold can still read: the rule's window
        plus two, as an idle member's autoplay may be processed up to a day after its
        stream's clock passed it (at the next daily sweep)."""
        return self.rule.window_days + 2

    def step(
        self,
        state: MemberLabelState,
        event: Event | Dismissal,
        videos: Mapping[str, WatchStats],
        global_stats: WatchStats,
        watermark_ms: int | None = None,
    ) -> Outcome:
        """Take one event of the state's member; returns the labels it made final.

        `watermark_ms` is the stream's watermark; None means the member is its own
        stream (its newest event time minus lateness). A rejected event changes no state."""
        if state.member_id and state.member_id != event.member_id:
            raise ValueError(f"event of {event.member_id!r} given to {state.member_id!r}")
        key = event_hash(event)
        if state.seen_since(key, state.watermark_ms - self.window_ms):
            return Outcome(duplicate=True)
        floor = state.watermark_ms
        if watermark_ms is not None and watermark_ms > floor:
            floor = watermark_ms
        if event.ts < floor:
            whose = "member's" if floor == state.watermark_ms else "stream's"
            reason = (
                f"late {event.kind}: ts {event.ts} is before the {whose} watermark"
                f" {floor} (event time - {self.lateness_ms} ms lateness)"
            )
            return Outcome(rejects=[Reject(event, reason)])
        state.member_id = event.member_id
        if isinstance(event, Dismissal):
            state.remember(key, event.ts)
            return Outcome()
        state.push(event, key)
        if watermark_ms is None:
            watermark_ms = event.ts - self.lateness_ms
        return Outcome(self.advance(state, watermark_ms, videos, global_stats))

    def advance(
        self,
        state: MemberLabelState,
        watermark_ms: int,
        videos: Mapping[str, WatchStats],
        global_stats: WatchStats,
    ) -> list[Label]:
        """Raise the watermark: process events before it, close windows ending before it.

        A timer calls this with now - lateness for idle members; an offline run calls it
        with a time after its last event to finish.
        """
        if watermark_ms <= state.watermark_ms:
            return []
        previous, state.watermark_ms = state.watermark_ms, watermark_ms
        labels: list[Label] = []
        if state.buffer or state.pending:  # else idle: nothing to process or close
            # A lower bound on the end of the oldest open window (-1: not known yet): no
            # window ends before a time up to it, so closing is skipped until then.
            ends_at = -1
            for event in state.take_before(watermark_ms):
                if event.ts > ends_at:
                    ends_at = self._close(state, event.ts, labels)
                self._process(state, event, videos, global_stats, labels)
                if event.ts + self.window_ms < ends_at:  # it may have opened a window
                    ends_at = event.ts + self.window_ms
            if watermark_ms > ends_at:
                self._close(state, watermark_ms, labels)
        if previous // HOUR_MS != watermark_ms // HOUR_MS:  # hourly is often enough
            state.forget_before(watermark_ms - self.window_ms)
        return labels

    def due_ms(self, state: MemberLabelState) -> int | None:
        """The watermark above which `advance` has work for the state (its oldest
        buffered event, or the end of its oldest open window); None when it has none.
        Up to it, `advance` only moves the state's watermark and forgets old ids.

        >>> lab = Labeller("fixed:9", window_ms=DAY_MS)
        >>> state = MemberLabelState()
        >>> lab.due_ms(state) is None
        True
        >>> state.pending["i1"] = Impression(event_id="i1", member_id="m1", course_id="c1",
        ...     channel="feed", position=0, ts=1767225600000)
        >>> lab.due_ms(state) == 1767225600000 + DAY_MS
        True
        """
        due = state.buffer[0][0] if state.buffer else None
        if state.pending:
            ends_at = next(iter(state.pending.values())).ts + self.window_ms
            due = ends_at if due is None or ends_at < due else due
        return due

    def _close(self, state: MemberLabelState, now_ms: int, labels: list[Label]) -> int:
        """Append negatives for open impressions whose window ended before now_ms (oldest
        first: impressions are processed, hence pending, in event-time order); returns
        when the oldest window still open ends (NEVER_MS if none is)."""
        pending = state.pending
        while pending:
            imp = next(iter(pending.values()))
            ends_at = imp.ts + self.window_ms
            if ends_at >= now_ms:
                return ends_at
            del pending[imp.event_id]
            labels.append(_label(imp, 0, "timeout", ends_at, "timeout"))
        return NEVER_MS

    def _process(
        self,
        state: MemberLabelState,
        event: Event,
        videos: Mapping[str, WatchStats],
        global_stats: WatchStats,
        labels: list[Label],
    ) -> None:
        """Process one event in order, appending the label it makes final (if any)."""
        if isinstance(event, Impression):
            state.pending[event.event_id] = event
            return
        if isinstance(event, Click):
            imp = _match(state, event.impression_id, event.course_id, event.channel)
            if imp is not None:
                del state.pending[imp.event_id]
                labels.append(_label(imp, 1, "click", event.ts, "click"))
            return
        day = day_of(event.ts)
        imp = _match(state, event.impression_id, event.course_id, None)
        verdict = None
        if imp is not None:
            scopes: dict[Scope, WatchStats | None] = {
                "member": state.stats,
                "video": videos.get(event.course_id),
                "global": global_stats,
            }
            verdict = self.rule.threshold(event.video_s, day, scopes, self.min_views)
        state.stats.add(event.watched_s, event.ts)
        state.stats.prune(day - self.rule.window_days)
        if imp is not None and verdict is not None and event.watched_s >= verdict[0]:
            del state.pending[imp.event_id]
            labels.append(_label(imp, 1, "autoplay", event.ts, verdict[1]))


def _match(
    state: MemberLabelState, impression_id: str | None, course_id: str, channel: str | None
) -> Impression | None:
    """The open impression an engagement refers to (see the module docstring)."""
    if impression_id is not None:
        imp = state.pending.get(impression_id)
        return imp if imp is not None and imp.course_id == course_id else None
    for imp in reversed(state.pending.values()):
        if imp.course_id == course_id and channel in (None, imp.channel):
            return imp
    return None


def _label(imp: Impression, label: int, source: LabelSource, ts: int, rule: str) -> Label:
    # Built from validated records, so no second validation on the hot path; the
    # impression's fields are read from its __dict__ (pydantic routes each attribute
    # read through a __getattr__ hook, ~2x slower).
    fields = imp.__dict__
    return trusted(
        Label,
        {
            "member_id": fields["member_id"],
            "course_id": fields["course_id"],
            "channel": fields["channel"],
            "label": label,
            "source": source,
            "impression_event_id": fields["event_id"],
            "impression_ts": fields["ts"],
            "label_ts": ts,
            "rule": rule,
            "position": fields["position"],
            "model_id": fields["model_id"],
            "propensity": fields["propensity"],
        },
    )
