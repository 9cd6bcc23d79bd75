"""Near-line model updates, rescoring and the served recommendations: glue only.

    labels, members, member-updates (by member) -> update_member -> member-state
    course-labels (by course) -> update_course -> course-state, whose changelog
        `course-effects` every worker follows into its in-memory scorer (beta_c, CTR)
    cohort-labels (by title or industry cohort) -> update_cohort -> cohort-state, whose
        changelog `cohort-trends` every worker follows into memory (trending sources)
    courses (all partitions, every worker) -> catalog; a changed course -> rescore
        requests for the members whose lists hold it (reverse index)
    a changed member -> rescored at once, or, within `rescore_ms` of their last rescore,
        once more by a request the timer sends -> recommendations table, whose changelog
        is the compacted `recommendations` topic

Table writes must happen while the member's own record is being processed (Faust
writes the changelog to that record's partition), so the debounced rescore is a request
on the member's partition rather than work done in the timer. Every decision is made by
`models.learner` and `scoring.recommend`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from pathlib import Path

import aiohttp
import faust
from aiokafka import AIOKafkaConsumer
from faust.exceptions import SameNode
from faust.web.exceptions import ServiceUnavailable

from models.catalog import Catalog
from models.glmix import GLMixModel, newest_artifact
from models.learner import (
    CourseState,
    CourseUpdate,
    Learner,
    MemberState,
    dismiss,
    provisional_click,
)
from models.scorer import Scorer
from nearline.config import (
    COHORT_LABELS,
    COHORT_TRENDS,
    COURSE_EFFECTS,
    COURSE_LABELS,
    MEMBER_UPDATES,
    Settings,
)
from schemas import Click, Course, Dismissal, Label, Member, Recommendations, RecordError, parse
from scoring.recommend import Recommender, parse_treatments
from scoring.trending import CohortCounts, CohortUpdate, Trends, cohort_updates, engage
from streams.app import (
    app,
    dead_letter,
    member_updates,
    metrics,
    owned_partitions,
    raw_table,
    raw_topic,
    settings,
    status,
)

log = logging.getLogger(__name__)
MODEL_POLL_S = 5.0

courses_in = raw_topic("courses")
course_labels = raw_topic(COURSE_LABELS)
cohort_labels = raw_topic(COHORT_LABELS)
member_input = raw_topic("labels", "members", MEMBER_UPDATES)
member_state = raw_table("member-state", "member_id -> MemberState")
course_state = raw_table(
    "course-state", "course_id -> CourseState", changelog=raw_topic(COURSE_EFFECTS)
)
cohort_state = raw_table(
    "cohort-state", "title:... or industry:... -> CohortCounts", changelog=raw_topic(COHORT_TRENDS)
)
recommendations = raw_table(
    "recommendations", "member_id -> compact record", changelog=raw_topic("recommendations")
)


class Serving:
    """The worker's in-memory side of serving: model, catalog (every course), the members
    to rescore, and the reverse index course -> members of this worker whose lists hold it.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self.treatments = parse_treatments(settings.treatments, settings.channels)
        self.recommender: Recommender | None = None
        self.artifact: Path | None = None
        self.catalog_ready = asyncio.Event()
        self.dirty: dict[bytes, float] = {}  # member key -> wall time first changed
        # member key -> wall time of its last rescore, oldest first, for `rescore_ms` only
        self.rescored: OrderedDict[bytes, float] = OrderedDict()
        self.known: dict[str, Course] = {}  # last valid record of every course
        self.pending: dict[str, CourseState] = {}  # effects of courses not yet in the catalog
        self.trends = Trends()  # every cohort's counts, from `cohort-trends`
        self.lists: dict[str, tuple[str, ...]] = {}  # member -> courses of their record
        self.holders: dict[str, set[str]] = {}  # the reverse: course -> members
        self.indexed: list[int] | None = None  # partitions the reverse index covers
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
        status["model"] = artifact.name
        log.info("model %s loaded (%d courses in the catalog)", artifact, len(catalog))

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
        """Members of this worker whose lists hold the course (index rebuilt from the
        local table after a rebalance, then kept up to date on every write)."""
        mine = owned_partitions()
        if mine != self.indexed:
            self.lists.clear()
            self.holders.clear()
            for key, raw in recommendations.items():
                self.index(key.decode(), Recommendations.model_validate_json(raw).courses)
            self.indexed = mine
        return list(self.holders.get(course_id, ()))


serving = Serving(settings)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _load_member(key: bytes) -> MemberState:
    raw = member_state.get(key)
    return MemberState.from_bytes(raw) if raw else serving.learner.new_member()


