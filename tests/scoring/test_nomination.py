"""Candidates from catalogs deep enough that every source's head is cut short, so the
nomination kernel's cuts, ties and both ways of ranking an affinity head (counting few
distinct scores, sorting many) are checked against the one-member reference."""

from __future__ import annotations

import numpy as np
import pytest

from models.catalog import Catalog
from models.history import DAY_MS, CourseStats
from models.spec import FeatureSpec
from schemas import Course
from scoring.candidates import Signals, generate_many
from scoring.sources import SourceLists
from tests.scoring import reference

TS = 1_767_225_600_000 + 400 * DAY_MS
NAMES = tuple(f"skill{i}" for i in range(40))


def world(weights: str, seed: int) -> tuple[Catalog, list[Signals]]:
    rng = np.random.default_rng(seed)

    def skills(n: int) -> dict[str, float]:
        names = rng.choice(NAMES, n, replace=False)
        w = rng.uniform(0.1, 3.0, n) if weights == "many" else np.ones(n)
        return {str(s): float(x) for s, x in zip(names, w, strict=True)}

    courses = [
        Course(
            course_id=f"c{i}",
            title=f"Course {i}",
            skills=skills(int(rng.integers(1, 4))),
            category="data",
            difficulty="beginner",
            duration_s=3600,
            released_at=TS - int(rng.integers(0, 60)) * DAY_MS,
            retired=bool(rng.random() < 0.05),
        )
        for i in range(600)
    ]
    catalog = Catalog(FeatureSpec(categories=("data",)), courses)
    for row in range(len(catalog)):
        catalog.set_stats(row, CourseStats(impressions=float(rng.integers(0, 30))))
    signals = [
        Signals(
            skills=skills(int(rng.integers(1, 5))),
            followed=tuple(str(s) for s in rng.choice(NAMES, int(rng.integers(0, 3)))),
            engaged=tuple((int(r), f"Course {r}") for r in rng.choice(600, rng.integers(0, 3))),
            dismissed=tuple(int(r) for r in rng.choice(600, rng.integers(0, 30))),
        )
        for _ in range(12)
    ]
    return catalog, signals


@pytest.mark.parametrize("weights", ["few", "many"])
@pytest.mark.parametrize("limit", [5, 60, 400, 600])  # 600: every live course
def test_deep_catalogs_give_the_reference_candidates(weights, limit):
    for seed in range(3):
        catalog, signals = world(weights, seed)
        block = generate_many(catalog, SourceLists(), signals, [TS] * len(signals), limit)
        for s, got in zip(signals, block, strict=True):
            rows, reasons = reference.generate(catalog, s, TS, limit)
            assert got.rows.tolist() == rows.tolist()
            assert got.reasons() == reasons
