"""When to rescore: members changed since the last rescore, scored together at most once
per period; the period widens while rescoring costs more than it may.

A worker that is behind (catching up a backlog, or a burst) changes the same members
many times a second. Rescoring each change would spend the worker's time on lists that
are replaced at once, so a rescore takes every member changed since the previous one,
and the next one waits at least `widen` times as long as this one took: rescoring then
takes at most 1 / (1 + widen) of the worker's time, whatever the load, and the period
returns to `period_ms` as soon as rescoring is cheap again. Once nothing new arrives,
rescores follow each other after the period alone until every changed member's list
is written.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

WIDEN = 3.0  # the wait after a rescore, in multiples of what that rescore took
# While far behind, lists are replaced long before anyone reads them: rescore less.
WIDEN_BEHIND = 9.0
# Nothing waits to be processed: rescoring takes no record's time, so the members a
# rescore's time budget left are scored next, after the period only.
WIDEN_IDLE = 0.0


def widen_for(lag: int, behind: int, partial: bool = False) -> float:
    """The widening for a worker with `lag` records not processed yet, far behind past
    `behind` of them. `partial`: `lag` counts only the partitions fetched so far (a
    worker starting on a backlog fetches some long before others), so it can tell that
    the worker is far behind, not that it has caught up.

    >>> widen_for(0, 1000), widen_for(5, 1000), widen_for(5000, 1000)
    (0.0, 3.0, 9.0)
    >>> widen_for(0, 1000, partial=True), widen_for(5000, 1000, partial=True)
    (3.0, 9.0)
    """
    if lag > behind:
        return WIDEN_BEHIND
    return WIDEN if lag or partial else WIDEN_IDLE


class Debouncer(Generic[K, V]):
    """Members changed since the last rescore, with what to score them from.

    >>> d = Debouncer(period_ms=100)
    >>> d.mark("m1", "state-a", now_ms=1000); d.mark("m1", "state-b", now_ms=1010)
    >>> d.due(now_ms=1010), len(d)
    (True, 1)
    >>> batch = d.take()
    >>> batch, len(d)  # taken, not done: still pending
    ({'m1': ('state-b', 1000)}, 1)
    >>> d.done(now_ms=1310, cost_ms=300)  # a slow rescore: wait 3 x 300 ms
    >>> d.mark("m2", "s", now_ms=1400); d.due(now_ms=1400), d.due(now_ms=2210)
    (False, True)
    """

    def __init__(self, period_ms: float, widen: float = WIDEN) -> None:
        if period_ms < 0 or widen < 0:
            raise ValueError("need period_ms >= 0 and widen >= 0")
        self.period_ms = period_ms
        self.widen = widen
        self.cost_ms = 0.0  # what the last rescore took
        self.last_ms = float("-inf")  # when the last rescore ended
        self.changed: dict[K, tuple[V, float]] = {}  # key -> (latest value, first change)
        self.scoring = 0  # keys taken and not done yet

    def __len__(self) -> int:
        """Keys waiting for a rescore or in the one running."""
        return len(self.changed) + self.scoring

    def mark(self, key: K, value: V, now_ms: float) -> None:
        """`key` changed; `value` is what to score it from (the latest replaces older)."""
        first = self.changed.pop(key, (None, now_ms))[1]
        self.changed[key] = (value, first)

    def forget(self, gone: Callable[[K], bool]) -> None:
        """Drop the keys for which `gone` is true (no longer this worker's)."""
        self.changed = {k: v for k, v in self.changed.items() if not gone(k)}

    def due(self, now_ms: float) -> bool:
        """A rescore should run now."""
        return bool(self.changed) and now_ms - self.last_ms >= self.wait_ms

    @property
    def wait_ms(self) -> float:
        """From the end of the last rescore to the next; read when asked, so a change of
        `widen` (a worker no longer behind) applies to the wait already running."""
        return max(self.period_ms, self.widen * self.cost_ms)

    def take(self) -> dict[K, tuple[V, float]]:
        """Every changed key with its latest value and first change time, oldest first."""
        batch, self.changed = self.changed, {}
        self.scoring = len(batch)
        return batch

    def done(
        self, now_ms: float, cost_ms: float, left: dict[K, tuple[V, float]] | None = None
    ) -> None:
        """The rescore of the last batch ended at `now_ms` after `cost_ms`; the keys of
        `left` (taken, not scored: its time ran out) wait for the next, first in line.

        >>> d = Debouncer(period_ms=100)
        >>> d.mark("m1", "a", now_ms=0); d.mark("m2", "b", now_ms=5)
        >>> batch = d.take()
        >>> d.mark("m3", "c", now_ms=50)  # changed meanwhile
        >>> d.done(now_ms=60, cost_ms=60, left={"m2": batch["m2"]})
        >>> len(d), list(d.take())
        (2, ['m2', 'm3'])
        """
        self.scoring = 0
        self.last_ms = now_ms
        self.cost_ms = cost_ms
        if left:
            newer = {k: v for k, v in self.changed.items() if k not in left}
            kept = {k: self.changed.get(k, v) for k, v in left.items()}
            self.changed = {**kept, **newer}
