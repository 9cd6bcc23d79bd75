"""Evaluator throughput: events/s of `nearline evaluate` on a simulated log (reading it and
writing the report included), and seconds per stage (where the time goes).

    PYTHONPATH=. .venv/bin/python -P benchmarks/evaluate_speed.py [--log-dir DIR] [--all-rules]

By default one rule (the main comparison only); --all-rules adds the paper's seven other
autoplay rules, each labelled, featurised and trained again.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from evaluation.report import run_evaluate_cli
from evaluation.run import PAPER_RULES, EvalConfig
from nearline.runtime import single_threaded_blas
from replay.simulate import simulate
from replay.world import WorldConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-dir", type=Path, help="a simulated log (default: simulate one)")
    parser.add_argument("--members", type=int, default=3000)
    parser.add_argument("--courses", type=int, default=300)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--all-rules", action="store_true")
    parser.add_argument("--jobs", type=int, default=1, help="processes for the other rules")
    args = parser.parse_args()
    single_threaded_blas()  # as `nearline evaluate` runs
    work = Path(tempfile.mkdtemp(prefix="evaluate-speed-"))
    log_dir = args.log_dir or work / "log"
    if args.log_dir is None:
        world = WorldConfig(members=args.members, courses=args.courses, days=args.days, seed=1)
        simulate(world, log_dir, progress=False)
    rules = PAPER_RULES if args.all_rules else PAPER_RULES[:1]
    s = run_evaluate_cli(
        log_dir, work / "report", EvalConfig(rules=rules, jobs=args.jobs), progress=False
    )
    print(
        f"{s['events']:,} events, {len(rules)} rule(s): {s['seconds']:.1f} s, "
        f"{s['events_per_s']:,.0f} events/s"
    )
    stages = {**s["stages"], "the rest": s["seconds"] - sum(s["stages"].values())}
    for stage, seconds in stages.items():
        print(f"  {stage:<28} {seconds:6.2f} s  {s['events'] / seconds:>10,.0f} events/s")


if __name__ == "__main__":
    main()
