"""Rescoring micro-benchmarks: the worker's rescore of members with recent positives and
dismissals over a 5000-course catalog (11 reason sources, 1000 candidates, 3 channels,
top 50, compact record), one member alone and in blocks of 256, with the parts per member
in blocks, the peak memory of a block, and compact vs naive record size (3 channels x 4
models, top 50; paper: about 3x). Ends with one JSON line of the figures. Times are
the process's CPU time, best of 5.

    .venv/bin/python benchmarks/rescoring.py
"""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from models.catalog import Catalog
from models.history import DAY_MS, CourseStats
from models.learner import Learner
from models.scorer import Scorer
from models.synthetic import T0, planted_records
from models.train import train_from_labels
from nearline.runtime import reuse_freed_memory, single_threaded_blas
from schemas import DEFAULT_CHANNELS
from scoring.candidates import generate_many
from scoring.compact import Ranking, record_bytes, record_sizes
from scoring.recommend import Recommender, single_variant
from scoring.synthetic import overlapping_lists

BLOCK = 256


def best_us(fn: Callable[[], object], per: int, repeat: int = 5) -> float:
    """Best of `repeat` runs, in CPU µs per member: on a shared machine the wall clock
    mostly measures the wait for a core."""
    runs = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        runs.append(time.process_time() - start)
    return min(runs) / per * 1e6


def bench_rescoring() -> dict[str, float]:
    """The rescore (`Recommender.recommend_many`) and its parts, per member."""
    courses, members, labels = planted_records(n_members=BLOCK, n_courses=5000, n_labels=2000)
    model = train_from_labels(labels, courses, members, min_examples=5)
    catalog = Catalog(model.spec, courses)
    rng = np.random.default_rng(0)
    for row in range(len(catalog)):
        catalog.set_stats(row, CourseStats(impressions=float(rng.integers(0, 5000))))
    learner = Learner(Scorer(model, catalog))
    rec = Recommender(learner, single_variant(DEFAULT_CHANNELS), k=50)
    ts = T0 + 40 * DAY_MS
    states = []
    for member in members:
        state = learner.new_member(member)
        state.engaged = tuple(catalog.ids[r] for r in rng.choice(len(catalog), 5))
        state.dismissed = tuple(catalog.ids[r] for r in rng.choice(len(catalog), 20))
        state.seen_at = ts
        states.append(state)
    ids = [m.member_id for m in members]
    signals = [rec.signals(s, ts) for s in states]
    found = generate_many(catalog, rec.lists, signals, [ts] * BLOCK)  # also warms the lists
    rows = [c.rows for c in found]
    profiles = [learner.profile(m, s) for m, s in zip(ids, states, strict=True)]
    alphas = np.array([learner.alpha(m, s).mean for m, s in zip(ids, states, strict=True)])
    x_m = np.array([p.x_m for p in profiles])

    def logits() -> None:
        fixed, which = learner.scorer.block_fixed(
            profiles,
            [s.history for s in states],
            rows,
            [ts] * BLOCK,
            np.concatenate([c.skill_cos for c in found]),
        )
        learner.scorer.block_logits(fixed, np.concatenate(rows), which, alphas, x_m)

    top = [(c, np.arange(50)) for c in found]
    lists = [
        [
            Ranking(
                ch,
                "glmix-v1",
                [catalog.ids[r] for r in c.rows[t]],
                np.linspace(1, 0, 50),
                [c.reasons()[i] for i in t],
            )
            for ch in sorted(DEFAULT_CHANNELS)
        ]
        for c, t in top
    ]
    n_sources = len(found[0].labels)
    print(f"catalog {len(catalog)} courses, {n_sources} reason sources, {len(rows[0])} candidates")
    figures = {
        "us_per_member_block256": best_us(lambda: rec.recommend_many(ids, states, ts), BLOCK),
        "us_per_member_single": best_us(lambda: rec.recommend_many(ids[:1], states[:1], ts), 1, 20),
        "candidates_us": best_us(
            lambda: generate_many(catalog, rec.lists, signals, [ts] * BLOCK), BLOCK
        ),
        "logits_us": best_us(logits, BLOCK),
        "reasons_us": best_us(lambda: [c.reasons() for c in found], BLOCK),
        "record_us": best_us(
            lambda: [record_bytes(m, ts, ls) for m, ls in zip(ids, lists, strict=True)], BLOCK
        ),
    }
    tracemalloc.start()
    rec.recommend_many(ids, states, ts)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    for name, label in (
        ("us_per_member_block256", f"rescore, blocks of {BLOCK} (per member)"),
        ("us_per_member_single", "rescore one member alone"),
        ("candidates_us", "  candidates, nominations and reason ranks"),
        ("logits_us", "  features and GLMix logits of 1000 candidates"),
        ("reasons_us", "  reason texts of the candidates"),
        ("record_us", "  compact record bytes (3 channels, top 50)"),
    ):
        print(f"{label:<52}{figures[name]:9.1f} µs")
    print(f"{'peak memory of a block of ' + str(BLOCK):<52}{peak:9.1f} MB")
    return figures


def bench_record_size() -> dict[str, float]:
    views = overlapping_lists(models=4, k=50)
    compact, naive = record_sizes(views)
    print(
        f"record for 3 channels x 4 models, top 50: compact {compact:,} B, "
        f"naive {naive:,} B, ratio {naive / compact:.2f}x (paper: ~3x)"
    )
    return {"record_bytes_compact": compact, "record_bytes_naive": naive, "ratio": naive / compact}


def main() -> None:
    single_threaded_blas()
    reuse_freed_memory()  # as the worker runs
    figures = {**bench_rescoring(), **bench_record_size()}
    print(json.dumps({k: round(v, 2) for k, v in figures.items()}))


if __name__ == "__main__":
    main()
