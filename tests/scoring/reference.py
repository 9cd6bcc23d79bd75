"""The one-member rescoring as it was before members were scored in blocks, kept as the
independent reference the block path is tested against: every source scored over the
whole catalog, ranked by sorting, one pydantic model per item.

One change from that code: where a source's `limit`-th course ties with the next ones,
the earlier catalog rows are kept (it was an arbitrary partition's choice), so that the
reference is a function of the state alone.
"""

from __future__ import annotations

import numpy as np

from models.catalog import Catalog
from models.features import NEW_DAYS
from models.history import DAY_MS
from models.learner import MemberState
from models.spec import bucket
from schemas import Item, Recommendations, RecommendationsView
from scoring.candidates import Signals
from scoring.compact import encode
from scoring.reasons import explain, inverted_ranks
from scoring.recommend import Recommender, sample_rng


def shallow_ranks(scores: np.ndarray, depth: int) -> np.ndarray:
    """`inverted_ranks` of each reason's first `depth` items (catalog order among ties),
    0 for the rest."""
    s = np.where(np.isnan(scores), -np.inf, scores)
    order = np.argsort(-s, axis=1, kind="stable")
    position = np.empty(s.shape, np.intp)
    np.put_along_axis(position, order, np.arange(s.shape[1])[None], axis=1)
    return np.where(position < depth, inverted_ranks(scores), 0.0)


def generate(
    catalog: Catalog, signals: Signals, ts: int, limit: int = 1000
) -> tuple[np.ndarray, list[str]]:
    """(candidate rows best-nominated first, their reasons) for one member."""
    skills = catalog.skills
    buckets = catalog.spec.skill_buckets
    own = sorted(signals.skills.items(), key=lambda kv: -kv[1])
    sources: list[tuple[str, np.ndarray]] = []
    for row, title in signals.engaged:
        similar = skills @ skills[row]
        similar[row] = 0.0
        sources.append((f"Because you watched {title}", similar))
    for name, _ in own:
        sources.append((f"Because of your skill {name}", skills[:, bucket(name, buckets, "skill")]))
    for name in signals.followed:
        sources.append((f"Because you follow {name}", skills[:, bucket(name, buckets, "skill")]))
    for label, counts in (
        ("Trending for your job title", signals.trending_title),
        ("Trending in your industry", signals.trending_industry),
    ):
        if counts is not None:
            sources.append((label, np.asarray(counts, float)))
    age_days = (ts - catalog.released_at) / DAY_MS
    sources.append(("New", np.where(age_days >= 0, NEW_DAYS - age_days, 0.0)))
    sources.append(("Popular", catalog.log_impressions))
    labels = tuple(label for label, _ in sources)
    affinity = skills @ np.stack(
        [catalog.spec.skill_vector(signals.skills), catalog.spec.skill_vector(signals.followed)], 1
    )
    scores = np.vstack([np.stack([s for _, s in sources]), affinity.T])
    live = ~catalog.retired
    live[list(signals.dismissed)] = False
    scores = np.where((scores > 0.0) & live, scores, np.nan)
    nomination = shallow_ranks(scores, limit).max(axis=0)
    best = np.argsort(-nomination, kind="stable")[:limit]
    rows = best[nomination[best] > 0.0]
    return rows, explain(labels, scores[: len(labels), rows])


def recommend(rec: Recommender, member_id: str, state: MemberState, now: int) -> Recommendations:
    """The member's record as the one-member path built it."""
    ts = state.seen_at or now
    scorer = rec.learner.scorer
    rows, reasons = generate(scorer.catalog, rec.signals(state, ts), ts, rec.candidates)
    assigned = rec.treatments.assign(member_id)
    variants = sorted(set(assigned.values()))
    profile = rec.learner.profile(member_id, state)
    alpha = rec.learner.alpha(member_id, state)
    ranked: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for variant in variants:
        if variant == "popular":
            scores = scorer.catalog.log_impressions[rows]
        else:
            coef = alpha.mean
            if variant == "glmix-thompson":
                coef = rec.learner.member_effect.sample(alpha, sample_rng(member_id, ts))
            scores = scorer.predict_proba(profile, state.history, rows, ts, coef)
        top = np.argsort(-scores, kind="stable")[: rec.k]
        ranked[variant] = top, scores[top]
    views = []
    for channel, variant in sorted(assigned.items()):
        top, scores = ranked[variant]
        items = tuple(
            Item(course_id=scorer.catalog.ids[rows[i]], score=round(float(s), 6), reason=reasons[i])
            for i, s in zip(top, scores, strict=True)
        )
        views.append(
            RecommendationsView(
                member_id=member_id,
                channel=channel,
                model_id=f"{variant}-{rec.model_version}",
                generated_at=now,
                items=items,
            )
        )
    return encode(views)