def _rescore(key: bytes, requested_ms: float, state: MemberState | None = None) -> None:
    """Write the member's record (the current event is theirs: changelog partition);
    `state` when the caller holds it, else read from the table."""
    if state is None:
        raw = member_state.get(key)
        if raw is None:
            return
        state = MemberState.from_bytes(raw)
    start = time.perf_counter()
    member_id = key.decode()
    serving.dirty.pop(key, None)
    serving.rescored.pop(key, None)
    serving.rescored[key] = now = _now_ms()
    record = serving.recommender.recommend(member_id, state, now)
    recommendations[key] = record.model_dump_json().encode()
    serving.index(member_id, record.courses)
    metrics.observe("rescore_seconds", time.perf_counter() - start, "time to rescore one member")
    metrics.observe(
        "rescore_delay_seconds",
        max(_now_ms() - requested_ms, 0) / 1000,
        "first change of a member -> their new list written",
    )


async def _learn(state: MemberState, label: Label) -> None:
    """Member half now; the course half goes to the course's partition, a positive to
    the partitions of the member's cohorts (the profile is known here only)."""
    update = serving.learner.learn_member(state, label)
    if update is None:
        return
    await course_labels.send(key=label.course_id.encode(), value=update.to_json())
    for cohort in cohort_updates(state.member, update.course_id, update.y, update.ts):
        await cohort_labels.send(key=cohort.cohort.encode(), value=cohort.to_json())


@app.agent(member_input)
async def update_member(stream: faust.StreamT) -> None:
    """Labels, profiles and dismissals (keyed by member) -> member state; rescore requests
    -> the member's recommendations."""
    async for event in stream.events():
        if serving.recommender is None:
            continue  # no model configured: labelling only
        await serving.catalog_ready.wait()
        msg = event.message
        topic = msg.topic.removeprefix(settings.topic_prefix)
        if topic == MEMBER_UPDATES:
            request = json.loads(msg.value)
            if request["kind"] == "rescore":
                _rescore(msg.key, request["since_ms"])
                continue
            state = _load_member(msg.key)
            if request["kind"] == "click":
                await _learn(state, provisional_click(Click.model_validate(request)))
            else:
                dismiss(state, Dismissal.model_validate(request))
        elif topic == "members":
            try:
                member = parse(Member, msg.value, channels=settings.channels)
                if msg.key != member.member_id.encode():
                    raise RecordError(f"key {msg.key!r} is not the member_id {member.member_id!r}")
            except RecordError as error:
                await dead_letter(msg, msg.value or b"", str(error))
                continue
            state = _load_member(msg.key)
            state.member = member
        else:
            label = parse(Label, msg.value, channels=settings.channels)
            if label.source == "click":
                continue  # learned from the click itself, when it arrived
            state = _load_member(msg.key)
            await _learn(state, label)
        member_state[msg.key] = state.to_bytes()
        _changed(msg.key, state)


def _changed(key: bytes, state: MemberState) -> None:
    """Debounce on both edges: the first change after a quiet period is scored at once
    (the current event is the member's), later ones within `rescore_ms` wait for the
    timer, which requests one rescore for all of them."""
    now = _now_ms()
    if key in serving.dirty or now - serving.rescored.get(key, 0) < settings.rescore_ms:
        serving.dirty.setdefault(key, now)
    else:
        _rescore(key, now, state)


@app.agent(course_labels)
async def update_course(stream: faust.StreamT) -> None:
    """Course halves of labels (keyed by course) -> beta_c and popularity; the table's
    changelog (`course-effects`) carries them to every worker."""
    async for event in stream.events():
        if serving.recommender is None:
            continue
        raw = course_state.get(event.message.key)
        state = CourseState.from_bytes(raw) if raw else CourseState()
        update = CourseUpdate.from_json(event.message.value)
        course_state[event.message.key] = serving.learner.learn_course(state, update).to_bytes()


@app.agent(cohort_labels)
async def update_cohort(stream: faust.StreamT) -> None:
    """Positives of a cohort's members (keyed by cohort) -> its decayed counts; the
    table's changelog (`cohort-trends`) carries them to every worker."""
    async for event in stream.events():
        raw = cohort_state.get(event.message.key)
        counts = CohortCounts.from_bytes(raw) if raw else CohortCounts()
        update = CohortUpdate.from_json(event.message.value)
        cohort_state[event.message.key] = engage(counts, update.course_id, ts=update.ts).to_bytes()


@app.agent(courses_in)
async def check_courses(stream: faust.StreamT) -> None:
    """Dead-letters bad catalog records once (every worker reads the catalog, this agent
    sees each partition on one worker only)."""
    async for event in stream.events():
        msg = event.message
        try:
            _course(msg.key, msg.value)
        except RecordError as error:
            await dead_letter(msg, msg.value or b"", str(error))


def _course(key: bytes | None, raw: bytes | None) -> Course:
    course = parse(Course, raw)
    if key != course.course_id.encode():
        raise RecordError(f"key {key!r} is not the course_id {course.course_id!r}")
    return course


