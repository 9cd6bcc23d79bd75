"""The synthetic world: catalog, members and the planted GLMix that drives engagement.

Engagement follows a known GLMix (DESIGN.md, paper eq. 2), so a fitted model can be
checked against the truth:

    logit P(click | m, c, context) = w · x_mc  +  alpha_m · x_c  +  beta_c · x_m

- `w` (GLOBAL_WEIGHTS, DAY_OF_WEEK, channel effects): skill overlap, course popularity,
  recency, the gap between seniority and difficulty, position, channel, day of week.
- `alpha_m` (member taste) over course one-hots: category and difficulty. Most members
  strongly like one category (often one of their own skill clusters'), some a second,
  and strongly dislike another; difficulty preferences and a small background vary too.
  Personal taste is a strong signal, as in the paper's Table 7 (per-member > per-course).
- `beta_c` (course appeal) over member one-hots: title, industry and seniority band; a
  share of courses has a strong planted appeal to one title or industry.

Titles and industries are correlated with skill clusters, and skill clusters belong to
categories, so the random effects are partly but not fully explained by skill overlap.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import numpy as np
from scipy import sparse

from schemas import DIFFICULTIES, Course, Member

DAY_MS = 86_400_000

CLUSTERS = (
    "python", "javascript", "cloud", "devops", "data analysis", "machine learning",
    "databases", "security", "project management", "leadership", "marketing", "sales",
    "finance", "accounting", "graphic design", "ux research", "communication",
    "human resources", "teaching", "healthcare",
)  # fmt: skip
SKILLS_PER_CLUSTER = 10
SKILLS = tuple(
    f"{name.replace(' ', '-')}-{i:02d}" for name in CLUSTERS for i in range(SKILLS_PER_CLUSTER)
)
CATEGORIES = (
    "software development", "it and cloud", "data science", "security", "business",
    "leadership and management", "marketing", "sales", "finance", "creative",
    "personal development", "education and health",
)  # fmt: skip
CLUSTER_CATEGORY = np.array([0, 0, 1, 1, 2, 2, 2, 3, 4, 5, 6, 7, 8, 8, 9, 9, 10, 4, 11, 11])
TITLES = (
    "software engineer", "data scientist", "product manager", "designer",
    "marketing manager", "sales representative", "financial analyst", "hr specialist",
    "project manager", "teacher", "nurse", "accountant", "consultant", "it administrator",
    "security analyst",
)  # fmt: skip
# The two skill clusters a title's members mostly come from.
TITLE_CLUSTERS = np.array(
    [[0, 1], [5, 4], [8, 14], [14, 15], [10, 16], [11, 16], [12, 4], [17, 9], [8, 9],
     [18, 16], [19, 16], [13, 12], [9, 16], [2, 3], [7, 3]]
)  # fmt: skip
INDUSTRIES = (
    "software", "internet", "financial services", "banking", "healthcare", "education",
    "retail", "manufacturing", "consulting", "government", "media", "telecommunications",
    "insurance", "non-profit", "energy",
)  # fmt: skip
TITLE_INDUSTRY = np.array([0, 1, 1, 10, 10, 6, 2, 7, 8, 5, 4, 3, 8, 11, 12])
SENIORITY_BANDS = ("junior", "mid", "senior")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

MEMBER_TASTE_FEATURES = tuple(f"category:{c}" for c in CATEGORIES) + tuple(
    f"difficulty:{d}" for d in DIFFICULTIES
)
COURSE_APPEAL_FEATURES = (
    tuple(f"title:{t}" for t in TITLES)
    + tuple(f"industry:{i}" for i in INDUSTRIES)
    + tuple(f"seniority:{b}" for b in SENIORITY_BANDS)
)

GLOBAL_FEATURES = {
    "intercept": "1",
    "skill_overlap": "cosine of the member's and the course's skill weight vectors",
    "popularity": "the course's latent popularity, standard normal",
    "recency": "exp(-days since release / recency_days)",
    "seniority_difficulty_gap": "|difficulty index (0..2) - seniority / 4.5|",
    "position": "slot index within the channel",
}
GLOBAL_WEIGHTS = {
    "intercept": -3.5,
    "skill_overlap": 2.5,
    "popularity": 0.4,
    "recency": 1.0,
    "seniority_difficulty_gap": -0.5,
    "position": -0.12,
}
# Planted logit offset per channel (part of w; email is read less attentively).
CHANNEL_EFFECTS = {"learning_home": 0.0, "feed": -0.3, "email": -0.6}
RECENCY_DAYS = 30.0
DAY_OF_WEEK = (0.05, 0.1, 0.1, 0.05, -0.1, -0.45, -0.35)  # logit offset, Monday first
TASTE_SD, DIFFICULTY_TASTE_SD = 0.3, 0.8  # background taste per category, per difficulty
LIKE_LOGIT = (1.0, 1.5)  # a liked category's planted logit, uniform; dislikes are negated
OWN_CLUSTER_LIKE, SECOND_LIKE, DISLIKE = 0.5, 0.4, 0.7  # chances (see _taste)
APPEAL_SD, STRONG_APPEAL, STRONG_APPEAL_SHARE = 0.2, 1.2, 0.25

FIRST_NAMES = ("Ada", "Ben", "Chen", "Dana", "Eli", "Fatima", "Goran", "Hana", "Ivan", "Jo")
LAST_NAMES = ("Ito", "Khan", "Lopez", "Moreau", "Novak", "Okafor", "Park", "Quinn", "Rossi")
TITLE_SUFFIXES = ("Essentials", "in Practice", "Deep Dive", "Quick Start", "for Teams")


@dataclass(frozen=True)
class WorldConfig:
    """Size, seed and behaviour of a simulated world; invalid values raise ValueError.

    `active_share` is the mean share of members active on a weekday (weekends fewer),
    `duplicate_share` / `late_share` the share of events redelivered / delivered up to
    `max_late_s` late, `new_course_share` the share of courses released during the run.

    >>> WorldConfig(members=100, courses=50, days=7, seed=1).start_ms
    1767571200000
    >>> WorldConfig(members=0, courses=50, days=7)
    Traceback (most recent call last):
    ...
    ValueError: members must be >= 1, got 0
    """

    members: int
    courses: int
    days: int
    seed: int = 0
    start: datetime = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
    active_share: float = 0.12
    duplicate_share: float = 0.005
    late_share: float = 0.01
    max_late_s: int = 7200
    new_course_share: float = 0.15
    strong_taste_share: float = 0.8
    model_id: str = "sim-logging-v1"

    def __post_init__(self) -> None:
        for name in ("members", "courses", "days"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        shares = ("active_share", "duplicate_share", "late_share", "new_course_share")
        for name in (*shares, "strong_taste_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {getattr(self, name)}")
        if self.max_late_s < 60:
            raise ValueError(f"max_late_s must be >= 60, got {self.max_late_s}")
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "start": self.start.isoformat()}


@dataclass(frozen=True, eq=False)
class World:
    """All planted arrays; members and courses are addressed by row index.

    >>> world = build_world(WorldConfig(members=3, courses=5, days=1))
    >>> world.member_ids, world.taste.shape, world.appeal.shape
    (['m000000', 'm000001', 'm000002'], (3, 15), (5, 33))
    """

    config: WorldConfig
    member_skills: sparse.csr_array  # (members, skills), rows L2-normalised
    member_title: np.ndarray
    member_industry: np.ndarray
    member_seniority: np.ndarray
    member_followed: np.ndarray  # (members, 3) skill indices, -1 = none
    activity: np.ndarray  # chance of being active on a weekday
    watch_scale: np.ndarray  # logit offset of the share of a preview a member watches
    taste: np.ndarray  # alpha_m over MEMBER_TASTE_FEATURES
    strong_taste: np.ndarray  # (members, 2) category indices, -1 = none
    course_skills: np.ndarray  # (skills, courses), columns L2-normalised
    course_cluster: np.ndarray
    course_difficulty: np.ndarray
    course_released_ms: np.ndarray
    course_duration_s: np.ndarray
    course_video_s: np.ndarray  # preview length
    popularity: np.ndarray
    appeal: np.ndarray  # beta_c over COURSE_APPEAL_FEATURES
    course_author: np.ndarray

    @cached_property
    def member_ids(self) -> list[str]:
        return [f"m{i:06d}" for i in range(self.config.members)]

    @cached_property
    def course_ids(self) -> list[str]:
        return [f"c{i:04d}" for i in range(self.config.courses)]

    @property
    def course_category(self) -> np.ndarray:
        return CLUSTER_CATEGORY[self.course_cluster]

    @property
    def seniority_band(self) -> np.ndarray:
        return np.digitize(self.member_seniority, [3, 6])

    def recency(self, day_ms: int) -> np.ndarray:
        """Recency of every course on a day; 0 before its release."""
        age = (day_ms - self.course_released_ms) / DAY_MS
        return np.where(age >= 0, np.exp(-np.maximum(age, 0) / RECENCY_DAYS), 0.0)

    def interest(
        self, m: np.ndarray, c: np.ndarray, overlap: np.ndarray, day_ms: int
    ) -> np.ndarray:
        """Planted logit of member m for course c, without intercept and context terms."""
        w = GLOBAL_WEIGHTS
        n_cat = len(CATEGORIES)
        gap = np.abs(self.course_difficulty[c] - self.member_seniority[m] / 4.5)
        alpha = (
            self.taste[m, self.course_category[c]]
            + self.taste[m, n_cat + self.course_difficulty[c]]
        )
        n_titles, n_ind = len(TITLES), len(INDUSTRIES)
        beta = (
            self.appeal[c, self.member_title[m]]
            + self.appeal[c, n_titles + self.member_industry[m]]
            + self.appeal[c, n_titles + n_ind + self.seniority_band[m]]
        )
        return (
            w["skill_overlap"] * overlap
            + w["popularity"] * self.popularity[c]
            + w["recency"] * self.recency(day_ms)[c]
            + w["seniority_difficulty_gap"] * gap
            + alpha
            + beta
        )


def logit(interest: np.ndarray, position: np.ndarray, channel: str, weekday: int) -> np.ndarray:
    """The full planted click logit: interest plus intercept and context terms."""
    return (
        interest
        + GLOBAL_WEIGHTS["intercept"]
        + GLOBAL_WEIGHTS["position"] * position
        + CHANNEL_EFFECTS[channel]
        + DAY_OF_WEEK[weekday]
    )


def build_world(config: WorldConfig) -> World:
    """Draw catalog, members and planted effects; deterministic for `config.seed`."""
    rng = np.random.default_rng([config.seed, 0])
    members = _members(config, rng)
    courses = _courses(config, rng)
    return World(config=config, **members, **courses)


def _skill_matrix(
    rows: np.ndarray, clusters: np.ndarray, offsets: np.ndarray, weights: np.ndarray, shape
) -> sparse.csr_array:
    """Sparse skill weights, duplicates summed, rows L2-normalised."""
    cols = clusters * SKILLS_PER_CLUSTER + offsets
    keep = weights > 0
    m = sparse.csr_array((weights[keep], (rows[keep], cols[keep])), shape=shape)
    m.sum_duplicates()
    norms = np.sqrt(m.multiply(m).sum(axis=1))
    return sparse.csr_array(sparse.diags_array(1.0 / np.maximum(norms, 1e-12)) @ m)


def _members(config: WorldConfig, rng: np.random.Generator) -> dict[str, Any]:
    n = config.members
    title = rng.integers(0, len(TITLES), n)
    industry = np.where(
        rng.random(n) < 0.6, TITLE_INDUSTRY[title], rng.integers(0, len(INDUSTRIES), n)
    )
    # Two cluster slots, the title's own clusters most of the time; the second is optional.
    clusters = np.where(
        rng.random((n, 2)) < [0.75, 0.5],
        TITLE_CLUSTERS[title],
        rng.integers(0, len(CLUSTERS), (n, 2)),
    )
    n_skills = rng.integers(2, 6, (n, 2))
    n_skills[:, 1] *= rng.random(n) < 0.5
    offsets = rng.integers(0, SKILLS_PER_CLUSTER, (n, 2, 5))
    weights = rng.uniform(0.2, 1.0, (n, 2, 5)) * (np.arange(5) < n_skills[:, :, None])
    skills = _skill_matrix(
        np.repeat(np.arange(n), 10),
        np.repeat(clusters, 5, axis=1).ravel(),
        offsets.ravel(),
        weights.ravel(),
        (n, len(SKILLS)),
    )
    n_followed = rng.choice(4, n, p=[0.7, 0.15, 0.1, 0.05])
    followed = clusters[:, :1] * SKILLS_PER_CLUSTER + rng.integers(0, SKILLS_PER_CLUSTER, (n, 3))
    taste, strong = _taste(config, clusters[:, 0], rng)
    activity = rng.beta(1.2, 8.0, n) * config.active_share / (1.2 / 9.2)
    return {
        "member_skills": skills,
        "member_title": title,
        "member_industry": industry,
        "member_seniority": np.clip(np.rint(rng.normal(3.5, 2.2, n)), 0, 9).astype(int),
        "member_followed": np.where(np.arange(3) < n_followed[:, None], followed, -1),
        "activity": np.minimum(activity, 1.0),
        "watch_scale": rng.normal(0.0, 1.0, n),
        "taste": taste,
        "strong_taste": strong,
    }


def _taste(
    config: WorldConfig, cluster: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(taste over MEMBER_TASTE_FEATURES, (members, 2) liked categories, -1 = none).

    A share `strong_taste_share` likes one category, half of the time the category of its
    main skill cluster; 40 % of those like a second one; 70 % of all members dislike one
    category they do not like. Likes and dislikes are 1.0-1.5 logits, on top of a small
    background taste per category and a larger one per difficulty.
    """
    n, n_cat = len(cluster), len(CATEGORIES)
    taste = np.hstack(
        [
            rng.normal(0.0, TASTE_SD, (n, n_cat)),
            rng.normal(0.0, DIFFICULTY_TASTE_SD, (n, len(DIFFICULTIES))),
        ]
    )
    first = np.where(
        rng.random(n) < OWN_CLUSTER_LIKE, CLUSTER_CATEGORY[cluster], rng.integers(0, n_cat, n)
    )
    second = (first + rng.integers(1, n_cat, n)) % n_cat
    liked = np.where(
        rng.random((n, 2)) < [config.strong_taste_share, SECOND_LIKE],
        np.stack([first, second], axis=1),
        -1,
    )
    liked[:, 1] = np.where(liked[:, 0] >= 0, liked[:, 1], -1)
    # the disliked category differs from both likes: skip past them in a cyclic order
    disliked = (first + rng.integers(1, n_cat - 1, n)) % n_cat
    disliked = np.where(disliked == liked[:, 1], (disliked + 1) % n_cat, disliked)
    disliked = np.where(disliked == first, (disliked + 1) % n_cat, disliked)
    rows = np.arange(n)
    strength = rng.uniform(*LIKE_LOGIT, (n, 3))
    for k in range(2):
        has = liked[:, k] >= 0
        taste[rows[has], liked[has, k]] += strength[has, k]
    has = rng.random(n) < DISLIKE
    taste[rows[has], disliked[has]] -= strength[has, 2]
    return taste, liked


