"""Kill -9 at random points of a replay, restart, and compare with the offline labels
and with an uninterrupted run.

    .venv/bin/python benchmarks/kills.py [--runs 10]

Each run replays a simulated slice into a fresh deployment (own topics and group) whose
worker serves a model trained on the slice's own labels, kills the worker with SIGKILL
once a random share of the log is processed, and starts a replacement, alternately with
the same state folder and with an empty one (state restored from the changelogs). Once
the log is done:
- the labels topic (read committed) holds exactly the offline labeller's multiset;
- every course's and every cohort's applied updates (one course-effects or cohort-trends
  record each) are as many as in an uninterrupted run: none lost, none applied twice;
- every member of the slice has a list in recommendations.
Lists themselves differ between two uninterrupted runs (timing), so they are no check.

The last line printed is one JSON object: runs, passed, and per failed run what differs.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from labels import label_log
from models.train import train_from_labels
from nearline.broker import any_broker, free_port
from nearline.config import COHORT_TRENDS, COURSE_EFFECTS, Settings
from nearline.supervise import running_worker, settled, wait_until
from nearline.topics import read_topic
from replay.logs import read_courses, read_events, read_members
from replay.simulate import WorldConfig, simulate
from schemas import Label

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' replay helpers
from tests.streams.replayed import Replay, finish, handover_settings, processed


def trained(world: Path, settings: Settings, out: Path) -> Path:
    """A model folder holding a model trained on the slice's own offline labels."""
    labels = [r for r in label_log(read_events(world), settings.labeller(), close_open=True)]
    labels = [r for r in labels if isinstance(r, Label)]
    model = train_from_labels(labels, read_courses(world), read_members(world), min_examples=3)
    model.save(out / "v0001")
    return out


def applied(settings: Settings) -> dict[str, Counter]:
    """Per course and per cohort, the updates applied (records in their output topics)."""
    return {
        name: Counter(r.key for r in read_topic(settings.bootstrap, settings.topic(name)))
        for name in (COURSE_EFFECTS, COHORT_TRENDS)
    }


def listed(settings: Settings) -> set[str]:
    return {
        r.key.decode() for r in read_topic(settings.bootstrap, settings.topic("recommendations"))
    }


def deployment(bootstrap: str, work: Path, model_dir: Path) -> Settings:
    work.mkdir(parents=True)
    return replace(handover_settings(bootstrap, work), model_dir=model_dir)


def outcome(world: Path, settings: Settings, worker) -> dict:
    """Labels (offline, online), applied updates and listed members once the log is done."""
    expected, online = finish(world, settings)
    wait_until(settled(worker), 120, "the worker to finish every rescore")
    return {"labels": (expected, online), "applied": applied(settings), "listed": listed(settings)}


def uninterrupted(bootstrap: str, world: Path, work: Path, model_dir: Path) -> dict:
    settings = deployment(bootstrap, work, model_dir)
    with running_worker(settings, work / "worker.log") as worker:
        replay = Replay(world, settings)
        replay.start()
        replay.join()
        return outcome(world, settings, worker)


def one_run(world: Path, work: Path, share: float, empty: bool, base: dict, settings) -> dict:
    events = sum(1 for _ in read_events(world))
    with running_worker(settings, work / "killed.log") as worker:
        replay = Replay(world, settings)
        replay.start()
        wait_until(lambda: processed(settings) >= share * events, 300, "the kill point")
        worker.proc.kill()
        worker.proc.wait()
    folder = work / "empty" if empty else settings.data_dir
    with running_worker(
        replace(settings, web_port=free_port(), data_dir=folder), work / "r.log"
    ) as worker:
        replay.join()
        got = outcome(world, settings, worker)
    expected, online = got["labels"]
    members = {m.member_id for m in read_members(world)}
    return {
        "share": round(share, 2),
        "empty_state": empty,
        "labels": sum(expected.values()),
        "worker_only": sum((online - expected).values()),
        "offline_only": sum((expected - online).values()),
        **{
            f"{name}_keys_differing": sum(
                1
                for key in got["applied"][name].keys() | base["applied"][name].keys()
                if got["applied"][name][key] != base["applied"][name][key]
            )
            for name in (COURSE_EFFECTS, COHORT_TRENDS)
        },
        "applied_updates": {name: sum(c.values()) for name, c in got["applied"].items()},
        "members_without_list": len(members - got["listed"]),
    }


def failed(result: dict) -> bool:
    checks = ("worker_only", "offline_only", "members_without_list")
    keys = (f"{name}_keys_differing" for name in (COURSE_EFFECTS, COHORT_TRENDS))
    return any(result[k] for k in (*checks, *keys))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    rng = random.Random(17)
    with tempfile.TemporaryDirectory(prefix="nearline-kills-") as tmp:
        work = Path(tmp)
        simulate(
            WorldConfig(members=250, courses=40, days=4, seed=11), work / "world", progress=False
        )
        results = []
        world = work / "world"
        with any_broker(work / "kafka") as bootstrap:
            models = trained(world, handover_settings(bootstrap, work), work / "models")
            base = uninterrupted(bootstrap, world, work / "base", models)
            print({"uninterrupted": {k: sum(c.values()) for k, c in base["applied"].items()}})
            for run in tqdm(range(args.runs), desc="kill runs"):
                settings = deployment(bootstrap, work / f"run{run}", models)
                share = rng.uniform(0.1, 0.9)
                result = one_run(world, work / f"run{run}", share, bool(run % 2), base, settings)
                tqdm.write(str(result))
                results.append(result)
    bad = [r for r in results if failed(r)]
    print(json.dumps({"runs": len(results), "passed": len(results) - len(bad), "failed": bad}))


if __name__ == "__main__":
    main()
