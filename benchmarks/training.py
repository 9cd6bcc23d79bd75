"""Batch training time of the evaluator's models: one fit per distinct batch variant of
`evaluation.variants.VARIANTS` on the training days of a simulated log, as
`nearline evaluate` runs them, with each model's AUC and log-loss on the test days (the
figures a faster trainer must leave unchanged).

    PYTHONPATH=. .venv/bin/python -P benchmarks/training.py [--log-dir DIR] [--repeat 5]

Seconds are the best of --repeat fits (the cost without interference from other
processes) and their median.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from evaluation.metrics import quality
from evaluation.run import EvalConfig, Evaluator, Log, labels_of
from evaluation.variants import VARIANTS, Variant
from models.refit import batch_logits
from replay.simulate import simulate
from replay.world import WorldConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-dir", type=Path, help="a simulated log (default: simulate one)")
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--rule", default="percentile:95:member")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="training-")) / "log"
    if args.log_dir is None:
        world = WorldConfig(members=3000, courses=300, days=args.days, seed=1)
        simulate(world, log_dir, progress=False)
    log = Log.read(log_dir)
    evaluator = Evaluator(log, EvalConfig(rules=(args.rule,)))
    train_ex, test_ex = evaluator.featurised(labels_of(log.events, args.rule))
    print(f"{len(train_ex):,} training and {len(test_ex):,} test labels, rule {args.rule}")
    distinct: dict[tuple, Variant] = {}
    for v in VARIANTS:  # an incremental variant shares its batch twin's fit
        distinct.setdefault(v.batch_key, v)
    best = 0.0
    for v in distinct.values():
        runs = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            model = v.fit(train_ex, evaluator.spec, **evaluator.hyper)
            runs.append(time.perf_counter() - start)
        best += min(runs)
        q = quality(test_ex.y, batch_logits(model, test_ex))
        print(
            f"  {v.name:<20} {min(runs):6.3f} s (median {np.median(runs):6.3f})  "
            f"test AUC {q['auc']:.4f}  log-loss {q['logloss']:.4f}"
        )
    print(f"{len(distinct)} fits: {best:.3f} s (sum of the best of each)")


if __name__ == "__main__":
    main()
