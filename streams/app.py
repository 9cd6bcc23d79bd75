"""The Faust worker: topics, tables, agents and web views. Glue only: every decision is
made by the core packages (schemas, labels, models, scoring)."""

from __future__ import annotations

import asyncio
import json
import time

import faust

from labels import MemberLabelState
from labels.clock import IdleTimer, StreamClock
from labels.shared import VideoStats, count_view, global_stats
from nearline.config import ACTIVITY, CLOCK_TICKS, MEMBER_UPDATES, WATCH_VIEWS, Settings
from nearline.metrics import Metrics
from nearline.topics import partition_of
from schemas import (
    ACTIVITY_ADAPTER,
    ACTIVITY_TOPICS,
    Autoplay,
    Click,
    DeadLetter,
    Dismissal,
    RecordError,
    dead_letter_key,
    parse_activity,
)
from streams.assignor import declared_partitions_for_missing_changelogs
from streams.fence import Fence, Reprocessing, label_identity, topic_reader
from streams.outbox import Outbox, Output, pack, unpack
from streams.recovery import seek_before_resuming

settings = Settings.from_env()
seek_before_resuming()
declared_partitions_for_missing_changelogs()


def broker_url(bootstrap: str) -> str:
    """`host:port,host:port` -> Faust's `kafka://host:port;kafka://host:port`."""
    return ";".join(f"kafka://{hostport.strip()}" for hostport in bootstrap.split(","))


app = faust.App(
    settings.app_id,
    broker=broker_url(settings.bootstrap),
    store="rocksdb://",
    datadir=str(settings.data_dir),
    topic_partitions=settings.partitions,
    web_host=settings.web_host,
    web_port=settings.web_port,
    canonical_url=f"http://{settings.web_host}:{settings.web_port}",  # readers are routed here
    consumer_auto_offset_reset="earliest",
    producer_acks=-1,
    # Batches, not one request per record: agents forward every record they consume.
    producer_linger_ms=5,
    producer_max_batch_size=512 * 1024,
    # A killed worker's partitions move once its session expires: seconds, not a minute.
    broker_session_timeout=10.0,
    broker_heartbeat_interval=2.0,
)


def raw_topic(*names: str) -> faust.TopicT:
    """Bytes in, bytes out: records are parsed by `schemas`, never by Faust's codecs."""
    return app.topic(
        *(settings.topic(name) for name in names),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )


def raw_table(
    name: str, help: str, *, shared: bool = False, changelog: faust.TopicT | None = None
) -> faust.TableT:
    """A RocksDB table of bytes; `changelog` makes a contract topic the changelog (one
    write serves both the table's recovery and the topic's readers)."""
    make = app.GlobalTable if shared else app.Table
    # bytes key and value types make Faust's store and changelog use the raw codec
    return make(
        name,
        key_type=bytes,
        value_type=bytes,
        partitions=settings.partitions,
        changelog_topic=changelog,
        help=help,
    )


activity_in = raw_topic(*ACTIVITY_TOPICS)
activity = raw_topic(ACTIVITY)
deadletter = raw_topic("deadletter")
labels_out = raw_topic("labels")
watch_views = raw_topic(WATCH_VIEWS)
clock_ticks = raw_topic(CLOCK_TICKS)
label_input = raw_topic(ACTIVITY, CLOCK_TICKS)  # ticks land on the same partitions
member_updates = raw_topic(MEMBER_UPDATES)
metrics = Metrics("nearline")
status: dict[str, str] = {}  # more of what /health reports (e.g. the model version)

label_state = raw_table("label-state", "member_id -> MemberLabelState")
watch_stats = raw_table(
    "watch-stats", "course_id | *partition -> WatchStats (every worker)", shared=True
)

