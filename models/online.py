"""Near-line GLMix: the batch fixed effect stays frozen while every label updates the
member's alpha_m and the course's beta_c posteriors, each with the other components as
offset. Replay and the stream agents share this; the tables are plain mappings here."""

from __future__ import annotations

import numpy as np

from models.glmix import GLMixModel, RandomEffects
from models.posterior import GaussianEffect, Posterior


def effects(
    model: GLMixModel, half_life_days: float | None = None
) -> tuple[GaussianEffect, GaussianEffect]:
    """The near-line member and course effects of a batch model: priors as in training."""
    l2 = model.meta["hyperparameters"]
    return (
        GaussianEffect(l2=l2["l2_member"], half_life_days=half_life_days),
        GaussianEffect(l2=l2["l2_course"], half_life_days=half_life_days),
    )


class OnlineGLMix:
    """Posterior tables seeded from a batch model (entities it lacks start at the prior).

    >>> from models.synthetic import planted
    >>> from models.train import train
    >>> ex, spec, _ = planted(n_members=20, n_courses=10, n=2000)
    >>> online = OnlineGLMix(train(ex, spec), GaussianEffect(), GaussianEffect())
    >>> i = 0
    >>> x = ex.x_mc[i], ex.x_c[ex.course[i]], ex.x_m[ex.member[i]]
    >>> before = online.logit("m-new", "c0", *x)
    >>> online.learn_one("m-new", "c0", *x, y=1, ts=int(ex.ts[i])) == before
    True
    >>> online.logit("m-new", "c0", *x) > before
    True
    """

    def __init__(
        self, model: GLMixModel, member_effect: GaussianEffect, course_effect: GaussianEffect
    ):
        self.model = model
        self.member_effect = member_effect
        self.course_effect = course_effect
        self.members: dict[str, Posterior] = {}
        self.courses: dict[str, Posterior] = {}

    def member(self, member_id: str) -> Posterior:
        return self._entity(self.members, self.model.members, self.member_effect, member_id, 0)

    def course(self, course_id: str) -> Posterior:
        return self._entity(self.courses, self.model.courses, self.course_effect, course_id, 1)

    def _entity(
        self,
        table: dict[str, Posterior],
        batch: RandomEffects,
        effect: GaussianEffect,
        entity_id: str,
        dim_index: int,
    ) -> Posterior:
        p = table.get(entity_id)
        if p is None:
            p = batch.posterior(entity_id) or effect.prior(self.model.spec.dims[dim_index])
            table[entity_id] = p
        return p

    def logit(
        self, member_id: str, course_id: str, x_mc: np.ndarray, x_c: np.ndarray, x_m: np.ndarray
    ) -> float:
        fixed = float(x_mc @ self.model.w) + self.model.b
        return fixed + float(self.member(member_id).mean @ x_c + self.course(course_id).mean @ x_m)

    def learn_one(
        self,
        member_id: str,
        course_id: str,
        x_mc: np.ndarray,
        x_c: np.ndarray,
        x_m: np.ndarray,
        y: int,
        ts: int,
    ) -> float:
        """Update both random effects from one label (offsets use the pre-update means);
        returns the logit before the update, the progressive-validation prediction."""
        fixed = float(x_mc @ self.model.w) + self.model.b
        alpha, beta = self.member(member_id), self.course(course_id)
        member_score, course_score = float(alpha.mean @ x_c), float(beta.mean @ x_m)
        self.member_effect.learn_one(alpha, x_c, y, fixed + course_score, ts)
        self.course_effect.learn_one(beta, x_m, y, fixed + member_score, ts)
        return fixed + member_score + course_score
