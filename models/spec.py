"""The versioned feature spec: which column of x_c, x_m and x_mc means what.

A model is only valid with the spec it was trained with, so the spec travels inside the
artifact and every consumer checks it. Bump `FEATURE_SPEC_VERSION` whenever the layout or
the meaning of a column changes; the buckets and vocabularies are parameters of the spec.
"""

from __future__ import annotations

import math
import zlib
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from functools import cached_property

import numpy as np

from schemas import DIFFICULTIES, Course, Member

FEATURE_SPEC_VERSION = 1

DURATION_EDGES_S = (1800.0, 7200.0, 18000.0)  # < 30 min, < 2 h, < 5 h, longer
SENIORITY_EDGES = (3, 6)  # entry 0-2, mid 3-5, senior 6-9 (+ unknown)
HOUR_BUCKET_H = 4  # six 4-hour buckets of the UTC day
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

MC_NAMES = (
    "skill_cos",
    "followed_cos",
    "category_share",
    "category_log_count",
    "ctr_logit",
    "log_impressions",
    "log_age_days",
    "is_new",
    "seniority_fit",
    "log_imp_count",
    "last_seen_recency",
    *(f"dow_{d}" for d in DAYS),
    *(f"hour_{h:02d}" for h in range(0, 24, HOUR_BUCKET_H)),
    "weekend_x_long",
    "offhours_x_long",
)
# x_mc columns read from the labels and impressions counted so far (the member's history,
# the course's popularity): per-entity information, which a global model over profiles
# and catalog records alone (GDMix's, say) does not have
HISTORY_NAMES = (
    "category_share",
    "category_log_count",
    "ctr_logit",
    "log_impressions",
    "log_imp_count",
    "last_seen_recency",
)


class SpecMismatch(ValueError):
    """Features were laid out by a different spec than the one a model was trained with."""


def bucket(name: str, n: int, salt: str) -> int:
    """Stable (process- and platform-independent) hash bucket; `hash()` is salted per run."""
    return zlib.crc32(f"{salt}:{name}".encode()) % n


@dataclass(frozen=True)
class FeatureSpec:
    """Layout of the GLMix feature vectors; stored in every artifact.

    Skills hash into `skill_buckets` clusters (deterministic, no fitting); titles and
    industries hash into their own buckets; categories are a vocabulary fixed at training
    time with one extra slot for unseen ones.

    >>> spec = FeatureSpec(categories=("data", "design"))
    >>> spec.dims
    (27, 37, 26)
    >>> spec.x_c_names[:4]
    ('bias', 'category:data', 'category:design', 'category:<other>')
    >>> FeatureSpec.from_dict(spec.to_dict()) == spec
    True
    """

    categories: tuple[str, ...] = ()
    skill_buckets: int = 16
    title_buckets: int = 8
    industry_buckets: int = 8
    half_life_days: float = 30.0
    ctr_prior: float = 0.05
    ctr_strength: float = 20.0
    history_size: int = 64
    version: int = field(default=FEATURE_SPEC_VERSION)

    @classmethod
    def for_courses(cls, courses: Iterable[Course], **params: object) -> FeatureSpec:
        """A spec whose category vocabulary is the categories of `courses`."""
        return cls(categories=tuple(sorted({c.category for c in courses})), **params)

    @property
    def n_categories(self) -> int:
        """Vocabulary size including the slot for unseen categories."""
        return len(self.categories) + 1

    @property
    def x_c_names(self) -> tuple[str, ...]:
        return (
            "bias",
            *(f"category:{c}" for c in (*self.categories, "<other>")),
            *(f"difficulty:{d}" for d in DIFFICULTIES),
            *(f"skill_cluster:{k}" for k in range(self.skill_buckets)),
            *(f"duration:{k}" for k in range(len(DURATION_EDGES_S) + 1)),
        )

    @property
    def x_m_names(self) -> tuple[str, ...]:
        return (
            "bias",
            *(f"title:{k}" for k in range(self.title_buckets)),
            *(f"industry:{k}" for k in range(self.industry_buckets)),
            *(f"seniority:{k}" for k in range(len(SENIORITY_EDGES) + 2)),
            *(f"skill_cluster:{k}" for k in range(self.skill_buckets)),
        )

    @cached_property
    def dims(self) -> tuple[int, int, int]:
        """(d_c, d_m, d_mc); cached, as every course and member vector asks for it."""
        return len(self.x_c_names), len(self.x_m_names), len(MC_NAMES)

    def category_index(self, category: str) -> int:
        try:
            return self.categories.index(category)
        except ValueError:
            return len(self.categories)

    def skill_vector(self, skills: Mapping[str, float] | Iterable[str]) -> np.ndarray:
        """Skills folded into clusters, L2-normalised so that dot products are cosines."""
        v = np.zeros(self.skill_buckets)
        items = skills.items() if isinstance(skills, Mapping) else ((s, 1.0) for s in skills)
        for name, weight in items:
            v[bucket(name, self.skill_buckets, "skill")] += weight
        norm = math.sqrt(v.dot(v))  # np.linalg.norm's sum, without its checks
        return v / norm if norm > 0 else v

    def course_vector(self, course: Course) -> np.ndarray:
        """x_c of one course (static: depends on the catalog record only)."""
        x = np.zeros(self.dims[0])
        x[0] = 1.0
        x[1 + self.category_index(course.category)] = 1.0
        base = 1 + self.n_categories
        x[base + DIFFICULTIES.index(course.difficulty)] = 1.0
        base += len(DIFFICULTIES)
        x[base : base + self.skill_buckets] = self.skill_vector(course.skills)
        base += self.skill_buckets
        x[base + bisect_right(DURATION_EDGES_S, course.duration_s)] = 1.0
        return x

    def member_vector(self, member: Member, skills: np.ndarray | None = None) -> np.ndarray:
        """x_m of one member profile (`skills`: its `skill_vector`, where known)."""
        x = np.zeros(self.dims[1])
        x[0] = 1.0
        base = 1
        if member.title is not None:
            x[base + bucket(member.title.lower(), self.title_buckets, "title")] = 1.0
        base += self.title_buckets
        if member.industry is not None:
            x[base + bucket(member.industry.lower(), self.industry_buckets, "industry")] = 1.0
        base += self.industry_buckets
        level = (
            len(SENIORITY_EDGES) + 1
            if member.seniority is None
            else bisect_right(SENIORITY_EDGES, member.seniority)
        )
        x[base + level] = 1.0
        base += len(SENIORITY_EDGES) + 2
        x[base:] = self.skill_vector(member.skills) if skills is None else skills
        return x

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> FeatureSpec:
        """Rebuild a stored spec; a spec from another layout version is refused."""
        version = raw.get("version")
        if version != FEATURE_SPEC_VERSION:
            raise SpecMismatch(
                f"feature spec version {version} was stored, this code lays features out as "
                f"version {FEATURE_SPEC_VERSION}: retrain the model with this code"
            )
        params = dict(raw)
        params["categories"] = tuple(params["categories"])  # type: ignore[arg-type]
        return cls(**params)  # type: ignore[arg-type]

    def check(self, other: FeatureSpec) -> None:
        """Raise unless `other` lays out features exactly like this spec."""
        if other != self:
            diff = {k: (v, other.to_dict()[k]) for k, v in self.to_dict().items()}
            diff = {k: v for k, v in diff.items() if v[0] != v[1]}
            raise SpecMismatch(f"feature specs differ (expected, got): {diff}")
