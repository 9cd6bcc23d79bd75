"""Offline labeller throughput and serialised state per member.

    .venv/bin/python benchmarks/labelling.py                 # synthetic log
    .venv/bin/python benchmarks/labelling.py LOG_DIR --rule fixed:9 --rule fraction:0.5

Throughput is that of `label_log(events, Labeller(rule), close_open=True)`, the call
`nearline evaluate` makes per rule, over events already read (best of `--repeat` runs:
the machine may be shared). The reference log (68,668 events):

    .venv/bin/nearline simulate --members 3000 --courses 300 --days 28 --seed 1 --out LOG_DIR

The synthetic log: members see a few sessions of impressions a day; 5 % are clicked,
20 % autoplay (lognormal watch times), 1 % redelivered, arrival jittered within the
lateness. State sizes are taken after the last event, before the end-of-log flush,
i.e. with a day of pending impressions and an hour of buffered events per member.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from labels import DAY_MS, HOUR_MS, Labeller, LogLabeller, MemberLabelState, label_log
from replay.logs import read_events
from schemas import AnyActivity, Autoplay, Click, Impression

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def synthetic_log(members: int, courses: int, days: int, seed: int = 0) -> list[AnyActivity]:
    """Activity in arrival order (event time jittered by up to 50 minutes)."""
    rng = np.random.default_rng(seed)
    events: list[AnyActivity] = []
    for m in range(members):
        for s in range(rng.poisson(2.0 * days)):
            start = T0 + int(rng.integers(0, days * DAY_MS))
            for k in range(int(rng.integers(3, 10))):
                ts = start + k * 2_000
                course = f"c{rng.zipf(1.5) % courses}"
                iid = f"i{m}-{s}-{k}"
                events.append(
                    Impression(
                        event_id=iid,
                        member_id=f"m{m}",
                        course_id=course,
                        channel="feed",
                        position=k,
                        ts=ts,
                    )
                )
                u = rng.random()
                if u < 0.05:
                    events.append(
                        Click(
                            event_id=f"k{m}-{s}-{k}",
                            member_id=f"m{m}",
                            course_id=course,
                            channel="feed",
                            impression_id=iid if u < 0.025 else None,
                            ts=ts + int(rng.integers(1_000, 600_000)),
                        )
                    )
                elif u < 0.25:
                    video = float(rng.uniform(30.0, 120.0))
                    events.append(
                        Autoplay(
                            event_id=f"a{m}-{s}-{k}",
                            member_id=f"m{m}",
                            course_id=course,
                            watched_s=min(video, float(rng.lognormal(2.0, 1.0))),
                            video_s=video,
                            ts=ts + 1_000,
                        )
                    )
    events += [events[i] for i in rng.integers(0, len(events), len(events) // 100)]
    arrival = np.array([e.ts for e in events]) + rng.integers(0, 50 * 60_000, len(events))
    return [events[i] for i in np.argsort(arrival, kind="stable")]


def label_log_seconds(events: list[AnyActivity], rule: str, repeat: int) -> float:
    """Best wall time of `repeat` label_log runs over the whole log."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in label_log(events, Labeller(rule), close_open=True):
            pass
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "log_dir", nargs="?", type=Path, help="a log directory (default: synthetic)"
    )
    parser.add_argument("--rule", action="append", help="repeatable (percentile:95:member)")
    parser.add_argument("--repeat", type=int, default=3, help="label_log runs per rule")
    parser.add_argument("--members", type=int, default=2_000)
    parser.add_argument("--courses", type=int, default=500)
    parser.add_argument("--days", type=int, default=14)
    args = parser.parse_args()
    rules = args.rule or ["percentile:95:member"]

    if args.log_dir:
        events = list(read_events(args.log_dir))
    else:
        events = synthetic_log(args.members, args.courses, args.days)
    for rule in rules:
        seconds = label_log_seconds(events, rule, args.repeat)
        print(f"label_log {rule}: {len(events) / seconds:,.0f} events/s ({seconds:.2f} s)")

    run = LogLabeller(Labeller(rules[0], lateness_ms=HOUR_MS))
    for event in events:
        run.feed(event)
    start = time.perf_counter()
    states = [s.to_bytes() for s in run.members.values()]
    restored = [MemberLabelState.from_bytes(raw) for raw in states]
    round_trip_us = (time.perf_counter() - start) / len(restored) * 1e6
    sizes = np.array([len(raw) for raw in states])
    run.finish()
    print(f"{len(events):,} events, {len(run.members):,} members; counts ({rules[0]}):")
    print(f"  {dict(run.counts)}")
    print(
        "state per member (bytes): "
        f"mean {sizes.mean():,.0f}, p50 {np.median(sizes):,.0f}, "
        f"p95 {np.percentile(sizes, 95):,.0f}, max {sizes.max():,};"
        f" to_bytes + from_bytes {round_trip_us:,.0f} us"
    )


if __name__ == "__main__":
    main()
