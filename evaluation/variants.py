"""The compared models (paper Table 7 plus the cold-start baselines and the Insight 11
day-of-week ablation), each a GLMix fitted by the batch trainer on a column subset of
x_mc and a subset of the random effects, so every variant scores through the same
`glmix_logits` as the worker. Incremental variants start from their batch twin and learn
every later label with `OnlineGLMix`, predicting it first (progressive validation).

The variants with `side` set are GDMix's MovieLens ladder: a global model over the
member's and course's own features and the x_mc columns that need no history
(`HISTORY_NAMES` left out: a movie's like-rate or a member's genre counts are per-entity
effects learned from labels, which would make the global row half a GLMix), then
per-member and per-course effects on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from models.examples import Examples
from models.glmix import GLMixModel
from models.online import OnlineGLMix, effects
from models.recovery import taste_recovery
from models.spec import HISTORY_NAMES, MC_NAMES, FeatureSpec
from models.train import train
from schemas import Course

DAY_OF_WEEK_COLUMNS = (*(n for n in MC_NAMES if n.startswith("dow_")), "weekend_x_long")
NO_HISTORY_COLUMNS = tuple(n for n in MC_NAMES if n not in HISTORY_NAMES)


@dataclass(frozen=True)
class Variant:
    """One compared model: which x_mc columns it may use (None: all, minus `drop`), which
    random effects it fits, whether its fixed effect also reads x_c and x_m (`side`, see
    `models.train`), and whether it keeps learning after the batch fit.

    >>> v = Variant("no-dow", "full, no day of week", drop=DAY_OF_WEEK_COLUMNS)
    >>> int(v.mask().sum()), len(MC_NAMES)
    (18, 26)
    """

    name: str
    title: str
    effects: tuple[str, ...] = ("member", "course")
    keep: tuple[str, ...] | None = None
    drop: tuple[str, ...] = ()
    side: bool = False
    incremental: bool = False

    def mask(self) -> np.ndarray:
        """1.0 for the x_mc columns the variant uses, 0.0 for the others."""
        keep = MC_NAMES if self.keep is None else self.keep
        return np.array([n in keep and n not in self.drop for n in MC_NAMES], float)

    @property
    def batch_key(self) -> tuple[Any, ...]:
        """Variants with equal keys share one batch fit (an incremental one and its twin)."""
        return (self.effects, self.keep, self.drop, self.side)

    def fit(self, ex: Examples, spec: FeatureSpec, **hyperparameters: Any) -> GLMixModel:
        """Batch-train on the allowed columns; the others get weight exactly 0."""
        mask = self.mask()
        model = train(
            replace(ex, x_mc=ex.x_mc * mask),
            spec,
            random_effects=self.effects,
            side_features=self.side,
            **hyperparameters,
        )
        model.w = model.w * mask
        return model


VARIANTS: tuple[Variant, ...] = (
    Variant("popularity", "popularity (smoothed CTR)", (), ("ctr_logit", "log_impressions")),
    Variant("skill-affinity", "skill affinity (cold start)", (), ("skill_cos", "followed_cos")),
    Variant("lr", "LR (global, history features)", ()),
    Variant("side-lr", "LR (global, side features)", (), NO_HISTORY_COLUMNS, side=True),
    Variant("side+member", "side LR + per-member", ("member",), NO_HISTORY_COLUMNS, side=True),
    Variant(
        "side+member+course",
        "side LR + per-member + per-course",
        keep=NO_HISTORY_COLUMNS,
        side=True,
    ),
    Variant("course-only", "GLMix per-course only", ("course",)),
    Variant("member-only", "GLMix per-member only", ("member",)),
    Variant("full-batch", "GLMix full (batch)"),
    Variant("full-incremental", "GLMix full (incremental)", incremental=True),
    Variant("full-batch-no-dow", "GLMix full (batch), no day of week", drop=DAY_OF_WEEK_COLUMNS),
    Variant(
        "full-incremental-no-dow",
        "GLMix full (incremental), no day of week",
        drop=DAY_OF_WEEK_COLUMNS,
        incremental=True,
    ),
)
BY_NAME = {v.name: v for v in VARIANTS}


def select(names: str | None) -> tuple[Variant, ...]:
    """Variants named in a comma-separated list (all when None); ValueError on unknown."""
    if names is None:
        return VARIANTS
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in BY_NAME]
    if unknown or not wanted:
        raise ValueError(f"unknown variants {unknown}; choose from {', '.join(BY_NAME)}")
    return tuple(BY_NAME[n] for n in dict.fromkeys(wanted))


def online_model(model: GLMixModel, half_life_days: float) -> OnlineGLMix:
    """The near-line updater seeded with a batch model, priors as in training."""
    return OnlineGLMix(model, *effects(model, half_life_days))


def progressive_logits(
    online: OnlineGLMix, ex: Examples, rows: np.ndarray, learns: np.ndarray
) -> np.ndarray:
    """Progressive validation in event time: the steps (`models.examples.online_steps`)
    run in order, a serving step scores its example with the model as it stands, a
    learning step learns its example. Returns the logits of the serving steps, in order."""
    x_mc = np.ascontiguousarray(ex.x_mc)  # rows, not columns, are read one at a time
    member_ids, course_ids = ex.member_ids, ex.course_ids
    members, courses = ex.member.tolist(), ex.course.tolist()
    y, ts = ex.y.astype(int).tolist(), ex.ts.tolist()
    logits = []
    for i, learn in zip(rows.tolist(), learns.tolist(), strict=True):
        m, c = members[i], courses[i]
        x = (member_ids[m], course_ids[c], x_mc[i], ex.x_c[c], ex.x_m[m])
        if learn:
            online.learn_one(*x, y=y[i], ts=ts[i])
        else:
            logits.append(online.logit(*x))
    return np.array(logits, float)


def member_recovery(
    fitted: Mapping[str, np.ndarray],
    counts: Mapping[str, int],
    courses: list[Course],
    spec: FeatureSpec,
    truth: dict,
    min_labels: int,
) -> dict[str, float | int | None]:
    """`taste_recovery` of fitted member effects, for members with a fitted effect and at
    least `min_labels` labels."""
    keep = sorted(
        m for m in fitted if counts.get(m, 0) >= min_labels and m in truth["member_taste"]
    )
    if len(keep) < 2:
        return {"r": None, "members": len(keep), "min_labels": min_labels}
    r = taste_recovery(np.array([fitted[m] for m in keep]), keep, courses, spec, truth)
    return {"r": r, "members": len(keep), "min_labels": min_labels}
