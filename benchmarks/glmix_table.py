"""Table 7 on the simulator: AUC and log-loss of popularity, LR, per-course, per-member,
full GLMix (batch) and full GLMix incremental, plus recovery of the planted per-member
effects. A thin caller of the evaluator (`nearline evaluate` has the full report).

    PYTHONPATH=. .venv/bin/python -P benchmarks/glmix_table.py [--log-dir DIR] [--days 56]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from evaluation.report import markdown, recovery_rows, variant_rows
from evaluation.run import EvalConfig, Evaluator, Log
from evaluation.variants import select
from models.train import GLMixTrainer
from replay.simulate import simulate
from replay.world import WorldConfig

TABLE_7 = "popularity,lr,course-only,member-only,full-batch,full-incremental"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-dir", type=Path, help="a simulated log (default: simulate one)")
    parser.add_argument("--members", type=int, default=3000)
    parser.add_argument("--courses", type=int, default=300)
    parser.add_argument("--days", type=int, default=56)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rule", default="percentile:95:member")
    parser.add_argument("--min-examples", type=int, default=5)
    parser.add_argument("--half-life-days", type=float, default=60.0)
    parser.add_argument(
        "--l2", type=float, default=GLMixTrainer().l2_member, help="L2 of both random effects"
    )
    args = parser.parse_args()
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="glmix-table-"))
    if args.log_dir is None:
        world = WorldConfig(
            members=args.members, courses=args.courses, days=args.days, seed=args.seed
        )
        simulate(world, log_dir, progress=False)
    config = EvalConfig(
        rules=(args.rule,),
        variants=select(TABLE_7),
        min_examples=args.min_examples,
        l2=args.l2,
        half_life_days=args.half_life_days,
    )
    ev = Evaluator(Log.read(log_dir), config).run()
    log = ev.report["log"]
    print(
        f"{log_dir}: {log['events']:,} events, {log['days']} days; seed {args.seed}; "
        f"train on days 1-{log['train_days']}, evaluate on {log['test_labels']:,} labels\n"
    )
    head, rows = variant_rows(ev.metrics)
    print(markdown(head[:3], [r[:3] for r in rows]))
    if ev.report["recovery"]:
        print("\nplanted member effects recovered (centred per member):")
        print(markdown(*recovery_rows(ev.report["recovery"])))


if __name__ == "__main__":
    main()
