"""Scoring micro-benchmarks: rescoring one member (candidates from a 5000-course catalog,
GLMix logits of 1000 candidates, reasons) and compact vs naive record size.

    .venv/bin/python benchmarks/rescoring.py

Issue 5 asks for the rescoring time per member (1000 candidates) and the compact vs naive
size with 3 channels x 4 models (paper: about 3x).
"""

from __future__ import annotations

import timeit
from collections.abc import Callable

import numpy as np

from models.catalog import Catalog
from models.features import Profile
from models.history import CourseStats, MemberHistory
from models.scorer import Scorer
from models.synthetic import T0, planted_records
from models.train import train_from_labels
from scoring.candidates import Signals, generate
from scoring.compact import record_sizes
from scoring.synthetic import overlapping_lists


def per_call_ms(fn: Callable[[], object], number: int = 50) -> str:
    """Best of 5 runs of the mean time per call (the cost without interference)."""
    runs = np.array(timeit.repeat(fn, number=number, repeat=5)) / number * 1e3
    return f"{runs.min():6.2f} ms (median {np.median(runs):6.2f})"


def bench_rescoring() -> None:
    courses, members, labels = planted_records(n_members=50, n_courses=5000, n_labels=2000)
    model = train_from_labels(labels, courses, members, min_examples=5)
    catalog = Catalog(model.spec, courses)
    rng = np.random.default_rng(0)
    for row in range(len(catalog)):
        catalog.set_stats(row, CourseStats(impressions=float(rng.integers(0, 5000))))
    member = members[0]
    engaged = tuple((int(r), courses[r].title) for r in rng.choice(len(catalog), 5))
    signals = Signals(
        skills=member.skills,
        followed=("skill1", "skill2"),
        engaged=engaged,
        dismissed=tuple(int(r) for r in rng.choice(len(catalog), 20)),
        trending_title=rng.poisson(0.2, len(catalog)).astype(float),
        trending_industry=rng.poisson(0.2, len(catalog)).astype(float),
    )
    scorer = Scorer(model, catalog)
    profile = Profile.of(model.spec, member)
    history = MemberHistory.empty(model.spec.n_categories)
    alpha = model.members.mean[0]
    ts = T0 + 40 * 86_400_000

    def rescore() -> list[str]:
        candidates = generate(catalog, signals, ts, limit=1000)
        logits = scorer.logits(profile, history, candidates.rows, ts, alpha)
        top = np.argsort(-logits)[:50]
        reasons = candidates.reasons()
        return [reasons[i] for i in top]

    candidates = generate(catalog, signals, ts, limit=1000)
    rows, n = candidates.rows, len(candidates.rows)
    print(
        f"catalog {len(catalog)} courses, {len(candidates.labels)} reason sources, {n} candidates"
    )
    timings = {
        "generate (candidates + per-source scores)": lambda: generate(catalog, signals, ts),
        f"Scorer.logits, {n} candidates": lambda: scorer.logits(profile, history, rows, ts, alpha),
        f"reasons of {n} candidates": candidates.reasons,
        "rescore one member (all of the above, top 50)": rescore,
    }
    for name, fn in timings.items():
        print(f"{name:<48}{per_call_ms(fn)}")


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
