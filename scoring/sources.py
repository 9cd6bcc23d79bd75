"""Candidate sources as ranked lists: each source's live courses in its rank order (score
descending, catalog row ascending among equal scores), so a block of members reads the
best courses of a source by slicing instead of ranking the whole catalog per member.

The lists that depend on the catalog alone (per skill cluster, by release time, by
popularity, and the courses similar to each course for "Because you watched") are kept
here and patched when a course or its popularity changes; `SourceLists.sync` finds the
changed rows by comparing the catalog with the copy the lists were built from, once the
catalog's version counters say that something changed.
Neighbour lists are built when first read and hold a prefix of `depth` courses.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from models.catalog import Catalog

_EMPTY = np.zeros(0, np.intp)
_PATCHES = 64  # changed courses patched one by one; more: the list is ranked anew


@dataclass(frozen=True)
class Ranked:
    """Courses of one source best first and their scores; `complete` when every live
    course the source scores above zero is listed (else this is a prefix of that list)."""

    rows: np.ndarray
    values: np.ndarray
    complete: bool = True

    def __len__(self) -> int:
        return len(self.rows)

    @cached_property
    def ascending(self) -> np.ndarray:
        """Minus the scores: ascending, for `searchsorted`."""
        return -self.values

    def above(self, value: float) -> int:
        """How many courses score above `value`."""
        return int(np.searchsorted(self.ascending, -value))

    def head(self, need: int) -> tuple[Ranked, bool]:
        """The first `need` courses and any tied with the last of them (a head never
        splits equal scores, so what it leaves out scores strictly less), and whether
        courses of the source are left out."""
        end = self.end(need)
        if end == len(self):
            return self, not self.complete
        return Ranked(self.rows[:end], self.values[:end], False), True

    def end(self, need: int) -> int:
        """Where the head of `need` courses ends (see `head`)."""
        if len(self.rows) <= need:
            return len(self.rows)
        if self.values[need] != self.values[need - 1]:  # no tie across the cut: the rule
            return need
        return int(self.ascending.searchsorted(-self.values[need - 1], side="right"))


def ranked(rows: np.ndarray, values: np.ndarray, depth: int | None = None) -> Ranked:
    """The positive entries of (rows, values) in rank order: with `depth`, the first
    `depth` and the courses tied with the last of them.

    >>> r = ranked(np.array([0, 1, 2, 3, 4]), np.array([0.5, 0.0, 0.9, 0.5, 0.1]), depth=2)
    >>> r.rows.tolist(), r.complete
    ([2, 0, 3], False)
    """
    positive = values > 0.0
    rows, values = rows[positive], values[positive]
    order = np.lexsort((rows, -values))
    r = Ranked(rows[order], values[order])
    return r if depth is None else r.head(depth)[0]


def _patched(r: Ranked, row: int, value: float | None) -> Ranked:
    """`r` after course `row` changed to `value` (None: no longer listed). A prefix gains
    the course where it ranks before the prefix's last course or ties with it."""
    keep = r.rows != row
    if value is None and keep.all():
        return r
    rows, values = r.rows[keep], r.values[keep]
    if value is not None:
        at = int(np.count_nonzero((values > value) | ((values == value) & (rows < row))))
        if r.complete or at < len(rows) or (len(rows) and values[-1] == value):
            rows, values = np.insert(rows, at, row), np.insert(values, at, value)
    return Ranked(rows, values, r.complete)


