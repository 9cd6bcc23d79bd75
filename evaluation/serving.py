"""Variants as the worker serves them: candidates from `scoring.candidates.generate`,
features from `member_course_features`, logits from `glmix_logits` with the scorer's
course coefficients. Used for top-k lists and for the target policy of the off-policy
estimate, both at the start of a day from the state learned before it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from evaluation.ips import softmax_policy
from models.examples import FeatureState
from models.features import member_course_features
from models.glmix import GLMixModel
from models.online import OnlineGLMix
from models.scorer import Scorer, glmix_logits
from scoring.candidates import Signals, generate


@dataclass
class Served:
    """A scorer (course effects in catalog order) and the member effects of one variant."""

    scorer: Scorer
    alphas: Mapping[str, np.ndarray]

    @classmethod
    def batch(cls, model: GLMixModel, state: FeatureState) -> Served:
        members = model.members
        return cls(Scorer(model, state.catalog), dict(zip(members.ids, members.mean, strict=True)))

    @classmethod
    def online(cls, online: OnlineGLMix, state: FeatureState) -> Served:
        """The near-line posterior means as they stand, over the batch model's."""
        served = cls.batch(online.model, state)
        for course_id, p in online.courses.items():
            served.scorer.set_course(course_id, p.mean)
        served.alphas = {**served.alphas, **{m: p.mean for m, p in online.members.items()}}
        return served

    def logits(self, state: FeatureState, member_id: str, rows: np.ndarray, x_mc: np.ndarray):
        """Logits of catalog `rows` for a member, given their x_mc (shared by variants)."""
        model = self.scorer.model
        return glmix_logits(
            x_mc,
            model.w,
            model.b,
            state.catalog.x_c[rows],
            self.alphas.get(member_id),
            self.scorer.betas[rows],
            state.profile(member_id).x_m,
        )


def features(state: FeatureState, member_id: str, rows: np.ndarray, ts: int) -> np.ndarray:
    """x_mc of catalog rows for a member at `ts` from the current state."""
    return member_course_features(
        state.catalog, rows, state.profile(member_id), state.history(member_id), ts
    )


def top_lists(
    served: Mapping[str, Served],
    state: FeatureState,
    signals: Mapping[str, Signals],
    ts: int,
    k: int,
) -> dict[str, list[list[str]]]:
    """Per variant, each member's top-k course ids among their generated candidates."""
    out: dict[str, list[list[str]]] = {name: [] for name in served}
    ids = state.catalog.ids
    for member_id, sig in signals.items():
        rows = generate(state.catalog, sig, ts).rows
        x_mc = features(state, member_id, rows, ts)
        for name, s in served.items():
            best = np.argsort(-s.logits(state, member_id, rows, x_mc), kind="stable")[:k]
            out[name].append([ids[r] for r in rows[best].tolist()])
    return out


def target_probabilities(
    served: Mapping[str, Served],
    state: FeatureState,
    member_id: str,
    ts: int,
    allowed: np.ndarray,
    logged_row: int,
    temperature: float,
) -> dict[str, float]:
    """Per variant, the chance its softmax policy over the allowed catalog rows shows the
    logged course in the logged slot (see `evaluation.ips`)."""
    rows = np.arange(len(state.catalog))
    x_mc = features(state, member_id, rows, ts)
    return {
        name: float(
            softmax_policy(s.logits(state, member_id, rows, x_mc), allowed, temperature)[logged_row]
        )
        for name, s in served.items()
    }
