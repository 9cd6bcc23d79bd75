"""Event time of the activity partitions one worker owns: a clock per partition, sources
that went quiet, partitions that went idle.

Each partition of the member stage merges several sources (impressions, clicks,
autoplays) into one stream whose watermark is its slowest source's newest event time
minus the lateness (see `labels.clock`). Near-line two things move it besides events:
a source silent for `idle_s` of wall time stops holding it back (as Flink's idle
sources), and on a partition where nothing arrives for `idle_s`, event time follows
the wall clock, so windows still close. The runtime calls `observe` for every event
and `tick` whenever it has nothing else to do; both say when the watermark entered a
new UTC day, the moment to advance every member of the partition.
"""

from __future__ import annotations

from labels.clock import IdleTimer, StreamClock


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
    """

    def __init__(self, lateness_ms: int, idle_s: float) -> None:
        self.lateness_ms = lateness_ms
        self.idle = IdleTimer(idle_s=idle_s)
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
            clock = self.clocks[partition] = StreamClock(self.lateness_ms, None)
        self.idle.touch(partition, kind, wall_s)
        return clock.observe(kind, ts_ms) | self._quiet(partition, clock, wall_s)

    def tick(self, partition: int, wall_s: float) -> bool:
        """Nothing arrived on `partition` just now; True when the watermark entered a new day."""
        clock = self.clocks.get(partition)
        if clock is None or not clock.newest:
            return False
        new_day = self._quiet(partition, clock, wall_s)
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
