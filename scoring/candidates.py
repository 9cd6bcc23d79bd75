"""Candidate generation for a block of members (paper §4.2): a few cheap sources over the
in-memory catalog each score some courses, and the union of their best courses, capped,
is what the GLMix scorer ranks. Every source is also a reason (§3.4).

Sources, in the fixed priority order that breaks reason ties: courses similar to recently
engaged ones, each of the member's skills, each followed skill, trending for the member's
title, trending in their industry, new, popular. Two nominate-only rows (overall skill and
followed-skill affinity) add the courses that match many skills a little.

Sources are merged by inverted rank (round robin): each source's k-th live, undismissed
course counts as 1/k (equal scores share the better rank; only a source's first `limit`
courses, in catalog row order among equal scores, take part), a course takes its best
count, and the `limit` best counts (ties in catalog row order) are the candidates. A
course's reason is the source that ranks it best among the candidates (ties: the earlier
source). Sources are read as ranked lists (`scoring.sources`) only as deep as the block
needs: each member starts shallow and goes deeper until the prefixes read decide the
candidates exactly; where a prefix cannot tell a candidate's reason (the candidate may
rank as well past it), the candidates are ranked in full in that source. The heads'
entries are walked in compiled code (`scoring.nomination`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from models.catalog import Catalog
from models.features import NEW_DAYS
from models.history import DAY_MS
from models.spec import bucket
from scoring.nomination import NO_KEY, nominate, rank_in_full
from scoring.reasons import POPULAR, reason_text
from scoring.sources import Ranked, SourceLists, ranked

_DEEPER = 4  # depth factor between two passes over the members not yet decided


@dataclass(frozen=True)
class Signals:
    """What one member's candidates are drawn from: named skills (for the reason text),
    recently engaged courses as (catalog row, title), most recent first, dismissed rows,
    this member's cohort engagement counts per catalog row (None when unknown), and the
    (K, 2) cluster vectors of the skills and followed skills where the caller has them
    encoded already (`models.features.Profile.skill_pair`; None: encoded here)."""

    skills: Mapping[str, float] = field(default_factory=dict)
    followed: tuple[str, ...] = ()
    engaged: tuple[tuple[int, str], ...] = ()
    dismissed: tuple[int, ...] = ()
    trending_title: np.ndarray | None = None
    trending_industry: np.ndarray | None = None
    skill_pair: np.ndarray | None = None


@dataclass(frozen=True)
class Candidates:
    """Catalog rows to score, best-nominated first, the reason sources in priority order,
    each row's reason (an index into `labels`; -1: none applies, "Popular") and its
    (skill, followed-skill) cosines with the member's (K, 2) `skill_pair` of cluster
    vectors, which the scorer's features reuse where its profile has the same pair.

    >>> from models.spec import FeatureSpec
    >>> from schemas import Course
    >>> course = lambda i, skill: Course(course_id=f"c{i}", title=f"C{i}", skills={skill: 1.0},
    ...     category="data", difficulty="beginner", duration_s=600, released_at=1767225600000)
    >>> catalog = Catalog(FeatureSpec(), [course(0, "sql"), course(1, "python")])
    >>> c = generate(catalog, Signals(skills={"sql": 1.0}), ts=1767225600000 + 90 * DAY_MS)
    >>> [catalog.ids[r] for r in c.rows], c.reasons()
    (['c0'], ['Because of your skill sql'])
    """

    rows: np.ndarray
    labels: tuple[str, ...]
    reason: np.ndarray
    skill_cos: np.ndarray
    skill_pair: np.ndarray

    def reasons(self, at: np.ndarray | None = None) -> list[str]:
        """The reason of every candidate, or of the candidates at positions `at`."""
        reason = self.reason if at is None else self.reason[at]
        return self._texts[reason].tolist()

    @cached_property
    def _texts(self) -> np.ndarray:
        """The labels and, last (reason -1), "Popular": a gather gives the texts."""
        return np.array((*self.labels, POPULAR), object)


def generate(catalog: Catalog, signals: Signals, ts: int, limit: int = 1000) -> Candidates:
    """At most `limit` live, undismissed courses for one member at time `ts`."""
    return generate_many(catalog, SourceLists(), [signals], [ts], limit)[0]


class _Block:
    """The sources of a block's members at time `ts[i]`, read from `lists`."""

    def __init__(
        self,
        catalog: Catalog,
        lists: SourceLists,
        signals: Sequence[Signals],
        ts: Sequence[int],
    ):
        self.catalog, self.lists, self.signals, self.ts = catalog, lists, signals, ts
        self._trending: dict[int, Ranked] = {}
        self._labels: dict[int, tuple[str, ...]] = {}
        self._new_at: dict[int, Ranked] = {}
        spec = catalog.spec
        self.pairs = [
            np.stack([spec.skill_vector(s.skills), spec.skill_vector(s.followed)], 1)
            if s.skill_pair is None
            else s.skill_pair
            for s in signals
        ]
        # cosines of every distinct skill row of the catalog with the skills and followed
        # skills of the members that name some: one row per (member, named kind), from one
        # BLAS product for the block (a kind named by none scores 0 and nominates nothing)
        named = np.array([(bool(s.skills), bool(s.followed)) for s in signals], bool)
        self.column = np.full((len(signals), 2), -1, np.int64)
        self.column[named] = np.arange(int(named.sum()))
        pairs = np.stack(self.pairs) if self.pairs else np.zeros((0, spec.skill_buckets, 2))
        self.affinity = pairs.transpose(0, 2, 1)[named] @ lists.skill_rows.T

    def labels(self, i: int) -> tuple[str, ...]:
        """Member i's reason sources in priority order."""
        if i not in self._labels:
            self._labels[i] = self._labels_of(self.signals[i])
        return self._labels[i]

    @staticmethod
    def _labels_of(s: Signals) -> tuple[str, ...]:
        labels = (
            *(f"Because you watched {title}" for _, title in s.engaged),
            *(f"Because of your skill {name}" for name in _own(s)),
            *(f"Because you follow {name}" for name in s.followed),
            *(label for label, c in _trending(s) if c is not None),
            "New",
            POPULAR,
        )
        return tuple(map(reason_text, labels))

    def sources(self, i: int, need: int) -> list[Ranked]:
        """Member i's label sources in priority order, each holding at least its first
        `need` courses where it has them (the two nominate-only ones are `affinity`)."""
        s, buckets = self.signals[i], self.catalog.spec.skill_buckets
        out = [self.lists.neighbours(row, need) for row, _ in s.engaged]
        out += [self.lists.skill(bucket(n, buckets, "skill")) for n in (*_own(s), *s.followed)]
        out += [self._trending_list(c) for _, c in _trending(s) if c is not None]
        new = self._new_at.get(self.ts[i])
        if new is None:
            new = self._new_at[self.ts[i]] = self._new(self.ts[i])
        return [*out, new, self.lists.popular]

    def scores(self, i: int, k: int, rows: np.ndarray) -> np.ndarray:
        """Member i's label source k's scores of catalog `rows`."""
        s, catalog = self.signals[i], self.catalog
        engaged, named = len(s.engaged), (*_own(s), *s.followed)
        if k < engaged:
            return self.lists.similar(s.engaged[k][0])[rows]
        if k < engaged + len(named):
            cluster = bucket(named[k - engaged], catalog.spec.skill_buckets, "skill")
            return catalog.skills[rows, cluster]
        trending = [c for _, c in _trending(s) if c is not None]
        if k < engaged + len(named) + len(trending):
            return np.asarray(trending[k - engaged - len(named)], float)[rows]
        if self.labels(i)[k] == "New":
            age_days = (self.ts[i] - catalog.released_at[rows]) / DAY_MS
            return np.where(age_days >= 0, NEW_DAYS - age_days, 0.0)
        return catalog.log_impressions[rows]

    def _trending_list(self, counts: np.ndarray) -> Ranked:
        r = self._trending.get(id(counts))
        if r is None:
            live = np.flatnonzero(~self.catalog.retired)
            r = self._trending[id(counts)] = ranked(live, np.asarray(counts, float)[live])
        return r

    def _new(self, ts: int) -> Ranked:
        """Courses released within `NEW_DAYS` before `ts`, newest first."""
        released = self.lists.released
        start = released.above(float(ts))
        stop = released.above(float(ts - NEW_DAYS * DAY_MS - 1))
        rows, at = released.rows[start:stop], released.values[start:stop]
        score = NEW_DAYS - (ts - at) / DAY_MS
        return Ranked(rows[score > 0.0], score[score > 0.0])


