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
rank as well past it), the candidates are ranked in full in that source.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from models.catalog import Catalog
from models.features import NEW_DAYS
from models.history import DAY_MS
from models.spec import bucket
from scoring.reasons import POPULAR, reason_text
from scoring.sources import Ranked, SourceLists, ranked

_NONE = np.iinfo(np.int32).max  # no rank / no candidate position
_DEEPER = 4  # depth factor between two passes over the members not yet decided
_PART = 16  # members ranked together: their per-entry arrays stay in cache
_NOTHING = Ranked(np.zeros(0, np.intp), np.zeros(0))


@dataclass(frozen=True)
class Signals:
    """What one member's candidates are drawn from: named skills (for the reason text),
    recently engaged courses as (catalog row, title), most recent first, dismissed rows, and
    this member's cohort engagement counts per catalog row (None when unknown)."""

    skills: Mapping[str, float] = field(default_factory=dict)
    followed: tuple[str, ...] = ()
    engaged: tuple[tuple[int, str], ...] = ()
    dismissed: tuple[int, ...] = ()
    trending_title: np.ndarray | None = None
    trending_industry: np.ndarray | None = None


@dataclass(frozen=True)
class Candidates:
    """Catalog rows to score, best-nominated first, the reason sources in priority order
    and each row's reason (an index into `labels`; -1: none applies, "Popular").

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

    def reasons(self, at: np.ndarray | None = None) -> list[str]:
        """The reason of every candidate, or of the candidates at positions `at`."""
        reason = self.reason if at is None else self.reason[at]
        return [self.labels[r] if r >= 0 else POPULAR for r in reason.tolist()]


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
        self._affinity: dict[int, np.ndarray] = {}
        self._labels: dict[int, tuple[str, ...]] = {}
        self.live = ~catalog.retired

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
        """Member i's label sources in priority order, then the two nominate-only ones,
        each holding at least its first `need` courses where it has them."""
        s, buckets = self.signals[i], self.catalog.spec.skill_buckets
        out = [self.lists.neighbours(row, need) for row, _ in s.engaged]
        out += [self.lists.skill(bucket(n, buckets, "skill")) for n in (*_own(s), *s.followed)]
        out += [self._trending_list(c) for _, c in _trending(s) if c is not None]
        out += [self._new(self.ts[i]), self.lists.popular]
        affinity = self.affinity(i)
        for k, named in enumerate((s.skills, s.followed)):  # no names: no affinity
            out.append(_top(affinity[:, k], self.live, need) if named else _NOTHING)
        return out

    def affinity(self, i: int) -> np.ndarray:
        """(n, 2) cosines of every course with the member's skills and followed skills."""
        a = self._affinity.get(i)
        if a is None:
            s, spec = self.signals[i], self.catalog.spec
            pair = np.stack([spec.skill_vector(s.skills), spec.skill_vector(s.followed)], 1)
            a = self._affinity[i] = self.catalog.skills @ pair
        return a

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


def _top(values: np.ndarray, live: np.ndarray, need: int) -> Ranked:
    """At least the first `need` of a dense score vector's ranked list, and their ties (a
    partition, then a sort of what it kept)."""
    positive = np.flatnonzero((values > 0.0) & live)
    if len(positive) <= need:
        return ranked(positive, values[positive])
    v = values[positive]
    cut = -np.partition(-v, need - 1)[need - 1]  # the need-th best score
    kept = positive[v >= cut]
    r = ranked(kept, values[kept])
    return Ranked(r.rows, r.values, False)


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
    depth = {
        i: min(limit, max(32, math.ceil(2 * limit / (len(block.labels(i)) + 2))))
        for i in range(len(signals))
    }
    while depth:
        members = list(depth)
        for first in range(0, len(members), _PART):
            part = {i: depth[i] for i in members[first : first + _PART]}
            for i, c in _pass(block, part, limit).items():
                out[i] = c
        depth = {
            i: min(limit, d * _DEEPER) for i, d in depth.items() if out[i] is None and d < limit
        }
    assert all(c is not None for c in out)
    return out  # type: ignore[return-value]


