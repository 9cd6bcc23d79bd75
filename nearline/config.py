"""Worker and tool settings, from the environment (`NEARLINE_*`, `KAFKA_BOOTSTRAP_SERVERS`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from labels import Labeller
from schemas import ACTIVITY_TOPICS, DEFAULT_CHANNELS

ACTIVITY = "activity"  # internal: validated activity of every kind, keyed by member_id
WATCH_VIEWS = "watch-views"  # internal: accepted autoplays, keyed by course_id
CLOCK_TICKS = "clock-ticks"  # internal: event time for idle activity partitions
MEMBER_UPDATES = "member-updates"  # internal: dismissals and rescore requests, by member_id
COURSE_LABELS = "course-labels"  # internal: labels' course halves, keyed by course_id
COURSE_EFFECTS = "course-effects"  # internal: beta_c + popularity per course (every worker)
COHORT_LABELS = "cohort-labels"  # internal: positives per member cohort, keyed by cohort
COHORT_TRENDS = "cohort-trends"  # internal: decayed positives per cohort (every worker)
CATALOG_TOPICS = ("courses", "members")
OUTPUT_TOPICS = ("labels", "recommendations", "deadletter")
INTERNAL_TOPICS = (
    ACTIVITY,
    WATCH_VIEWS,
    CLOCK_TICKS,
    MEMBER_UPDATES,
    COURSE_LABELS,
    COURSE_EFFECTS,
    COHORT_LABELS,
    COHORT_TRENDS,
)
COMPACTED_TOPICS = frozenset(
    {"courses", "members", "recommendations", COURSE_EFFECTS, COHORT_TRENDS}
)


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
    model_dir: Path | None = None  # an artifact, or a folder of versioned artifacts
    treatments: str = ""  # JSON {channel: {variant: share}}; default: glmix everywhere
    top_k: int = 20
    rescore_ms: float = 100.0  # debounce: a member's changes within this are scored once
    rescore_batch: int = 200  # at most this many rescores requested per debounce period

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        d = cls()
        channels = env.get("NEARLINE_CHANNELS")
        return cls(
            bootstrap=env.get("KAFKA_BOOTSTRAP_SERVERS", d.bootstrap),
            topic_prefix=env.get("NEARLINE_TOPIC_PREFIX", d.topic_prefix),
            app_id=env.get("NEARLINE_APP_ID", d.app_id),
            channels=frozenset(channels.split(",")) if channels else d.channels,
            partitions=int(env.get("NEARLINE_PARTITIONS", d.partitions)),
            web_host=env.get("NEARLINE_WEB_HOST", d.web_host),
            web_port=int(env.get("NEARLINE_WEB_PORT", d.web_port)),
            data_dir=Path(env.get("NEARLINE_DATA_DIR", d.data_dir)),
            autoplay_rule=env.get("NEARLINE_AUTOPLAY_RULE", d.autoplay_rule),
            window_s=float(env.get("NEARLINE_WINDOW_S", d.window_s)),
            lateness_s=float(env.get("NEARLINE_LATENESS_S", d.lateness_s)),
            min_views=int(env.get("NEARLINE_MIN_VIEWS", d.min_views)),
            idle_s=float(env.get("NEARLINE_IDLE_S", d.idle_s)),
            model_dir=Path(env["NEARLINE_MODEL_DIR"]) if env.get("NEARLINE_MODEL_DIR") else None,
            treatments=env.get("NEARLINE_TREATMENTS", d.treatments),
            top_k=int(env.get("NEARLINE_TOP_K", d.top_k)),
            rescore_ms=float(env.get("NEARLINE_RESCORE_MS", d.rescore_ms)),
            rescore_batch=int(env.get("NEARLINE_RESCORE_BATCH", d.rescore_batch)),
        )

    def to_env(self) -> dict[str, str]:
        """The environment that makes `from_env()` return these settings (for child
        processes: the worker module reads its settings from the environment)."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "NEARLINE_TOPIC_PREFIX": self.topic_prefix,
            "NEARLINE_APP_ID": self.app_id,
            "NEARLINE_CHANNELS": ",".join(sorted(self.channels)),
            "NEARLINE_PARTITIONS": str(self.partitions),
            "NEARLINE_WEB_HOST": self.web_host,
            "NEARLINE_WEB_PORT": str(self.web_port),
            "NEARLINE_DATA_DIR": str(self.data_dir),
            "NEARLINE_AUTOPLAY_RULE": self.autoplay_rule,
            "NEARLINE_WINDOW_S": str(self.window_s),
            "NEARLINE_LATENESS_S": str(self.lateness_s),
            "NEARLINE_MIN_VIEWS": str(self.min_views),
            "NEARLINE_IDLE_S": str(self.idle_s),
            "NEARLINE_MODEL_DIR": "" if self.model_dir is None else str(self.model_dir),
            "NEARLINE_TREATMENTS": self.treatments,
            "NEARLINE_TOP_K": str(self.top_k),
            "NEARLINE_RESCORE_MS": str(self.rescore_ms),
            "NEARLINE_RESCORE_BATCH": str(self.rescore_batch),
        }

    def labeller(self) -> Labeller:
        """The labeller these settings configure (worker, demo and tests alike)."""
        return Labeller(
            self.autoplay_rule,
            window_ms=int(self.window_s * 1000),
            lateness_ms=int(self.lateness_s * 1000),
            min_views=self.min_views,
        )

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def contract_topics(self) -> list[str]:
        """Every topic of the external contract plus the internal ones."""
        return [*ACTIVITY_TOPICS, *CATALOG_TOPICS, *OUTPUT_TOPICS, *INTERNAL_TOPICS]
