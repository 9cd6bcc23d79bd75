"""The model a worker serves before any batch training ran: GLMix at its prior.

An empty cluster has no labels to train on, yet members should get lists at once and
those lists should follow their first clicks. The prior model is a GLMix whose fixed
effect is set by hand over the member-course features that need no training to mean
something (skill and followed-skill affinity, the member's own category history,
popularity, novelty, impression discounting), and whose random effects are all at
their prior: every member's alpha_m and every course's beta_c is learned near-line from
the first labels, exactly as on top of a batch model. The first trained version rolls
in over it.
"""

from __future__ import annotations

import math

import numpy as np

from models.glmix import GLMixModel, RandomEffects
from models.posterior import L2_RANDOM_EFFECT
from models.spec import MC_NAMES, FeatureSpec

PRIOR_VERSION = "prior"  # the served model id's suffix: "glmix-prior"

# Logit per unit of each x_mc column; the other columns weigh 0 until training. Skill
# affinity and the member's share of positives in the course's category dominate, so a
# list starts from the profile and follows the member's clicks; popularity and novelty
# order what the profile cannot tell apart; a course shown often without a click sinks.
PRIOR_WEIGHTS = {
    "skill_cos": 3.0,
    "followed_cos": 2.0,
    "category_share": 3.0,
    "category_log_count": 0.5,
    "ctr_logit": 0.5,
    "log_impressions": 0.2,
    "is_new": 0.5,
    "log_imp_count": -0.5,
}


def prior_model(spec: FeatureSpec) -> GLMixModel:
    """GLMix with the hand-set fixed effect and no random effect trained (all at prior).

    >>> model = prior_model(FeatureSpec(categories=("data",)))
    >>> model.members.ids, model.meta["version"], round(model.b, 2)
    ([], 'prior', -2.94)
    >>> float(model.w[MC_NAMES.index("skill_cos")])
    3.0
    """
    w = np.array([PRIOR_WEIGHTS.get(name, 0.0) for name in MC_NAMES])
    d_c, d_m, _ = spec.dims
    meta = {
        "version": PRIOR_VERSION,
        "hyperparameters": {"l2_member": L2_RANDOM_EFFECT, "l2_course": L2_RANDOM_EFFECT},
    }
    b = math.log(spec.ctr_prior / (1.0 - spec.ctr_prior))
    return GLMixModel(spec, w, b, _untrained(d_c), _untrained(d_m), meta)


def _untrained(dim: int) -> RandomEffects:
    return RandomEffects([], np.zeros((0, dim)), np.zeros((0, dim)))
