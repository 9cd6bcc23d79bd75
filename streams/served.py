"""The worker's in-memory side of serving: model, catalog (every course), course effects,
cohort trends, and the reverse index course -> members of this worker whose lists hold
it. Touched by the processing thread only."""

from __future__ import annotations

import logging
from pathlib import Path

from models.catalog import Catalog
from models.glmix import GLMixModel, newest_artifact
from models.learner import CourseState, Learner
from models.scorer import Scorer
from nearline.config import Settings
from schemas import Course
from scoring.recommend import Recommender, parse_treatments
from scoring.trending import Trends

log = logging.getLogger(__name__)


class Served:
    """Model and catalog of one worker; None recommender while no model is configured."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.treatments = parse_treatments(settings.treatments, settings.channels)
        self.recommender: Recommender | None = None
        self.artifact: Path | None = None
        self.known: dict[str, Course] = {}  # last valid record of every course
        self.pending: dict[str, CourseState] = {}  # effects of courses not yet in the catalog
        self.trends = Trends()  # every cohort's counts, from `cohort-trends`
        self.lists: dict[str, tuple[str, ...]] = {}  # member -> courses of their record
        self.holders: dict[str, set[str]] = {}  # the reverse: course -> members
        if settings.model_dir is not None:
            self.load(newest_artifact(settings.model_dir))

    @property
    def learner(self) -> Learner:
        assert self.recommender is not None
        return self.recommender.learner

    def load(self, artifact: Path) -> None:
        """Bind a model artifact to the catalog (at start, and to roll in a new version)."""
        model = GLMixModel.load(artifact)
        if self.recommender is None:
            catalog = Catalog(model.spec, self.known.values())
        else:
            catalog = self.learner.scorer.catalog  # courses and popularity stay
        self.recommender = Recommender(
            Learner(Scorer(model, catalog)),
            self.treatments,
            k=self.settings.top_k,
            model_version=artifact.name,
            trends=self.trends,
        )
        self.artifact = artifact
        log.info("model %s loaded (%d courses in the catalog)", artifact, len(catalog))

    def roll_in(self) -> None:
        """A newer artifact in the model folder replaces the model without a restart."""
        if self.settings.model_dir is None:
            return
        newest = newest_artifact(self.settings.model_dir)
        if newest != self.artifact:
            self.load(newest)

    def apply_effect(self, course_id: str, state: CourseState) -> None:
        """A course's near-line beta_c and popularity, into the scorer and catalog."""
        scorer = self.learner.scorer
        row = scorer.catalog.index.get(course_id)
        if row is None:
            self.pending[course_id] = state
            return
        if state.beta is not None:
            scorer.set_course(course_id, state.beta.mean)
        scorer.catalog.set_stats(row, state.stats)

    def upsert(self, courses: list[Course]) -> list[str]:
        """Add or replace courses; returns the ids of known courses that changed."""
        changed = [c.course_id for c in courses if self.known.get(c.course_id, c) != c]
        self.known.update((c.course_id, c) for c in courses)
        if self.recommender is not None:
            self.learner.scorer.catalog.upsert_many(courses)
            for c in courses:
                if c.course_id in self.pending:
                    self.apply_effect(c.course_id, self.pending.pop(c.course_id))
        return changed

    def index(self, member_id: str, courses: tuple[str, ...]) -> None:
        """The member's record now holds `courses`."""
        for course_id in set(self.lists.get(member_id, ())) - set(courses):
            self.holders[course_id].discard(member_id)
        for course_id in courses:
            self.holders.setdefault(course_id, set()).add(member_id)
        self.lists[member_id] = courses

    def holding(self, course_id: str) -> list[str]:
        """Members whose lists, as this worker wrote them, hold the course."""
        return sorted(self.holders.get(course_id, ()))
