"""`nearline demo`: a broker (unless one is configured), a simulated world, a worker, and
the world's log replayed through it; then a summary of what flowed where.

The replay is paced below one worker's capacity: a backlog lets one activity topic run
ahead of another, which holds labels back until the slower one catches up."""

from __future__ import annotations

import argparse
import json
import shutil
from collections import Counter
from dataclasses import replace

from nearline.broker import any_broker
from nearline.config import ACTIVITY, Settings
from nearline.supervise import running_worker, wait_until
from nearline.topics import group_caught_up, read_topic, topic_size
from replay.publish import publish_log
from replay.simulate import WorldConfig, simulate
from schemas import ACTIVITY_TOPICS

REPLAY_RATE = 300.0  # events/s


def _say(step: str) -> None:
    print(f"==> {step}", flush=True)


def run_demo(args: argparse.Namespace) -> None:
    workdir = args.workdir
    world = workdir / "world"
    config = WorldConfig(members=args.members, courses=args.courses, days=args.days, seed=args.seed)
    _say(f"simulating {config.members} members x {config.courses} courses x {config.days} days")
    counts = simulate(config, world)
    print("    " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))

    shutil.rmtree(workdir / "kafka", ignore_errors=True)
    shutil.rmtree(workdir / "state", ignore_errors=True)
    _say("starting Kafka (KAFKA_BOOTSTRAP_SERVERS, else Docker, else local jars)")
    with any_broker(workdir / "kafka") as bootstrap:
        settings = replace(Settings.from_env(), bootstrap=bootstrap, data_dir=workdir / "state")
        print(f"    broker at {bootstrap}")
        _say(f"starting a worker (log: {workdir / 'worker.log'})")
        with running_worker(settings, workdir / "worker.log") as worker:
            _say(f"replaying {world} into Kafka at {REPLAY_RATE:.0f} events/s")
            published = publish_log(world, settings, max_rate=REPLAY_RATE)
            inputs = [settings.topic(t) for t in (*ACTIVITY_TOPICS, ACTIVITY)]
            _say("waiting for the worker to process every record")
            wait_until(
                lambda: group_caught_up(bootstrap, settings.app_id, inputs),
                120 + sum(published.values()) / 500,
                "the worker to catch up",
                interval_s=1.0,
            )
            valid = topic_size(bootstrap, settings.topic(ACTIVITY))
            dead = topic_size(bootstrap, settings.topic("deadletter"))
            sent = sum(published[t] for t in ACTIVITY_TOPICS)
            labels = read_topic(bootstrap, settings.topic("labels"))
            sources = Counter(json.loads(r.value)["source"] for r in labels)
            _say("done")
            print(f"    published {sent} activity records; {valid} valid, {dead} dead-lettered")
            print(
                f"    {len(labels)} labels so far: "
                + ", ".join(f"{n} {source}" for source, n in sources.most_common())
                + " (the last day's windows are still open)"
            )
            print(f"    worker health: {worker.get('/health')[1]}")
