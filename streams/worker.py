"""The Quix Streams worker: topics, stages and their state. Glue only: every decision is
made by the core packages (schemas, labels, models, scoring).

    impressions, clicks, autoplays, dismissals, members, member-updates, clock-ticks
        (keyed by member, co-partitioned) -> member stage (state: label state, GLMix
        member state) -> labels, deadletter; course halves -> course-labels; cohort
        positives -> cohort-labels; profile skills in/out of cohorts -> cohort-profiles;
        accepted autoplays -> watch-views; debounced rescores -> recommendations
    course-labels (by course) -> course stage -> course-effects (beta_c, popularity)
    cohort-labels (by cohort) -> cohort stage -> cohort-trends
    cohort-profiles (by cohort) -> cohort skills stage -> cohort-skills
    watch-views (by course, and by partial of the global statistics) -> watch stage
        -> watch-stats
    courses -> dead-lettered when bad (each partition on one worker)
    courses, course-effects, cohort-trends, cohort-skills, watch-stats -> every worker,
        in memory

The members changed since the last rescore are scored in the worker's rescorer process
(`streams.rescorer`), on another core, while the member stage goes on; their lists come
back and are produced in the member stage's transaction.

A worker serves from the start: a trained version of the model folder, else the prior
model (`streams.served`), whose member and course effects it learns from the first labels.

Processing is exactly-once: outputs, state changelogs and consumer offsets commit in one
Kafka transaction. Nothing about one record or one member stops the worker: a record
that cannot be used is dead-lettered, a member whose rescore fails is logged; nor does
a transaction that fails: the worker resumes from its last commit (`Worker.run`).
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from functools import reduce
from typing import Any

from confluent_kafka import KafkaException, TopicPartition
from quixstreams import Application, message_context
from quixstreams.dataframe import StreamingDataFrame
from quixstreams.sinks import BaseSink
from quixstreams.state.base import State
from quixstreams.state.metadata import SEPARATOR

from labels import MemberLabelState, WatchStats
from labels.due import DueIndex
from labels.partition import PartitionClocks
from labels.shared import VideoStats, add_view, global_stats, partial_key, stats_of
from models.learner import (
    MEMBERS_KEPT,
    CourseState,
    CourseUpdate,
    MemberState,
    dismiss,
    provisional_click,
)
from nearline.config import (
    CLOCK_TICKS,
    COHORT_LABELS,
    COHORT_PROFILES,
    COHORT_SKILLS,
    COHORT_TRENDS,
    COURSE_EFFECTS,
    COURSE_LABELS,
    MEMBER_UPDATES,
    WATCH_STATS,
    WATCH_VIEWS,
    Settings,
)
from nearline.metrics import Metrics
from nearline.topics import partition_of
from schemas import (
    ACTIVITY_TOPICS,
    KIND_TOPICS,
    Autoplay,
    Click,
    DeadLetter,
    Dismissal,
    Label,
    Member,
    RecordError,
    dead_letter_key,
    parse,
    parse_activity,
)
from scoring.cohort_skills import CohortSkills, SkillUpdate, skill_updates
from scoring.debounce import Debouncer, widen_for
from scoring.trending import CohortCounts, CohortUpdate, cohort_updates, engage
from streams.admin import topic_manager
from streams.decoded import Decoded
from streams.outputs import Out, Outputs
from streams.rescorer import Block, Rescorer, Scored
from streams.served import Served, checked_course
from streams.ticks import Ticker
from streams.web import Endpoints

log = logging.getLogger(__name__)

LABEL_STATE = b"l"  # member store: MemberLabelState
MEMBER_STATE = b"m"  # member store: MemberState (GLMix member half, history, profile)
VALUE = b"v"  # course, cohort and watch stores: the key's one value
COMMIT_S = 0.1  # a transaction per this much processing: what readers wait at most
MODEL_POLL_S = 5.0  # how often the model folder is looked at for a newer version
LAG_POLL_S = 1.0
RESCORE_BLOCK = 256  # members scored together (scoring.recommend.Recommender.recommend_many)
# Behind by more than this many records, a worker rescores less often. It commits as
# often as ever: watch statistics reach other partitions' thresholds through committed
# transactions, and a catch-up runs event time fast, so a longer transaction would
# delay them by hours of event time, past the lateness that keeps labels exact.
BEHIND_RECORDS = 1000
TICK_S = 0.1  # how often time passes on a partition where nothing arrives
# A killed worker's open transaction holds every read-committed reader of what it wrote
# (lists, labels, the stages' topics) until the broker aborts it: this long, not
# librdkafka's 60 s. A transaction commits every COMMIT_S; one the broker aborts (it
# stayed open through an outage) ends the run, and the worker starts over.
TRANSACTION_TIMEOUT_MS = 10_000
RESTART_S = 1.0  # after a failed run: an error that repeats is not retried in a tight loop


class BeforeCommit(BaseSink):
    """Calls `hook` as every checkpoint starts to commit, while its transaction is
    still open (Quix flushes its sinks first): what the hook writes and produces
    commits with the records processed since the last commit. Takes no records."""

    def __init__(self, hook: Callable[[], None]) -> None:
        super().__init__()
        self.hook = hook

    def add(self, *args: Any, **kwargs: Any) -> None:
        pass

    def flush(self) -> None:
        self.hook()


class Worker:
    """Stages, the state they share in memory, and the Quix application running them."""

    def __init__(self, settings: Settings, loglevel: str = "WARNING") -> None:
        self.settings = settings
        self.labeller = settings.labeller()
        self.bounds = settings.bounds()
        self.clocks = PartitionClocks(self.labeller.lateness_ms, settings.idle_s)
        self.served = Served(settings)
        self.debounce: Debouncer[bytes, MemberState] = Debouncer(settings.rescore_ms)
        self.rescorer = Rescorer(settings, loglevel)
        # the rescore running: its members not answered yet (but for partitions that
        # left since), and its blocks not answered yet
        self.rescoring: dict[bytes, tuple[MemberState, float]] = {}
        self.asked, self.rescore_s = 0, 0.0  # and the rescorer's time for it so far
        self.due: dict[int, DueIndex[bytes]] = {}  # partition -> members the sweep has work for
        self.seeded: set[int] = set()  # partitions whose stored members `due` holds
        self.swept: dict[int, int] = {}  # partition -> watermark of its last sweep
        kept = MEMBERS_KEPT  # decoded states, per kind
        self.label_states = Decoded[bytes, MemberLabelState](MemberLabelState.from_bytes, kept)
        self.member_states = Decoded[bytes, MemberState](MemberState.from_bytes, kept)
        self.view_stats = Decoded[bytes, WatchStats](stats_of, kept)  # watch stage
        self.cohort_skill_states = Decoded[bytes, CohortSkills](CohortSkills.from_bytes, kept)
        # Learned in the next flush (`_flush`), with the member and label states changed
        # and the state of each member's partition: labels of many events learn
        # together, and a member's states are written once for all their events
        self.unlearned: list[tuple[MemberState, Label]] = []
        self.unwritten: dict[bytes, tuple[MemberState, State]] = {}
        self.unwritten_labels: dict[bytes, tuple[MemberLabelState, State]] = {}
        self.metrics = Metrics("nearline")
        # lag not known (NaN) until every owned partition has been fetched once
        self.status: dict[str, Any] = {"partitions": [], "lag": float("nan")}
        self.follower = self.served.follower()
        self._polled = {"model": time.monotonic(), "lag": 0.0}
        self.done: dict[tuple[str, int], int] = {}  # next offset after the last processed
        self.resumed: dict[tuple[str, int], int] = {}  # the group's committed offsets
        self.drained: set[tuple[str, int]] = set()  # inputs with nothing left to read
        # activity topic -> the kind of its records (a source of the clock)
        self.kinds = {settings.topic(topic): kind for kind, topic in KIND_TOPICS.items()}
        self.ticker = Ticker(
            settings.bootstrap, settings.topic(CLOCK_TICKS), settings.partitions, TICK_S
        )
        self.endpoints = Endpoints(
            settings.web_host, settings.web_port, self.health, self.render_metrics
        )
        self.loglevel = loglevel.upper()
        self._start_app()

    def _start_app(self) -> None:
        """A new Quix application (consumer, transactional producer, stores) running
        the stages from the group's last commit."""
        self.app = Application(
            broker_address=self.settings.bootstrap,
            consumer_group=self.settings.app_id,
            auto_offset_reset="earliest",
            processing_guarantee="exactly-once",
            commit_interval=COMMIT_S,
            state_dir=str(self.settings.data_dir),
            loglevel=self.loglevel,
            consumer_extra_config={
                "session.timeout.ms": 10_000,
                "heartbeat.interval.ms": 2000,
            },
            # murmur2, as every producer here: keyed outputs are co-partitioned with input
            producer_extra_config={
                "partitioner": "murmur2_random",
                "linger.ms": 5,
                "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
            },
            on_message_processed=self._processed,
            broker_availability_timeout=0,  # a broker away is waited for, never fatal
            topic_manager=topic_manager(self.settings.bootstrap, self.settings.app_id),
        )
        self.topics = {name: self._topic(name) for name in self._names()}
        self.outputs = Outputs(self.app, {n: t.name for n, t in self.topics.items()})
        self._build()

    @staticmethod
    def _names() -> tuple[str, ...]:
        return (
            *ACTIVITY_TOPICS,
            "members",
            "courses",
            "labels",
            "deadletter",
            "recommendations",
            MEMBER_UPDATES,
            CLOCK_TICKS,
            COURSE_LABELS,
            COURSE_EFFECTS,
            COHORT_LABELS,
            COHORT_TRENDS,
            COHORT_PROFILES,
            COHORT_SKILLS,
            WATCH_VIEWS,
            WATCH_STATS,
        )

    def _topic(self, name: str):
        return self.app.topic(
            self.settings.topic(name),
            key_deserializer="bytes",
            value_deserializer="bytes",
        )

    def _stage(
        self, names: tuple[str, ...], step: Callable[..., list[Out]], stateful: bool = True
    ) -> StreamingDataFrame:
        frames = [self.app.dataframe(self.topics[n]) for n in names]
        sdf = reduce(lambda a, b: a.concat(b), frames)
        return sdf.update(self._guarded(step), stateful=stateful, metadata=True)

    def _guarded(self, step: Callable[..., list[Out]]) -> Callable[..., None]:
        """`step`, its outputs produced with the record's timestamp. Nothing about one
        record stops the worker: an error while handling it is logged and the record
        dead-lettered with it. The labels it queued are not learned; the states its
        member's earlier records changed are still written at the next flush, with
        whatever the failed one had changed in them already."""

        def guarded(value: bytes | None, key: bytes | None, ts: int, *rest: Any) -> None:
            waiting = len(self.unlearned)
            try:
                outs = step(value, key, ts, *rest)
            except Exception as error:
                self._drop_decoded()  # a state changed in memory may not have been written
                del self.unlearned[waiting:]  # nor are its labels learned
                ctx = message_context()
                log.exception("record %s:%s@%s failed", ctx.topic, ctx.partition, ctx.offset)
                outs = []
                self._dead(outs, key, value, f"{type(error).__name__}: {error}")
            self.outputs.produce(outs, ts)

        return guarded

    def _build(self) -> None:
        member_in = (*ACTIVITY_TOPICS, "members", MEMBER_UPDATES, CLOCK_TICKS)
        self._stage(member_in, self.member)
        self._stage((COURSE_LABELS,), self.course)
        self._stage((COHORT_LABELS,), self.cohort)
        self._stage((COHORT_PROFILES,), self.cohort_skills)
        self._stage((WATCH_VIEWS,), self.count_view)
        courses = self._stage(("courses",), self.check_course, stateful=False)
        courses.sink(BeforeCommit(self._flush_at_commit))  # flushed at every commit
        # `concat` turns on Quix's alignment of partitions by timestamp, which waits for
        # a partition to be at its end as long as the partition's last offset is a
        # transaction marker (forever, on topics written transactionally). The member
        # stage's clock merges its sources by event time itself (labels.clock).
        self.app._dataframe_registry._requires_time_alignment = False  # no public switch

    def run(self) -> None:
        """Until SIGINT/SIGTERM (Quix's handlers stop the run loop).

        Whatever else ends Quix's run (a transaction the broker refused because the group
        forgot this member while the broker was away, say) aborts its transaction; the
        worker then starts over from the group's last commit, as a new process would."""
        threads = (self.follower, self.ticker, self.endpoints, self.rescorer)
        for thread in threads:
            thread.start()
        try:
            while True:
                try:
                    self.app.run()
                    return
                except Exception:
                    log.exception("processing stopped; resuming from the last commit")
                if self._stopped_within(RESTART_S):
                    return
                self._restart()
        finally:
            for thread in threads:
                thread.stop()

    def health(self) -> dict[str, Any]:
        lag = self.status["lag"]
        known = None if math.isnan(lag) else lag
        model = self.served.model_name  # None before the catalog (no prior yet)
        return {
            "status": "ok",
            "app": self.settings.app_id,
            **self.status,
            "model": model,
            "lag": known,
        }

    def render_metrics(self) -> str:
        gauges = {
            "consumer_lag": (
                self.status["lag"],
                "records not yet processed, this worker's partitions",
            ),
            "catalog_courses": (len(self.served.known), "courses in this worker's catalog"),
            "cohort_skills": (
                len(self.served.cohort_skills.cohorts),
                "title and industry cohorts whose skills this worker knows",
            ),
            "members_indexed": (
                len(self.served.lists),
                "members with a list written by this worker",
            ),
            "rescores_pending": (len(self.debounce), "members waiting for or in a rescore"),
        }
        return self.metrics.render(gauges)

    def _processed(self, topic: str, partition: int, offset: int) -> None:
        self.done[topic, partition] = offset + 1

    # -- the member stage ------------------------------------------------------------

    def member(
        self, value: bytes | None, key: bytes | None, ts: int, headers: Any, state: State
    ) -> list[Out]:
        ctx = message_context()
        topic = ctx.topic.removeprefix(self.settings.topic_prefix)
        outs: list[Out] = []
        self._follow(outs)
        now = time.time()
        if topic == CLOCK_TICKS:
            if self.clocks.tick(ctx.partition, now, self._drained(ctx.partition)):
                self._sweep(ctx.partition, state, outs)
            self._periodic(now)
        elif topic == MEMBER_UPDATES:
            self._request(key, state)
        elif topic == "members":
            self._profile(value, key, state, outs)
        else:
            self._activity(topic, value, key, state, outs)
        self._rescore(now * 1000, outs)
        return outs

    def _dead(
        self, outs: list[Out], key: bytes | None, raw: bytes | None, error: RecordError | str
    ) -> None:
        ctx = message_context()
        dead = DeadLetter.of(raw, ctx.topic, ctx.partition, ctx.offset, error)
        self.metrics.inc("deadletters", help="records sent to the deadletter topic")
        outs.append(Out("deadletter", dead_letter_key(key) or b"", dead.to_bytes()))

    def _activity(
        self, topic: str, value: bytes | None, key: bytes | None, state: State, outs: list[Out]
    ) -> None:
        self.metrics.inc("events_in", help="activity records consumed from the contract topics")
        record = parse_activity(topic, key, value, int(time.time() * 1000), self.bounds)
        if isinstance(record, RecordError):
            self._dead(outs, key, value, record)
            return
        partition = message_context().partition
        dismissal = isinstance(record, Dismissal)
        new_day = self.clocks.observe(partition, record.kind, record.ts, time.time())
        labels_of = self._label_state(key, state)
        videos = VideoStats(self.served.watch)
        everyone = global_stats(self.served.watch, self.settings.partitions)
        # the sweeps this member had no work in, as if it had been advanced in them
        caught_up = self.labeller.advance(labels_of, self.swept.get(partition, 0), videos, everyone)
        out = self.labeller.step(
            labels_of, record, videos, everyone, self.clocks.watermark_ms(partition)
        )
        if labels_of.member_id:  # kept once an event of the member is accepted
            self._set_label_state(key, state, labels_of)
            self._remember(partition, key, labels_of)
        learned = self._labels([(key, state, [*caught_up, *out.labels])], outs).get(key)
        serving = out.accepted and self.served.recommender is not None
        if out.accepted and isinstance(record, Autoplay):
            view = value or b""
            outs.append(Out(WATCH_VIEWS, record.course_id.encode(), view))
            outs.append(Out(WATCH_VIEWS, partial_key(partition).encode(), view))
        if serving and isinstance(record, Click):
            learned = learned or self._member(key, state)
            self.unlearned.append((learned, provisional_click(record)))
        if serving and dismissal:  # no label: the member's lists change
            self._flush(outs)  # after the labels that came before it
            learned = learned or self._member(key, state)
            dismiss(learned, record)
        if learned is not None:
            self._changed(key, learned, state)
        for reject in out.rejects:
            self._dead(outs, key, value, reject.error)
        if new_day:
            self._sweep(partition, state, outs)

    def _label_state(self, key: bytes, state: State) -> MemberLabelState:
        return self._known_label_state(key, state) or MemberLabelState()

    def _known_label_state(self, key: bytes, state: State) -> MemberLabelState | None:
        unwritten = self.unwritten_labels.get(key)
        if unwritten is not None:
            return unwritten[0]
        raw = state.get_bytes(LABEL_STATE)
        return self.label_states.get(key, raw) if raw else None

    def _set_label_state(self, key: bytes, state: State, labels_of: MemberLabelState) -> None:
        """Written at the next flush."""
        self.unwritten_labels[key] = labels_of, state

    def _remember(self, partition: int, key: bytes, labels_of: MemberLabelState) -> None:
        """When the member next has work, for the daily sweep."""
        self.due.setdefault(partition, DueIndex()).set(key, self.labeller.due_ms(labels_of))

    def _labels(
        self, closed: list[tuple[bytes, State, list[Label]]], outs: list[Out]
    ) -> dict[bytes, MemberState]:
        """Labels out, per member (key, state, labels); the members learn those not
        learned when their click arrived, at the next flush. Returns the states that
        change."""
        for key, _, labels in closed:
            for label in labels:
                outs.append(Out("labels", key, label.model_dump_json().encode()))
        count = sum(len(labels) for *_, labels in closed)
        self.metrics.inc("labels_out", count, help="labels produced")
        learned: dict[bytes, MemberState] = {}
        if self.served.recommender is None:
            return learned
        pairs = []
        for key, state, labels in closed:
            for label in labels:
                if label.source != "click":
                    if key not in learned:
                        learned[key] = self._member(key, state)
                    pairs.append((learned[key], label))
        self.unlearned += pairs
        return learned

    def _member(self, key: bytes, state: State) -> MemberState:
        known = self._known_member(key, state)
        if known is not None:
            return known
        if self.served.recommender is None:  # no catalog yet: laid out once there is one
            return MemberState.empty(0)
        return self.served.learner.new_member()

    def _known_member(self, key: bytes, state: State) -> MemberState | None:
        """The member's state, waiting to be written or stored; None before any."""
        unwritten = self.unwritten.get(key)
        if unwritten is not None:
            return unwritten[0]
        raw = state.get_bytes(MEMBER_STATE)
        return self.member_states.get(key, raw) if raw else None

    def _changed(self, key: bytes, member: MemberState, state: State) -> None:
        """`member` changed (or will, at the next flush): written then, rescored after."""
        self.unwritten[key] = member, state
        self.debounce.mark(key, member, time.time() * 1000)

    def _flush(self, outs: list[Out]) -> None:
        """Write the label states changed since the last flush, learn the labels
        waiting, all together, and write the member states changed: before anything
        reads those states from the stores or learns from them (a rescore, a sweep, a
        profile, a dismissal) and before every commit. The course halves go to the
        courses' partitions, positives to the partitions of the members' cohorts (the
        profile is known here only)."""
        labelled, self.unwritten_labels = self.unwritten_labels, {}
        for key, (labels_of, state) in labelled.items():
            raw = labels_of.to_bytes()
            state.set_bytes(LABEL_STATE, raw)
            self.label_states.put(key, raw, labels_of)
        pairs, self.unlearned = self.unlearned, []
        changed, self.unwritten = self.unwritten, {}
        try:
            updates = self.served.learner.learn_members(pairs) if pairs else []
        except Exception:
            # a state may have changed in memory only: the stores' last states stand
            self._drop_decoded()
            members = sorted({label.member_id for _, label in pairs})
            log.exception("learning %d labels of members %s failed", len(pairs), members[:20])
            return
        for (member, _), update in zip(pairs, updates, strict=True):
            if update is None:
                continue
            outs.append(Out(COURSE_LABELS, update.course_id.encode(), update.to_json()))
            for cohort in cohort_updates(member.member, update.course_id, update.y, update.ts):
                outs.append(Out(COHORT_LABELS, cohort.cohort.encode(), cohort.to_json()))
        for key, (member, state) in changed.items():
            raw = member.to_bytes()
            state.set_bytes(MEMBER_STATE, raw)
            self.member_states.put(key, raw, member)

    def _flush_at_commit(self) -> None:
        """`_flush` as a checkpoint commits, its transaction still open: the outputs
        are produced here, in it."""
        if not (self.unlearned or self.unwritten or self.unwritten_labels):
            return
        outs: list[Out] = []
        self._flush(outs)
        self.outputs.produce(outs)

    def _profile(
        self, value: bytes | None, key: bytes | None, state: State, outs: list[Out]
    ) -> None:
        try:
            member = parse(Member, value, channels=self.settings.channels)
            if key != member.member_id.encode():
                raise RecordError(f"key {key!r} is not the member_id {member.member_id!r}")
        except RecordError as error:
            self._dead(outs, key, value, str(error))
            return
        self._flush(outs)  # the labels before it learn with the profile they came under
        state_of = self._member(key, state)  # rescored once there is a model, if not yet
        for update in skill_updates(state_of.member, member):  # stored with the profile
            outs.append(Out(COHORT_PROFILES, update.cohort.encode(), update.to_json()))
        state_of.member = member
        self._changed(key, state_of, state)

    def _request(self, key: bytes, state: State) -> None:
        """A rescore asked for by a change of the catalog (the member holds the course)."""
        member = self._known_member(key, state)
        if member is not None and self.served.recommender is not None:
            self.debounce.mark(key, member, time.time() * 1000)

    def _sweep(self, partition: int, state: State, outs: list[Out]) -> None:
        """A new day on this partition: advance every member with work below its
        watermark; the others catch up with it at their next event."""
        watermark = self.clocks.watermark_ms(partition)
        videos, everyone = (
            VideoStats(self.served.watch),
            global_stats(self.served.watch, self.settings.partitions),
        )
        index = self.due.setdefault(partition, DueIndex())
        if partition not in self.seeded:  # first sweep since the partition came here
            for key, raw in stored_label_states(state):
                index.setdefault(key, self.labeller.due_ms(MemberLabelState.from_bytes(raw)))
            self.seeded.add(partition)
        self.swept[partition] = max(watermark, self.swept.get(partition, 0))
        closed = []
        for key in index.take_before(watermark):
            other = state_of_key(state, key)
            labels_of = self._known_label_state(key, other)
            if labels_of is None:
                continue
            labels = self.labeller.advance(labels_of, watermark, videos, everyone)
            self._set_label_state(key, other, labels_of)
            self._remember(partition, key, labels_of)
            closed.append((key, other, labels))
        states = {key: other for key, other, _ in closed}
        for key, learned in self._labels(closed, outs).items():
            self._changed(key, learned, states[key])
        self._flush(outs)

    # -- rescoring ---------------------------------------------------------------------

    def _rescore(self, now_ms: float, outs: list[Out]) -> None:
        """The lists the rescorer sent back, out; once it has answered the whole last
        rescore, the members changed since go to it when due, as stored."""
        results = self.rescorer.results
        while results:
            self._rescored(results.popleft(), outs)
        if self.served.recommender is None or not self.debounce.due(now_ms):
            return
        self._flush(outs)  # the members as learned
        self.rescoring = self.debounce.take()
        keys = list(self.rescoring)
        catalog = self.follower.position(self.served.catalog_topic)
        for at in range(0, len(keys), RESCORE_BLOCK):
            block = keys[at : at + RESCORE_BLOCK]
            members = [(k, self._stored(k, self.rescoring[k][0])) for k in block]
            self.rescorer.submit(Block(self.served.artifact, members, catalog))
            self.asked += 1

    def _stored(self, key: bytes, member: MemberState) -> bytes:
        """The member's state as written (encoded again only if it was not)."""
        raw = self.member_states.raw(key, member)
        return member.to_bytes() if raw is None else raw

    def _rescored(self, scored: Scored, outs: list[Out]) -> None:
        """One block's lists, out, but for members whose partitions left meanwhile; a
        block the rescorer could not score yet waits for the next rescore."""
        self.asked -= 1
        done_ms = time.time() * 1000
        for key, courses, record in scored.lists:
            changed = self.rescoring.get(key)
            if changed is None:
                continue
            outs.append(Out("recommendations", key, record))
            self.served.index(key.decode(), courses)
            self.metrics.observe(
                "rescore_delay_seconds",
                max(done_ms - changed[1], 0) / 1000,
                "first change of a member -> their new list produced",
            )
        for key in scored.keys:
            changed = self.rescoring.pop(key, None)
            if scored.early and changed is not None:  # in the next rescore, as changed
                self.debounce.again(key, *changed)
        self.rescore_s += scored.cost_s
        if scored.keys:
            per = scored.cost_s / len(scored.keys)
            self.metrics.observe("rescore_seconds", per, "time to rescore one member")
        self.metrics.inc("rescored", len(scored.lists), help="lists written")
        lists, cost = len(scored.lists), scored.cost_s
        log.info("rescored %d of %d members in %.3f s", lists, len(scored.keys), cost)
        if not self.asked:
            self.debounce.done(done_ms, self.rescore_s * 1000)
            self.rescore_s = 0.0

    # -- what every worker follows -----------------------------------------------------

    def _follow(self, outs: list[Out]) -> None:
        """Apply what the follower read since the last record (this thread only)."""
        for course_id in self.served.catch_up(self.follower):
            for member_id in self.served.holding(course_id):
                outs.append(Out(MEMBER_UPDATES, member_id.encode(), b"{}"))

    def _periodic(self, now: float) -> None:
        mono = time.monotonic()
        if mono - self._polled["model"] >= MODEL_POLL_S:
            self._polled["model"] = mono
            self.served.roll_in()
        if mono - self._polled["lag"] >= LAG_POLL_S:
            self._polled["lag"] = mono
            self._measure_lag()

    def _measure_lag(self) -> None:
        """Partitions owned and records not processed yet (ticks left out), from the
        consumer's position to the partition's end. The position passes what no record
        reports (transaction markers, a killed worker's aborted outputs). A partition
        assigned again has no position until something new is fetched: there, where
        processing got to, or the group's committed offset."""
        consumer = self.app._consumer  # Quix has no public handle on its consumer
        ticks = self.settings.topic(CLOCK_TICKS)
        try:
            inputs = {t.name for t in self.topics.values()}
            owned = [tp for tp in consumer.assignment() if tp.topic in inputs]
            lag, drained, unknown = 0, set(), False
            for tp in consumer.position(owned):  # from this process: no request
                if tp.topic == ticks:
                    continue
                # cached: from the last fetch, no request (one would queue behind fetches)
                low, high = consumer.get_watermark_offsets(tp, cached=True)
                if high < 0:
                    unknown = True  # not fetched yet
                    continue
                at = tp.offset
                if at < 0:
                    at = self.done.get((tp.topic, tp.partition)) or self._resumes_at(tp, low)
                behind = max(0, high - at)
                lag += behind
                if not behind:
                    drained.add((tp.topic, tp.partition))
        except KafkaException:
            return  # the broker is away: the last figures stand
        self.drained = set() if unknown else drained
        mine = sorted(tp.partition for tp in owned if tp.topic == ticks)
        for gone in set(self.status["partitions"]) - set(mine):
            self._forget(gone)
        self.status["partitions"] = mine
        self.status["lag"] = float("nan") if unknown else lag
        self.debounce.widen = widen_for(lag, BEHIND_RECORDS)

    def _drained(self, partition: int) -> list[str]:
        """The activity kinds with nothing left to read on `partition`, as last measured."""
        return [self.kinds[t] for t, p in self.drained if p == partition and t in self.kinds]

    def _resumes_at(self, tp: TopicPartition, low: int) -> int:
        """The group's committed offset, else the partition's first (asked once: a
        partition with nothing new since this worker took it over has no position)."""
        key = (tp.topic, tp.partition)
        if key not in self.resumed:
            consumer = self.app._consumer
            (at,) = consumer.committed([TopicPartition(*key)], timeout=5)
            self.resumed[key] = at.offset if at.offset >= 0 else low
        return self.resumed[key]

    def _drop_decoded(self) -> None:
        """Forget the decoded states: the stores' bytes are read again."""
        for decoded in (
            self.label_states,
            self.member_states,
            self.view_stats,
            self.cohort_skill_states,
        ):
            decoded.clear()

    @staticmethod
    def _stopped_within(seconds: float) -> bool:
        """Wait `seconds`, or less if SIGINT or SIGTERM comes (True then): between two
        runs, Quix's handlers still belong to the run that ended."""
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        return stop.wait(seconds)

    def _restart(self) -> None:
        """Drop what the aborted transaction's records left in memory (every partition
        leaves and comes back, states are read again) and start a new application."""
        for partition in set(self.status["partitions"]) | set(self.due) | set(self.swept):
            self._forget(partition)
        self._drop_decoded()
        self.unlearned, self.unwritten, self.unwritten_labels = [], {}, {}
        self.done.clear()
        self.drained = set()
        self.status.update(partitions=[], lag=float("nan"))
        self._start_app()

    def _forget(self, partition: int) -> None:
        """A partition left: its new owner has the say on its members now."""
        log.info("partition %d left this worker", partition)
        self.clocks.forget(partition)
        self.due.pop(partition, None)
        self.seeded.discard(partition)
        self.resumed = {k: v for k, v in self.resumed.items() if k[1] != partition}
        self.done = {k: v for k, v in self.done.items() if k[1] != partition}
        self.swept.pop(partition, None)
        n = self.settings.partitions

        def gone(key: bytes) -> bool:
            return partition_of(key, n) == partition

        self.debounce.forget(gone)
        self.rescoring = {k: v for k, v in self.rescoring.items() if not gone(k)}

    # -- the other stages --------------------------------------------------------------

    def course(self, value: bytes, key: bytes, ts: int, headers: Any, state: State) -> list[Out]:
        if self.served.recommender is None:
            return []
        outs: list[Out] = []
        self._follow(outs)  # the model's course half reads the catalog
        raw = state.get_bytes(VALUE)
        course = CourseState.from_bytes(raw) if raw else CourseState()
        course = self.served.learner.learn_courses(course, CourseUpdate.many_from_json(value))
        raw = course.to_bytes()
        state.set_bytes(VALUE, raw)
        return [*outs, Out(COURSE_EFFECTS, key, raw)]

    def cohort(self, value: bytes, key: bytes, ts: int, headers: Any, state: State) -> list[Out]:
        raw = state.get_bytes(VALUE)
        counts = CohortCounts.from_bytes(raw) if raw else CohortCounts()
        for update in CohortUpdate.many_from_json(value):
            counts = engage(counts, update.course_id, ts=update.ts)
        raw = counts.to_bytes()
        state.set_bytes(VALUE, raw)
        return [Out(COHORT_TRENDS, key, raw)]

    def cohort_skills(
        self, value: bytes, key: bytes, ts: int, headers: Any, state: State
    ) -> list[Out]:
        raw = state.get_bytes(VALUE)
        skills = self.cohort_skill_states.get(key, raw) if raw else CohortSkills()
        skills = skills.apply(SkillUpdate.from_json(value))
        raw = skills.to_bytes()
        state.set_bytes(VALUE, raw)
        self.cohort_skill_states.put(key, raw, skills)
        return [Out(COHORT_SKILLS, key, raw)]

    def count_view(
        self, value: bytes, key: bytes, ts: int, headers: Any, state: State
    ) -> list[Out]:
        view = Autoplay.model_validate_json(value)
        raw = state.get_bytes(VALUE)
        stats = self.view_stats.get(key, raw) if raw else WatchStats()
        offset, keep_days = message_context().offset, self.labeller.keep_days
        counted = add_view(raw, offset, view.watched_s, view.ts, keep_days, stats)
        if counted is None:
            return []
        state.set_bytes(VALUE, counted)
        self.view_stats.put(key, counted, stats)
        return [Out(WATCH_STATS, key, counted)]

    def check_course(
        self, value: bytes | None, key: bytes | None, ts: int, headers: Any
    ) -> list[Out]:
        outs: list[Out] = []
        try:
            checked_course(key, value)
        except RecordError as error:
            self._dead(outs, key, value, str(error))
        return outs


def stored_label_states(state: State) -> Iterator[tuple[bytes, bytes]]:
    """Members and their label states as the store of the state's partition holds them
    (as of its last commit)."""
    suffix = SEPARATOR + LABEL_STATE
    store = state._transaction._partition  # Quix offers no public way to list keys
    for k, raw in store.iter_items(lower_bound=b""):
        if k.endswith(suffix):
            yield k[: -len(suffix)], raw


def state_of_key(state: State, key: bytes) -> State:
    """The state of another key of the same partition, in the same transaction (the
    daily sweep advances every member of a partition while one record is processed)."""
    return state._transaction.as_state(prefix=key)  # Quix offers no public way