labeller = settings.labeller()
bounds = settings.bounds()
clocks: dict[int, StreamClock] = {}  # activity partition -> its event-time clock
idle = IdleTimer(idle_s=settings.idle_s)
# Outputs a re-processed record or a recovered outbox holds are fenced against what
# their topic holds already (see streams.outbox and streams.fence).
outputs = {"labels": labels_out, WATCH_VIEWS: watch_views, MEMBER_UPDATES: member_updates}


def _fence(name: str) -> Fence:
    reader = topic_reader(settings.bootstrap, settings.topic(name))
    # a label is its impression's, whatever it says; other outputs are their bytes
    return Fence(reader, label_identity) if name == "labels" else Fence(reader)


fences = {name: _fence(name) for name in outputs}
reprocessing = Reprocessing()
outbox = Outbox()


@app.on_partitions_assigned.connect
async def reset_fences(sender: faust.AppT, assigned: set, **kwargs: object) -> None:
    for tracker in (*fences.values(), reprocessing, outbox):
        tracker.reset()


async def dead_letter(
    msg: faust.types.Message, raw: bytes | None, error: RecordError | str
) -> None:
    dead = DeadLetter.of(raw, msg.topic, msg.partition, msg.offset, error)
    metrics.inc("deadletters", help="records sent to the deadletter topic")
    await deadletter.send(key=dead_letter_key(msg.key), value=dead.to_bytes())


@app.agent(activity_in)
async def validate(stream: faust.StreamT) -> None:
    """Contract activity topics -> `activity` keyed by member_id, or `deadletter`."""
    async for event in stream.events():
        msg = event.message
        topic = msg.topic.removeprefix(settings.topic_prefix)
        metrics.inc("events_in", help="activity records consumed from the contract topics")
        record = parse_activity(topic, msg.key, msg.value, int(time.time() * 1000), bounds)
        if isinstance(record, RecordError):
            await dead_letter(msg, msg.value, record)
            continue
        await activity.send(key=record.member_id.encode(), value=record.model_dump_json().encode())


def _load(key: bytes) -> tuple[MemberLabelState, list[Output]]:
    raw = label_state.get(key)
    if not raw:
        return MemberLabelState(), []
    state, stored = unpack(raw)
    return MemberLabelState.from_bytes(state), stored


def _store(key: bytes, state: MemberLabelState, stored: list[Output], new: list[Output]) -> None:
    """The state with every output not yet acknowledged: written before they are sent."""
    label_state[key] = pack(state.to_bytes(), outbox.unacknowledged(stored) + new)


async def _send(output: Output, since_ms: int) -> asyncio.Future | None:
    """Send unless the topic holds it already; the acknowledgement, not awaited."""
    fence = fences[output.topic]
    partition = partition_of(output.key, settings.partitions)
    await fence.cover(partition, min(since_ms, output.created_ms))
    if not fence.admit(partition, output.value):
        return None
    if output.topic == "labels":
        metrics.inc("labels_out", help="labels produced")
    topic = outputs[output.topic]
    return await topic.send(key=output.key, value=output.value, partition=partition)


async def _send_all(new: list[Output], since_ms: int) -> None:
    for output in new:
        outbox.track(output, await _send(output, since_ms))


async def _reconcile(partition: int, since_ms: int) -> None:
    """First record of a partition since the assignment: send what recovered outboxes
    hold and the output topics do not."""
    for key in _held(partition):
        await _send_all(_load(key)[1], since_ms)


def _held(partition: int) -> list[bytes]:
    """The members of a partition in the local label state (a scan of the table)."""
    return [k for k in label_state if partition_of(k, settings.partitions) == partition]


def _label_outputs(labels: list, now_ms: int) -> list[Output]:
    return [
        Output("labels", label.member_id.encode(), label.model_dump_json().encode(), now_ms)
        for label in labels
    ]


