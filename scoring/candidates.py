"""Candidate generation for one member (paper §4.2): a few cheap sources over the in-memory
catalog each score some courses, and the union of their best courses, capped, is what the
GLMix scorer ranks. Every source is also a reason (§3.4), so its scores are kept.

Sources, in the fixed priority order that breaks reason ties: courses similar to recently
engaged ones, each of the member's skills, each followed skill, trending for the member's
title, trending in their industry, new, popular. Two nominate-only rows (overall skill and
followed-skill affinity) add the courses that match many skills a little.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from models.catalog import Catalog
from models.features import NEW_DAYS
from models.history import DAY_MS
from models.spec import bucket
from scoring.reasons import explain, inverted_ranks


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
    """Catalog rows to score, best-nominated first, and each reason's score per row (NaN
    where the reason does not apply).

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
    scores: np.ndarray  # (len(labels), len(rows))

    def reasons(self) -> list[str]:
        """The reason of every candidate (arg-max inverted rank among the candidates)."""
        return explain(self.labels, self.scores)


def generate(catalog: Catalog, signals: Signals, ts: int, limit: int = 1000) -> Candidates:
    """At most `limit` live, undismissed courses for one member at time `ts`. Sources are
    merged by inverted rank (round robin): each source's k-th course counts as 1/k, so a
    source that scores every course (popular) cannot crowd out the specific ones."""
    skills = catalog.skills
    buckets = catalog.spec.skill_buckets
    own = sorted(signals.skills.items(), key=lambda kv: -kv[1])
    sources: list[tuple[str, np.ndarray]] = []
    for row, title in signals.engaged:
        similar = skills @ skills[row]
        similar[row] = 0.0  # a course is no reason for itself
        sources.append((f"Because you watched {title}", similar))
    for name, _ in own:
        sources.append((f"Because of your skill {name}", skills[:, bucket(name, buckets, "skill")]))
    for name in signals.followed:
        sources.append((f"Because you follow {name}", skills[:, bucket(name, buckets, "skill")]))
    for label, counts in (
        ("Trending for your job title", signals.trending_title),
        ("Trending in your industry", signals.trending_industry),
    ):
        if counts is not None:
            sources.append((label, np.asarray(counts, float)))
    age_days = (ts - catalog.released_at) / DAY_MS
    sources.append(("New", np.where(age_days >= 0, NEW_DAYS - age_days, 0.0)))
    sources.append(("Popular", catalog.log_impressions))
    labels = tuple(label for label, _ in sources)
    affinity = skills @ np.stack(
        [catalog.spec.skill_vector(signals.skills), catalog.spec.skill_vector(signals.followed)], 1
    )
    scores = np.vstack([np.stack([s for _, s in sources]), affinity.T])
    live = ~catalog.retired
    live[list(signals.dismissed)] = False
    scores = np.where((scores > 0.0) & live, scores, np.nan)
    nomination = inverted_ranks(scores, depth=limit).max(axis=0)  # deeper ranks lose anyway
    best = np.argsort(-nomination, kind="stable")[:limit]
    rows = best[nomination[best] > 0.0]
    return Candidates(rows, labels, scores[: len(labels), rows])
