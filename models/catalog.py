"""Every course's feature row in memory, as matrices, so candidates are scored by indexing."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from models.history import CourseStats, course_key
from models.spec import FeatureSpec
from schemas import DIFFICULTIES, Course


class Catalog:
    """Course rows laid out by a spec: x_c, skill clusters, static attributes and the
    popularity counters, with `course_id -> row`. Rows never move, so indices held
    elsewhere (candidates, coefficient matrices) stay valid as courses are added.
    `version` counts the course writes and `stats_version` the popularity refreshes, so
    whoever derives data from the catalog sees in O(1) that nothing changed (write the
    columns through `upsert_many` and `set_stats` only).

    >>> from schemas import Course
    >>> spec = FeatureSpec(categories=("data",))
    >>> cat = Catalog(spec, [Course(course_id="c1", title="SQL", skills={"sql": 1.0},
    ...     category="data", difficulty="beginner", duration_s=3600, released_at=1767225600000)])
    >>> cat.row("c1"), cat.x_c.shape, round(float(cat.ctr_logit[0]), 3)
    (0, (1, 26), -2.944)
    """

    _COLUMNS = (
        "x_c",
        "skills",
        "category",
        "difficulty",
        "long",
        "released_at",
        "keys",
        "retired",
        "ctr_logit",
        "log_impressions",
    )

    def __init__(self, spec: FeatureSpec, courses: Iterable[Course] = ()):
        self.spec = spec
        self.ids: list[str] = []
        self.titles: list[str] = []  # for reasons ("Because you watched <title>")
        self.index: dict[str, int] = {}
        d_c = spec.dims[0]
        self.x_c = np.zeros((0, d_c))
        self.skills = np.zeros((0, spec.skill_buckets))
        self.category = np.zeros(0, np.intp)
        self.difficulty = np.zeros(0)  # 0 beginner .. 1 advanced
        self.long = np.zeros(0)  # log-duration scaled to ~[0, 1]
        self.released_at = np.zeros(0, np.int64)
        self.keys = np.zeros(0, np.uint64)
        self.retired = np.zeros(0, bool)
        self.ctr_logit = np.zeros(0)
        self.log_impressions = np.zeros(0)
        self._key_order = np.zeros(0, np.intp)  # argsort of keys (see rows_of_keys)
        self.version = 0
        self.stats_version = 0
        self.upsert_many(courses)

    def __len__(self) -> int:
        return len(self.ids)

    def row(self, course_id: str) -> int:
        return self.index[course_id]

    def rows_of_keys(self, keys: np.ndarray) -> np.ndarray:
        """Catalog rows of course keys, -1 for keys of courses not in the catalog. Keys
        never change row, so their sort order is kept until courses are added."""
        if len(self._key_order) != len(self.keys):
            self._key_order = np.argsort(self.keys, kind="stable")
        if not len(self._key_order):
            return np.full(len(keys), -1)
        rows = self._key_order[
            np.minimum(self.keys.searchsorted(keys, sorter=self._key_order), len(self) - 1)
        ]
        return np.where(self.keys[rows] == keys, rows, -1)

    def upsert_many(self, courses: Iterable[Course]) -> None:
        """Add or replace courses in one reallocation (a catalog load or a batch of updates)."""
        new = list({c.course_id: c for c in courses}.values())
        added = [c for c in new if c.course_id not in self.index]
        if added:
            n0 = len(self.ids)
            for i, c in enumerate(added):
                self.index[c.course_id] = n0 + i
                self.ids.append(c.course_id)
                self.titles.append("")  # written with the other columns below
            self._grow(len(added))
            self.keys[n0:] = [course_key(c.course_id) for c in added]
            self.ctr_logit[n0:] = self._logit(self.spec.ctr_prior)
        for c in new:
            self._write(self.index[c.course_id], c)
        self.version += 1

    def upsert(self, course: Course) -> int:
        """Add or replace one course; returns its row."""
        self.upsert_many([course])
        return self.index[course.course_id]

    def set_stats(self, row: int, stats: CourseStats) -> None:
        """Refresh a course's popularity columns from its counters."""
        self.ctr_logit[row] = self._logit(stats.ctr(self.spec.ctr_prior, self.spec.ctr_strength))
        self.log_impressions[row] = math.log1p(stats.impressions)
        self.stats_version += 1

    @staticmethod
    def _logit(p: float) -> float:
        return math.log(p / (1.0 - p))

    def _grow(self, k: int) -> None:
        for name in self._COLUMNS:
            a = getattr(self, name)
            setattr(self, name, np.concatenate([a, np.zeros((k, *a.shape[1:]), a.dtype)]))

    def _write(self, row: int, c: Course) -> None:
        self.titles[row] = c.title
        self.x_c[row] = self.spec.course_vector(c)
        self.skills[row] = self.spec.skill_vector(c.skills)
        self.category[row] = self.spec.category_index(c.category)
        self.difficulty[row] = DIFFICULTIES.index(c.difficulty) / (len(DIFFICULTIES) - 1)
        self.long[row] = min(math.log1p(c.duration_s / 600.0) / math.log1p(60.0), 1.5)
        self.released_at[row] = c.released_at
        self.retired[row] = c.retired
