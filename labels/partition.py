"""Event time of the activity partitions one worker owns: a clock per partition, sources
that went quiet, partitions that went idle.

Each partition of the member stage merges several sources (impressions, clicks,
autoplays, dismissals) into one stream whose watermark is its slowest source's newest
event time minus the lateness (see `labels.clock`). Dismissals make no labels, but
their topic can be read hours behind the others while a worker catches up, and an event
behind the watermark is late: so near-line they hold it back too (offline the log
comes in event-time order). Near-line three things move it besides events: a source
seen on the partition that has nothing left to read there stops holding it back (the
runtime knows from its consumer: waiting for it would wait for records that do not
exist, as Kafka Streams' tasks do not; a source not seen yet may be one whose producer
has not started, and waits for the next rule), so does a source silent for `idle_s` of
wall time (as Flink's idle sources), and on a partition where nothing arrives for
`idle_s`, event time follows
the wall clock, so windows still close. The runtime calls `observe` for every event
and `tick` whenever it has nothing else to do; both say when the watermark entered a
new UTC day, the moment to advance every member of the partition.
"""

from __future__ import annotations

from collections.abc import Iterable

from labels.clock import SOURCES, IdleTimer, StreamClock

LIVE_SOURCES = (*SOURCES, "dismissal")  # the activity kinds a partition's watermark waits for


class PartitionClocks:
    """The clocks of a worker's partitions, created on a partition's first event.

    >>> clocks = PartitionClocks(lateness_ms=1000, idle_s=30)
    >>> day = 86_400_000
    >>> clocks.observe(0, "impression", 5 * day, wall_s=0.0), clocks.watermark_ms(0)
    (False, -1000)
    >>> # 31 s later: clicks and autoplays are quiet, and the idle partition's event time
    >>> # moved on by those 31 s
    >>> clocks.tick(0, wall_s=31.0), clocks.watermark_ms(0) == 5 * day + 31_000 - 1000
    (True, True)
    >>> clocks.tick(0, wall_s=100.0), clocks.watermark_ms(0) == 5 * day + 100_000 - 1000
    (False, True)
    >>> # dismissals read behind hold it back, until their topic has nothing left
    >>> clocks.observe(1, "impression", 5 * day, 0.0), clocks.observe(1, "click", 5 * day, 0.0)
    (False, False)
    >>> clocks.observe(1, "autoplay", 5 * day, 0.0), clocks.observe(1, "dismissal", day, 0.0)
    (False, True)
    >>> clocks.watermark_ms(1) == day - 1000
    True
    >>> clocks.tick(1, wall_s=1.0, drained=["dismissal"]), clocks.watermark_ms(1) == 5 * day - 1000
    (True, True)
    >>> # a source not seen yet holds it back though it has nothing to read (until quiet)
    >>> clocks.observe(2, "impression", 5 * day, 0.0), clocks.tick(2, 1.0, drained=["click"])
    (False, False)
    >>> clocks.watermark_ms(2)
    -1000
    """

    def __init__(self, lateness_ms: int, idle_s: float) -> None:
        self.lateness_ms = lateness_ms
        self.idle = IdleTimer(idle_s=idle_s, sources=LIVE_SOURCES)
        self.clocks: dict[int, StreamClock] = {}

    def watermark_ms(self, partition: int) -> int:
        clock = self.clocks.get(partition)
        return 0 if clock is None else clock.watermark_ms

    def observe(self, partition: int, kind: str, ts_ms: int, wall_s: float) -> bool:
        """One event of `kind` at `ts_ms` arrived; True when the watermark entered a new day."""
        clock = self.clocks.get(partition)
        if clock is None:
            # No event-time hold near-line: a lagging source holds the watermark back
            # until it has been silent in wall time.
            clock = self.clocks[partition] = StreamClock(self.lateness_ms, None, LIVE_SOURCES)
        self.idle.touch(partition, kind, wall_s)
        return clock.observe(kind, ts_ms) | self._quiet(partition, clock, wall_s)

    def tick(self, partition: int, wall_s: float, drained: Iterable[str] = ()) -> bool:
        """Nothing arrived on `partition` just now, and the sources `drained` have nothing
        left to read there (those seen on it stop holding the watermark back); True when
        the watermark entered a new day."""
        clock = self.clocks.get(partition)
        if clock is None or not clock.newest:
            return False
        new_day = self._quiet(partition, clock, wall_s)
        for source in drained:
            if source in clock.newest:
                new_day |= clock.quiet(source)
        for idle, passed_ms in self.idle.idle([partition], wall_s):
            self.idle.touch(idle, None, wall_s)
            new_day |= clock.tick(max(clock.newest.values()) + passed_ms)
        return new_day

    def _quiet(self, partition: int, clock: StreamClock, wall_s: float) -> bool:
        new_day = False
        for source in self.idle.quiet(partition, wall_s):
            new_day |= clock.quiet(source)
        return new_day

    def forget(self, partition: int) -> None:
        """The partition left this worker; a new owner starts a fresh clock."""
        self.clocks.pop(partition, None)
        self.idle.last_wall_s.pop(partition, None)
        self.idle.since_wall_s.pop(partition, None)
