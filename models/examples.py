"""Training examples built by replaying labels through the incremental feature state.

Each label is featurised from the state *before* it is counted, then counted: exactly what
the near-line updater sees, so a model trained here is trained on serving-time features.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np
from tqdm import tqdm

from models.catalog import Catalog
from models.features import Profile, member_course_features
from models.history import CourseStats, MemberHistory, count, observe
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

    def learn(self, label: Label) -> None:
        """Count a label into the member's history and the course's popularity."""
        spec, row, ts = self.catalog.spec, self.catalog.row(label.course_id), event_ts(label)
        self.histories[label.member_id] = observe(
            self.history(label.member_id),
            category=int(self.catalog.category[row]),
            key=int(self.catalog.keys[row]),
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
        self.catalog.set_stats(row, s)


def event_ts(label: Label) -> int:
    """When the impression happened (labels without one: when they were made)."""
    return label.label_ts if label.impression_ts is None else label.impression_ts


def in_time_order(labels: Iterable[Label]) -> list[Label]:
    """Labels in the order the near-line updater learns them: by label time."""
    return sorted(labels, key=lambda lb: (lb.label_ts, event_ts(lb)))


def build_examples(
    labels: Iterable[Label], state: FeatureState, progress: bool = False
) -> tuple[Examples, int]:
    """Replay `labels` in time order through `state`; returns the examples and the number
    of labels skipped because their course is not in the catalog."""
    spec: FeatureSpec = state.catalog.spec
    x_mc, y, member, course, ts, label_ts = [], [], [], [], [], []
    member_rows: dict[str, int] = {}
    skipped = 0
    for label in tqdm(in_time_order(labels), disable=not progress, desc="features", unit="lb"):
        if label.course_id not in state.catalog.index:
            skipped += 1
            continue
        row, x = state.features(label)
        state.learn(label)
        x_mc.append(x)
        y.append(label.label)
        member.append(member_rows.setdefault(label.member_id, len(member_rows)))
        course.append(row)
        ts.append(event_ts(label))
        label_ts.append(label.label_ts)
    member_ids = list(member_rows)
    examples = Examples(
        np.array(x_mc).reshape(-1, spec.dims[2]),
        np.array(y, float),
        np.array(member, np.intp),
        np.array(course, np.intp),
        np.array([state.profile(m).x_m for m in member_ids]).reshape(-1, spec.dims[1]),
        state.catalog.x_c.copy(),
        member_ids,
        list(state.catalog.ids),
        np.array(ts, np.int64),
        np.array(label_ts, np.int64),
    )
    return examples, skipped
