"""When to rescore: the members changed since the last rescore, scored together at most
once per period, and one rescore at a time.

A worker that is behind (catching up a backlog, or a burst) changes the same members
many times a second. Rescoring each change would spend the rescorer's time on lists that
are replaced at once, so a rescore takes every member changed since the previous one
began, and the next starts once that one is done and the period has passed: the longer
a rescore takes, the more changes gather for the next, a member changed many times is
scored once, and once nothing new arrives the last rescore writes every changed list.
While far behind, the next also waits `widen` times as long as the last one took: lists
written then are replaced long before anyone reads them, and each costs the member
stage its record and the broker its bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

WIDEN_BEHIND = 3.0  # far behind: the wait after a rescore, in multiples of what it took


def widen_for(lag: int, behind: int) -> float:
    """The widening for a worker with `lag` records not processed yet: far behind past
    `behind` of them.

    >>> widen_for(5, 1000), widen_for(5000, 1000)
    (0.0, 3.0)
    """
    return WIDEN_BEHIND if lag > behind else 0.0


class Debouncer(Generic[K, V]):
    """Members changed since the last rescore, with what to score them from.

    >>> d = Debouncer(period_ms=100)
    >>> d.mark("m1", "state-a", now_ms=1000); d.mark("m1", "state-b", now_ms=1010)
    >>> d.due(now_ms=1010), len(d)
    (True, 1)
    >>> batch = d.take()
    >>> batch, len(d)  # taken, not done: still pending
    ({'m1': ('state-b', 1000)}, 1)
    >>> d.mark("m2", "s", now_ms=1400); d.due(now_ms=1400)  # the rescore still runs
    False
    >>> d.done(now_ms=1500, cost_ms=500)
    >>> d.due(now_ms=1599), d.due(now_ms=1600)
    (False, True)
    >>> d.take(); d.done(now_ms=1700, cost_ms=500); d.widen = 3.0  # far behind now
    {'m2': ('s', 1400)}
    >>> d.mark("m3", "s", now_ms=1800); d.due(now_ms=3199), d.due(now_ms=3200)
    (False, True)
    """

    def __init__(self, period_ms: float, widen: float = 0.0) -> None:
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

    def again(self, key: K, value: V, first_ms: float) -> None:
        """`key` was taken but not scored: back in line with `value`, unless it changed
        since (its newer value stays, with the earlier first change).

        >>> d = Debouncer(period_ms=0)
        >>> d.again("m1", "old", first_ms=5); d.mark("m2", "new", now_ms=9)
        >>> d.again("m2", "old", first_ms=3); d.take()
        {'m1': ('old', 5), 'm2': ('new', 3)}
        """
        newer = self.changed.get(key)
        self.changed[key] = (value, first_ms) if newer is None else (newer[0], first_ms)

    def forget(self, gone: Callable[[K], bool]) -> None:
        """Drop the keys for which `gone` is true (no longer this worker's)."""
        self.changed = {k: v for k, v in self.changed.items() if not gone(k)}

    def due(self, now_ms: float) -> bool:
        """A rescore should start now."""
        return bool(self.changed) and not self.scoring and now_ms - self.last_ms >= self.wait_ms

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

    def done(self, now_ms: float, cost_ms: float) -> None:
        """The rescore of the last batch ended at `now_ms` after `cost_ms` of scoring."""
        self.scoring = 0
        self.last_ms = now_ms
        self.cost_ms = cost_ms
