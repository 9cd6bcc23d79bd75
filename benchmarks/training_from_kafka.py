"""Training from the topics: a simulated world labelled offline, its labels, catalog and
profiles published to a real broker, then one `nearline train --bootstrap` refit timed:
the topic read (labels/s), the parse, the fit, and the whole refit (read, parse,
featurise, fit, score the held-out day, write).

    PYTHONPATH=. .venv/bin/python -P benchmarks/training_from_kafka.py [--members 3000]

Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path

from labels import label_log
from models.trainer import ModelFolder, Refitter, TrainingData
from nearline.broker import any_broker
from nearline.config import Settings
from nearline.snapshot import read_snapshot
from nearline.topics import Publisher, ensure_topics
from nearline.trainer import TRAINING_TOPICS, refit_from_topics
from replay.logs import read_courses, read_events, read_members
from replay.simulate import simulate
from replay.world import WorldConfig
from schemas import Label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=3000)
    parser.add_argument("--courses", type=int, default=300)
    parser.add_argument("--days", type=int, default=28)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="training-from-kafka-"))
    world = work / "world"
    simulate(WorldConfig(args.members, args.courses, args.days, seed=1), world, progress=False)
    prefix = f"bench-{uuid.uuid4().hex[:8]}."  # a fresh set of topics on a shared broker
    settings = Settings(topic_prefix=prefix)
    labels = [r for r in label_log(read_events(world), settings.labeller()) if isinstance(r, Label)]
    with any_broker(work / "kafka") as bootstrap:
        settings = Settings(bootstrap=bootstrap, topic_prefix=prefix)
        ensure_topics(settings)
        with Publisher(settings) as publisher:
            publisher.send("courses", read_courses(world))
            publisher.send("members", read_members(world))
            publisher.send("labels", labels)
        start = time.perf_counter()
        records = read_snapshot(settings, TRAINING_TOPICS)
        read_s = time.perf_counter() - start
        start = time.perf_counter()
        TrainingData.from_records(records["labels"], records["courses"], records["members"])
        parse_s = time.perf_counter() - start
        start = time.perf_counter()
        result = refit_from_topics(settings, Refitter(ModelFolder(work / "models")))
        refit_s = time.perf_counter() - start
    n = len(records["labels"])
    figures = {
        "labels": n,
        "read_s": round(read_s, 3),
        "labels_per_s_read": round(n / read_s),
        "parse_s": round(parse_s, 3),
        "refit_wall_s": round(refit_s, 3),
        "fit_s": json.loads((result.path / "meta.json").read_text())["train_seconds"],
        "held_out_auc": result.metrics["candidate"]["auc"],
    }
    print(f"{n:,} labels read in {read_s:.2f} s, parsed in {parse_s:.2f} s; refit {refit_s:.2f} s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
