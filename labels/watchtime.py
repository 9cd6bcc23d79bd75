"""Watch-time statistics: daily log-spaced histograms, mergeable, bounded in memory.

One `WatchStats` holds the autoplay watch times of one scope (a member, a video, or
everyone) as a sparse histogram per UTC day. Bins are fixed, so histograms of different
workers or days merge by adding counts, and memory is at most (days kept) x (bins).

Bins: [0, 0.1 s) and then 16 bins per doubling from 0.1 s up to 0.1 s * 2**20 (29 h,
above the longest watch the schema admits); values above the top edge land in the last bin.

Percentiles follow `numpy.percentile` (method "linear": rank p/100 * (n - 1), linear
between the two neighbouring order statistics), with each order statistic estimated
inside its bin (geometrically spread in a log bin, linearly in the first). An estimate and
the true order statistic share a bin, so for the true percentile q:

    |estimate - q| <= ABSOLUTE_ERROR_S + RELATIVE_ERROR * q     (0.1 s + 4.43 % of q)
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Self

import numpy as np

DAY_MS = 86_400_000
LOW_S = 0.1
BINS_PER_DOUBLING = 16
LOG_BINS = 20 * BINS_PER_DOUBLING
N_BINS = 1 + LOG_BINS
RATIO = 2.0 ** (1.0 / BINS_PER_DOUBLING)
RELATIVE_ERROR = RATIO - 1.0
ABSOLUTE_ERROR_S = LOW_S
# EDGES[b] is the lower edge of bin b; bin 0 is [0, LOW_S).
EDGES = np.concatenate([[0.0], LOW_S * RATIO ** np.arange(LOG_BINS + 1)])

_HEADER = struct.Struct("<BI")


def day_of(ts_ms: int) -> int:
    """UTC day number of an epoch-ms timestamp (the unit of the trailing windows)."""
    return ts_ms // DAY_MS


def bin_of(watched_s: float) -> int:
    """Histogram bin of a watch time in seconds.

    >>> bin_of(0.0), bin_of(0.1), bin_of(0.2), bin_of(1e9)
    (0, 1, 17, 320)
    """
    if watched_s < LOW_S:
        return 0
    return min(LOG_BINS, 1 + int(math.log2(watched_s / LOW_S) * BINS_PER_DOUBLING))


class WatchStats:
    """Watch times of one scope, by day, for trailing-window percentiles.

    A threshold for day D reads only days D - window_days .. D - 1, complete days before
    the event's day, so views arriving during day D never move day D's thresholds.

    >>> s = WatchStats()
    >>> for w in (5.0, 10.0, 20.0, 40.0):
    ...     _ = s.add(w, 3 * DAY_MS)
    >>> s.views(day=4, window_days=30), s.views(day=3, window_days=30)
    (4, 0)
    >>> round(s.percentile(50, day=4, window_days=30), 1)
    15.1
    """

    version = 1

    def __init__(self) -> None:
        self.days: dict[int, dict[int, int]] = {}
        self._day_views: dict[int, int] = {}  # views per day: `views` needs no histogram
        # The windows asked last, by (day, window_days): thresholds of a day ask the same
        # window again and again, and a day's labelling reads yesterday's window as well.
        self._windows: dict[tuple[int, int], _Window] = {}
        # Each day's (days, bins, counts) arrays as `to_bytes` packs them: a view
        # changes one day, and the statistics are written after every view.
        self._packed: dict[int, tuple[bytes, bytes, bytes]] = {}

    def add(self, watched_s: float, ts_ms: int) -> Self:
        """Count one view; a pure function of the autoplay, so every worker agrees."""
        day = day_of(ts_ms)
        bins = self.days.setdefault(day, {})
        b = bin_of(watched_s)
        bins[b] = bins.get(b, 0) + 1
        self._day_views[day] = self._day_views.get(day, 0) + 1
        self._invalidate(day)
        return self

    def merge(self, other: WatchStats) -> Self:
        """Add another histogram's counts (e.g. per-partition statistics into global)."""
        for day, bins in other.days.items():
            mine = self.days.setdefault(day, {})
            for b, n in bins.items():
                mine[b] = mine.get(b, 0) + n
            self._day_views[day] = self._day_views.get(day, 0) + sum(bins.values())
            self._invalidate(day)
        return self

    def prune(self, before_day: int) -> None:
        """Forget days before `before_day`; no window starting at or after it needs them."""
        for day in [d for d in self.days if d < before_day]:
            del self.days[day]
            del self._day_views[day]
            self._invalidate(day)

    def views(self, day: int, window_days: int) -> int:
        """Views in days day - window_days .. day - 1."""
        return self._window(day, window_days).views

    def percentile(self, p: float, day: int, window_days: int) -> float | None:
        """Estimated p-th percentile (0..100) of the window's watch times; None if empty."""
        window = self._window(day, window_days)
        if p not in window.percentiles:
            if window.counts is None:
                window.counts = self._counts(day, window_days)
            window.percentiles[p] = _percentile(p, window.counts, window.views)
        return window.percentiles[p]

    def to_bytes(self) -> bytes:
        """Version, entry count, then day (int32), bin (uint16), count (uint32) arrays."""
        parts = [self._pack(day) for day in sorted(self.days)]  # sorted by (day, bin)
        n = sum(len(part[0]) for part in parts) // 4
        return b"".join(
            [_HEADER.pack(self.version, n), *(part[k] for k in range(3) for part in parts)]
        )

    def _pack(self, day: int) -> tuple[bytes, bytes, bytes]:
        packed = self._packed.get(day)
        if packed is None:
            of_day = self.days[day]
            keys = sorted(of_day)
            n = len(keys)
            packed = (
                struct.pack(f"<{n}i", *[day] * n),
                struct.pack(f"<{n}H", *keys),
                struct.pack(f"<{n}I", *map(of_day.__getitem__, keys)),
            )
            self._packed[day] = packed
        return packed

    @classmethod
    def from_bytes(cls, raw: bytes) -> WatchStats:
        version, n = _HEADER.unpack_from(raw)
        if version != cls.version:
            raise ValueError(f"WatchStats version {version} is not {cls.version}")
        flat = struct.unpack_from(f"<{n}i{n}H{n}I", raw, _HEADER.size)
        stats = cls()
        for d, b, c in zip(flat[:n], flat[n : 2 * n], flat[2 * n :], strict=True):
            stats.days.setdefault(d, {})[b] = c
            stats._day_views[d] = stats._day_views.get(d, 0) + c
        return stats

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WatchStats) and self.days == other.days

    def __repr__(self) -> str:
        views = sum(n for bins in self.days.values() for n in bins.values())
        return f"WatchStats(days={len(self.days)}, views={views})"

    def _window(self, day: int, window_days: int) -> _Window:
        """The window's views (its histogram on demand), cached for the last `_CACHED`
        windows asked."""
        window = self._windows.get((day, window_days))
        if window is None:
            near, gained, lost = self._near(day, window_days, counts=False)
            views = self._day_views.get
            window = _Window(
                (near.views if near else 0)
                + sum([views(d, 0) for d in gained])
                - sum([views(d, 0) for d in lost])
            )
            if len(self._windows) >= _CACHED:
                del self._windows[next(iter(self._windows))]
            self._windows[day, window_days] = window
        return window

    def _counts(self, day: int, window_days: int) -> np.ndarray:
        """Counts per bin over the window."""
        near, gained, lost = self._near(day, window_days, counts=True)
        counts = np.zeros(N_BINS, dtype=np.int64) if near is None else near.counts.copy()
        delta: dict[int, int] = {}  # summed in Python: numpy's per-item access costs ~10x more
        for days, sign in ((gained, 1), (lost, -1)):
            for d in days:
                if bins := self.days.get(d):
                    for b, n in bins.items():
                        delta[b] = delta.get(b, 0) + sign * n
        if delta:
            counts[list(delta)] += list(delta.values())
        return counts

    def _near(
        self, day: int, window_days: int, *, counts: bool
    ) -> tuple[_Window | None, range, range]:
        """A cached window overlapping the one of `day` (with its histogram if `counts`),
        the days to add to it and the days to take from it; without one, None and all the
        window's days. The next day's window thus costs two days, not 30. Exact: a cached
        window's days are as they were, since any change to them drops it (`_invalidate`),
        and views are integers."""
        lo = day - window_days
        for (near, width), window in self._windows.items():
            if width == window_days and abs(day - near) < width:
                if counts and window.counts is None:
                    continue
                if day > near:
                    return window, range(near, day), range(near - width, lo)
                return window, range(lo, near - width), range(day, near)
        return None, range(lo, day), range(0)

    def _invalidate(self, day: int) -> None:
        self._packed.pop(day, None)
        for key in [k for k in self._windows if k[0] - k[1] <= day < k[0]]:
            del self._windows[key]


_CACHED = 2  # windows kept per statistics: today's and yesterday's


@dataclass(slots=True)
class _Window:
    """Views in a window of days, their counts per bin, and percentiles asked of them."""

    views: int
    counts: np.ndarray | None = None
    percentiles: dict[float, float | None] = field(default_factory=dict)


def _percentile(p: float, counts: np.ndarray, n: int) -> float | None:
    if n == 0:
        return None
    cum = np.cumsum(counts)
    rank = p / 100.0 * (n - 1)
    k = math.floor(rank)
    low = _order_statistic(k, counts, cum)
    if k + 1 >= n:
        return low
    return low + (rank - k) * (_order_statistic(k + 1, counts, cum) - low)


def _order_statistic(k: int, counts: np.ndarray, cum: np.ndarray) -> float:
    """Estimate of the k-th smallest value (0-based): spread evenly inside its bin."""
    b = int(np.searchsorted(cum, k, side="right"))
    inside = (k - (cum[b] - counts[b]) + 0.5) / counts[b]
    if b == 0:
        return float(inside * LOW_S)
    return float(EDGES[b] * RATIO**inside)
