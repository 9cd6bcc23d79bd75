"""Near-line serving end to end (issue 5): throughput, freshness and reader latency of one
real worker with a batch-trained model, on a real broker.

    .venv/bin/python benchmarks/serving.py

A simulated world's log is cut in two at an arrival position: the head is the bulk
replay, the tail the background load. A batch model trained on the head's offline labels
(`nearline labels` + `nearline train`) is served by one `nearline worker`.

1. Throughput: the head (catalog, profiles, activity) published unpaced into the running
   worker; events/s = activity records / (first record sent -> the last rescored list
   written, the newest `generated_at` in the `recommendations` topic once the worker has
   consumed everything and has no rescore pending). Covers validate, label, member and
   course GLMix updates, debounced rescoring and the table writes, on 4 partitions.
2. Freshness: while the tail replays at a fixed rate, single members (none of them in the
   tail) each get an impression and then a click; the time from sending the click to
   `GET /recommendations/{member}` showing a new `generated_at` (polled every 10 ms); a
   probe past its deadline is counted as missed.
3. Reader latency: GETs at a fixed rate on members drawn at random, paced open loop
   (latency counted from when each request was due, so a slow answer cannot hide the
   ones queued behind it), on the idle worker; then the same against a second worker for
   keys the first owns (routed to the owner).
4. The scoring micro-benchmarks of `benchmarks/rescoring.py`.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
from rescoring import main as scoring_micro_benchmarks

from labels.offline import run_labels_cli
from models.train import run_train_cli
from nearline.broker import any_broker, free_port
from nearline.config import Settings
from nearline.supervise import (
    Worker,
    isolated_settings,
    partitions_split,
    running_worker,
    settled,
    wait_until,
)
from nearline.topics import Publisher, partition_of, read_topic
from replay.logs import (
    COURSES_FILE,
    EVENTS_FILE,
    MEMBERS_FILE,
    last_event_ts,
    lines,
    read_courses,
    read_members,
)
from replay.publish import publish_log
from replay.simulate import WorldConfig, simulate
from schemas import ACTIVITY_TOPICS, Click, Impression, Recommendations

WORLD = WorldConfig(members=2000, courses=200, days=4, seed=5)
LATENESS_S = 4 * 3600
BACKGROUND_RATE = 50.0  # events/s of the tail replayed during the freshness probes
BACKGROUND_S = 25.0  # the tail is this long at that rate
PROBES = 60
READ_RATE = 200.0  # requests/s
READ_S = 10.0
ROUTED_S = 5.0
POLL_S = 0.01
PROBE_DEADLINE_S = 30.0  # a probe slower than this counts as missed


def split_log(world: Path, head: Path, tail: Path, tail_events: int) -> set[str]:
    """The world's log cut at an arrival position: `head` keeps catalog and profiles, `tail`
    only activity. Returns the members active in the tail."""
    rows = [line for _, line in lines(world / EVENTS_FILE)]
    cut = len(rows) - tail_events
    for folder, part in ((head, rows[:cut]), (tail, rows[cut:])):
        folder.mkdir()
        (folder / EVENTS_FILE).write_bytes(b"".join(r + b"\n" for r in part))
    for name in (COURSES_FILE, MEMBERS_FILE):
        shutil.copy(world / name, head / name)
        (tail / name).touch()
    return {json.loads(r)["member_id"] for r in rows[cut:]}


def train_model(log_dir: Path, work: Path) -> Path:
    """The folder of a batch model trained on the log's own offline labels."""
    labels = work / "labels.jsonl"
    rule, lateness_ms = "percentile:95:member", LATENESS_S * 1000
    run_labels_cli(log_dir, rule, labels, progress=False, close_open=True, lateness_ms=lateness_ms)
    run_train_cli(labels, log_dir, work / "models" / "v0001", progress=False, min_examples=3)
    return work / "models"


def quantiles_ms(seconds: list[float], top: bool = False) -> str:
    qs = [0.5, 0.99, 1.0] if top else [0.5, 0.99]
    figures = np.quantile(np.array(seconds) * 1e3, qs) if seconds else [np.nan] * len(qs)
    names = ("p50", "p99", "max")
    return "  ".join(f"{name} {ms:.0f} ms" for name, ms in zip(names, figures, strict=False))


def row(measure: str, figure: str, conditions: str) -> None:
    print(f"{measure:<32}  {figure:<36}  {conditions}", flush=True)


def throughput(worker: Worker, head: Path) -> float:
    """Prints and returns the end-to-end activity events/s."""
    settings = worker.settings
    started_ms = time.time() * 1000
    published = publish_log(head, settings, progress=False)
    n = sum(published[t] for t in ACTIVITY_TOPICS)
    wait_until(
        lambda: worker.metrics().get("nearline_events_in_total", 0) >= n,
        300,
        "every event consumed",
    )
    wait_until(settled(worker), 300, "the worker to finish every rescore")
    lists = read_topic(settings.bootstrap, settings.topic("recommendations"))
    last_ms = max(Recommendations.model_validate_json(r.value).generated_at for r in lists)
    elapsed = (last_ms - started_ms) / 1000
    m = worker.metrics()
    row(
        f"throughput, 1 worker x {settings.partitions} part.",
        f"{n / elapsed:,.0f} activity events/s",
        f"{n:,} activity events + {published['members']:,} profiles + {published['courses']} "
        f"courses -> {m['nearline_labels_out']:,.0f} labels, {len(lists):,} lists written, "
        f"in {elapsed:.1f} s",
    )
    rescore = [m[f'nearline_rescore_seconds{{quantile="{q}"}}'] for q in ("0.5", "0.99")]
    row(
        "  one rescore, in the worker",
        f"p50 {rescore[0] * 1e3:.1f} ms  p99 {rescore[1] * 1e3:.1f} ms",
        "the worker's nearline_rescore_seconds over those rescores",
    )
    return n / elapsed


