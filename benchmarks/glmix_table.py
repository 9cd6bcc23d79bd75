"""Table 7 on the simulator: AUC and log-loss of popularity, LR, per-course, per-member,
full GLMix (batch, daily refit) and full GLMix incremental, on the later half of the labels.

Labels are featurised as of their impressions (`models.examples.as_of_impression`). Batch
models train on the first half (by label time) and stay frozen; the daily refit is the
paper's offline system (`models.refit`); the incremental model starts from the full batch
model and, progressively, predicts each later label at its impression and learns it when
it is final (`models.examples.online_steps`). Also checks
recovery of the planted per-member effects against the oracle bound (`models.recovery`).

    PYTHONPATH=. .venv/bin/python -P benchmarks/glmix_table.py [--log-dir DIR] [--days 56]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from evaluation.variants import online_model, progressive_logits
from labels.labeller import Labeller
from labels.offline import label_log
from models.catalog import Catalog
from models.examples import FeatureState, as_of_impression, in_time_order, online_steps
from models.features import Profile
from models.recovery import member_recovery, uniform_recovery_bound
from models.refit import batch_logits, daily_refit_logits
from models.spec import MC_NAMES, FeatureSpec
from models.train import GLMixTrainer, quality, train
from replay.logs import read_courses, read_events, read_members, read_truth
from replay.simulate import simulate
from replay.world import WorldConfig
from schemas import Label

RECOVERY_LABELS = (20, 50, 100)
BOUND_LABELS = (20, 50, 100, 200, 500)
ABLATIONS = {
    "LR (global only)": (),
    "GLMix per-course only": ("course",),
    "GLMix per-member only": ("member",),
    "GLMix full (batch)": ("member", "course"),
}


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
    courses, members = read_courses(log_dir), read_members(log_dir)
    labels = [
        r
        for r in label_log(read_events(log_dir), Labeller(args.rule), close_open=True)
        if isinstance(r, Label)
    ]
    spec = FeatureSpec.for_courses(courses)
    state = FeatureState(
        Catalog(spec, courses), {m.member_id: Profile.of(spec, m) for m in members}
    )
    ex, _ = as_of_impression(
        in_time_order(lb for lb in labels if lb.course_id in state.catalog.index), state
    )
    half = len(ex) // 2
    train_ex, test_ex = ex.subset(np.arange(half)), ex.subset(np.arange(half, len(ex)))
    print(
        f"{log_dir}: {len(ex):,} labels ({int(ex.y.sum()):,} positive), "
        f"{len(ex.member_ids):,} members, {len(courses):,} courses; "
        f"seed {args.seed}; train on the first {half:,}, evaluate on the last {len(test_ex):,}\n"
    )
    rows = [("popularity (smoothed CTR)", test_ex.x_mc[:, MC_NAMES.index("ctr_logit")])]
    full = None
    for name, effects in ABLATIONS.items():
        model = train(
            train_ex,
            spec,
            l2_member=args.l2,
            l2_course=args.l2,
            min_examples=args.min_examples,
            random_effects=effects,
        )
        rows.append((name, batch_logits(model, test_ex)))
        full = model
    hyper = {"l2_member": args.l2, "l2_course": args.l2, "min_examples": args.min_examples}
    rows.append(("GLMix full (daily refit)", daily_refit_logits(ex, spec, half, **hyper)))
    steps, learns, _ = online_steps(test_ex.ts, test_ex.label_ts)
    incremental = np.empty(len(test_ex))
    incremental[steps[~learns]] = progressive_logits(
        online_model(full, args.half_life_days), test_ex, steps, learns
    )
    rows.append(("GLMix full (incremental)", incremental))
    print(f"| {'model':<28} | {'AUC':>6} | {'log-loss':>8} |")
    print(f"|{'-' * 30}|{'-' * 8}|{'-' * 10}|")
    for name, logits in rows:
        q = quality(test_ex.y, logits)
        print(f"| {name:<28} | {q['auc']:6.4f} | {q['log_loss']:8.4f} |")
    truth = read_truth(log_dir)
    print("\nplanted member effects recovered (full batch model, centred per member):")
    for min_labels in RECOVERY_LABELS:
        rec = member_recovery(full, train_ex, courses, truth, min_labels)
        print(
            f"  r = {rec.r:.3f} (oracle bound {rec.bound:.3f}) over {rec.members:,} members "
            f"with >= {min_labels} training labels"
        )
    curve = uniform_recovery_bound(truth, courses, BOUND_LABELS, float(train_ex.y.mean()))
    print(
        "oracle bound with n labels on uniformly drawn courses: "
        + ", ".join(f"n={n}: {b:.3f}" for n, b in zip(BOUND_LABELS, curve, strict=True))
    )


if __name__ == "__main__":
    main()
