"""Training examples built by replaying labels through the incremental feature state.

Each label is featurised from the state *before* it is counted, then counted: exactly what
the near-line updater sees, so a model trained here is trained on serving-time features.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import numpy as np
from tqdm import tqdm

from models.catalog import Catalog
from models.features import (
    Profile,
    Seen,
    block_features,
    member_course_features,
    row_skill_cosines,
    rows_features,
    stacked,
)
from models.history import CourseStats, MemberHistory, count, decay, observe
from models.spec import FeatureSpec
from schemas import Label, Member


@dataclass
class Examples:
    """Feature matrices of n labelled impressions. x_c and x_m are per-entity tables
    indexed by `course` and `member`, so member and course vectors are stored once."""

    x_mc: np.ndarray  # (n, d_mc)
    y: np.ndarray  # (n,) 0/1 floats
    member: np.ndarray  # (n,) row of x_m / member_ids
    course: np.ndarray  # (n,) row of x_c / course_ids
    x_m: np.ndarray  # (n_members, d_m)
    x_c: np.ndarray  # (n_courses, d_c)
    member_ids: list[str]
    course_ids: list[str]
    ts: np.ndarray  # (n,) impression time, epoch ms
    label_ts: np.ndarray  # (n,) when the label became final (what a refit may use)

    def __len__(self) -> int:
        return len(self.y)

    @classmethod
    def concat(cls, parts: list[Examples]) -> Examples:
        """Examples of several replays of one state, entity tables merged by id."""
        ids = list(dict.fromkeys(m for ex in parts for m in ex.member_ids))
        at = {m: i for i, m in enumerate(ids)}
        x_m = np.zeros((len(ids), parts[0].x_m.shape[1]))
        member = []
        for ex in parts:
            own = np.array([at[m] for m in ex.member_ids], np.intp)
            x_m[own] = ex.x_m
            member.append(own[ex.member])
        joined = {
            name: np.concatenate([getattr(ex, name) for ex in parts])
            for name in ("x_mc", "y", "course", "ts", "label_ts")
        }
        last = parts[-1]  # the catalog only grows
        return cls(
            member=np.concatenate(member).astype(np.intp),
            x_m=x_m,
            member_ids=ids,
            x_c=last.x_c,
            course_ids=last.course_ids,
            **joined,
        )

    def subset(self, rows: np.ndarray) -> Examples:
        """The examples at `rows`, sharing the entity tables (e.g. a time split)."""
        return replace(
            self,
            x_mc=self.x_mc[rows],
            y=self.y[rows],
            member=self.member[rows],
            course=self.course[rows],
            ts=self.ts[rows],
            label_ts=self.label_ts[rows],
        )


@dataclass
class FeatureState:
    """Catalog, profiles and per-member / per-course counters, as a worker holds them.

    >>> from schemas import Course
    >>> spec = FeatureSpec(categories=("data",))
    >>> state = FeatureState(Catalog(spec, [Course(course_id="c1", title="SQL",
    ...     skills={"sql": 1.0}, category="data", difficulty="beginner", duration_s=600,
    ...     released_at=1767225600000)]))
    >>> label = Label(member_id="m1", course_id="c1", channel="feed", label=1,
    ...     source="click", impression_ts=1767225600000, label_ts=1767225660000, rule="click")
    >>> before = state.features(label)[1]
    >>> state.learn(label)
    >>> float(before[9]), float(state.features(label)[1][9])  # log ImpCount
    (0.0, 0.693...)
    """

    catalog: Catalog
    profiles: dict[str, Profile] = field(default_factory=dict)
    histories: dict[str, MemberHistory] = field(default_factory=dict)
    stats: dict[str, CourseStats] = field(default_factory=dict)

    def profile(self, member_id: str) -> Profile:
        """The member's profile; a member without a profile record has an empty one."""
        p = self.profiles.get(member_id)
        if p is None:
            p = self.profiles[member_id] = Profile.of(
                self.catalog.spec, Member(member_id=member_id, skills={})
            )
        return p

    def history(self, member_id: str) -> MemberHistory:
        h = self.histories.get(member_id)
        return MemberHistory.empty(self.catalog.spec.n_categories) if h is None else h

    def features(self, label: Label) -> tuple[int, np.ndarray]:
        """(catalog row, x_mc) of a label from the current state."""
        row = self.catalog.row(label.course_id)
        x = member_course_features(
            self.catalog,
            np.array([row]),
            self.profile(label.member_id),
            self.history(label.member_id),
            event_ts(label),
        )
        return row, x[0]

    def grid(
        self, member_ids: list[str], rows: list[np.ndarray], ts: list[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """x_mc of several members' candidates in one pass (member i: catalog `rows[i]` at
        `ts[i]`) and the block of each row (see `block_features`)."""
        profiles = [self.profile(m) for m in member_ids]
        return block_features(
            self.catalog, profiles, [self.history(m) for m in member_ids], rows, ts
        )

    def snapshot(self) -> FeatureState:
        """The state as it stands, kept while learning goes on. Cheap: histories and
        course stats are replaced, never mutated, by `learn`, so only their dicts and the
        catalog's popularity columns are copied; profiles and the rest of the catalog are
        shared, so the catalog must not gain courses while a snapshot is in use."""
        catalog = copy.copy(self.catalog)
        catalog.ctr_logit = catalog.ctr_logit.copy()
        catalog.log_impressions = catalog.log_impressions.copy()
        return FeatureState(catalog, self.profiles, dict(self.histories), dict(self.stats))

    def learn(self, label: Label) -> None:
        """Count a label into the member's history and the course's popularity."""
        catalog = self.catalog
        spec, row, ts = catalog.spec, catalog.index[label.course_id], event_ts(label)
        self.histories[label.member_id] = observe(
            self.history(label.member_id),
            category=int(catalog.category[row]),
            key=int(catalog.keys[row]),
            y=label.label,
            ts=ts,
            half_life_days=spec.half_life_days,
            capacity=spec.history_size,
        )
        s = count(
            self.stats.get(label.course_id, CourseStats()),
            y=label.label,
            ts=ts,
            half_life_days=spec.half_life_days,
        )
        self.stats[label.course_id] = s
        catalog.set_stats(row, s)


def event_ts(label: Label) -> int:
    """When the impression happened (labels without one: when they were made)."""
    return label.label_ts if label.impression_ts is None else label.impression_ts


def in_time_order(labels: Iterable[Label]) -> list[Label]:
    """Labels in the order the near-line updater learns them: by label time."""
    return sorted(labels, key=lambda lb: (lb.label_ts, event_ts(lb)))


_GATHERED = 10  # values gathered per label by `build_examples`, in the order unpacked there


def build_examples(
    labels: Iterable[Label],
    state: FeatureState,
    progress: bool = False,
    learns: Callable[[Label], bool] | None = None,
) -> tuple[Examples, int]:
    """Replay `labels` in time order through `state`; returns the examples and the number
    of labels skipped because their course is not in the catalog. Every label is
    featurised; only those `learns` accepts (default: all) are counted into the state, so
    held-out labels can be featurised from the others' history without entering it.

    The replay only gathers what each label's member side reads from the state before
    the label is counted (history, popularity); the rows are built afterwards in one
    vectorised `from_parts`, which is what makes training replay cheap per label."""
    catalog = state.catalog
    spec: FeatureSpec = catalog.spec
    gathered, counts = [], []
    member_rows: dict[str, int] = {}
    skipped = 0
    for label in tqdm(in_time_order(labels), disable=not progress, desc="features", unit="lb"):
        row = catalog.index.get(label.course_id)
        if row is None:
            skipped += 1
            continue
        ts, h = event_ts(label), state.history(label.member_id)
        counts.append(h.category_counts)
        gathered.append(
            (
                row,
                member_rows.setdefault(label.member_id, len(member_rows)),
                label.label,
                ts,
                label.label_ts,
                decay(h.updated_at, ts, spec.half_life_days),
                *h.shown(int(catalog.keys[row])),
                float(catalog.ctr_logit[row]),
                float(catalog.log_impressions[row]),
            )
        )
        if learns is None or learns(label):
            state.learn(label)
    member_ids = list(member_rows)
    profiles = [state.profile(m) for m in member_ids]
    cols = list(zip(*gathered, strict=True)) or [()] * _GATHERED
    rows, member, y, ts, label_ts = (np.array(c, np.int64) for c in cols[:5])
    factor, imps, last, ctr_logit, log_impressions = (np.array(c, float) for c in cols[5:])
    n = len(rows)
    seen = Seen.stacked(
        stacked(counts, np.float32, spec.n_categories),
        factor,
        np.arange(n),
        catalog.category[rows],
        imps,
        last,
        ts,
    )
    skill_cos = row_skill_cosines(catalog, profiles, member, rows)
    popularity = ctr_logit, log_impressions
    x_mc = rows_features(catalog, rows, profiles, member, seen, ts, popularity, skill_cos)
    examples = Examples(
        x_mc,
        y.astype(float),
        member.astype(np.intp),
        rows.astype(np.intp),
        np.array([p.x_m for p in profiles]).reshape(-1, spec.dims[1]),
        catalog.x_c.copy(),
        member_ids,
        list(catalog.ids),
        ts,
        label_ts,
    )
    return examples, skipped
