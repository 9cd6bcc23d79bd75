"""The event-time clock of one stream: a whole log offline, one partition near-line.

A partition of the worker's `activity` topic merges several sources (impressions,
clicks, autoplays, each in its own topic). Each source arrives nearly in event-time
order, but the merge does not: a consumer may run hours of one topic ahead of another
during a fast replay. So, as in Flink, the watermark is the minimum over the sources of
their newest event time, minus the allowed lateness. A source that has gone quiet must
stop holding it back: near-line a source silent for a while in wall time is moved up to
the lead (`quiet`, as Flink's idle sources); offline, where the log has no skew, a
source more than `hold_ms` behind the lead (or not seen yet) holds it only that far.

Members' buffered events are released as the watermark passes them. Once per new UTC
day of the watermark every member of the stream is advanced, which closes idle
members' windows and bounds state. Offline and near-line run this same clock, so they
label alike as long as no source delivers an event more than `lateness` late. A worker
that restarts starts a fresh clock: until every source has been seen again it holds
the watermark back, which is only more lenient; members keep their own watermarks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import repeat

from labels.watchtime import DAY_MS, day_of

SOURCES = ("impression", "click", "autoplay")  # the activity kinds that make labels


@dataclass
class StreamClock:
    """Newest event time per source, and the watermark they allow.

    >>> c = StreamClock(lateness_ms=10, hold_ms=500, sources=("impression", "click"))
    >>> c.observe("impression", 1000), c.watermark_ms  # no click yet: held back
    (True, 490)
    >>> c.observe("click", 700), c.watermark_ms  # clicks lag: they hold it back
    (False, 690)
    >>> c.observe("click", 1200), c.watermark_ms
    (False, 990)
    """

    lateness_ms: int
    hold_ms: int | None = DAY_MS
    sources: tuple[str, ...] = SOURCES
    newest: dict[str, int] = field(default_factory=dict)
    day: int = -1
    watermark_ms: int = field(default=0, init=False)  # kept by every update of `newest`

    def __post_init__(self) -> None:
        self.watermark_ms = self._watermark()

    def _watermark(self) -> int:
        if not self.newest:
            return 0
        lead = max(self.newest.values())
        floor = 0 if self.hold_ms is None else lead - self.hold_ms
        slowest = min(map(self.newest.get, self.sources, repeat(floor)))
        return max(slowest, floor) - self.lateness_ms

    def observe(self, source: str, ts_ms: int) -> bool:
        """Take one event of `source`; True when the watermark enters a new UTC day."""
        newest = self.newest.get(source)
        if newest is None or ts_ms > newest:
            self.newest[source] = ts_ms
            self.watermark_ms = self._watermark()
        return self._next_day()

    def quiet(self, source: str) -> bool:
        """`source` has gone silent: it no longer holds the watermark back."""
        lead = max(self.newest.values(), default=0)
        self.newest[source] = max(self.newest.get(source, lead), lead)
        return self._new_day()

    def tick(self, ts_ms: int) -> bool:
        """Event time reached `ts_ms` on every source (nothing arrives: time still passes)."""
        for source in {*self.sources, *self.newest}:
            self.newest[source] = max(self.newest.get(source, ts_ms), ts_ms)
        return self._new_day()

    def _new_day(self) -> bool:
        self.watermark_ms = self._watermark()
        return self._next_day()

    def _next_day(self) -> bool:
        day = day_of(self.watermark_ms)
        if day > self.day:
            self.day = day
            return True
        return False


class IdleTimer:
    """Wall time since each partition, and each source on it, last delivered anything.

    A source silent for `idle_s` while its partition flows is `quiet` (it stops holding
    the watermark back); a partition silent for `idle_s` is idle, and its event time
    follows the wall clock: the worker feeds it a tick so windows still close.

    >>> timer = IdleTimer(idle_s=30, sources=("impression", "click"))
    >>> timer.touch(0, "impression", wall_s=100.0)
    >>> timer.touch(0, "impression", wall_s=125.0)
    >>> timer.quiet(0, wall_s=120.0), timer.quiet(0, wall_s=131.0)
    ([], ['click'])
    >>> timer.idle([0, 1], wall_s=131.0), timer.idle([0, 1], wall_s=160.0)
    ([], [(0, 35000)])
    """

    def __init__(self, idle_s: float, sources: tuple[str, ...] = SOURCES) -> None:
        self.idle_s = idle_s
        self.sources = sources
        self.last_wall_s: dict[int, float] = {}  # partition -> last delivery
        self.source_wall_s: dict[tuple[int, str], float] = {}
        self.since_wall_s: dict[int, float] = {}  # partition -> first delivery

    def touch(self, partition: int, source: str | None, wall_s: float) -> None:
        """Something arrived on `partition` (from `source`; None for a tick)."""
        self.since_wall_s.setdefault(partition, wall_s)
        self.last_wall_s[partition] = wall_s
        if source is not None:
            self.source_wall_s[partition, source] = wall_s

    def quiet(self, partition: int, wall_s: float) -> list[str]:
        """Sources of `partition` silent for `idle_s` or more (never heard counts from the
        partition's first delivery)."""
        since = self.since_wall_s.get(partition, wall_s)
        return [
            s
            for s in self.sources
            if wall_s - self.source_wall_s.get((partition, s), since) >= self.idle_s
        ]

    def idle(self, partitions: list[int], wall_s: float) -> list[tuple[int, int]]:
        """(partition, ms of event time passed) for each partition idle for `idle_s`."""
        out = []
        for p in partitions:
            if p in self.last_wall_s and wall_s - self.last_wall_s[p] >= self.idle_s:
                out.append((p, int((wall_s - self.last_wall_s[p]) * 1000)))
        return out
