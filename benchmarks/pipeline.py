"""Broker start, replay publish rate and validation throughput on a real broker.

    python benchmarks/pipeline.py --members 5000 --courses 500 --days 7

Prints: seconds to start the local broker (when none is configured), events/s that
`nearline replay` publishes, and events/s one worker validates and labels (from the
first published event to the worker's committed offsets reaching the end of every
input).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from nearline.broker import any_broker
from nearline.supervise import isolated_settings, running_worker, wait_until
from nearline.topics import group_caught_up
from replay.publish import publish_log
from replay.simulate import WorldConfig, simulate
from schemas import ACTIVITY_TOPICS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--courses", type=int, default=500)
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        counts = simulate(WorldConfig(args.members, args.courses, args.days, seed=1), work / "w")
        t0 = time.perf_counter()
        with any_broker(work / "kafka") as bootstrap:
            print(f"broker ready in {time.perf_counter() - t0:.1f} s at {bootstrap}")
            settings = isolated_settings(bootstrap, work, f"bench{uuid.uuid4().hex[:6]}.")
            with running_worker(settings, work / "worker.log"):
                t0 = time.perf_counter()
                published = publish_log(work / "w", settings, progress=False)
                publish_s = time.perf_counter() - t0
                n = sum(published[t] for t in ACTIVITY_TOPICS)
                inputs = [settings.topic(t) for t in ACTIVITY_TOPICS]
                wait_until(
                    lambda: group_caught_up(bootstrap, settings.app_id, inputs),
                    600,
                    "the worker to finish",
                    interval_s=0.5,
                )
                total_s = time.perf_counter() - t0
    print(
        f"simulated {sum(counts[k] for k in ('impression', 'click', 'autoplay', 'dismissal'))}"
        " events"
    )
    print(f"replay publish: {n} events in {publish_s:.1f} s = {n / publish_s:,.0f} events/s")
    print(f"worker (validate + label): {n / total_s:,.0f} events/s end to end ({total_s:.1f} s)")


if __name__ == "__main__":
    main()
