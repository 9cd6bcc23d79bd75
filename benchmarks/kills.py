"""Kill -9 at random points of a replay, restart, and compare with the offline labels.

    .venv/bin/python benchmarks/kills.py [--runs 10]

Each run replays a simulated slice into a fresh deployment (own topics and group), kills
the worker with SIGKILL once a random share of the log is processed, and starts a
replacement, alternately with the same state folder and with an empty one (state
restored from the changelogs). Once the log is done the labels topic (read committed)
must hold exactly the offline labeller's multiset: nothing lost, nothing repeated.

The last line printed is one JSON object: runs, passed, and per failed run what only
the worker or only the offline labeller produced.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from nearline.broker import any_broker, free_port
from nearline.supervise import running_worker, wait_until
from replay.logs import read_events
from replay.simulate import WorldConfig, simulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' replay helpers
from tests.streams.replayed import Replay, finish, label_settings, processed


def one_run(bootstrap: str, world: Path, work: Path, share: float, empty: bool) -> dict:
    work.mkdir(parents=True)
    settings = replace(label_settings(bootstrap, work), autoplay_rule="fraction:0.5")
    events = sum(1 for _ in read_events(world))
    with running_worker(settings, work / "killed.log") as worker:
        replay = Replay(world, settings)
        replay.start()
        wait_until(lambda: processed(settings) >= share * events, 300, "the kill point")
        worker.proc.kill()
        worker.proc.wait()
    folder = work / "empty" if empty else settings.data_dir
    with running_worker(replace(settings, web_port=free_port(), data_dir=folder), work / "r.log"):
        replay.join()
        expected, online = finish(world, settings)
    return {
        "share": round(share, 2),
        "empty_state": empty,
        "labels": sum(expected.values()),
        "worker_only": sum((online - expected).values()),
        "offline_only": sum((expected - online).values()),
    }


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
        with any_broker(work / "kafka") as bootstrap:
            for run in range(args.runs):
                result = one_run(
                    bootstrap,
                    work / "world",
                    work / f"run{run}",
                    rng.uniform(0.1, 0.9),
                    bool(run % 2),
                )
                print(result, flush=True)
                results.append(result)
    failed = [r for r in results if r["worker_only"] or r["offline_only"]]
    print(
        json.dumps({"runs": len(results), "passed": len(results) - len(failed), "failed": failed})
    )


if __name__ == "__main__":
    main()
