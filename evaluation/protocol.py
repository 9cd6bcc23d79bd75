"""`nearline evaluate --protocol random-split`: a seeded random share of the labels held
out, every batch variant trained on the rest (GDMix's MovieLens set-up, so that published
figures compare like for like).

Time still orders the history features, but a held-out label never enters them:

- every label is featurised as of its *impression*, from the training labels of earlier
  impressions (ties broken by impression id, never by the label). Featurised at label
  time instead, a negative, final a window after its impression, would see the member's
  activity of that window and a positive would not: the label would leak into features.
- held-out labels are featurised but not counted (no popularity, history or category
  affinity of theirs), so what a model sees of them is their features only.

Incremental variants are left out: with no test order they would equal their batch twin.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from tqdm import tqdm

from evaluation import metrics
from evaluation.run import EvalConfig, Evaluation, Log, fresh_state, labels_of
from evaluation.variants import Variant
from models.examples import Examples, build_examples, event_ts
from models.history import DAY_MS
from models.refit import batch_logits
from models.spec import FeatureSpec
from schemas import Label

PROGRESSIVE = "progressive"
RANDOM_SPLIT = "random-split"
PROTOCOLS = (PROGRESSIVE, RANDOM_SPLIT)


def held_out(n: int, fraction: float, seed: int) -> np.ndarray:
    """A mask of exactly round(fraction * n) of n items, drawn with `seed`.

    >>> held_out(10, 0.2, seed=1).sum()
    np.int64(2)
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the test fraction must be between 0 and 1, got {fraction}")
    size = round(fraction * n)
    if not 0 < size < n:
        raise ValueError(f"a test fraction of {fraction} of {n} labels leaves a side empty")
    mask = np.zeros(n, bool)
    mask[np.random.default_rng(seed).permutation(n)[:size]] = True
    return mask


def as_of_impression(labels: list[Label]) -> list[Label]:
    """The labels by impression time (ties by impression id), each final at its
    impression, so that featurising them reads only what came before it was shown."""
    ordered = sorted(labels, key=lambda lb: (event_ts(lb), lb.impression_event_id or ""))
    return [lb.model_copy(update={"label_ts": event_ts(lb)}) for lb in ordered]


class SplitEvaluator:
    """Batch variants trained on a random share of a log's labels, scored on the rest."""

    def __init__(self, log: Log, config: EvalConfig, progress: bool = False):
        if not log.events:
            raise ValueError("the log has no events")
        self.log, self.config, self.progress = log, config, progress
        self.spec = FeatureSpec.for_courses(log.courses)
        self.variants: tuple[Variant, ...] = tuple(v for v in config.variants if not v.incremental)
        if not self.variants:
            raise ValueError("the random split compares batch variants only: none was chosen")

    def examples(self, labels: list[Label]) -> tuple[Examples, Examples]:
        """(training, held-out) examples of the labels of known courses."""
        index = {c.course_id for c in self.log.courses}
        ordered = as_of_impression([lb for lb in labels if lb.course_id in index])
        test = held_out(len(ordered), self.config.test_fraction, self.config.seed)
        hidden = {id(lb) for lb, t in zip(ordered, test.tolist(), strict=True) if t}
        ex, _ = build_examples(
            ordered, fresh_state(self.log, self.spec), learns=lambda lb: id(lb) not in hidden
        )
        return ex.subset(np.flatnonzero(~test)), ex.subset(np.flatnonzero(test))

    def run(self) -> Evaluation:
        timings: dict[str, float] = {}
        t = time.perf_counter()
        rule = self.config.rules[0]
        labels = labels_of(
            tqdm(self.log.events, desc=f"labels {rule}", disable=not self.progress), rule
        )
        timings["labelling"] = time.perf_counter() - t
        t = time.perf_counter()
        train, test = self.examples(labels)
        timings["features"] = time.perf_counter() - t
        t = time.perf_counter()
        logits = {
            v.name: batch_logits(v.fit(train, self.spec, **self.config.hyper), test)
            for v in tqdm(self.variants, desc="batch training", disable=not self.progress)
        }
        timings["batch training"] = time.perf_counter() - t
        day0 = self.log.first_day
        days = test.ts // DAY_MS - day0
        out = {v.name: _figures(v, test.y, logits[v.name], days) for v in self.variants}
        report = {
            "log": {
                "events": len(self.log.events),
                "courses": len(self.log.courses),
                "members": len(self.log.members),
                "days": int(max(e.ts for e in self.log.events) // DAY_MS - day0 + 1),
                "labels": len(train) + len(test),
                "train_labels": len(train),
                "test_labels": len(test),
                "test_positives": int(test.y.sum()),
            },
            "config": {
                "protocol": RANDOM_SPLIT,
                "test_fraction": self.config.test_fraction,
                "seed": self.config.seed,
                "rule": rule,
                **self.config.hyper,
            },
        }
        return Evaluation(out, report, test.y, logits, timings)


def _figures(v: Variant, y: np.ndarray, logits: np.ndarray, days: np.ndarray) -> dict[str, Any]:
    table, _ = metrics.calibration(y, 1.0 / (1.0 + np.exp(-logits)))
    return {
        "title": v.title,
        **metrics.quality(y, logits),
        "calibration": table,
        "by_day": [
            {"day": int(d), **metrics.quality(y[days == d], logits[days == d])}
            for d in sorted(set(days.tolist()))
        ],
    }