def _courses(config: WorldConfig, rng: np.random.Generator) -> dict[str, Any]:
    n = config.courses
    cluster = rng.integers(0, len(CLUSTERS), n)
    n_skills = rng.integers(2, 7, n)
    offsets = np.argsort(rng.random((n, SKILLS_PER_CLUSTER)), axis=1)[:, :6]
    weights = rng.uniform(0.3, 1.0, (n, 6)) * (np.arange(6) < n_skills[:, None])
    # One skill in three courses comes from another cluster (e.g. "python for finance").
    clusters = np.repeat(cluster[:, None], 6, axis=1)
    clusters[:, 5] = np.where(rng.random(n) < 0.33, rng.integers(0, len(CLUSTERS), n), cluster)
    skills = _skill_matrix(
        np.repeat(np.arange(n), 6),
        clusters.ravel(),
        offsets.ravel(),
        weights.ravel(),
        (n, len(SKILLS)),
    )
    start = config.start_ms
    n_new = min(round(n * config.new_course_share), n - 1)
    released = np.concatenate(
        [
            start + DAY_MS * rng.integers(0, config.days, n_new),
            start - rng.integers(DAY_MS, 3 * 365 * DAY_MS, n - n_new),
        ]
    )
    appeal = rng.normal(0.0, APPEAL_SD, (n, len(COURSE_APPEAL_FEATURES)))
    strong = rng.random(n) < STRONG_APPEAL_SHARE
    appeal[strong, rng.integers(0, len(TITLES) + len(INDUSTRIES), strong.sum())] += STRONG_APPEAL
    return {
        "course_skills": skills.T.toarray(),
        "course_cluster": cluster,
        "course_difficulty": rng.choice(3, n, p=[0.45, 0.35, 0.2]),
        "course_released_ms": rng.permutation(released),
        "course_duration_s": np.clip(
            np.rint(rng.lognormal(np.log(7200), 0.6, n) / 60) * 60, 600, 36000
        ),
        "course_video_s": rng.integers(30, 181, n).astype(float),
        "popularity": rng.normal(0.0, 1.0, n),
        "appeal": appeal,
        "course_author": rng.integers(0, len(FIRST_NAMES) * len(LAST_NAMES), n),
    }


