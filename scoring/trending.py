"""Trending in a member's cohort (paper §4.2): what members who share a job title, or an
industry, engaged with lately is a candidate source for the others.

A cohort's state is a decayed count of positive engagements per course, in event time, so
a course clicked by many a week ago fades behind one clicked by a few today. Cohorts are
keyed by a namespaced, normalised name ("title:data engineer"), so spelling variants of a
profile field count as one cohort and a title never collides with an industry. The worker
keeps one `CohortCounts` per cohort in a table (keyed by cohort) and follows it into memory
on every worker; offline evaluation feeds a `Trends` from the same functions.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import orjson

from models.catalog import Catalog
from models.history import course_key, decay, expect_version
from schemas import Member

HALF_LIFE_DAYS = 7.0  # trends are short-lived: a week, not the history's months
FORGOTTEN = 1e-3  # a count faded below this (one click, 10 half-lives on) is dropped
_HEADER = struct.Struct("<BIq")  # version, n_courses, updated_at
KINDS = ("title", "industry")  # the profile fields that make cohorts, in reason order
COHORT_KEYS = 65_536  # profile values whose cohort key is kept (asked per label and list)


@lru_cache(maxsize=COHORT_KEYS)
def cohort_key(kind: str, name: str | None) -> str | None:
    """The cohort of a profile field's value; None for a missing or blank one.

    >>> cohort_key("title", "  Data   Engineer "), cohort_key("industry", " ")
    ('title:data engineer', None)
    """
    normal = " ".join((name or "").casefold().split())
    return f"{kind}:{normal}" if normal else None


def cohorts_of(member: Member | None) -> tuple[str | None, ...]:
    """The member's cohort per kind of `KINDS` (None where the profile has no value)."""
    return tuple(cohort_key(kind, getattr(member, kind, None)) for kind in KINDS)


@dataclass(frozen=True)
class CohortUpdate:
    """One positive engagement for one cohort: what the member's partition tells the
    cohort's partition (the member's profile stays with the member)."""

    cohort: str
    course_id: str
    ts: int

    def to_json(self) -> bytes:
        return orjson.dumps(self.__dict__)  # per positive and cohort

    @classmethod
    def many_from_json(cls, raw: bytes) -> list[CohortUpdate]:
        """The updates of a JSON array of `to_json` objects, in order."""
        return [cls(**d) for d in orjson.loads(raw)]


def cohort_updates(member: Member | None, course_id: str, y: int, ts: int) -> list[CohortUpdate]:
    """The cohort updates of one label: one per cohort of the member, positives only."""
    if not y:
        return []
    return [CohortUpdate(c, course_id, ts) for c in cohorts_of(member) if c is not None]


@dataclass
class CohortCounts:
    """One cohort's decayed positive engagements per course (by course key, sorted),
    as of `updated_at`.

    >>> DAY = 86_400_000
    >>> c = engage(engage(CohortCounts(), "c1", ts=0), "c2", ts=7 * DAY)
    >>> sorted(c.counts.tolist()), CohortCounts.from_bytes(c.to_bytes()) == c
    ([0.5, 1.0], True)
    """

    keys: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0))  # float64
    updated_at: int = 0
    version: int = 1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CohortCounts) and self.to_bytes() == other.to_bytes()

    def to_bytes(self) -> bytes:
        head = _HEADER.pack(self.version, len(self.keys), self.updated_at)
        return head + self.keys.tobytes() + self.counts.tobytes()

    @classmethod
    def from_bytes(cls, raw: bytes) -> CohortCounts:
        version, n, updated_at = _HEADER.unpack_from(raw)
        expect_version("CohortCounts", version)
        keys = np.frombuffer(raw, np.uint64, n, _HEADER.size).copy()
        counts = np.frombuffer(raw, np.float64, n, _HEADER.size + 8 * n).copy()
        return cls(keys, counts, updated_at, version)

    def scores(
        self, catalog: Catalog, ts: int, half_life_days: float = HALF_LIFE_DAYS
    ) -> np.ndarray:
        """Counts faded to `ts` per catalog row; 0 for courses without engagements (and
        courses not in the catalog are left out)."""
        out = np.zeros(len(catalog))
        rows = catalog.rows_of_keys(self.keys)
        known = rows >= 0
        out[rows[known]] = self.counts[known] * decay(self.updated_at, ts, half_life_days)
        return out


def engage(
    c: CohortCounts, course_id: str, *, ts: int, half_life_days: float = HALF_LIFE_DAYS
) -> CohortCounts:
    """Counts after one positive engagement at `ts`; a late one counts as faded to the
    state's time, so the result does not depend on the order engagements arrive in (but
    for counts forgotten on the way). Counts faded below `FORGOTTEN` are dropped, which
    bounds a cohort's record by what it still trends on."""
    key = np.uint64(course_key(course_id))
    updated_at = max(c.updated_at, ts)
    counts = c.counts * decay(c.updated_at, updated_at, half_life_days)  # a copy
    added = decay(ts, updated_at, half_life_days)
    keys = c.keys
    at = int(keys.searchsorted(key))
    if at < len(keys) and keys[at] == key:
        counts[at] += added
    else:
        keys, counts = np.insert(keys, at, key), np.insert(counts, at, added)
    kept = counts >= FORGOTTEN
    return CohortCounts(keys[kept], counts[kept], updated_at, c.version)


class Trends:
    """Every cohort's counts in memory: fed label by label (offline) or from the cohort
    table's changelog (near-line), read as the per-row sources of one member's candidates.

    >>> from models.spec import FeatureSpec
    >>> from schemas import Course
    >>> course = Course(course_id="c1", title="SQL", skills={"sql": 1.0}, category="data",
    ...     difficulty="beginner", duration_s=600, released_at=1767225600000)
    >>> catalog = Catalog(FeatureSpec(), [course])
    >>> trends = Trends()
    >>> trends.learn(Member(member_id="m1", skills={}, title="Analyst"), "c1", y=1, ts=0)
    >>> title, industry = trends.sources(Member(member_id="m2", skills={}, title="analyst"),
    ...     catalog, ts=0)
    >>> title.tolist(), industry
    ([1.0], None)
    """

    def __init__(self) -> None:
        self.cohorts: dict[str, CohortCounts] = {}

    def apply(self, update: CohortUpdate) -> None:
        """Count one update into its cohort (what the worker's cohort agent does)."""
        counts = self.cohorts.get(update.cohort, CohortCounts())
        self.cohorts[update.cohort] = engage(counts, update.course_id, ts=update.ts)

    def learn(self, member: Member | None, course_id: str, y: int, ts: int) -> None:
        """Count one label of `member` into each of their cohorts."""
        for update in cohort_updates(member, course_id, y, ts):
            self.apply(update)

    def sources(
        self, member: Member | None, catalog: Catalog, ts: int
    ) -> tuple[np.ndarray | None, ...]:
        """Per kind of `KINDS`, the member's cohort's scores per catalog row at `ts`; None
        where the member has no such cohort or it has no engagements yet."""
        return tuple(self._scores(cohort, catalog, ts) for cohort in cohorts_of(member))

    def _scores(self, cohort: str | None, catalog: Catalog, ts: int) -> np.ndarray | None:
        counts = self.cohorts.get(cohort) if cohort is not None else None
        return None if counts is None else counts.scores(catalog, ts)
