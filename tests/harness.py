"""Test plumbing for the real broker: a worker subprocess and exact topic reads.

Every wait polls a condition against a deadline; nothing sleeps in place of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from nearline.broker import free_port
from nearline.config import Settings

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout_s: float, what: str, interval_s: float = 0.2) -> T:
    """Poll `check` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(interval_s)


def end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return consumer.end_offsets(partitions) if partitions else {}
    finally:
        consumer.close()


def read_topic(bootstrap: str, topic: str) -> list:
    """Every record currently in `topic`, from the beginning up to its end offsets."""
    ends = {tp: end for tp, end in end_offsets(bootstrap, topic).items() if end > 0}
    if not ends:
        return []
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    consumer.assign(list(ends))
    consumer.seek_to_beginning(*ends)
    records = []
    try:
        deadline = time.monotonic() + 30
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end")
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(
                    r for r in batch if r.offset < ends[TopicPartition(r.topic, r.partition)]
                )
    finally:
        consumer.close()
    return records


def group_caught_up(bootstrap: str, group: str, topics: list[str]) -> bool:
    """True when `group` has committed the end offset of every partition of `topics`."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        committed = admin.list_group_offsets(group).get(group, {})
    except KafkaError as e:
        if e.retriable:  # the offsets topic or the group coordinator is still coming up
            return False
        raise
    finally:
        admin.close()
    for topic in topics:
        for tp, end in end_offsets(bootstrap, topic).items():
            if end and (tp not in committed or committed[tp].offset < end):
                return False
    return True


@dataclass
class Worker:
    settings: Settings
    proc: subprocess.Popen
    log: Path

    def get(self, path: str) -> tuple[int, dict]:
        url = f"http://127.0.0.1:{self.settings.web_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"worker exited: {self.log.read_text()[-2000:]}")
        with contextlib.suppress(OSError):
            return self.get("/health")[0] == 200
        return False


@contextlib.contextmanager
def running_worker(bootstrap: str, workdir: Path, prefix: str) -> Iterator[Worker]:
    """A real `nearline worker` process on its own topics (prefix), port and state dir."""
    settings = Settings(
        bootstrap=bootstrap,
        topic_prefix=prefix,
        app_id=f"{prefix}nearline",
        web_port=free_port(),
        data_dir=workdir / "state",
    )
    env = os.environ | {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "NEARLINE_TOPIC_PREFIX": prefix,
        "NEARLINE_APP_ID": settings.app_id,
        "NEARLINE_WEB_PORT": str(settings.web_port),
        "NEARLINE_DATA_DIR": str(settings.data_dir),
    }
    log = workdir / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nearline", "worker", "--loglevel", "info"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    worker = Worker(settings, proc, log)
    try:
        wait_until(worker.healthy, 90, "the worker's /health")
        yield worker
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