def freshness(worker: Worker, tail: Path, busy: set[str], world: Path, capacity: float) -> None:
    """Clicks by members absent from the tail, one at a time, while the tail replays."""
    background = threading.Thread(
        target=publish_log,
        args=(tail, worker.settings),
        kwargs={"max_rate": BACKGROUND_RATE, "progress": False},
        daemon=True,  # should the run fail, it ends with the broker
    )
    courses = [c.course_id for c in read_courses(world)]
    quiet = [m.member_id for m in read_members(world) if m.member_id not in busy]
    ts = last_event_ts(world) + 60_000  # after everything in the log
    rng = random.Random(7)
    fresh, loaded, missed = [], 0, 0
    background.start()
    with Publisher(worker.settings) as publisher:
        for i, member in enumerate(rng.sample(quiet, PROBES)):
            before = worker.recommendations(member)["generated_at"]
            common = {"member_id": member, "course_id": rng.choice(courses), "channel": "feed"}
            shown = Impression(event_id=f"probe-i{i}", position=0, ts=ts + 2 * i, **common)
            click = Click(
                event_id=f"probe-c{i}", impression_id=shown.event_id, ts=shown.ts + 1, **common
            )
            publisher.send("impressions", [shown])
            sent = time.perf_counter()
            publisher.send("clicks", [click])
            try:
                wait_until(
                    lambda m=member, b=before: worker.recommendations(m)["generated_at"] != b,
                    PROBE_DEADLINE_S,
                    f"{member}'s list to change",
                    interval_s=POLL_S,
                )
                fresh.append(time.perf_counter() - sent)
            except TimeoutError:
                missed += 1
            loaded += background.is_alive()
    background.join()
    row(
        "freshness, click -> new list",
        quantiles_ms(fresh, top=True),
        f"{PROBES} clicks by {PROBES} members, one at a time, {loaded} of them during a "
        f"background replay at {BACKGROUND_RATE:.0f} events/s ({BACKGROUND_RATE / capacity:.0%} "
        f"of that throughput); polled every {POLL_S * 1e3:.0f} ms; "
        f"{missed} missed the {PROBE_DEADLINE_S:.0f} s deadline",
    )


def paced_gets(
    worker: Worker, members: list[str], rate: float, seconds: float
) -> tuple[list[float], int]:
    """Open-loop GETs at `rate`; each latency counts from when the request was due. Returns
    the latencies of the answers with a list, and how many requests got none."""
    rng = random.Random(11)

    def get(member: str, due: float) -> float | None:
        try:
            status, _ = worker.fetch(f"/recommendations/{member}?limit=10")
        except OSError:
            return None
        return time.perf_counter() - due if status == 200 else None

    futures = []
    with ThreadPoolExecutor(max_workers=16) as pool:
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            due = start + i / rate
            time.sleep(max(0.0, due - time.perf_counter()))  # pacing the fixed rate
            futures.append(pool.submit(get, rng.choice(members), due))
    answered = [f.result() for f in futures if f.result() is not None]
    return answered, len(futures) - len(answered)


def readers(first: Worker, members: list[str], work: Path) -> None:
    answered, failed = paced_gets(first, members, READ_RATE, READ_S)
    row(
        "GET /recommendations latency",
        quantiles_ms(answered),
        f"{READ_RATE:.0f} req/s for {READ_S:.0f} s, random members, idle worker, "
        f"a new connection each; {failed} failed",
    )
    settings = replace(first.settings, web_port=free_port(), data_dir=work / "state2")
    with running_worker(settings, work / "worker2.log") as second:
        owned, _ = wait_until(
            lambda: partitions_split([first, second]), 90, "the two workers to share partitions"
        )
        n = settings.partitions
        keys = [m for m in members if partition_of(m.encode(), n) in owned]
        wait_until(lambda: second.recommendations(keys[0]), 30, "a routed answer")
        answered, failed = paced_gets(second, keys, READ_RATE, ROUTED_S)
        row(
            "  routed to the owner",
            quantiles_ms(answered),
            f"{READ_RATE:.0f} req/s for {ROUTED_S:.0f} s to a 2nd worker, for keys the 1st owns;"
            f" {failed} failed",
        )


def main() -> None:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        world = work / "world"
        simulate(WORLD, world, progress=False)
        busy = split_log(world, work / "head", work / "tail", int(BACKGROUND_RATE * BACKGROUND_S))
        model_dir = train_model(work / "head", work)
        members = [m.member_id for m in read_members(world)]
        with any_broker(work / "kafka") as bootstrap:
            settings: Settings = replace(
                isolated_settings(bootstrap, work, f"bench{uuid.uuid4().hex[:6]}."),
                lateness_s=LATENESS_S,
                idle_s=3600,
                model_dir=model_dir,
                top_k=10,
            )
            print(
                f"world: {WORLD.members} members x {WORLD.courses} courses x {WORLD.days} days; "
                f"rescore debounce {settings.rescore_ms:.0f} ms\n"
            )
            row("measure", "figure", "conditions")
            with running_worker(settings, work / "worker.log") as worker:
                capacity = throughput(worker, work / "head")
                freshness(worker, work / "tail", busy, world, capacity)
                wait_until(settled(worker), 120, "the worker to finish the background replay")
                readers(worker, members, work)
    print("\nscoring micro-benchmarks (benchmarks/rescoring.py)")
    scoring_micro_benchmarks()
    print(f"\nwall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
