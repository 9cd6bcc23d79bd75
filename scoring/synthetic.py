"""Synthetic served lists for tests and benchmarks: the overlap of real lists (models and
channels rank mostly the same candidates) is what the compact record exploits."""

from __future__ import annotations

import numpy as np

from models.synthetic import T0
from schemas import Item, RecommendationsView

REASONS = (
    "Because you watched Advanced SQL for Analysts",
    "Because of your skill data analysis",
    "Because you follow machine learning",
    "Trending in your industry",
    "Popular",
    "New",
)


def overlapping_lists(
    channels: tuple[str, ...] = ("feed", "email", "learning_home"),
    models: int = 4,
    k: int = 50,
    pool: int = 120,
    seed: int = 0,
) -> list[RecommendationsView]:
    """One member's top-k per (channel, model): every model ranks the same `pool` candidates
    by a shared relevance plus its own noise, so the lists overlap but differ in order.

    >>> views = overlapping_lists(models=2, k=5)
    >>> len(views), len(views[0].items)
    (6, 5)
    """
    rng = np.random.default_rng(seed)
    ids = [f"urn:li:course:{n}" for n in rng.choice(10**7, pool, replace=False)]
    reasons = rng.integers(len(REASONS), size=pool)
    relevance = rng.normal(size=pool)
    views = []
    for channel in channels:
        for m in range(models):
            scores = relevance + rng.normal(scale=0.5, size=pool)
            top = np.argsort(-scores)[:k]
            items = tuple(
                Item(course_id=ids[i], score=float(scores[i]), reason=REASONS[reasons[i]])
                for i in top
            )
            views.append(
                RecommendationsView(
                    member_id="member-0001",
                    channel=channel,
                    model_id=f"glmix-{m}",
                    generated_at=T0,
                    items=items,
                )
            )
    return views
