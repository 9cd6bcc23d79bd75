"""Video and global watch-time statistics as workers share them.

Autoplays are counted on the partition of their course: per video under the course id,
and into a per-partition partial of the global statistics under `*<partition>`, so each
key has exactly one writer. Every worker reads the whole table (a global table); the
global statistics are the sum of the partials. Thresholds read only completed days,
so a short propagation lag changes nothing (see `labels.labeller`).

Each value starts with the offset of the last view it counts: that key's one writer
reads its partition in order, so a view processed again after a handover (at-least-once
delivery) is recognised and not counted twice.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping, MutableMapping
from functools import lru_cache

from labels.watchtime import WatchStats, day_of

GLOBAL_PREFIX = "*"
_OFFSET = struct.Struct("<q")


def partial_key(partition: int) -> str:
    return f"{GLOBAL_PREFIX}{partition}"


def count_view(
    table: MutableMapping[str, bytes],
    course_id: str,
    partition: int,
    offset: int,
    watched_s: float,
    ts_ms: int,
    keep_days: int,
) -> None:
    """Add the accepted autoplay at `offset` of `partition` to its video's and its
    partition's global statistics (unless they count it already)."""
    for key in (course_id, partial_key(partition)):
        counted = add_view(table.get(key), offset, watched_s, ts_ms, keep_days)
        if counted is not None:
            table[key] = counted


def add_view(
    raw: bytes | None,
    offset: int,
    watched_s: float,
    ts_ms: int,
    keep_days: int,
    stats: WatchStats | None = None,
) -> bytes | None:
    """One key's statistics with the view at `offset` added, forgetting days that no
    window of `keep_days` can read any more; None when they count it already.
    `stats`, when given, is `raw` decoded already (`stats_of`); the view is added to it."""
    if raw and _OFFSET.unpack_from(raw)[0] >= offset:
        return None
    if stats is None:
        stats = stats_of(raw) if raw else WatchStats()
    stats.add(watched_s, ts_ms)
    stats.prune(day_of(ts_ms) - keep_days)
    return _OFFSET.pack(offset) + stats.to_bytes()


def stats_of(raw: bytes) -> WatchStats:
    """The statistics a stored value holds (after the offset of its last view)."""
    return WatchStats.from_bytes(raw[_OFFSET.size :])


@lru_cache(maxsize=8192)
def _decode(raw: bytes) -> WatchStats:
    return stats_of(raw)


class VideoStats(Mapping[str, WatchStats]):
    """Per-video statistics decoded from the shared table; unchanged bytes decode once.

    >>> table = {}
    >>> count_view(table, "c1", 0, 7, 12.0, 1767225600000, keep_days=32)
    >>> VideoStats(table)["c1"].views(day=20455, window_days=30)
    1
    >>> global_stats(table, partitions=2).views(day=20455, window_days=30)
    1
    """

    def __init__(self, table: Mapping[str, bytes]) -> None:
        self.table = table

    def __getitem__(self, course_id: str) -> WatchStats:
        raw = self.table.get(course_id)
        if raw is None:
            raise KeyError(course_id)
        return _decode(raw)

    def __iter__(self) -> Iterator[str]:
        return (k for k in self.table if not k.startswith(GLOBAL_PREFIX))

    def __len__(self) -> int:
        return sum(1 for _ in self)


@lru_cache(maxsize=64)
def _merge(partials: tuple[bytes, ...]) -> WatchStats:
    merged = WatchStats()
    for raw in partials:
        merged.merge(_decode(raw))
    return merged


def global_stats(table: Mapping[str, bytes], partitions: int) -> WatchStats:
    """The sum of every partition's partial; recomputed only when a partial changed."""
    partials = (table.get(partial_key(p)) for p in range(partitions))
    return _merge(tuple(raw for raw in partials if raw))