def course_records(world: World) -> Iterator[Course]:
    """The catalog as wire records."""
    skills = sparse.csc_array(world.course_skills)
    for i, course_id in enumerate(world.course_ids):
        cluster, difficulty = world.course_cluster[i], DIFFICULTIES[world.course_difficulty[i]]
        lo, hi = skills.indptr[i], skills.indptr[i + 1]
        first, last = divmod(int(world.course_author[i]), len(LAST_NAMES))
        yield Course(
            course_id=course_id,
            title=f"{difficulty.title()} {CLUSTERS[cluster].title()} "
            f"{TITLE_SUFFIXES[i % len(TITLE_SUFFIXES)]}",
            skills=_weights(skills.indices[lo:hi], skills.data[lo:hi]),
            category=CATEGORIES[CLUSTER_CATEGORY[cluster]],
            difficulty=difficulty,
            duration_s=float(world.course_duration_s[i]),
            released_at=int(world.course_released_ms[i]),
            author=f"{FIRST_NAMES[first]} {LAST_NAMES[last]}",
        )


def member_records(world: World) -> Iterator[Member]:
    """The member profiles as wire records."""
    skills = world.member_skills
    for i, member_id in enumerate(world.member_ids):
        lo, hi = skills.indptr[i], skills.indptr[i + 1]
        followed = world.member_followed[i]
        yield Member(
            member_id=member_id,
            skills=_weights(skills.indices[lo:hi], skills.data[lo:hi]),
            title=TITLES[world.member_title[i]],
            industry=INDUSTRIES[world.member_industry[i]],
            seniority=int(world.member_seniority[i]),
            followed_skills=tuple(dict.fromkeys(SKILLS[s] for s in followed[followed >= 0])),
        )


