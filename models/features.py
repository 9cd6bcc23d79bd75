"""x_mc: member-course features for one member against a matrix of candidate courses.

One vectorised pass over the candidate rows of the catalog, reading the member's profile
and history state; context (day of week, hour bucket) comes from the event time, in UTC.
Column order is `MC_NAMES` of the spec.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.catalog import Catalog
from models.history import DAY_MS, MemberHistory, decay
from models.spec import DAYS, HOUR_BUCKET_H, MC_NAMES, FeatureSpec
from schemas import Member

HOUR_MS = 3_600_000
NEW_DAYS = 30.0
_CTX = MC_NAMES.index("dow_mon")
_HOURS = _CTX + len(DAYS)
_INTERACT = _HOURS + 24 // HOUR_BUCKET_H


@dataclass(frozen=True)
class Profile:
    """The parts of a member record the features read, encoded once per profile update.

    >>> p = Profile.of(FeatureSpec(), Member(member_id="m1", skills={"sql": 1.0}, seniority=9))
    >>> p.x_m.shape, p.skill_pair.shape, p.seniority
    ((37,), (16, 2), 1.0)
    """

    x_m: np.ndarray
    skill_pair: np.ndarray  # (K, 2): skill clusters, followed-skill clusters (both unit norm)
    seniority: float | None  # 0 entry .. 1 executive

    @classmethod
    def of(cls, spec: FeatureSpec, member: Member) -> Profile:
        pair = np.stack(
            [spec.skill_vector(member.skills), spec.skill_vector(member.followed_skills)]
        )
        level = None if member.seniority is None else member.seniority / 9.0
        return cls(spec.member_vector(member), np.ascontiguousarray(pair.T), level)


def context(ts: int) -> tuple[int, int]:
    """(day of week, Monday = 0; hour bucket) of an epoch-ms time, in UTC.

    >>> context(1767225600000)  # 2026-01-01T00:00Z, a Thursday
    (3, 0)
    """
    return (ts // DAY_MS + 3) % 7, (ts % DAY_MS) // HOUR_MS // HOUR_BUCKET_H


def member_course_features(
    catalog: Catalog, rows: np.ndarray, profile: Profile, history: MemberHistory, ts: int
) -> np.ndarray:
    """x_mc of shape (len(rows), len(MC_NAMES)), computed from state as of `ts`."""
    spec = catalog.spec
    n = len(rows)
    x = np.zeros((len(MC_NAMES), n)).T  # column-major: each feature is written contiguously
    x[:, 0:2] = catalog.skills[rows] @ profile.skill_pair
    counts = history.category_counts * decay(history.updated_at, ts, spec.half_life_days)
    engaged = counts[catalog.category[rows]]
    x[:, 2] = engaged / (counts.sum() + 1.0)
    x[:, 3] = np.log1p(engaged)
    x[:, 4] = catalog.ctr_logit[rows]
    x[:, 5] = catalog.log_impressions[rows]
    age_days = np.maximum(ts - catalog.released_at[rows], 0) / DAY_MS
    x[:, 6] = np.log1p(age_days)
    x[:, 7] = age_days < NEW_DAYS
    if profile.seniority is not None:
        x[:, 8] = 1.0 - np.abs(profile.seniority - catalog.difficulty[rows])
    keys = history.course_keys
    if len(keys):
        candidates = catalog.keys[rows]
        at = np.minimum(np.searchsorted(keys, candidates), len(keys) - 1)
        seen = keys[at] == candidates
        x[:, 9] = np.where(seen, np.log1p(history.imp_counts[at]), 0.0)
        ago_days = np.maximum(ts - history.last_seen[at], 0) / DAY_MS
        x[:, 10] = np.where(seen, np.exp(-ago_days), 0.0)
    dow, hour_bucket = context(ts)
    x[:, _CTX + dow] = 1.0
    x[:, _HOURS + hour_bucket] = 1.0
    hour = ts % DAY_MS // HOUR_MS
    long = catalog.long[rows]
    if dow >= 5:
        x[:, _INTERACT] = long
    if hour < 8 or hour >= 18:
        x[:, _INTERACT + 1] = long
    return x