def _pass(block: _Block, depth: Mapping[int, int], limit: int) -> dict[int, Candidates]:
    """Candidates of the members in `depth` whose sources read to that depth decide them
    (every member at depth `limit` is decided)."""
    catalog = block.catalog
    members = list(depth)
    n, p = len(catalog), len(members)
    parts: list[Ranked] = []
    seg_member, seg_label, seg_left = [], [], []
    blocked = np.zeros((p, n), bool)
    blocked[:, catalog.retired] = True
    labels = {}
    for j, i in enumerate(members):
        dismissed = block.signals[i].dismissed
        blocked[j, list(dismissed)] = True
        need = depth[i] + len(dismissed)
        labels[i] = block.labels(i)
        for k, source in enumerate(block.sources(i, need)):
            head, left = source.head(need)
            parts.append(head)
            seg_member.append(j)
            seg_label.append(k if k < len(labels[i]) else -1)
            seg_left.append(left)
    lengths = np.array([len(r) for r in parts], np.intp)
    member = np.array(seg_member, np.intp)
    label = np.array(seg_label, np.intp)
    seg_of = np.repeat(np.arange(len(parts)), lengths)
    rows = np.concatenate([np.zeros(0, np.intp), *(r.rows for r in parts)])
    values = np.concatenate([np.zeros(0), *(r.values for r in parts)])
    flat = member[seg_of] * n + rows  # (member, course) as one index of the block's (p, n)
    # live, undismissed entries
    keep = ~blocked.ravel()[flat]
    flat, values, seg_of = flat[keep], values[keep], seg_of[keep]
    if not len(flat):
        return {i: Candidates(flat, labels[i], flat) for i in members}
    count = np.bincount(seg_of, minlength=len(parts))
    first = (np.cumsum(count) - count).astype(np.int32)
    index = np.arange(len(flat), dtype=np.int32)
    first_of = first[seg_of]
    group = np.ones(len(flat), bool)
    group[1:] = (values[1:] != values[:-1]) | (seg_of[1:] != seg_of[:-1])
    group_start = np.maximum.accumulate(np.where(group, index, 0))
    # nomination: each course's best rank among a source's first `limit`; exact below
    # the shallowest source left out short of `limit` (what it left out ranks lower)
    nominating = index - first_of < limit
    rank = group_start - first_of + 1
    best = np.full((p, n), _NONE, np.int32)
    np.minimum.at(best.ravel(), flat[nominating], rank[nominating])
    short = np.array(seg_left) & (count < limit)
    cut = np.full(p, _NONE, np.int64)
    np.minimum.at(cut, member[short], count[short] + 1)
    decided = ((best < cut[:, None]).sum(axis=1) >= limit) | (cut == _NONE)
    listed = best < _NONE
    listed[~decided] = False
    # candidates: best ranks first, then catalog rows; none past the limit-th's rank
    owner, course = np.nonzero(listed)
    rank_of = best[owner, course]
    counts = np.bincount(owner * (limit + 1) + rank_of, minlength=p * (limit + 1))
    reached = np.cumsum(counts.reshape(p, limit + 1), axis=1) >= limit
    threshold = np.where(reached.any(axis=1), np.argmax(reached, axis=1), limit)
    kept = rank_of <= threshold[owner]
    owner, course, rank_of = owner[kept], course[kept], rank_of[kept]
    small = np.uint16 if limit < 2**16 else np.int64  # 16-bit keys: a radix sort
    by_rank = np.argsort(rank_of.astype(small), kind="stable")
    by_owner = by_rank[np.argsort(owner[by_rank].astype(np.uint16), kind="stable")]
    owner, course = owner[by_owner], course[by_owner]
    sizes = np.bincount(owner, minlength=p)
    within = np.arange(len(owner)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    chosen = within < limit
    owner, course, within = owner[chosen], course[chosen], within[chosen]
    at = np.full((p, n), -1, np.int32)
    at[owner, course] = within
    # reasons: each candidate's rank among the candidates in every label source's head;
    # past a head that left courses out, a course ranks below all the head's candidates
    candidate = (at.ravel()[flat] >= 0) & (label >= 0)[seg_of]
    ahead = np.cumsum(candidate, dtype=np.int32) - candidate
    at_candidate = np.flatnonzero(candidate)
    seg_c = seg_of[at_candidate]
    crank = ahead[group_start[at_candidate]] - ahead[first[seg_c]] + 1
    n_labels = max(map(len, labels.values())) + 1
    none = np.iinfo(np.int64).max
    key = np.full((p, n), none, np.int64)
    np.minimum.at(key.ravel(), flat[at_candidate], crank * n_labels + label[seg_c])
    in_head = np.bincount(seg_c, minlength=len(parts))
    open_label = np.array(seg_left) & (label >= 0)
    floor = np.full(p, none, np.int64)
    np.minimum.at(floor, member[open_label], in_head[open_label] + 1)
    k = key.ravel()[owner * n + course]
    unsettled = np.bincount(owner[k // n_labels >= floor[owner]], minlength=p) > 0
    out = {}
    ends = np.cumsum(np.bincount(owner, minlength=p)).tolist()
    for j, i in enumerate(members):
        if not decided[j]:
            continue
        lo, hi = ends[j - 1] if j else 0, ends[j]
        cand, best_key = course[lo:hi], k[lo:hi]
        if unsettled[j]:  # rank the candidates in full in the heads that cannot tell
            worst = best_key.max() // n_labels
            for g in np.flatnonzero(open_label & (member == j) & (in_head < worst)).tolist():
                v = block.scores(i, label[g], cand)
                applies = v > 0.0
                ranked_v = np.sort(v[applies])
                crank = len(ranked_v) - np.searchsorted(ranked_v, v, side="right") + 1
                best_key = np.where(
                    applies, np.minimum(best_key, crank * n_labels + label[g]), best_key
                )
        out[i] = Candidates(cand, labels[i], np.where(best_key == none, -1, best_key % n_labels))
    return out
