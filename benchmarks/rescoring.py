"""Scoring micro-benchmarks: the worker's rescore of one member (`Recommender.recommend`:
candidates from a 5000-course catalog, GLMix logits of 1000 candidates, reasons, the
compact record) with its parts, and compact vs naive record size.

    .venv/bin/python benchmarks/rescoring.py

Issue 5 asks for the rescoring time per member (1000 candidates) and the compact vs naive
size with 3 channels x 4 models (paper: about 3x).
"""

from __future__ import annotations

import timeit
from collections.abc import Callable

import numpy as np

from models.catalog import Catalog
from models.history import CourseStats
from models.learner import Learner
from models.scorer import Scorer
from models.synthetic import T0, planted_records
from models.train import train_from_labels
from schemas import DEFAULT_CHANNELS
from scoring.candidates import generate
from scoring.compact import record_sizes
from scoring.recommend import Recommender, single_variant
from scoring.synthetic import overlapping_lists


def per_call_ms(fn: Callable[[], object], number: int = 50) -> str:
    """Best of 5 runs of the mean time per call (the cost without interference)."""
    runs = np.array(timeit.repeat(fn, number=number, repeat=5)) / number * 1e3
    return f"{runs.min():6.2f} ms (median {np.median(runs):6.2f})"


def bench_rescoring() -> None:
    """The worker's rescore (`Recommender.recommend`), and its parts, for one member with
    recent positives and dismissals over a 5000-course catalog."""
    courses, members, labels = planted_records(n_members=50, n_courses=5000, n_labels=2000)
    model = train_from_labels(labels, courses, members, min_examples=5)
    catalog = Catalog(model.spec, courses)
    rng = np.random.default_rng(0)
    for row in range(len(catalog)):
        catalog.set_stats(row, CourseStats(impressions=float(rng.integers(0, 5000))))
    learner = Learner(Scorer(model, catalog))
    recommender = Recommender(learner, single_variant(DEFAULT_CHANNELS), k=50)
    member = members[0]
    state = learner.new_member(member)
    state.engaged = tuple(catalog.ids[r] for r in rng.choice(len(catalog), 5))
    state.dismissed = tuple(catalog.ids[r] for r in rng.choice(len(catalog), 20))
    state.seen_at = ts = T0 + 40 * 86_400_000
    signals = recommender.signals(state, ts)
    profile, alpha = (
        learner.profile(member.member_id, state),
        learner.alpha(member.member_id, state),
    )
    candidates = generate(catalog, signals, ts, limit=1000)
    rows, n = candidates.rows, len(candidates.rows)
    print(
        f"catalog {len(catalog)} courses, {len(candidates.labels)} reason sources, {n} candidates"
    )
    timings = {
        "generate (candidates + per-source scores)": lambda: generate(catalog, signals, ts),
        f"Scorer.logits, {n} candidates": lambda: learner.scorer.logits(
            profile, state.history, rows, ts, alpha.mean
        ),
        f"reasons of {n} candidates": candidates.reasons,
        f"rescore one member ({len(DEFAULT_CHANNELS)} channels, top 50, record)": lambda: (
            recommender.recommend(member.member_id, state, ts)
        ),
    }
    for name, fn in timings.items():
        print(f"{name:<52}{per_call_ms(fn)}")


def bench_record_size() -> None:
    views = overlapping_lists(models=4, k=50)
    compact, naive = record_sizes(views)
    print(
        f"record for 3 channels x 4 models, top 50: compact {compact:,} B, "
        f"naive {naive:,} B, ratio {naive / compact:.2f}x (paper: ~3x)"
    )


def main() -> None:
    bench_rescoring()
    bench_record_size()


if __name__ == "__main__":
    main()
