"""Planted GLMix data for tests and benchmarks: known effects, so recovery can be checked.

`planted` draws feature matrices directly (fast, any size); `planted_records` draws wire
records (courses, members, labels) with planted member tastes and course appeal, for the
label-replay path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.examples import Examples
from models.posterior import sigmoid
from models.spec import DIFFICULTIES, DURATION_EDGES_S, SENIORITY_EDGES, FeatureSpec
from models.train import row_dots
from schemas import Course, Label, Member

T0 = 1_767_225_600_000  # 2026-01-01T00:00Z
MINUTE_MS = 60_000


@dataclass(frozen=True)
class Truth:
    """The planted coefficients (alpha: members x d_c, beta: courses x d_m)."""

    w: np.ndarray
    b: float
    alpha: np.ndarray
    beta: np.ndarray


def _rows(
    rng: np.random.Generator, n: int, before: list[int], skills: int, after: list[int]
) -> np.ndarray:
    """Rows of a bias column, one-hot blocks of sizes `before`, a unit skill vector, then
    one-hot blocks of sizes `after`: the x_c / x_m layouts of the spec."""
    s = rng.random((n, skills)) * (rng.random((n, skills)) < 3 / skills)
    s[:, 0] += 1e-3
    parts = [np.ones((n, 1))]
    parts += [np.eye(size)[rng.integers(size, size=n)] for size in before]
    parts.append(s / np.linalg.norm(s, axis=1, keepdims=True))
    parts += [np.eye(size)[rng.integers(size, size=n)] for size in after]
    return np.hstack(parts)


def planted(
    n_members: int = 1000,
    n_courses: int = 200,
    n: int = 100_000,
    seed: int = 0,
    member_scale: float = 0.8,
    course_scale: float = 0.6,
) -> tuple[Examples, FeatureSpec, Truth]:
    """n examples from a planted GLMix; member and course activity are long-tailed."""
    rng = np.random.default_rng(seed)
    spec = FeatureSpec(categories=tuple(f"cat{i}" for i in range(8)))
    d_c, d_m, d_mc = spec.dims
    k = spec.skill_buckets
    x_c = _rows(rng, n_courses, [spec.n_categories, 3], k, [len(DURATION_EDGES_S) + 1])
    x_m = _rows(
        rng, n_members, [spec.title_buckets, spec.industry_buckets, len(SENIORITY_EDGES) + 2], k, []
    )
    # members differ in taste for categories and difficulty, courses in appeal by title,
    # industry and seniority; skill clusters and duration carry no planted effect
    taste = np.arange(d_c) < 1 + spec.n_categories + 3
    appeal = np.arange(d_m) < d_m - k
    truth = Truth(
        rng.normal(0.0, 0.5, d_mc),
        -1.5,
        rng.normal(0.0, member_scale, (n_members, d_c)) * taste,
        rng.normal(0.0, course_scale, (n_courses, d_m)) * appeal,
    )
    member = rng.choice(n_members, n, p=_long_tail(rng, n_members))
    course = rng.choice(n_courses, n, p=_long_tail(rng, n_courses))
    x_mc = rng.normal(0.0, 0.5, (n, d_mc))
    logit = (
        x_mc @ truth.w
        + truth.b
        + row_dots(x_c, course, truth.alpha, member)
        + row_dots(x_m, member, truth.beta, course)
    )
    y = (rng.random(n) < sigmoid(logit)).astype(float)
    ts = T0 + np.arange(n, dtype=np.int64) * MINUTE_MS
    member_ids = [f"m{i}" for i in range(n_members)]
    course_ids = [f"c{i}" for i in range(n_courses)]
    ex = Examples(x_mc, y, member, course, x_m, x_c, member_ids, course_ids, ts, ts)
    return ex, spec, truth


def centred_correlation(fitted: np.ndarray, planted: np.ndarray) -> float:
    """Correlation of fitted vs planted effect scores (entities x items), each entity's row
    centred first: an entity's level is shared with its bias and the other GLMix parts
    (not identifiable), its contrasts between items are what the effect must recover.

    >>> fitted = np.array([[0.0, 1.0], [5.0, 7.0]])  # second row: another level, same contrast
    >>> round(centred_correlation(fitted, np.array([[1.0, 2.0], [0.0, 2.0]])), 6)
    1.0
    """
    f = fitted - fitted.mean(axis=1, keepdims=True)
    p = planted - planted.mean(axis=1, keepdims=True)
    return float(np.corrcoef(f.ravel(), p.ravel())[0, 1])


def _long_tail(rng: np.random.Generator, n: int) -> np.ndarray:
    weights = rng.lognormal(0.0, 1.0, n)
    return weights / weights.sum()


def planted_records(
    n_members: int = 200, n_courses: int = 60, n_labels: int = 6000, seed: int = 0
) -> tuple[list[Course], list[Member], list[Label]]:
    """Wire records where each member favours one category and each course appeals to
    one seniority level; impressions are uniform, clicks follow the planted logit."""
    rng = np.random.default_rng(seed)
    categories = ["data", "design", "business", "dev", "ops"]
    skills = [f"skill{i}" for i in range(40)]
    courses = [
        Course(
            course_id=f"c{i}",
            title=f"Course {i}",
            skills={s: 1.0 for s in rng.choice(skills, 3, replace=False)},
            category=categories[i % len(categories)],
            difficulty=DIFFICULTIES[i % 3],
            duration_s=float(rng.choice([900, 3600, 10_800, 36_000])),
            released_at=T0 - int(rng.integers(1, 400)) * 86_400_000,
        )
        for i in range(n_courses)
    ]
    members = [
        Member(
            member_id=f"m{i}",
            skills={s: 1.0 for s in rng.choice(skills, 4, replace=False)},
            title=str(rng.choice(["engineer", "analyst", "designer", "manager"])),
            industry=str(rng.choice(["tech", "finance", "health"])),
            seniority=int(rng.integers(0, 10)),
        )
        for i in range(n_members)
    ]
    favourite = rng.integers(len(categories), size=n_members)
    appeal = rng.integers(len(SENIORITY_EDGES) + 1, size=n_courses)
    level = np.searchsorted(SENIORITY_EDGES, [m.seniority for m in members], side="right")
    member = rng.integers(n_members, size=n_labels)
    course = rng.integers(n_courses, size=n_labels)
    cat = np.arange(n_courses) % len(categories)
    logit = (
        -2.0 + 2.0 * (cat[course] == favourite[member]) + 1.5 * (appeal[course] == level[member])
    )
    y = rng.random(n_labels) < sigmoid(logit)
    shown = T0 + np.sort(rng.integers(0, 30 * 86_400_000, size=n_labels))
    labels = [
        Label(
            member_id=f"m{m}",
            course_id=f"c{c}",
            channel="feed",
            label=int(click),
            source="click" if click else "timeout",
            impression_event_id=f"i{i}",
            impression_ts=int(t),
            label_ts=int(t) + (MINUTE_MS if click else 60 * MINUTE_MS),
            rule="click",
        )
        for i, (m, c, click, t) in enumerate(zip(member, course, y, shown, strict=True))
    ]
    return courses, members, labels
