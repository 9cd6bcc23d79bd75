"""Kill -9 at random points of a replay, restart, and compare with the offline labels
and with an uninterrupted run.

    .venv/bin/python benchmarks/kills.py [--runs 10]

Each run replays a simulated slice into a fresh deployment (own topics and group) whose
worker serves a model trained on the slice's own labels, kills the worker with SIGKILL
once a random share of the log is processed, and starts a replacement, alternately with
the same state folder and with an empty one (state restored from the changelogs). Once
the log is done:
- the labels topic (read committed) holds exactly the offline labeller's multiset;
- every course's and every cohort's records of halves sent (course-labels, cohort-labels)
  were each applied exactly once (one course-effects or cohort-trends record each);
- every course's halves (the updates those records join) are as many as in an
  uninterrupted run;
- every member of the slice has a list in recommendations.
Lists differ between two uninterrupted runs (timing), so they are no check; nor are the
cohort halves: a positive goes to the member's cohort once their profile is processed,
and the member stage interleaves profile and activity topics as they arrive.

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
from nearline.config import COHORT_LABELS, COHORT_TRENDS, COURSE_EFFECTS, COURSE_LABELS, Settings
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


STAGES = {COURSE_LABELS: COURSE_EFFECTS, COHORT_LABELS: COHORT_TRENDS}  # halves -> applied
HALVES = "course halves"


def per_key(settings: Settings) -> dict[str, Counter]:
    """Per course and per cohort, the records of halves sent and of updates applied, and
    (under HALVES) the course halves those records join."""
    records = {
        name: list(read_topic(settings.bootstrap, settings.topic(name)))
        for name in (*STAGES, *STAGES.values())
    }
    counts = {name: Counter(r.key for r in rs) for name, rs in records.items()}
    halves: Counter = Counter()
    for r in records[COURSE_LABELS]:
        halves[r.key] += len(json.loads(r.value))
    return {**counts, HALVES: halves}


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
    try:
        wait_until(settled(worker), 120, "the worker to finish every rescore")
    except TimeoutError as timeout:
        m = worker.metrics()
        waiting = {k: m[f"nearline_{k}"] for k in ("consumer_lag", "rescores_pending")}
        raise TimeoutError(f"{timeout}: {waiting}") from None
    return {"labels": (expected, online), "keys": per_key(settings), "listed": listed(settings)}


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
        try:
            got = outcome(world, settings, worker)
        except TimeoutError as error:
            return {"share": round(share, 2), "empty_state": empty, "error": str(error)}
    expected, online = got["labels"]
    members = {m.member_id for m in read_members(world)}
    return {
        "share": round(share, 2),
        "empty_state": empty,
        "labels": sum(expected.values()),
        "worker_only": sum((online - expected).values()),
        "offline_only": sum((expected - online).values()),
        **{
            f"{applied}_not_once": sum(
                1
                for key in got["keys"][halves].keys() | got["keys"][applied].keys()
                if got["keys"][halves][key] != got["keys"][applied][key]
            )
            for halves, applied in STAGES.items()
        },
        "course_halves_differing": sum(
            1
            for key in got["keys"][HALVES].keys() | base["keys"][HALVES].keys()
            if got["keys"][HALVES][key] != base["keys"][HALVES][key]
        ),
        "applied_updates": {name: sum(got["keys"][name].values()) for name in STAGES.values()},
        "members_without_list": len(members - got["listed"]),
    }


def failed(result: dict) -> bool:
    checks = ("worker_only", "offline_only", "members_without_list", "course_halves_differing")
    once = (f"{applied}_not_once" for applied in STAGES.values())
    return bool(result.get("error")) or any(result[k] for k in (*checks, *once))


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
            print({"uninterrupted": {k: sum(c.values()) for k, c in base["keys"].items()}})
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
