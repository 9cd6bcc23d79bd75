"""Which members of a partition the daily sweep has work for, by when.

The sweep raises every member's watermark to the partition's; for most members that
does nothing but move the number (nothing buffered passes it, no window closes under
it). A member's next work is due at `Labeller.due_ms`, so the index keeps members by
that time and hands the sweep only those whose time came. It lives in memory and is
rebuilt from the members' stored states when a partition arrives.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

COMPACT_AT = 1024  # stale heap entries tolerated beyond twice the members indexed


class DueIndex(Generic[K]):
    """Members by the watermark above which `advance` has work for them.

    >>> index = DueIndex()
    >>> index.set("m1", 500); index.set("m2", 100); index.set("m1", 50); index.set("m3", None)
    >>> index.take_before(200), index.take_before(1000), len(index)
    (['m1', 'm2'], [], 0)
    """

    def __init__(self) -> None:
        self.due: dict[K, int] = {}  # member -> their current due time
        self.heap: list[tuple[int, K]] = []  # (due, member), stale entries dropped lazily

    def __len__(self) -> int:
        return len(self.due)

    def set(self, key: K, due_ms: int | None) -> None:
        """`key` has work once the watermark passes `due_ms` (None: no work)."""
        if due_ms is None:
            self.due.pop(key, None)
            return
        if self.due.get(key) == due_ms:
            return
        self.due[key] = due_ms
        heapq.heappush(self.heap, (due_ms, key))
        if len(self.heap) > 2 * len(self.due) + COMPACT_AT:
            self.heap = [(due, k) for k, due in self.due.items()]
            heapq.heapify(self.heap)

    def setdefault(self, key: K, due_ms: int | None) -> None:
        """`set`, unless `key` is indexed already (what is indexed is newer)."""
        if key not in self.due:
            self.set(key, due_ms)

    def take_before(self, watermark_ms: int) -> list[K]:
        """The members with work below `watermark_ms`, sorted, no longer indexed."""
        heap, due, taken = self.heap, self.due, []
        while heap and heap[0][0] < watermark_ms:
            at, key = heapq.heappop(heap)
            if due.get(key) == at:
                del due[key]
                taken.append(key)
        return sorted(taken)
