"""Live capacity of one worker: click -> changed list, under a background load.

    .venv/bin/python benchmarks/freshness.py [--rate 5000] [--rates 100,300,1000,3000,5000]

A simulated world's first days train the model and are replayed whole into one worker;
then, for each background rate, the rest of the log is replayed at that rate while
single members (none of them in the background) each click, one at a time: the time from
the click sent to their changed record in `recommendations` (read committed, as a reader
reads it). A probe past its deadline counts as 30 s.

The last line printed is one JSON object: p50_ms and p99_ms at `--rate`,
background_per_s (the rate the background load actually reached), and
max_rate_p99_under_1s (the highest of `--rates` whose p99 stayed under a second).
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
from throughput import head_of, served_settings, train_model

from nearline.broker import any_broker
from nearline.supervise import Worker, running_worker, settled, wait_until
from nearline.topics import Publisher
from replay.logs import EVENTS_FILE, last_event_ts, lines, read_courses, read_members
from replay.publish import publish_log
from replay.simulate import simulate
from replay.world import DAY_MS, WorldConfig
from schemas import Click

PROBES = 40
DEADLINE_S = 30.0
BACKGROUND_S = 20.0  # each rate's background load lasts this long (when reached)
POLL_S = 0.005


def tails_of(world: Path, out: Path, from_ms: int, sizes: list[int]) -> tuple[list[Path], set[str]]:
    """The log's events from `from_ms` on, cut into logs of `sizes` events (no catalog or
    profiles), and the members they hold."""
    rows = [line for _, line in lines(world / EVENTS_FILE) if json.loads(line)["ts"] >= from_ms]
    members = {json.loads(line)["member_id"] for line in rows}
    folders, start = [], 0
    for i, size in enumerate(sizes):
        folder = out / f"tail{i}"
        folder.mkdir(parents=True)
        (folder / EVENTS_FILE).write_bytes(b"".join(r + b"\n" for r in rows[start : start + size]))
        for name in ("courses.jsonl", "members.jsonl"):
            (folder / name).touch()
        folders.append(folder)
        start += size
    return folders, members


def probe(worker: Worker, members: list[str], courses: list[str], ts: int) -> list[float]:
    """Seconds from each click sent to the clicker's changed list."""
    rng = random.Random(7)
    seconds = []
    with Publisher(worker.settings) as publisher:
        for i, member in enumerate(members):
            before = worker.recommendations(member)
            before_at = before["generated_at"] if before else None
            click = Click(
                event_id=f"probe-{uuid.uuid4().hex}",
                member_id=member,
                course_id=rng.choice(courses),
                channel="feed",
                ts=ts + i,
            )
            sent = time.perf_counter()
            publisher.send("clicks", [click])
            try:
                wait_until(
                    lambda m=member, b=before_at: (
                        (worker.recommendations(m) or {}).get("generated_at") not in (None, b)
                    ),
                    DEADLINE_S,
                    f"{member}'s list to change",
                    interval_s=POLL_S,
                )
                seconds.append(time.perf_counter() - sent)
            except TimeoutError:
                seconds.append(DEADLINE_S)
    return seconds


def under_load(
    worker: Worker, tail: Path, rate: float, quiet: list[str], courses: list[str], ts: int
) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, background events/s reached) at `rate`."""
    published: dict = {}
    started = time.perf_counter()

    def background() -> None:
        published.update(publish_log(tail, worker.settings, max_rate=rate, progress=False))

    thread = threading.Thread(target=background, daemon=True)
    thread.start()
    seconds = probe(worker, quiet, courses, ts)
    thread.join()
    reached = sum(published.values()) / (time.perf_counter() - started)
    wait_until(settled(worker), 600, "the worker to catch up", interval_s=1.0)
    p50, p99 = np.quantile(np.array(seconds) * 1e3, [0.5, 0.99])
    print(
        f"background {rate:,.0f}/s (reached {reached:,.0f}/s): p50 {p50:.0f} ms, p99 {p99:.0f} ms",
        flush=True,
    )
    return float(p50), float(p99), reached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--courses", type=int, default=500)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--rate", type=float, default=5000.0)
    parser.add_argument("--rates", default="100,300,1000,3000,5000")
    args = parser.parse_args()
    rates = sorted({float(r) for r in args.rates.split(",")} | {args.rate})
    config = WorldConfig(members=args.members, courses=args.courses, days=args.days, seed=4)
    with TemporaryDirectory(prefix="nearline-freshness-") as tmp:
        work = Path(tmp)
        simulate(config, work / "world", progress=False)
        cut = config.start_ms + 2 * DAY_MS
        head = head_of(work / "world", work / "head", cut)
        model_dir = train_model(head, work)
        courses = [c.course_id for c in read_courses(work / "world")]
        sizes = [int(rate * BACKGROUND_S) for rate in rates]
        tails, busy = tails_of(work / "world", work / "tails", cut, sizes)
        quiet = [m.member_id for m in read_members(work / "world") if m.member_id not in busy]
        rng = random.Random(3)
        ts = last_event_ts(work / "world") + 60_000
        with any_broker(work / "kafka") as bootstrap:
            settings = served_settings(bootstrap, work, model_dir)
            with running_worker(settings, work / "worker.log", timeout_s=300) as worker:
                publish_log(head, settings, progress=False)
                wait_until(settled(worker), 3600, "the worker to take the head", interval_s=1.0)
                figures = {}
                for rate, tail in zip(rates, tails, strict=True):
                    probes = rng.sample(quiet, PROBES)
                    quiet = [m for m in quiet if m not in probes]
                    figures[rate] = under_load(worker, tail, rate, probes, courses, ts)
                    ts += 10 * PROBES
    p50, p99, reached = figures[args.rate]
    under = [rate for rate, (_, q99, _) in figures.items() if q99 < 1000]
    print(
        json.dumps(
            {
                "p50_ms": round(p50),
                "p99_ms": round(p99),
                "background_per_s": round(reached),
                "max_rate_p99_under_1s": max(under) if under else 0,
                "rates": {
                    str(r): {"p50_ms": round(a), "p99_ms": round(b)}
                    for r, (a, b, _) in figures.items()
                },
            }
        )
    )


if __name__ == "__main__":
    main()