@app.task
async def follow_catalog() -> None:
    """Every course, course effect and cohort trend, from the start, into memory on every
    worker; after the first catch-up a changed course rescores the members holding it."""
    if serving.recommender is None:
        return
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        names = tuple(settings.topic(n) for n in ("courses", COURSE_EFFECTS, COHORT_TRENDS))
        consumer.subscribe(names)  # no group: every partition, from the start
        end: dict | None = None  # offsets to reach before serving (once assigned)
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
            for tp, records in batches.items():
                if tp.topic == names[1]:
                    for r in records:
                        serving.apply_effect(r.key.decode(), CourseState.from_bytes(r.value))
                    continue
                if tp.topic == names[2]:
                    for r in records:
                        serving.trends.cohorts[r.key.decode()] = CohortCounts.from_bytes(r.value)
                    continue
                courses = []
                for r in records:
                    try:
                        courses.append(_course(r.key, r.value))
                    except RecordError:
                        continue  # dead-lettered by check_courses
                changed = serving.upsert(courses)
                for course_id in changed if serving.catalog_ready.is_set() else ():
                    for member_id in serving.holding(course_id):
                        await _request_rescore(member_id.encode(), _now_ms())
            if serving.catalog_ready.is_set():
                continue
            tps = consumer.assignment()
            if end is None and {tp.topic for tp in tps} == set(names):
                end = await consumer.end_offsets(list(tps))
            if end is not None and all([await consumer.position(tp) >= end[tp] for tp in end]):
                log.info("catalog loaded: %d courses", len(serving.known))
                serving.catalog_ready.set()
    finally:
        await consumer.stop()


async def _request_rescore(key: bytes, since_ms: float) -> None:
    value = json.dumps({"kind": "rescore", "since_ms": since_ms}).encode()
    await member_updates.send(key=key, value=value)


@app.timer(interval=settings.rescore_ms / 1000)
async def request_rescores() -> None:
    """Debounce: members changed since the last tick are rescored once, at most
    `rescore_batch` per tick (the rest wait for the next)."""
    for key in list(serving.dirty)[: settings.rescore_batch]:
        await _request_rescore(key, serving.dirty.pop(key))
    quiet_since = _now_ms() - settings.rescore_ms
    rescored = serving.rescored
    while rescored and next(iter(rescored.values())) < quiet_since:
        rescored.popitem(last=False)


@app.timer(interval=MODEL_POLL_S)
async def roll_in_models() -> None:
    """A newer artifact in the model folder replaces the model without a restart."""
    if settings.model_dir is None or serving.recommender is None:
        return
    newest = newest_artifact(settings.model_dir)
    if newest != serving.artifact:
        serving.load(newest)


@app.page("/recommendations/{member_id}")
async def get_recommendations(
    web: faust.web.View, request: faust.web.Request, member_id: str
) -> faust.web.Response:
    """Answered by the worker that owns the member's partition; others forward to it."""
    try:
        # the router hashes with the producer's metadata, known only for topics it wrote
        # to: fetch it for the table's topic (a dictionary lookup once known)
        await app.producer._ensure_producer().partitions_for(settings.topic("recommendations"))
        return await app.router.route_req(recommendations.name, member_id, web, request)
    except SameNode:
        return _serve(web, request, member_id)
    except (ServiceUnavailable, aiohttp.ClientError) as e:
        error = f"the worker owning {member_id!r} is not reachable now, retry ({e!r})"
        return web.json({"error": error}, status=503)


def _serve(web: faust.web.View, request: faust.web.Request, member_id: str) -> faust.web.Response:
    channels = sorted(settings.channels)
    channel = request.query.get("channel", "feed" if "feed" in channels else channels[0])
    if channel not in settings.channels:
        return web.json({"error": f"unknown channel {channel!r} (known: {channels})"}, status=400)
    try:
        limit = int(request.query.get("limit", settings.top_k))
        if not 1 <= limit <= 1000:
            raise ValueError
    except ValueError:
        return web.json({"error": "limit must be an integer from 1 to 1000"}, status=400)
    raw = recommendations.get(member_id.encode())
    if raw is None:
        return web.json({"error": f"no recommendations for member {member_id!r} yet"}, status=404)
    try:
        view = Recommendations.model_validate_json(raw).view(channel, limit)
    except KeyError:
        return web.json({"error": f"member {member_id!r} has no {channel} list"}, status=404)
    return web.json(view.model_dump(mode="json"))


@app.page("/metrics")
async def get_metrics(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
    monitor = app.monitor
    lag = sum(
        max(end - monitor.tp_committed_offsets.get(tp, 0), 0)
        for tp, end in monitor.tp_end_offsets.items()
    )
    catalog = len(serving.known)
    gauges = {
        "consumer_lag": (lag, "records not yet committed, over this worker's partitions"),
        "catalog_courses": (catalog, "courses in this worker's catalog"),
        "members_indexed": (
            len(serving.lists),
            "members with a list on this worker (reverse index)",
        ),
        "rescores_pending": (len(serving.dirty), "members waiting for a rescore"),
    }
    body = metrics.render(gauges)
    return web.text(body, content_type="text/plain; version=0.0.4")