async def _sweep(partition: int, watermark_ms: int, since_ms: int) -> None:
    """A new day on this partition: advance every member it holds (closes idle windows)."""
    videos, everyone = VideoStats(watch_stats), global_stats(watch_stats, settings.partitions)
    now_ms = int(time.time() * 1000)
    for key in _held(partition):
        state, stored = _load(key)
        new = _label_outputs(labeller.advance(state, watermark_ms, videos, everyone), now_ms)
        _store(key, state, stored, new)
        await _send_all(new, since_ms)


@app.agent(label_input)
async def label(stream: faust.StreamT) -> None:
    """Validated activity (keyed by member) -> labels; member state in `label-state`."""
    async for event in stream.events():
        msg = event.message
        now = time.monotonic()
        now_ms = int(time.time() * 1000)
        since_ms = reprocessing.since(msg.topic, msg.partition, round(msg.timestamp * 1000))
        if outbox.first_since_assignment(msg.partition):
            await _reconcile(msg.partition, since_ms)
        record = None
        if msg.topic != settings.topic(CLOCK_TICKS):
            record = ACTIVITY_ADAPTER.validate_json(msg.value)
            if isinstance(record, Dismissal):  # no label: the member's lists change
                await _send(Output(MEMBER_UPDATES, msg.key, msg.value, now_ms), since_ms)
                continue
        clock = clocks.get(msg.partition)
        if clock is None:
            # No event-time hold near-line: a lagging source holds the watermark back
            # until it has been silent in wall time (see labels.clock).
            clock = clocks[msg.partition] = StreamClock(labeller.lateness_ms, None)
        if record is None:
            idle.touch(msg.partition, None, now)
            new_day = clock.tick(json.loads(msg.value)["ts"])
        else:
            idle.touch(msg.partition, record.kind, now)
            new_day = clock.observe(record.kind, record.ts)
            for source in idle.quiet(msg.partition, now):
                new_day |= clock.quiet(source)
            state, stored = _load(msg.key)
            videos = VideoStats(watch_stats)
            everyone = global_stats(watch_stats, settings.partitions)
            out = labeller.step(state, record, videos, everyone, clock.watermark_ms)
            new = _label_outputs(out.labels, now_ms)
            if out.accepted and isinstance(record, Autoplay):
                new.append(Output(WATCH_VIEWS, record.course_id.encode(), msg.value, now_ms))
            if out.accepted and isinstance(record, Click):  # learned at once: see serving
                new.append(Output(MEMBER_UPDATES, msg.key, msg.value, now_ms))
            _store(msg.key, state, stored, new)
            await _send_all(new, since_ms)
            for reject in out.rejects:
                await dead_letter(msg, msg.value, reject.error)
        if new_day:
            await _sweep(msg.partition, clock.watermark_ms, since_ms)


@app.agent(watch_views)
async def count_views(stream: faust.StreamT) -> None:
    """Accepted autoplays (keyed by course) -> video and global watch statistics."""
    async for event in stream.events():
        view = Autoplay.model_validate_json(event.message.value)
        count_view(
            watch_stats,
            view.course_id,
            event.message.partition,
            event.message.offset,
            view.watched_s,
            view.ts,
            labeller.keep_days,
        )


def owned_partitions() -> list[int]:
    """The activity partitions this worker processes."""
    active = app.assignor.assigned_actives()
    return sorted(tp.partition for tp in active if tp.topic == settings.topic(ACTIVITY))


@app.timer(interval=max(1.0, settings.idle_s / 2))
async def tick_idle_partitions() -> None:
    """Event time keeps passing on partitions where nothing arrives."""
    mine = [partition for partition in owned_partitions() if partition in clocks]
    for partition, passed_ms in idle.idle(mine, time.monotonic()):
        ts = max(clocks[partition].newest.values()) + passed_ms
        await clock_ticks.send(value=json.dumps({"ts": ts}).encode(), partition=partition)


@app.page("/health")
async def health(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
    mine = owned_partitions()
    return web.json({"status": "ok", "app": settings.app_id, "partitions": mine, **status})
