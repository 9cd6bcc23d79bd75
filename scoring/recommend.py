"""Rescoring one member: candidates, one vectorised GLMix pass per assigned variant, top-K
per channel with reasons, as one compact record. The worker calls this after a member's
state changes; offline evaluation calls it to measure top-K lists.

Variants are scoring modes of the loaded model: `glmix` ranks by the posterior mean of
alpha_m, `glmix-thompson` by a posterior sample (exploration; the sample is seeded by
member and time so a rescore is reproducible), `popular` by course popularity alone (a
control arm). Only the variants assigned to the member's channels are scored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np

from models.learner import Learner, MemberState
from schemas import Item, Recommendations, RecommendationsView
from scoring.candidates import Signals, generate
from scoring.compact import encode
from scoring.treatments import Treatments, stable_u64
from scoring.trending import Trends

VARIANTS = ("glmix", "glmix-thompson", "popular")


def single_variant(channels: Iterable[str], variant: str = "glmix") -> Treatments:
    """Treatments that serve one variant on every channel (no experiment)."""
    return Treatments({channel: {variant: 1.0} for channel in sorted(channels)})


def parse_treatments(text: str, channels: Iterable[str]) -> Treatments:
    """Treatments from JSON `{channel: {variant: share}}` (every channel needs a split);
    empty text serves `glmix` everywhere. ValueError with the reason otherwise.

    >>> parse_treatments('{"feed": {"glmix": 0.5, "popular": 0.5}}', ["feed"]).splits["feed"]
    {'glmix': 0.5, 'popular': 0.5}
    >>> parse_treatments('{"feed": {"glmix": 1}}', ["feed", "email"])
    Traceback (most recent call last):
    ...
    ValueError: treatments: no split for channel(s) email
    """
    if not text.strip():
        return single_variant(channels)
    try:
        splits = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"treatments: not JSON ({e.msg} at character {e.pos})") from None
    if not isinstance(splits, dict) or not all(isinstance(v, dict) for v in splits.values()):
        raise ValueError('treatments: expected {"channel": {"variant": share, ...}, ...}')
    missing = sorted(set(channels) - set(splits))
    if missing:
        raise ValueError(f"treatments: no split for channel(s) {', '.join(missing)}")
    unknown = {v for split in splits.values() for v in split} - set(VARIANTS)
    if unknown:
        raise ValueError(f"treatments: unknown variants {sorted(unknown)} (known: {VARIANTS})")
    return Treatments(splits)


class Recommender:
    """Top-`k` lists per channel for one member from a learner's model and catalog.

    >>> from models.synthetic import planted_records
    >>> from models.train import train_from_labels
    >>> from models.catalog import Catalog
    >>> from models.scorer import Scorer
    >>> courses, members, labels = planted_records(n_labels=2000)
    >>> model = train_from_labels(labels, courses, members, min_examples=10)
    >>> learner = Learner(Scorer(model, Catalog(model.spec, courses)))
    >>> rec = Recommender(learner, single_variant({"feed"}), k=3)
    >>> record = rec.recommend("m0", learner.new_member(members[0]), now=1767225600000)
    >>> view = record.view("feed")
    >>> len(view.items), view.model_id
    (3, 'glmix-v1')
    """

    def __init__(
        self,
        learner: Learner,
        treatments: Treatments,
        k: int = 20,
        candidates: int = 1000,
        model_version: str = "v1",
        trends: Trends | None = None,
    ):
        self.learner = learner
        self.treatments = treatments
        self.k = k
        self.candidates = candidates
        self.model_version = model_version
        self.trends = trends  # cohort counts (kept up to date by the caller), if any

    def signals(self, state: MemberState, ts: int) -> Signals:
        """What the member's candidates are drawn from, trends faded to `ts`."""
        catalog = self.learner.scorer.catalog
        member = state.member
        title, industry = (
            (None, None) if self.trends is None else self.trends.sources(member, catalog, ts)
        )
        engaged = tuple(
            (catalog.index[c], catalog.titles[catalog.index[c]])
            for c in state.engaged
            if c in catalog.index
        )
        return Signals(
            skills=member.skills if member else {},
            followed=member.followed_skills if member else (),
            engaged=engaged,
            dismissed=tuple(catalog.index[c] for c in state.dismissed if c in catalog.index),
            trending_title=title,
            trending_industry=industry,
        )

    def recommend(self, member_id: str, state: MemberState, now: int) -> Recommendations:
        """The member's record generated at `now` (epoch ms); features are computed at the
        member's newest event time (replays run in the past), or `now` without one."""
        ts = state.seen_at or now
        scorer = self.learner.scorer
        candidates = generate(scorer.catalog, self.signals(state, ts), ts, self.candidates)
        rows = candidates.rows
        reasons = candidates.reasons()
        assigned = self.treatments.assign(member_id)
        variants = sorted(set(assigned.values()))
        if variants != ["popular"]:
            profile = self.learner.profile(member_id, state)
            alpha = self.learner.alpha(member_id, state)
        ranked: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for variant in variants:
            if variant == "popular":
                scores = scorer.catalog.log_impressions[rows]
            else:
                coef = alpha.mean
                if variant == "glmix-thompson":
                    coef = self.learner.member_effect.sample(alpha, _rng(member_id, ts))
                scores = scorer.predict_proba(profile, state.history, rows, ts, coef)
            top = np.argsort(-scores, kind="stable")[: self.k]
            ranked[variant] = top, scores[top]
        views = []
        for channel, variant in sorted(assigned.items()):
            top, scores = ranked[variant]
            items = tuple(
                Item(
                    course_id=scorer.catalog.ids[rows[i]],
                    score=round(float(s), 6),
                    reason=reasons[i],
                )
                for i, s in zip(top, scores, strict=True)
            )
            views.append(
                RecommendationsView(
                    member_id=member_id,
                    channel=channel,
                    model_id=f"{variant}-{self.model_version}",
                    generated_at=now,
                    items=items,
                )
            )
        return encode(views)


def _rng(member_id: str, ts: int) -> np.random.Generator:
    return np.random.default_rng(stable_u64(f"{member_id}:{ts}"))
