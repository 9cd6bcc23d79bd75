"""The reader: the compacted `recommendations` topic, followed into a local RocksDB table.

    recommendations (every partition, read committed, no consumer group) -> ListTable
    ListTable -> `nearline serve`'s HTTP (streams.reader_http), any member, no worker asked

A record and the offset after it are written in one batch, so a restarted reader goes on
from where it stopped instead of re-reading the topic; a tombstone deletes the member's
list. Readers share nothing: each follows the topic on its own into its own folder
(LinkedIn Venice's "Da Vinci" client), so more readers add serving capacity and none
affects the workers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition
from rocksdict import Options, Rdict, WriteBatch

from nearline.config import Settings
from streams.offsets import watermarks

log = logging.getLogger(__name__)

META = "meta"  # column family: offsets and the record count, beside the lists
RECORDS_KEY = b"records"
POLL_S = 0.05
BATCH = 5000  # records per consume call and per RocksDB write batch
METADATA_TIMEOUT_S = 10.0
RETRY_S = 1.0


class TableInUse(RuntimeError):
    """Another process holds the table's folder."""


def _offset_key(partition: int) -> bytes:
    return b"offset:%d" % partition


class ListTable:
    """Members' compact records (raw bytes as on the topic), the offset reached on each
    partition and how many members there are, in one RocksDB folder."""

    def __init__(self, path: Path):
        path.mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        options.create_missing_column_families(True)
        try:
            self.db = Rdict(str(path), options, column_families={META: Options(raw_mode=True)})
        except Exception as e:  # rocksdict raises a bare Exception for a held lock
            if "lock" in str(e).lower():
                raise TableInUse(f"{path} is in use by another reader") from None
            raise
        self.meta = self.db.get_column_family_handle(META)
        self._meta = self.db.get_column_family(META)
        self.records = int(self._meta.get(RECORDS_KEY) or 0)

    def get(self, member_id: bytes) -> bytes | None:
        return self.db.get(member_id)

    def offsets(self) -> dict[int, int]:
        """The next offset to read on each partition read so far."""
        prefix = _offset_key(0)[:-1]
        return {
            int(key[len(prefix) :]): int(value)
            for key, value in self._meta.items()
            if key.startswith(prefix)
        }

    def apply(self, messages: Sequence[Message]) -> None:
        """Store records (a None value deletes) and the offsets after them, atomically."""
        batch = WriteBatch(raw_mode=True)
        present: dict[bytes, bool] = {}
        offsets: dict[int, int] = {}
        count = self.records
        for m in messages:
            key, value = m.key(), m.value()
            offsets[m.partition()] = m.offset() + 1
            if key is None:
                continue  # not a member's record: nothing to serve it under
            was = present[key] if key in present else self.db.get(key) is not None
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
            present[key] = value is not None
            count += present[key] - was
        for partition, offset in offsets.items():
            batch.put(_offset_key(partition), b"%d" % offset, self.meta)
        batch.put(RECORDS_KEY, b"%d" % count, self.meta)
        self.db.write(batch)
        self.records = count

    def close(self) -> None:
        del self.meta, self._meta
        self.db.close()


@dataclass(frozen=True)
class Progress:
    """What `/health` reports: whether the reader has reached the end offsets the topic
    had when it started, records held, and records behind the topic's ends now."""

    caught_up: bool
    records: int
    lag: int | None  # None until the topic's partitions are known


class Follower:
    """Reads every partition of the topic from the table's offsets into the table, on a
    thread of its own; the HTTP side only reads the table and `progress`."""

    def __init__(self, settings: Settings, table: ListTable):
        self.settings = settings
        self.table = table
        self.topic = settings.topic("recommendations")
        self.progress = Progress(caught_up=False, records=table.records, lag=None)
        self.caught_up_s: float | None = None  # seconds from start to caught up
        self.read = 0  # records read from the topic by this process
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reader-follower", daemon=True)

    def start(self) -> Follower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _consumer(self) -> Consumer:
        return Consumer(
            {
                "bootstrap.servers": self.settings.bootstrap,
                "group.id": f"{self.settings.app_id}-reader",  # required, never joined
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 10,
                "queued.min.messages": 20_000,
                "logger": log,
            }
        )

    def _partitions(self, consumer: Consumer) -> list[int]:
        """The topic's partitions, waiting while it does not exist yet."""
        while not self._stop.is_set():
            try:
                meta = consumer.list_topics(self.topic, timeout=METADATA_TIMEOUT_S)
            except KafkaException as e:
                log.warning("no metadata for %s yet: %s", self.topic, e)
                continue
            topic = meta.topics.get(self.topic)
            if topic is not None and topic.error is None and topic.partitions:
                return sorted(topic.partitions)
            self._stop.wait(0.5)
        return []

    def _run(self) -> None:
        """Follow; a broker not reachable yet (or gone for a while) is waited for."""
        while not self._stop.is_set():
            try:
                self._follow()
                return
            except KafkaException as e:
                log.warning("following %s: %s; retrying", self.topic, e)
                self._stop.wait(RETRY_S)
            except BaseException as e:
                self.error = e
                log.exception("the reader stopped following %s", self.topic)
                return

    def _follow(self) -> None:
        started = time.monotonic()
        consumer = self._consumer()
        try:
            partitions = self._partitions(consumer)
            stored = self.table.offsets()
            tps = [
                TopicPartition(self.topic, p, stored.get(p, OFFSET_BEGINNING)) for p in partitions
            ]
            offsets = watermarks(
                consumer, [(self.topic, p) for p in partitions], METADATA_TIMEOUT_S
            )
            consumer.assign(tps)
            ends = {p: offsets[self.topic, p][1] for p in partitions}
            starts = {p: stored.get(p, offsets[self.topic, p][0]) for p in partitions}
            log.info("following %s from %s to %s", self.topic, starts, ends)
            caught_up = False
            while not self._stop.is_set():
                messages = consumer.consume(BATCH, POLL_S)
                good = [m for m in messages if m.error() is None]
                for m in messages:
                    if m.error() is not None:
                        log.warning("consumer: %s", m.error())
                if good:
                    self.table.apply(good)
                    self.read += len(good)
                reached, lag = self._positions(consumer, partitions, starts, ends)
                if not caught_up and reached:
                    caught_up = True
                    self.caught_up_s = time.monotonic() - started
                    log.info(
                        "caught up: %d records in %.1f s", self.table.records, self.caught_up_s
                    )
                self.progress = Progress(caught_up, self.table.records, lag)
        finally:
            consumer.close()

    def _positions(
        self,
        consumer: Consumer,
        partitions: list[int],
        starts: dict[int, int],
        ends: dict[int, int],
    ) -> tuple[bool, int]:
        """(every partition at the end it had at start, records behind the ends now).
        Positions count transaction markers, which the table's offsets cannot."""
        positions = consumer.position([TopicPartition(self.topic, p) for p in partitions])
        reached, lag = True, 0
        for tp in positions:
            position = tp.offset if tp.offset >= 0 else starts[tp.partition]
            _, high = consumer.get_watermark_offsets(tp, cached=True)
            high = max(high, ends[tp.partition])
            reached &= position >= ends[tp.partition]
            lag += max(high - position, 0)
        return reached, lag
