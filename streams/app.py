"""The Faust worker: topics, tables, agents and web views. Glue only: every decision is
made by the core packages (schemas, labels, models, scoring)."""

from __future__ import annotations

import faust

from nearline.config import ACTIVITY, Settings
from schemas import ACTIVITY_TOPICS, DeadLetter, RecordError, parse_activity

settings = Settings.from_env()


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
    consumer_auto_offset_reset="earliest",
    producer_acks=-1,
    # Batches, not one request per record: agents forward every record they consume.
    producer_linger_ms=5,
    producer_max_batch_size=512 * 1024,
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


activity_in = raw_topic(*ACTIVITY_TOPICS)
activity = raw_topic(ACTIVITY)
deadletter = raw_topic("deadletter")


@app.agent(activity_in)
async def validate(stream: faust.StreamT) -> None:
    """Contract activity topics -> `activity` keyed by member_id, or `deadletter`."""
    async for event in stream.events():
        msg = event.message
        topic = msg.topic.removeprefix(settings.topic_prefix)
        try:
            record = parse_activity(topic, msg.value, channels=settings.channels)
        except RecordError as error:
            dead = DeadLetter.of(msg.value or b"", msg.topic, msg.partition, msg.offset, str(error))
            await deadletter.send(key=msg.key, value=dead.model_dump_json().encode())
            continue
        await activity.send(key=record.member_id.encode(), value=record.model_dump_json().encode())


@app.page("/health")
async def health(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
    return web.json({"status": "ok", "app": settings.app_id})
