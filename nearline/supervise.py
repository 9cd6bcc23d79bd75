"""Run a `nearline worker` or `nearline serve` as a child process and wait for it by
condition, not by time.

Used by the demo and by the integration tests, so both start them the same way.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from kafka import KafkaConsumer, TopicPartition

from nearline.broker import free_port
from nearline.config import Settings
from nearline.topics import read_topic
from schemas import Recommendations

T = TypeVar("T")
LOG_TAIL_LINES = 200  # of a child process's log, told when a test around it fails
LAST_LINE_CHARS = 300  # of a child process's log, in the error when it exits early


def wait_until(check: Callable[[], T], timeout_s: float, what: str, interval_s: float = 0.2) -> T:
    """Poll `check` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(interval_s)


def read_at_least(bootstrap: str, topic: str, n: int, timeout_s: float, what: str) -> list:
    """Every committed record of `topic` once it holds at least `n` (see `read_topic`)."""
    return wait_until(
        lambda: (records := read_topic(bootstrap, topic)) and len(records) >= n and records,
        timeout_s,
        what,
    )


class WorkerExited(RuntimeError):
    """The worker process ended while something was waiting for it."""


class TopicLists:
    """Members' latest lists as the `recommendations` topic holds them (read committed),
    followed from its start: what a reader service serves."""

    def __init__(self, settings: Settings) -> None:
        self.consumer = KafkaConsumer(
            bootstrap_servers=settings.bootstrap,
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        topic = settings.topic("recommendations")
        self.partitions = [TopicPartition(topic, p) for p in range(settings.partitions)]
        self.consumer.assign(self.partitions)
        self.consumer.seek_to_beginning()
        self.latest: dict[str, bytes] = {}

    def get(self, member_id: str) -> Recommendations | None:
        """The member's newest record once everything committed so far is read."""
        ends = self.consumer.end_offsets(self.partitions)
        deadline = time.monotonic() + 30
        while any(self.consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise TimeoutError("could not read the recommendations topic to its end")
            for records in self.consumer.poll(timeout_ms=50, max_records=10_000).values():
                self.latest.update((r.key.decode(), r.value) for r in records)
        raw = self.latest.get(member_id)
        return None if raw is None else Recommendations.model_validate_json(raw)

    def close(self) -> None:
        self.consumer.close()


@dataclass
class Worker:
    settings: Settings
    proc: subprocess.Popen
    log: Path
    lists: TopicLists | None = None

    def get(self, path: str) -> tuple[int, dict]:
        """(status, JSON body) of a GET on the worker's web server."""
        status, body = self.fetch(path)
        return status, json.loads(body)

    def text(self, path: str) -> str:
        status, body = self.fetch(path)
        if status != 200:
            raise RuntimeError(f"GET {path}: HTTP {status}")
        return body.decode()

    def recommendations(self, member_id: str, limit: int = 10) -> dict | None:
        """The member's feed list as a reader serves it (read from the `recommendations`
        topic), or None while they have none."""
        if self.lists is None:
            self.lists = TopicLists(self.settings)
        record = self.lists.get(member_id)
        if record is None:
            return None
        view = record.view("feed", limit).model_dump(mode="json")
        return view if view["items"] else None

    def metrics(self) -> dict[str, float]:
        """`/metrics` as {sample name with labels: value}."""
        samples = (line.rsplit(" ", 1) for line in self.text("/metrics").splitlines())
        return {name: float(value) for name, value in samples if not name.startswith("#")}

    def fetch(self, path: str) -> tuple[int, bytes]:
        url = f"http://127.0.0.1:{self.settings.web_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def raw(self, request: bytes) -> tuple[int, dict]:
        """(status, JSON body) of `request` sent as is, bytes the HTTP client would not send
        (a malformed request line, an over-long head); the server closes after it."""
        with socket.create_connection(("127.0.0.1", self.settings.web_port), timeout=5) as s:
            s.sendall(request)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(body)

    def healthy(self) -> bool:
        """Up, and the process answering is this one: another server on the port (or
        another deployment's) reports another app id, or no JSON at all."""
        code = self.proc.poll()
        if code is not None:
            lines = self.log.read_text(errors="replace").splitlines() or ["(nothing)"]
            last = lines[-1].strip()[:LAST_LINE_CHARS]
            command = self.proc.args[3]
            raise WorkerExited(f"the {command} process exited ({code}), log {self.log}: {last}")
        with contextlib.suppress(OSError, ValueError):
            status, body = self.get("/health")
            return status == 200 and body.get("app") == self.settings.app_id
        return False


def settled(worker: Worker) -> Callable[[], bool]:
    """A check for `wait_until`: nothing left to consume and no rescore waiting, on two
    polls in a row (one quiet poll can fall between a record and the rescore it asks for)."""
    quiet_polls = 0

    def check() -> bool:
        nonlocal quiet_polls
        m = worker.metrics()
        idle = m["nearline_consumer_lag"] == 0 and m["nearline_rescores_pending"] == 0
        quiet_polls = quiet_polls + 1 if idle else 0
        return quiet_polls >= 2

    return check


def partitions_split(workers: list[Worker]) -> list[set[int]] | None:
    """Each worker's partitions once together they own every partition exactly once
    (a rebalance has settled), else None."""
    owned = [set(w.get("/health")[1]["partitions"]) for w in workers]
    n = workers[0].settings.partitions
    together = set().union(*owned)
    return owned if all(owned) and together == set(range(n)) and sum(map(len, owned)) == n else None


@contextlib.contextmanager
def running_worker(
    settings: Settings, log: Path, timeout_s: float = 90, tell_tail: bool = True
) -> Iterator[Worker]:
    """A real `nearline worker` process, stopped (SIGTERM, then SIGKILL) when the block ends;
    `tell_tail`: the end of its log goes to stderr if the block fails (a test's report)."""
    with _running("worker", settings, log, timeout_s, tell_tail) as worker:
        yield worker


@contextlib.contextmanager
def running_reader(
    settings: Settings, log: Path, timeout_s: float = 90, tell_tail: bool = True
) -> Iterator[Worker]:
    """A real `nearline serve` process (answering, maybe still catching up), stopped when
    the block ends; its handle speaks HTTP like a worker's."""
    with _running("serve", settings, log, timeout_s, tell_tail) as reader:
        yield reader


@contextlib.contextmanager
def _running(
    command: str, settings: Settings, log: Path, timeout_s: float, tell_tail: bool
) -> Iterator[Worker]:
    env = os.environ | settings.to_env()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nearline", command, "--loglevel", "info"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    worker = Worker(settings, proc, log)
    try:
        wait_until(worker.healthy, timeout_s, f"the {command} process's /health")
        yield worker
    except BaseException:
        if tell_tail:  # the process's own account of the failure, in the test's report
            tail = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            print(f"--- last lines of the {command}'s log ---", *tail, sep="\n", file=sys.stderr)
        raise
    finally:
        if worker.lists is not None:
            worker.lists.close()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_command(
    command: str, settings: Settings, timeout_s: float = 120
) -> subprocess.CompletedProcess:
    """`nearline <command>` with `settings` to its end (one that refuses to start), output
    captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "nearline", command],
        env=os.environ | settings.to_env(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def isolated_settings(bootstrap: str, workdir: Path, prefix: str) -> Settings:
    """Settings of a deployment that shares the cluster with others: own topics (prefix),
    consumer group, web port and state folder."""
    return Settings(
        bootstrap=bootstrap,
        topic_prefix=prefix,
        app_id=f"{prefix}nearline",
        web_port=free_port(),
        data_dir=workdir / "state",
    )
