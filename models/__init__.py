"""GLMix: features, batch training, incremental per-member / per-course updates, scoring.

Pure numpy / scikit-learn core shared by the stream agents and offline replay.
"""

from models.catalog import Catalog
from models.examples import Examples, FeatureState, build_examples
from models.features import Profile, member_course_features
from models.glmix import ArtifactError, GLMixModel, RandomEffects
from models.history import CourseStats, MemberHistory, count, course_key, observe
from models.online import OnlineGLMix
from models.posterior import GaussianEffect, Posterior
from models.scorer import Scorer, glmix_logits
from models.spec import FEATURE_SPEC_VERSION, FeatureSpec, SpecMismatch
from models.train import GLMixTrainer, run_train_cli, train, train_from_labels

__all__ = [
    "FEATURE_SPEC_VERSION",
    "ArtifactError",
    "Catalog",
    "CourseStats",
    "Examples",
    "FeatureSpec",
    "FeatureState",
    "GLMixModel",
    "GLMixTrainer",
    "GaussianEffect",
    "MemberHistory",
    "OnlineGLMix",
    "Posterior",
    "Profile",
    "RandomEffects",
    "Scorer",
    "SpecMismatch",
    "build_examples",
    "count",
    "course_key",
    "glmix_logits",
    "member_course_features",
    "observe",
    "run_train_cli",
    "train",
    "train_from_labels",
]