class SourceLists:
    """The catalog-derived ranked lists of the candidate sources.

    >>> from models.spec import FeatureSpec, bucket
    >>> from schemas import Course
    >>> course = lambda i, skills: Course(course_id=f"c{i}", title=f"C{i}", category="data",
    ...     skills=dict.fromkeys(skills, 1.0), difficulty="beginner", duration_s=600,
    ...     released_at=1767225600000 + i)
    >>> catalog = Catalog(FeatureSpec(), [course(0, ["sql"]), course(1, ["sql", "python"])])
    >>> lists = SourceLists()
    >>> lists.sync(catalog)
    >>> lists.skill(bucket("sql", 16, "skill")).rows.tolist(), lists.released.rows.tolist()
    ([0, 1], [1, 0])
    >>> catalog.upsert(course(2, ["sql"]))
    2
    >>> lists.sync(catalog)
    >>> lists.skill(bucket("sql", 16, "skill")).rows.tolist(), lists.neighbours(2).rows.tolist()
    ([0, 2, 1], [0, 1])
    """

    def __init__(self, depth: int = 1100):
        self.depth = depth
        self._catalog: Catalog | None = None
        self._versions = (-1, -1)
        self._skills = np.zeros((0, 0))
        self.skill_rows = np.zeros((0, 0))  # the catalog's distinct skill rows
        self.skill_row_of = _EMPTY  # each course's row in `skill_rows`
        self.live_of_skill_row = _EMPTY  # how many live courses have each skill row
        self._retired = np.zeros(0, bool)
        self._released_at = np.zeros(0, np.int64)
        self._by_skill: list[Ranked] = []
        self.released = Ranked(_EMPTY, np.zeros(0))  # values: release time (ms)
        self.popular = Ranked(_EMPTY, np.zeros(0))  # values: log impressions
        self._log_impressions = np.zeros(0)
        self._neighbours: dict[int, Ranked] = {}

    def sync(self, catalog: Catalog) -> None:
        """Follow the catalog: rebuild on a new catalog, else patch the changed rows (none
        to look for while its version counters stand still)."""
        versions = (catalog.version, catalog.stats_version)
        if catalog is self._catalog and versions == self._versions:
            return
        self._versions = versions
        if catalog is not self._catalog or catalog.skills.shape[1] != self._skills.shape[1]:
            self._rebuild(catalog)
            return
        n0 = len(self._retired)
        if (
            len(catalog) == n0
            and _same(catalog.skills, self._skills)
            and _same(catalog.retired, self._retired)
        ):
            if not _same(catalog.released_at, self._released_at):
                self._sync_rows(catalog, n0)
            self._sync_popular(catalog)
            return
        self._sync_rows(catalog, n0)
        self._sync_popular(catalog)

    def _sync_rows(self, catalog: Catalog, n0: int) -> None:
        changed = np.flatnonzero(
            (catalog.skills[:n0] != self._skills).any(axis=1)
            | (catalog.retired[:n0] != self._retired)
            | (catalog.released_at[:n0] != self._released_at)
        )
        self._copy(catalog)
        for row in [*changed.tolist(), *range(n0, len(catalog))]:
            self._patch(row)

    def _sync_popular(self, catalog: Catalog) -> None:
        """Follow the popularity counters, which change with every label: patch the few
        courses changed since the last read, re-rank when many did."""
        counts = catalog.log_impressions
        if _same(counts, self._log_impressions):
            return
        n0 = len(self._log_impressions)
        changed = [*np.flatnonzero(counts[:n0] != self._log_impressions).tolist()]
        changed += range(n0, len(counts))
        self._log_impressions = counts.copy()
        if len(changed) > _PATCHES:
            live = np.flatnonzero(~self._retired)
            self.popular = ranked(live, counts[live])
            return
        for row in changed:
            self.popular = _patched(self.popular, row, _score(counts[row], not self._retired[row]))

    def skill(self, cluster: int) -> Ranked:
        """Courses by their weight in a skill cluster."""
        return self._by_skill[cluster]

    def neighbours(self, row: int, need: int = 0) -> Ranked:
        """Courses by skill cosine with course `row` (itself left out), at least `need`
        of them unless fewer are similar at all."""
        r = self._neighbours.get(row)
        if r is None or (not r.complete and len(r) < max(need, 1)):
            r = self._neighbours[row] = ranked(
                np.arange(len(self._retired)), self.similar(row), max(self.depth, need)
            )
        return r

    def similar(self, row: int) -> np.ndarray:
        """Skill cosines of every course with course `row`, 0 for itself and for retired
        courses (one BLAS product, the same whichever list or patch asks)."""
        assert self._catalog is not None
        skills = self._catalog.skills
        similar = skills @ skills[row]
        similar[row] = 0.0
        similar[self._retired] = 0.0
        return similar

    def _copy(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._skills = catalog.skills.copy()
        self.skill_rows, self.skill_row_of = _distinct_rows(self._skills)
        self._retired = catalog.retired.copy()
        self.live_of_skill_row = np.bincount(
            self.skill_row_of[~self._retired], minlength=len(self.skill_rows)
        )
        self._released_at = catalog.released_at.copy()

    def _rebuild(self, catalog: Catalog) -> None:
        self._copy(catalog)
        live = np.flatnonzero(~self._retired)
        self._by_skill = [
            ranked(live, self._skills[live, k]) for k in range(catalog.skills.shape[1])
        ]
        released = self._released_at[live]
        order = np.lexsort((live, -released))
        self.released = Ranked(live[order], released[order].astype(float))
        self._log_impressions = catalog.log_impressions.copy()
        self.popular = ranked(live, self._log_impressions[live])
        self._neighbours.clear()

    def _patch(self, row: int) -> None:
        """Course `row` changed (or was added): every list it is or should be in."""
        live = not self._retired[row]
        for k, r in enumerate(self._by_skill):
            self._by_skill[k] = _patched(r, row, _score(self._skills[row, k], live))
        released = float(self._released_at[row])  # any time ranks, 0 and negative too
        self.released = _patched(self.released, row, released if live else None)
        if row < len(self._log_impressions):  # (added courses: `_sync_popular`)
            self.popular = _patched(self.popular, row, _score(self._log_impressions[row], live))
        self._neighbours.pop(row, None)
        if self._neighbours:
            skills = self._skills  # cosines are symmetric: row's own products serve all
            cosines = skills @ skills[row]
            for other, r in self._neighbours.items():
                self._neighbours[other] = _patched(r, row, _score(cosines[other], live))


def _distinct_rows(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a matrix and each row's index among them: courses of equal
    skills score alike in any product, which then needs a column per distinct row only."""
    m = np.ascontiguousarray(m)
    _, first, of = np.unique(
        m.view(f"V{m.itemsize * m.shape[1]}").ravel(), return_index=True, return_inverse=True
    )
    return m[first], of.reshape(-1).astype(np.intp, copy=False)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b))


def _score(value: float, live: bool) -> float | None:
    """A course's listed score in a source; None where the source leaves it out."""
    return float(value) if live and value > 0.0 else None