def _own(s: Signals) -> list[str]:
    """The member's skills, heaviest first."""
    return [name for name, _ in sorted(s.skills.items(), key=lambda kv: -kv[1])]


def _trending(s: Signals) -> tuple[tuple[str, np.ndarray | None], ...]:
    return (
        ("Trending for your job title", s.trending_title),
        ("Trending in your industry", s.trending_industry),
    )


def generate_many(
    catalog: Catalog,
    lists: SourceLists,
    signals: Sequence[Signals],
    ts: Sequence[int],
    limit: int = 1000,
) -> list[Candidates]:
    """Candidates of a block of members (member i at time `ts[i]`), each what it would
    be alone; `lists` follows `catalog` (synced here)."""
    lists.sync(catalog)
    block = _Block(catalog, lists, signals, ts)
    out: list[Candidates | None] = [None] * len(signals)
    live = int(lists.live_of_skill_row.sum())
    depth = {i: _first_depth(live, len(block.labels(i)), limit) for i in range(len(signals))}
    while depth:
        for i, c in _pass(block, depth, limit).items():
            out[i] = c
        depth = {
            i: min(limit, d * _DEEPER) for i, d in depth.items() if out[i] is None and d < limit
        }
    assert all(c is not None for c in out)
    return out  # type: ignore[return-value]


