"""Worker and tool settings, from the environment (`NEARLINE_*`, `KAFKA_BOOTSTRAP_SERVERS`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from labels import Labeller
from schemas import ACTIVITY_TOPICS, DEFAULT_CHANNELS, Bounds
from scoring.cohort_skills import CohortSkillTable

WATCH_VIEWS = "watch-views"  # internal: accepted autoplays, by course_id and by global partial
WATCH_STATS = "watch-stats"  # internal: video and partial global statistics (every worker)
CLOCK_TICKS = "clock-ticks"  # internal: wall time for the member stage's partitions
MEMBER_UPDATES = "member-updates"  # internal: rescore requests (catalog changes), by member_id
COURSE_LABELS = "course-labels"  # internal: labels' course halves, keyed by course_id
COURSE_EFFECTS = "course-effects"  # internal: beta_c + popularity per course (every worker)
COHORT_LABELS = "cohort-labels"  # internal: positives per member cohort, keyed by cohort
COHORT_TRENDS = "cohort-trends"  # internal: decayed positives per cohort (every worker)
COHORT_PROFILES = "cohort-profiles"  # internal: profile skills in/out of a cohort, by cohort
COHORT_SKILLS = "cohort-skills"  # internal: summed profile skills per cohort (every worker)
CATALOG_TOPICS = ("courses", "members")
OUTPUT_TOPICS = ("labels", "recommendations", "deadletter")
INTERNAL_TOPICS = (
    WATCH_VIEWS,
    WATCH_STATS,
    CLOCK_TICKS,
    MEMBER_UPDATES,
    COURSE_LABELS,
    COURSE_EFFECTS,
    COHORT_LABELS,
    COHORT_TRENDS,
    COHORT_PROFILES,
    COHORT_SKILLS,
)
COMPACTED_TOPICS = frozenset(
    {
        "courses",
        "members",
        "recommendations",
        COURSE_EFFECTS,
        COHORT_TRENDS,
        COHORT_SKILLS,
        WATCH_STATS,
    }
)


def env_name(field_name: str) -> str:
    """The environment variable of a `Settings` field."""
    return (
        "KAFKA_BOOTSTRAP_SERVERS" if field_name == "bootstrap" else f"NEARLINE_{field_name.upper()}"
    )


# (decode(text, default), encode(value)) of fields that are not a plain str/int/float/Path.
_SCALAR = (lambda text, default: type(default)(text), str)
_CODECS = {
    "channels": (lambda text, _: frozenset(text.split(",")), lambda v: ",".join(sorted(v))),
    "model_dir": (lambda text, _: Path(text), lambda v: "" if v is None else str(v)),
}


@dataclass(frozen=True)
class Settings:
    """Everything a worker needs to know; topics are named through `topic()` so that
    several deployments (or tests) can share one cluster under different prefixes.

    >>> Settings(topic_prefix="t1.").topic("clicks")
    't1.clicks'
    """

    bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    app_id: str = "nearline"
    channels: frozenset[str] = DEFAULT_CHANNELS
    partitions: int = 4
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    data_dir: Path = field(default_factory=lambda: Path("var") / "worker")
    autoplay_rule: str = "percentile:95:member"
    window_s: float = 86_400.0
    lateness_s: float = 3_600.0
    min_views: int = 20
    idle_s: float = 30.0
    max_future_s: float = 3_600.0  # a live record's ts ahead of the wall clock, at most
    model_dir: Path | None = None  # an artifact, or a folder of versioned artifacts
    treatments: str = ""  # JSON {channel: {variant: share}}; default: glmix everywhere
    top_k: int = 20
    rescore_ms: float = 100.0  # members changed since the last rescore: scored at most this often
    profile_skill_weight: float = 1.0  # δ1 of eq. 1: a member's own skills ...
    cohort_skill_weight: float = 0.5  # δ2: ... blended with their title/industry cohorts'

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Settings from `NEARLINE_<FIELD>` variables (`KAFKA_BOOTSTRAP_SERVERS` for the
        bootstrap); an unset or empty variable keeps the default."""
        env = dict(os.environ if env is None else env)
        defaults, values = cls(), {}
        for f in fields(cls):
            name = env_name(f.name)
            if raw := env.get(name):
                decode = _CODECS.get(f.name, _SCALAR)[0]
                try:
                    values[f.name] = decode(raw, getattr(defaults, f.name))
                except ValueError:
                    raise ValueError(f"{name}={raw!r} is not a valid {f.name}") from None
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The environment that makes `from_env()` return these settings (for child
        processes: the worker module reads its settings from the environment)."""
        return {
            env_name(f.name): _CODECS.get(f.name, _SCALAR)[1](getattr(self, f.name))
            for f in fields(self)
        }

    def labeller(self) -> Labeller:
        """The labeller these settings configure (worker, demo and tests alike)."""
        return Labeller(
            self.autoplay_rule,
            window_ms=int(self.window_s * 1000),
            lateness_ms=int(self.lateness_s * 1000),
            min_views=self.min_views,
        )

    def cohort_skill_table(self) -> CohortSkillTable:
        """An empty table of cohort skills blending with these settings' δ1 and δ2."""
        return CohortSkillTable(self.profile_skill_weight, self.cohort_skill_weight)

    def bounds(self) -> Bounds:
        """What live activity must satisfy beyond its schema (`schemas.parse_activity`)."""
        return Bounds(channels=self.channels, max_future_ms=int(self.max_future_s * 1000))

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def contract_topics(self) -> list[str]:
        """Every topic of the external contract plus the internal ones."""
        return [*ACTIVITY_TOPICS, *CATALOG_TOPICS, *OUTPUT_TOPICS, *INTERNAL_TOPICS]
