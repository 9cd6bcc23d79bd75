"""Simulator throughput: events/s and MB/s written for a few world sizes.

.venv/bin/python benchmarks/simulate.py --size 10000x500x7 --size 100000x2000x30
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from replay.simulate import simulate
from replay.world import WorldConfig


def parse_size(text: str) -> tuple[int, int, int]:
    """`MEMBERSxCOURSESxDAYS`, e.g. `10000x500x7`."""
    try:
        members, courses, days = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MEMBERSxCOURSESxDAYS, got {text!r}") from None
    return members, courses, days


def run(members: int, courses: int, days: int, seed: int) -> str:
    config = WorldConfig(members=members, courses=courses, days=days, seed=seed)
    with tempfile.TemporaryDirectory(prefix="nearline-sim-") as out:
        started = time.perf_counter()
        counts = simulate(config, out, progress=False)
        seconds = time.perf_counter() - started
        mb = sum(f.stat().st_size for f in Path(out).iterdir()) / 1e6
    events = sum(counts[k] for k in ("impression", "click", "autoplay", "dismissal"))
    return (
        f"{members:>8} members {courses:>6} courses {days:>3} days: {events:>10,} events "
        f"in {seconds:7.1f} s = {events / seconds:>9,.0f} events/s, "
        f"{mb:8.1f} MB = {mb / seconds:6.1f} MB/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size",
        type=parse_size,
        action="append",
        help="MEMBERSxCOURSESxDAYS (repeatable; default 10000x500x7 and 50000x2000x14)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for size in args.size or [(10_000, 500, 7), (50_000, 2000, 14)]:
        print(run(*size, seed=args.seed), flush=True)


if __name__ == "__main__":
    main()