def _first_depth(live: int, n_labels: int, limit: int) -> int:
    """How deep a member's first pass reads. Where every one of the `live` courses fits
    in `limit`, only heads read to their ends decide the candidates: shallower passes
    are wasted."""
    if live <= limit:
        return limit
    return min(limit, max(32, math.ceil(3 * limit / (n_labels + 2))))


def _pass(block: _Block, depth: Mapping[int, int], limit: int) -> dict[int, Candidates]:
    """Candidates of the members in `depth` whose sources read to that depth decide them
    (every member at depth `limit` is decided). Each source list is read once for the
    block, as deep as its deepest reader needs."""
    catalog = block.catalog
    members = list(depth)
    lists: dict[int, tuple[Ranked, int]] = {}  # id -> (list, deepest need)
    source, label, member_sources, need, dismissed = [], [], [0], [], []
    for i in members:
        s = block.signals[i]
        need.append(depth[i] + len(s.dismissed))
        dismissed.extend(s.dismissed)
        for k, r in enumerate(block.sources(i, need[-1])):
            read = lists.setdefault(id(r), (r, need[-1]))
            if read[1] < need[-1]:
                lists[id(r)] = (r, need[-1])
            source.append(id(r))
            label.append(k)
        member_sources.append(len(source))
    at = {key: at for at, key in enumerate(lists)}
    read = [(r, r.end(deepest)) for r, deepest in lists.values()]
    labels = {i: block.labels(i) for i in members}
    n_labels = max(map(len, labels.values())) + 1
    decided, bounds, rows, keys, affinity, unsettled, in_head, left = nominate(
        np.concatenate([np.zeros(0, np.intp), *(r.rows[:end] for r, end in read)]).astype(
            np.int64, copy=False
        ),
        np.concatenate([np.zeros(0), *(r.values[:end] for r, end in read)]),
        np.cumsum([0, *(end for _, end in read)], dtype=np.int64),
        np.array([end < len(r) or not r.complete for r, end in read], bool),
        np.array([at[key] for key in source], np.int64),
        np.array(label, np.int64),
        np.array(member_sources, np.int64),
        np.array(members, np.int64),
        block.affinity,
        block.lists.skill_row_of,
        block.lists.live_of_skill_row,
        block.column,
        np.array(need, np.int64),
        catalog.retired,
        np.array(dismissed, np.int64),
        np.cumsum([0, *(len(block.signals[i].dismissed) for i in members)], dtype=np.int64),
        limit,
        n_labels,
    )
    rows = rows.astype(np.intp, copy=False)
    reason = np.where(keys == NO_KEY, -1, keys % n_labels)
    out = {}
    bounds, decided, unsettled = bounds.tolist(), decided.tolist(), unsettled.tolist()
    for j, i in enumerate(members):
        if not decided[j]:
            continue
        cand, cos = rows[bounds[j] : bounds[j + 1]], affinity[bounds[j] : bounds[j + 1]]
        if unsettled[j]:  # rank the candidates in full in the heads that cannot tell
            best_key = keys[bounds[j] : bounds[j + 1]]  # lowered in place
            worst = best_key.max() // n_labels
            for g in range(member_sources[j], member_sources[j + 1]):
                if not left[g] or in_head[g] >= worst:
                    continue
                rank_in_full(block.scores(i, label[g], cand), best_key, label[g], n_labels)
            reason_i = np.where(best_key == NO_KEY, -1, best_key % n_labels)
        else:
            reason_i = reason[bounds[j] : bounds[j + 1]]
        out[i] = Candidates(cand, labels[i], reason_i, cos, block.pairs[i])
    return out
