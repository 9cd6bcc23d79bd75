"""The labeller over a whole recorded log: what `nearline labels` and evaluation run.

Member, video and global state live in dicts here instead of tables, but every event
goes through the same `Labeller.step`, and video/global watch times are fed the same
accepted autoplays, so offline labels equal the near-line ones.

Like the worker's timer, the log's own clock (its newest event time) advances every
member's watermark at each new UTC day; this closes idle members' windows and bounds
memory. So an event arriving more than `lateness` behind the newest event of the whole
log can be late, as it can near-line.

At the end of the log every event is final. Windows still open at the last event stay
unlabelled (their click may lie beyond the log) unless `close_open` closes them as
negatives.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from labels.clock import StreamClock
from labels.labeller import DEFAULT_MIN_VIEWS, HOUR_MS, Labeller, Reject
from labels.state import MemberLabelState
from labels.watchtime import DAY_MS, WatchStats, day_of
from replay.logs import read_events
from schemas import AnyActivity, Autoplay, Dismissal, Label


class LogLabeller:
    """All labelling state of one offline run, fed one event at a time.

    >>> from schemas import Impression
    >>> run = LogLabeller(Labeller("fixed:9"))
    >>> run.feed(Impression(event_id="i1", member_id="m1", course_id="c1", channel="feed",
    ...                     position=0, ts=1767225600000))
    []
    >>> [x.source for x in run.finish()], [x.source for x in run.finish(close_open=True)]
    ([], ['timeout'])
    >>> dict(run.counts)
    {'events': 1, 'timeout': 1, 'negatives': 1}
    """

    def __init__(self, labeller: Labeller, hold_ms: int = DAY_MS) -> None:
        self.labeller = labeller
        self.members: dict[str, MemberLabelState] = {}
        self.videos: dict[str, WatchStats] = {}
        self.everyone = WatchStats()
        self.clock = StreamClock(labeller.lateness_ms, hold_ms)
        self.counts: Counter[str] = Counter()

    def feed(self, event: AnyActivity) -> list[Label | Reject]:
        """Labels made final and rejects caused by one event of the log."""
        self.counts["events"] += 1
        # A dismissal is judged (late, duplicate) but is no source of the clock.
        new_day = not isinstance(event, Dismissal) and self.clock.observe(event.kind, event.ts)
        known = self.members.get(event.member_id)
        state = MemberLabelState() if known is None else known
        wm = self.clock.watermark_ms
        out = self.labeller.step(state, event, self.videos, self.everyone, wm)
        if known is None and state.member_id:  # kept once an event of it is accepted
            self.members[event.member_id] = state
        if out.duplicate:
            self.counts["duplicates"] += 1
        elif isinstance(event, Autoplay) and out.accepted:
            self.videos.setdefault(event.course_id, WatchStats()).add(event.watched_s, event.ts)
            self.everyone.add(event.watched_s, event.ts)
        results: list[Label | Reject] = out.labels
        if out.rejects:
            results += out.rejects
        if new_day:
            results += self._advance_all(wm)
            oldest = day_of(wm) - self.labeller.keep_days
            for stats in (*self.videos.values(), self.everyone):
                stats.prune(oldest)
        if results:
            self._count(results)
        return results

    def finish(self, *, close_open: bool = False) -> list[Label]:
        """Process every remaining event; with close_open also close every open window."""
        extra = self.labeller.window_ms if close_open else 0
        newest = max(self.clock.newest.values(), default=0)
        labels = self._advance_all(newest + 1 + extra)
        self._count(labels)
        return labels

    def _advance_all(self, watermark_ms: int) -> list[Label]:
        labels: list[Label] = []
        for state in self.members.values():
            labels += self.labeller.advance(state, watermark_ms, self.videos, self.everyone)
        return labels

    def _count(self, results: Iterable[Label | Reject]) -> None:
        counts = self.counts
        for r in results:
            if isinstance(r, Reject):
                counts["rejects"] += 1
            else:
                counts[r.source] += 1
                counts["positives" if r.label else "negatives"] += 1


def label_log(
    events: Iterable[AnyActivity], labeller: Labeller, *, close_open: bool = False
) -> Iterator[Label | Reject]:
    """Labels and rejects of a whole log, in the order they become final."""
    run = LogLabeller(labeller)
    for event in events:
        yield from run.feed(event)
    yield from run.finish(close_open=close_open)


def run_labels_cli(
    log_dir: str | Path,
    rule: str,
    out_path: str | Path,
    *,
    progress: bool = True,
    close_open: bool = False,
    window_ms: int = DAY_MS,
    lateness_ms: int = HOUR_MS,
    min_views: int = DEFAULT_MIN_VIEWS,
) -> dict[str, int]:
    """`nearline labels DIR --rule R --out FILE`: Label JSONL, returns the counts.

    A bad rule or setting raises ValueError with a one-line message before anything is
    read. Counts: events, duplicates, rejects, positives, negatives, and labels per
    source (click, autoplay, timeout).
    """
    labeller = Labeller(rule, window_ms=window_ms, lateness_ms=lateness_ms, min_views=min_views)
    run = LogLabeller(labeller)
    events = tqdm(read_events(log_dir), desc="labelling", unit=" events", disable=not progress)
    with Path(out_path).open("w", encoding="utf-8") as out:
        for event in events:
            _write(out, run.feed(event))
        _write(out, run.finish(close_open=close_open))
    return dict(run.counts)


def _write(out: TextIO, results: Iterable[Label | Reject]) -> None:
    for r in results:
        if isinstance(r, Label):
            out.write(r.model_dump_json() + "\n")
