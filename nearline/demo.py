"""`nearline demo`: a simulated world, an initial batch model trained on its first days,
a broker (unless one is configured), a worker serving that model, a reader following its
lists, and the world's log replayed through them; then a few members' lists with reasons
as the reader serves them, and both keep running until Ctrl-C (or stop with `--exit`).

What the demo starts gets free ports (the reader keeps the configured one when it is
free) and a run's own app id, and is believed only when its `/health` reports that id:
another server on a port is never mistaken for the demo's.

The replay is paced below one worker's capacity: a backlog lets one activity topic run
ahead of another, which holds labels back until the slower one catches up."""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import socket
import threading
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path

from labels import label_log
from models.examples import event_ts
from models.history import DAY_MS
from models.train import train_from_labels
from nearline.broker import any_broker, free_port
from nearline.config import Settings
from nearline.supervise import Worker, running_reader, running_worker, settled, wait_until
from nearline.topics import group_caught_up, read_topic
from replay.logs import read_courses, read_events, read_members
from replay.publish import publish_log
from replay.simulate import WorldConfig, simulate
from schemas import ACTIVITY_TOPICS, Label
from scoring.cohort_skills import as_scored

REPLAY_RATE = 300.0  # events/s
SHOWN_MEMBERS = 3


def _say(step: str) -> None:
    print(f"==> {step}", flush=True)


def initial_model(world: Path, settings: Settings, out: Path, train_days: int) -> Path:
    """Batch GLMix on the labels of the log's first `train_days` days (the offline
    starting point; the worker then learns near-line from everything replayed)."""
    results = list(label_log(read_events(world), settings.labeller(), close_open=True))
    labels = [r for r in results if isinstance(r, Label)]
    start = min(event_ts(lb) for lb in labels)
    # by impression time: an early impression's label may come after the cut (timeouts)
    early = [lb for lb in labels if event_ts(lb) < start + train_days * DAY_MS]
    members = as_scored(read_members(world), settings.cohort_skill_table())  # as workers do
    model = train_from_labels(early, read_courses(world), members, min_examples=5)
    return model.save(out)


def show_lists(reader: Worker, world: Path, n: int) -> None:
    """A few members' feed lists as a client gets them."""
    titles = {c.course_id: c.title for c in read_courses(world)}
    active = Counter(e.member_id for e in read_events(world))
    for member_id, events in active.most_common(n):
        status, body = reader.get(f"/recommendations/{member_id}?channel=feed&limit=5")
        print(f"    {member_id} ({events} events):")
        if status != 200:
            print(f"      HTTP {status}: {body['error']}")
            continue
        for item in body["items"]:
            title = titles.get(item["course_id"], item["course_id"])
            print(f"      {item['score']:.3f}  {title}  ({item['reason']})")


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def reader_port(settings: Settings) -> int:
    """The configured port when free, else a free one (and the user is told)."""
    if _port_free(settings.web_host, settings.web_port):
        return settings.web_port
    port = free_port()
    print(f"    port {settings.web_port} is taken by another process: the reader uses {port}")
    return port


def caught_up_reader(reader: Worker) -> bool:
    body = reader.get("/health")[1]
    return body["caught_up"] and body["lag"] == 0


def run_demo(args: argparse.Namespace) -> None:
    workdir: Path = args.workdir
    world = workdir / "world"
    config = WorldConfig(members=args.members, courses=args.courses, days=args.days, seed=args.seed)
    _say(f"simulating {config.members} members x {config.courses} courses x {config.days} days")
    counts = simulate(config, world)
    print("    " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))

    for folder in ("kafka", "state", "reader", "models"):
        shutil.rmtree(workdir / folder, ignore_errors=True)
    base = Settings.from_env()
    train_days = max(1, args.days // 2)
    _say(f"training the initial GLMix on the first {train_days} days (offline labels)")
    artifact = initial_model(world, base, workdir / "models" / "v0001", train_days)
    print(f"    model artifact: {artifact}")
    _say("starting Kafka (KAFKA_BOOTSTRAP_SERVERS, else Docker, else local jars)")
    with any_broker(workdir / "kafka") as bootstrap:
        settings = replace(
            base,
            bootstrap=bootstrap,
            app_id=f"{base.app_id}-demo-{uuid.uuid4().hex[:8]}",
            data_dir=workdir / "state",
            model_dir=artifact.parent,
            web_port=free_port(),
        )
        print(f"    broker at {bootstrap}")
        _say(f"starting a worker (log: {workdir / 'worker.log'})")
        with contextlib.ExitStack() as running:
            worker = running.enter_context(
                running_worker(settings, workdir / "worker.log", tell_tail=False)
            )
            _say(f"starting a reader (log: {workdir / 'reader.log'})")
            serving = replace(settings, web_port=reader_port(base), data_dir=workdir / "reader")
            reader = running.enter_context(
                running_reader(serving, workdir / "reader.log", tell_tail=False)
            )
            _say(f"replaying {world} into Kafka at {REPLAY_RATE:.0f} events/s")
            published = publish_log(world, settings, max_rate=REPLAY_RATE)
            inputs = [settings.topic(t) for t in ACTIVITY_TOPICS]
            _say("waiting for the worker to process every record")
            wait_until(
                lambda: group_caught_up(bootstrap, settings.app_id, inputs),
                120 + sum(published.values()) / 500,
                "the worker to catch up",
                interval_s=1.0,
            )
            wait_until(settled(worker), 120, "the worker's last rescores", interval_s=0.5)
            wait_until(lambda: caught_up_reader(reader), 60, "the reader to catch up")
            dead = len(read_topic(bootstrap, settings.topic("deadletter")))
            sent = sum(published[t] for t in ACTIVITY_TOPICS)
            valid = sent - dead
            labels = read_topic(bootstrap, settings.topic("labels"))
            sources = Counter(json.loads(r.value)["source"] for r in labels)
            served = len(read_topic(bootstrap, settings.topic("recommendations")))
            _say("done")
            print(f"    published {sent} activity records; {valid} valid, {dead} dead-lettered")
            print(
                f"    {len(labels)} labels so far: "
                + ", ".join(f"{n} {source}" for source, n in sources.most_common())
                + " (the last day's windows are still open)"
            )
            held = reader.get("/health")[1]["records"]
            print(
                f"    {served} recommendation records written, lists of {held} members in the "
                "reader; the most active members:"
            )
            show_lists(reader, world, SHOWN_MEMBERS)
            url = f"http://127.0.0.1:{serving.web_port}"
            print(f"    reader: {url}")
            print(f"    query: curl '{url}/recommendations/<member_id>?channel=feed&limit=10'")
            print(f"    health: {url}/health  metrics: {url}/metrics")
            print(f"    worker metrics: http://127.0.0.1:{settings.web_port}/metrics")
            if not args.exit:
                _say("serving; Ctrl-C stops the reader, the worker and the broker")
                threading.Event().wait()  # until KeyboardInterrupt
