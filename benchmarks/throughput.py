"""Catch-up throughput of one worker, against a plain consumer over the same topics.

    .venv/bin/python benchmarks/throughput.py [--members 100000 --courses 1000 --days 13]

A simulated world is published whole (catalog, profiles, every activity event) into a
real broker, 4 partitions, before anything reads it. A batch model trained on the
log's first days is served by one `nearline worker` started afterwards. Events/s =
activity events / (worker process started -> every changed member's final list in
`recommendations`, nothing left to consume and no rescore pending). Covers validation,
labelling, member and course GLMix updates, cohorts, watch statistics, the debounced
rescoring and the exactly-once commits.

The same run times a confluent-kafka consume + `json.loads` loop over the same activity
topics from the start (one process, nothing else): what a plain consumer takes off the
broker, and the ratio between the two.

The last line printed is one JSON object: events_per_s, raw_events_per_s, ratio,
members, events, rss_mb (the peak resident memory of the worker and its rescorer
process), plus the conditions and events_per_cpu_s (events / the CPU seconds of both,
start to caught up): on a machine shared with other work, wall time measures the
others as well.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from labels.offline import run_labels_cli
from models.train import run_train_cli
from nearline.broker import any_broker
from nearline.config import Settings
from nearline.supervise import Worker, isolated_settings, running_worker, settled, wait_until
from nearline.topics import read_topic
from replay.logs import COURSES_FILE, EVENTS_FILE, MEMBERS_FILE, lines
from replay.publish import publish_log
from replay.simulate import simulate
from replay.world import DAY_MS, WorldConfig
from schemas import ACTIVITY_TOPICS, DeadLetter, Recommendations

LATENESS_S = 4 * 3600
TRAIN_DAYS = 2


def head_of(world: Path, out: Path, until_ms: int) -> Path:
    """The log's events before `until_ms` with its whole catalog and profiles."""
    out.mkdir()
    with (out / EVENTS_FILE).open("wb") as f:
        for _, line in lines(world / EVENTS_FILE):
            if json.loads(line)["ts"] < until_ms:
                f.write(line + b"\n")
    for name in (COURSES_FILE, MEMBERS_FILE):
        shutil.copy(world / name, out / name)
    return out


def train_model(log_dir: Path, work: Path) -> Path:
    """The folder of a batch model trained on the log's own offline labels."""
    labels = work / "labels.jsonl"
    rule, lateness_ms = "percentile:95:member", LATENESS_S * 1000
    run_labels_cli(log_dir, rule, labels, progress=False, close_open=True, lateness_ms=lateness_ms)
    run_train_cli(labels, log_dir, work / "models" / "v0001", progress=False, min_examples=3)
    return work / "models"


def served_settings(bootstrap: str, work: Path, model_dir: Path) -> Settings:
    """A deployment of its own serving the model; no idle ticks within a run."""
    return replace(
        isolated_settings(bootstrap, work, f"b{uuid.uuid4().hex[:6]}."),
        lateness_s=LATENESS_S,
        idle_s=3600,
        model_dir=model_dir,
        top_k=10,
    )


def raw_consume(bootstrap: str, topics: list[str], expected: int) -> float:
    """Events/s of a confluent-kafka consume + decode loop over `topics` from the start."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"raw-{uuid.uuid4().hex}", "log_level": 3}
    )
    metadata = consumer.list_topics(timeout=30)
    consumer.assign(
        [
            TopicPartition(t, p, OFFSET_BEGINNING)
            for t in topics
            for p in metadata.topics[t].partitions
        ]
    )
    seen = 0
    start = time.perf_counter()
    try:
        while seen < expected:
            for message in consumer.consume(10_000, 1.0):
                if message.error() is None:
                    json.loads(message.value())
                    seen += 1
        return seen / (time.perf_counter() - start)
    finally:
        consumer.close()


def tree(pid: int) -> list[int]:
    """Process `pid` and its descendants (the worker's rescorer process)."""
    out = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            out += tree(int(child))
    return out


def peak_rss_mb(pid: int) -> float:
    """The peak resident memory of process `pid` and its descendants, summed."""
    total = 0
    for p in tree(pid):
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` and its descendants so far."""
    total = 0
    for p in tree(pid):
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def catch_up(worker: Worker, started: float) -> tuple[float, int]:
    """Seconds from `started` (wall time of the worker's start) to its last list, once
    it has consumed everything and has no rescore pending; and the lists written."""
    wait_until(settled(worker), 3600, "the worker to catch up", interval_s=1.0)
    lists = read_topic(worker.settings.bootstrap, worker.settings.topic("recommendations"))
    last_ms = max(Recommendations.model_validate_json(r.value).generated_at for r in lists)
    return last_ms / 1000 - started, len(lists)


def dead_letter_errors(settings: Settings) -> dict[str, int]:
    """Dead letters by source topic and the start of their error: a simulated world
    sends nothing malformed, so any here is worth a look."""
    letters = read_topic(settings.bootstrap, settings.topic("deadletter"))
    errors = Counter()
    for r in letters:
        letter = DeadLetter.model_validate_json(r.value)
        errors[f"{letter.source_topic}: {letter.error[:60]}"] += 1
    return dict(errors.most_common(10))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--courses", type=int, default=1_000)
    parser.add_argument("--days", type=int, default=13)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    config = WorldConfig(members=args.members, courses=args.courses, days=args.days, seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="nearline-throughput-") as tmp:
        work = Path(tmp)
        counts = simulate(config, work / "world", progress=False)
        head = head_of(work / "world", work / "head", config.start_ms + TRAIN_DAYS * DAY_MS)
        model_dir = train_model(head, work)
        with any_broker(work / "kafka") as bootstrap:
            settings = served_settings(bootstrap, work, model_dir)
            published = publish_log(work / "world", settings, progress=False)
            events = sum(published[t] for t in ACTIVITY_TOPICS)
            topics = [settings.topic(t) for t in ACTIVITY_TOPICS]
            raw = raw_consume(bootstrap, topics, events)
            print(f"raw consume + decode: {raw:,.0f} events/s", flush=True)
            started = time.time()
            with running_worker(settings, work / "worker.log", timeout_s=300) as worker:
                seconds, lists = catch_up(worker, started)
                rss = peak_rss_mb(worker.proc.pid)
                cpu = cpu_s(worker.proc.pid)
                m = worker.metrics()
            errors = dead_letter_errors(settings)
        if errors:  # what the worker logged of them, before the folder goes
            log = (work / "worker.log").read_text(errors="replace").splitlines()
            print(*[line for line in log if "failed" in line][:20], sep="\n", file=sys.stderr)
    figures = {
        "events_per_s": round(events / seconds),
        "raw_events_per_s": round(raw),
        "ratio": round(events / seconds / raw, 4),
        "members": config.members,
        "events": events,
        "rss_mb": round(rss),
        "events_per_cpu_s": round(events / cpu),
        "worker_cpu_s": round(cpu, 1),
        "courses": config.courses,
        "days": config.days,
        "seconds": round(seconds, 1),
        "labels": int(m.get("nearline_labels_out_total", 0)),
        "lists": lists,
        "rescored": int(m.get("nearline_rescored_total", 0)),
        "dead_letters": int(m.get("nearline_deadletters_total", 0)),
        "dead_letter_errors": errors,
        "simulated": {k: v for k, v in counts.items() if k in ("duplicate", "late")},
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