def _weights(indices: np.ndarray, data: np.ndarray) -> dict[str, float]:
    return {SKILLS[j]: round(float(w), 3) for j, w in zip(indices, data, strict=True)}


def truth(world: World) -> dict[str, Any]:
    """The planted parameters in plain JSON types, for evaluation."""
    return {
        "config": world.config.as_json(),
        "global_weights": {
            **GLOBAL_WEIGHTS,
            **{f"channel:{ch}": eff for ch, eff in CHANNEL_EFFECTS.items()},
        },
        "global_features": GLOBAL_FEATURES,
        "recency_days": RECENCY_DAYS,
        "day_of_week": dict(zip(WEEKDAYS, DAY_OF_WEEK, strict=True)),
        "member_taste_features": list(MEMBER_TASTE_FEATURES),
        "member_taste": dict(zip(world.member_ids, _rounded(world.taste), strict=True)),
        "member_strong_categories": {
            m: [CATEGORIES[k] for k in row if k >= 0]
            for m, row in zip(world.member_ids, world.strong_taste.tolist(), strict=True)
            if max(row) >= 0
        },
        "course_appeal_features": list(COURSE_APPEAL_FEATURES),
        "course_appeal": dict(zip(world.course_ids, _rounded(world.appeal), strict=True)),
        "course_popularity": dict(zip(world.course_ids, _rounded(world.popularity), strict=True)),
        "member_watch_scale": dict(zip(world.member_ids, _rounded(world.watch_scale), strict=True)),
        "member_activity": dict(zip(world.member_ids, _rounded(world.activity), strict=True)),
    }


def _rounded(a: np.ndarray) -> list[Any]:
    return np.round(a, 4).tolist()
