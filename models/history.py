"""Incremental feature state: what a member has engaged with and been shown, and how each
course performs. Updated per label by pure functions; each state is a small versioned
dataclass with a numpy-buffer encoding, because it lives in RocksDB tables.

Features of a label are always computed from the state *before* that label is counted, in
training replay and near-line alike, so both see the same numbers.
"""

from __future__ import annotations

import hashlib
import math
import struct
from dataclasses import dataclass, field

import numpy as np

DAY_MS = 86_400_000
_MEMBER_HEADER = struct.Struct("<BHHq")  # version, n_categories, n_courses, updated_at
_COURSE_HEADER = struct.Struct("<Bddq")  # version, impressions, clicks, updated_at


def course_key(course_id: str) -> int:
    """64-bit stable key of a course id: compact in state, collisions negligible."""
    return int.from_bytes(hashlib.blake2b(course_id.encode(), digest_size=8).digest(), "little")


def expect_version(kind: str, version: int, supported: int = 1) -> None:
    """Refuse stored state of a layout this code cannot read (ValueError, one line)."""
    if version != supported:
        raise ValueError(f"{kind} version {version} is not supported (expected {supported})")


def decay(updated_at: int, ts: int, half_life_days: float) -> float:
    """Factor by which counts kept since `updated_at` have faded at `ts` (never grows)."""
    return 0.5 ** (max(ts - updated_at, 0) / (half_life_days * DAY_MS))


@dataclass
class MemberHistory:
    """One member's decayed positive engagement per category and the last
    `history_size` courses shown to them (ImpCount, LastSeen), sorted by course key.

    >>> h = MemberHistory.empty(3)
    >>> h = observe(h, category=1, key=course_key("c1"), y=1, ts=DAY_MS, half_life_days=30,
    ...             capacity=64)
    >>> h.category_counts.tolist(), h.imp_counts.tolist()
    ([0.0, 1.0, 0.0], [1])
    >>> MemberHistory.from_bytes(h.to_bytes()) == h
    True
    """

    category_counts: np.ndarray  # float32, decayed to `updated_at`
    course_keys: np.ndarray  # uint64, sorted
    imp_counts: np.ndarray  # uint32
    last_seen: np.ndarray  # int64 epoch ms
    updated_at: int = 0
    version: int = field(default=1)

    @classmethod
    def empty(cls, n_categories: int) -> MemberHistory:
        return cls(
            np.zeros(n_categories, np.float32),
            np.zeros(0, np.uint64),
            np.zeros(0, np.uint32),
            np.zeros(0, np.int64),
        )

    def shown(self, key: int) -> tuple[int, float]:
        """(times shown, last shown epoch ms; -inf if never) of one course key."""
        keys = self.course_keys
        at = int(keys.searchsorted(np.uint64(key)))
        if at < len(keys) and keys[at] == key:
            return int(self.imp_counts[at]), float(self.last_seen[at])
        return 0, -math.inf

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MemberHistory) and self.to_bytes() == other.to_bytes()

    def to_bytes(self) -> bytes:
        head = _MEMBER_HEADER.pack(
            self.version, len(self.category_counts), len(self.course_keys), self.updated_at
        )
        arrays = (self.category_counts, self.course_keys, self.imp_counts, self.last_seen)
        return head + b"".join(a.tobytes() for a in arrays)

    @classmethod
    def from_bytes(cls, raw: bytes) -> MemberHistory:
        version, n_cat, n, updated_at = _MEMBER_HEADER.unpack_from(raw)
        expect_version("MemberHistory", version)
        at = _MEMBER_HEADER.size
        arrays = []
        for dtype, count in ((np.float32, n_cat), (np.uint64, n), (np.uint32, n), (np.int64, n)):
            arrays.append(np.frombuffer(raw, dtype, count, at).copy())
            at += np.dtype(dtype).itemsize * count
        return cls(*arrays, updated_at=updated_at, version=version)


def observe(
    h: MemberHistory,
    *,
    category: int,
    key: int,
    y: int,
    ts: int,
    half_life_days: float,
    capacity: int,
) -> MemberHistory:
    """History after one labelled impression; the least recently seen course is forgotten
    when more than `capacity` are kept."""
    counts = h.category_counts * np.float32(decay(h.updated_at, ts, half_life_days))
    counts[category] += y
    keys, imps, seen = h.course_keys, h.imp_counts, h.last_seen
    at = int(keys.searchsorted(np.uint64(key)))
    if at < len(keys) and keys[at] == key:
        imps, seen = imps.copy(), seen.copy()
        imps[at] += 1
        seen[at] = max(int(seen[at]), ts)
    else:
        keys, imps, seen = _insert(keys, at, key), _insert(imps, at, 1), _insert(seen, at, ts)
        if len(keys) > capacity:
            drop = int(np.argmin(seen))
            keys, imps, seen = (np.delete(a, drop) for a in (keys, imps, seen))
    # The constructor, not `dataclasses.replace`: this runs for every label.
    return MemberHistory(counts, keys, imps, seen, max(h.updated_at, ts), h.version)


@dataclass(frozen=True)
class CourseStats:
    """Decayed impression and click counts of one course, for a smoothed CTR.

    >>> s = count(CourseStats(), y=1, ts=0, half_life_days=30)
    >>> round(s.ctr(prior=0.05, strength=20), 4), CourseStats.from_bytes(s.to_bytes()) == s
    (0.0952, True)
    """

    impressions: float = 0.0
    clicks: float = 0.0
    updated_at: int = 0
    version: int = 1

    def ctr(self, prior: float, strength: float) -> float:
        """CTR shrunk toward `prior` as if `strength` impressions had been seen at it."""
        return (self.clicks + prior * strength) / (self.impressions + strength)

    def to_bytes(self) -> bytes:
        return _COURSE_HEADER.pack(self.version, self.impressions, self.clicks, self.updated_at)

    @classmethod
    def from_bytes(cls, raw: bytes) -> CourseStats:
        version, impressions, clicks, updated_at = _COURSE_HEADER.unpack(raw)
        expect_version("CourseStats", version)
        return cls(impressions, clicks, updated_at, version)


def count(s: CourseStats, *, y: int, ts: int, half_life_days: float) -> CourseStats:
    """Stats after one labelled impression of the course."""
    f = decay(s.updated_at, ts, half_life_days)
    return CourseStats(s.impressions * f + 1.0, s.clicks * f + y, max(s.updated_at, ts), s.version)


def _insert(a: np.ndarray, at: int, value: int) -> np.ndarray:
    """`np.insert` for one value into a 1-d array, without its generic overhead (it was a
    third of feature building: `observe` runs for every label)."""
    out = np.empty(len(a) + 1, a.dtype)
    out[:at], out[at], out[at + 1 :] = a[:at], value, a[at:]
    return out
