"""The worker's in-memory side of serving: model, catalog (every course), course effects,
cohort trends and skills, and the reverse index course -> members of this worker whose
lists hold it. Touched by the processing thread only.

Without a trained version (no model folder, or one with no version in it yet) the worker
serves the prior model (`models.prior`) from the moment the catalog is in, learning
every member's and course's effects near-line from the first labels; the first version
written to the model folder rolls in over it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from models.catalog import Catalog
from models.glmix import ArtifactError, GLMixModel, newest_artifact
from models.learner import CourseState, Learner
from models.prior import PRIOR_VERSION, prior_model
from models.scorer import Scorer
from models.spec import FeatureSpec
from nearline.config import COHORT_SKILLS, COHORT_TRENDS, COURSE_EFFECTS, WATCH_STATS, Settings
from schemas import Course, RecordError, parse
from scoring.cohort_skills import CohortSkills
from scoring.recommend import Recommender, parse_treatments
from scoring.trending import CohortCounts, Trends
from streams.follow import Follower, Record, newest

log = logging.getLogger(__name__)
FOLLOWED = ("courses", COURSE_EFFECTS, COHORT_TRENDS, COHORT_SKILLS, WATCH_STATS)  # every worker


class Served:
    """Model and catalog of one worker; None recommender until there is a model to serve:
    a trained version at once, the prior once the catalog holds a course."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.treatments = parse_treatments(settings.treatments, settings.channels)
        self.recommender: Recommender | None = None
        self.artifact: Path | None = None  # None: the prior (or nothing) is served
        self.known: dict[str, Course] = {}  # last valid record of every course
        self.pending: dict[str, CourseState] = {}  # effects of courses not yet in the catalog
        self.effects: dict[str, CourseState] = {}  # newest near-line effect of every course
        self.trends = Trends()  # every cohort's counts, from `cohort-trends`
        self.cohort_skills = settings.cohort_skill_table()  # from `cohort-skills`
        self.watch: dict[str, bytes] = {}  # every partition's watch statistics
        self.lists: dict[str, tuple[str, ...]] = {}  # member -> courses of their record
        self.holders: dict[str, set[str]] = {}  # the reverse: course -> members
        self.followed = {settings.topic(n): n for n in FOLLOWED}  # topic -> unprefixed name
        self.catalog_topic = settings.topic("courses")
        self.whole = {t for t, n in self.followed.items() if n != "courses"}  # keys' states
        newest = self.newest()
        if newest is not None:
            self.load(newest)

    @property
    def learner(self) -> Learner:
        assert self.recommender is not None
        return self.recommender.learner

    @property
    def model_name(self) -> str | None:
        """The served version's name, `prior` on a cold start, None before either."""
        if self.recommender is None:
            return None
        return self.recommender.model_version

    def newest(self) -> Path | None:
        """The model folder's newest version, None without a folder or a version in it."""
        if self.settings.model_dir is None:
            return None
        try:
            return newest_artifact(self.settings.model_dir)
        except ArtifactError:
            return None

    def load(self, artifact: Path) -> None:
        """Bind a model artifact to the catalog (at start, and to roll in a new version)."""
        self._serve(GLMixModel.load(artifact), artifact.name)
        self.artifact = artifact
        log.info("model %s loaded (%d courses in the catalog)", artifact, len(self.known))

    def start_cold(self) -> None:
        """No trained version: serve the prior model, its category vocabulary the
        catalog's now (categories added later share the spec's unseen-category slot
        until a trained version knows them)."""
        if self.recommender is not None or not self.known:
            return
        self._serve(prior_model(FeatureSpec.for_courses(self.known.values())), PRIOR_VERSION)
        log.info("no model yet: serving the prior (%d courses in the catalog)", len(self.known))

    def _serve(self, model: GLMixModel, version: str) -> None:
        """Score with `model` from now on: the catalog, its popularity and the cohorts'
        signals stay (a catalog laid out by another spec is laid out anew)."""
        old = self.recommender
        if old is not None and old.learner.spec == model.spec:
            catalog = old.learner.scorer.catalog
        else:
            catalog = Catalog(model.spec, self.known.values())
            for course_id, state in self.effects.items():
                if course_id in catalog.index:
                    catalog.set_stats(catalog.row(course_id), state.stats)
        self.recommender = Recommender(
            Learner(Scorer(model, catalog), self.cohort_skills.effective_skills),
            self.treatments,
            k=self.settings.top_k,
            model_version=version,
            trends=self.trends,
        )
        for course_id in [c for c in self.pending if c in catalog.index]:
            self.apply_effect(course_id, self.pending.pop(course_id))

    def roll_in(self) -> None:
        """A newer artifact in the model folder replaces the model (or the prior) without
        a restart."""
        newest = self.newest()
        if newest is not None and newest != self.artifact:
            self.load(newest)

    def apply_effect(self, course_id: str, state: CourseState) -> None:
        """A course's near-line beta_c and popularity, into the scorer and catalog."""
        self.effects[course_id] = state
        row = None if self.recommender is None else self.learner.scorer.catalog.index.get(course_id)
        if row is None:
            self.pending[course_id] = state
            return
        scorer = self.learner.scorer
        if state.beta is not None:
            scorer.set_course(course_id, state.beta.mean)
        scorer.catalog.set_stats(row, state.stats)

    def follower(self) -> Follower:
        """A reader of the followed topics, for `catch_up` (not started)."""
        return Follower(self.settings.bootstrap, list(self.followed))

    def catch_up(self, follower: Follower) -> list[str]:
        """Apply what `follower` read since the last call (waiting, the first time, for
        what the topics held when it started: nothing is scored, nor a prior model
        served, before the catalog); the ids of known courses that changed."""
        if not follower.caught_up.is_set():
            follower.caught_up.wait()
        if not follower.batches:
            return []
        return self.follow(follower.drain())

    def follow(self, records: Iterable[Record]) -> list[str]:
        """Apply records of the followed topics, in order; the ids of known courses
        that changed. A key's state is decoded once per call (`newest`)."""
        courses: list[Course] = []
        for topic, key, value in newest(records, self.whole):
            name = self.followed[topic]
            if name == WATCH_STATS:
                self.watch[key.decode()] = value
            elif name == COHORT_TRENDS:
                self.trends.cohorts[key.decode()] = CohortCounts.from_bytes(value)
            elif name == COHORT_SKILLS:
                self.cohort_skills.put(key.decode(), CohortSkills.from_bytes(value))
            elif name == COURSE_EFFECTS:
                self.apply_effect(key.decode(), CourseState.from_bytes(value))
            else:
                try:
                    courses.append(checked_course(key, value))
                except RecordError:
                    continue  # dead-lettered by the courses stage
        if not courses:
            return []
        changed = self.upsert(courses)
        self.start_cold()
        return changed

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


def checked_course(key: bytes | None, raw: bytes | None) -> Course:
    course = parse(Course, raw)
    if key != course.course_id.encode():
        raise RecordError(f"key {key!r} is not the course_id {course.course_id!r}")
    return course
