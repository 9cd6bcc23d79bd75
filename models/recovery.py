"""How well fitted per-member effects recover planted tastes, and how well they could.

Recovery is the centred correlation (see `centred_correlation`) of two member x course
score matrices: the fitted alpha_m · x_c and the planted taste of each course's
attributes. The bound is what an oracle reaches on the same exposures: it knows every
other part of the logit and the population's taste distribution (as a Gaussian prior),
and only has to infer each member's taste from that member's own labels, which it
draws from the planted model. No estimator of the member effect can do much better, so
a target above the bound is unattainable for that many labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.examples import Examples
from models.glmix import GLMixModel
from models.newton import newton
from models.posterior import sigmoid
from models.spec import FeatureSpec
from models.synthetic import centred_correlation
from schemas import Course


def taste_attributes(courses: list[Course], names: list[str]) -> np.ndarray:
    """(courses, len(names)) 0/1: which planted taste features (`category:x`,
    `difficulty:y`) each course has."""
    return np.array(
        [
            [f in (f"category:{c.category}", f"difficulty:{c.difficulty}") for f in names]
            for c in courses
        ],
        float,
    )


def taste_recovery(
    alphas: np.ndarray, member_ids: list[str], courses: list[Course], spec: FeatureSpec, truth: dict
) -> float:
    """Centred correlation over the catalog of the members' alpha_m · x_c (rows of
    `alphas`) against their planted taste of each course's attributes."""
    attrs = taste_attributes(courses, truth["member_taste_features"])
    taste = np.array([truth["member_taste"][m] for m in member_ids])
    x_c = np.array([spec.course_vector(c) for c in courses])
    return centred_correlation(alphas @ x_c.T, taste @ attrs.T)


@dataclass(frozen=True)
class Recovery:
    """Recovery of the planted member tastes by a model, and the oracle's on the same data."""

    r: float
    bound: float
    members: int


def member_recovery(
    model: GLMixModel, ex: Examples, courses: list[Course], truth: dict, min_labels: int
) -> Recovery:
    """Centred correlation over the catalog of alpha_m · x_c against the planted taste
    (`truth` as the simulator writes it) of each course's category and difficulty, for
    members with at least `min_labels` examples in `ex` (the model's training data), and
    the oracle's (`recovery_bound`) from the same members' labelled courses."""
    attrs = taste_attributes(courses, truth["member_taste_features"])
    counts = np.bincount(ex.member, minlength=len(ex.member_ids))
    keep = [
        i
        for i in np.flatnonzero(counts >= min_labels)
        if ex.member_ids[i] in model.members.index and ex.member_ids[i] in truth["member_taste"]
    ]
    if len(keep) < 2:
        return Recovery(float("nan"), float("nan"), len(keep))
    ids = [ex.member_ids[i] for i in keep]
    taste = np.array([truth["member_taste"][m] for m in ids])
    r = taste_recovery(model.members.matrix(ids), ids, courses, model.spec, truth)
    rows = {c.course_id: i for i, c in enumerate(courses)}
    catalog_row = np.array([rows.get(c, -1) for c in ex.course_ids])
    shown = [catalog_row[ex.course[ex.member == i]] for i in keep]
    shown = [s[s >= 0] for s in shown]
    population = np.array(list(truth["member_taste"].values()))
    bound = recovery_bound(taste, population, attrs, shown, float(ex.y.mean()))
    return Recovery(r, bound, len(keep))


def recovery_bound(
    taste: np.ndarray,
    population: np.ndarray,
    attrs: np.ndarray,
    shown: list[np.ndarray],
    base_rate: float,
    seed: int = 0,
    steps: int = 8,
) -> float:
    """The oracle's recovery (as in `member_recovery`) when member i has one label per
    course in `shown[i]`, drawn from logit = offset + attrs[c] · taste[i] with one offset
    setting the mean positive rate to `base_rate`; the oracle's prior is the Gaussian
    fitted to `population` (members x features, e.g. every planted taste).

    >>> rng = np.random.default_rng(0)
    >>> taste, attrs = rng.normal(0, 1, (300, 4)), np.eye(4)
    >>> few = recovery_bound(taste, taste, attrs, [rng.integers(4, size=20)] * 300, 0.1)
    >>> many = recovery_bound(taste, taste, attrs, [rng.integers(4, size=500)] * 300, 0.1)
    >>> 0.0 < few < many < 1.0
    True
    """
    rng = np.random.default_rng(seed)
    mu = population.mean(axis=0)
    root = np.linalg.cholesky(np.cov(population.T) + 1e-9 * np.eye(len(mu)))
    width = max(len(s) for s in shown)
    course = np.zeros((len(shown), width), np.intp)
    mask = np.arange(width) < np.array([len(s) for s in shown])[:, None]
    for i, s in enumerate(shown):
        course[i, : len(s)] = s
    a = attrs[course]  # (members, width, features)
    planted = np.einsum("mlk,mk->ml", a, taste)
    offset = _calibrate(planted, mask, base_rate)
    y = (rng.random(planted.shape) < sigmoid(offset + planted)) * mask
    X = (a @ root) * mask[..., None]  # whitened: taste = mu + root @ z, z ~ N(0, I)
    z, _ = newton(
        np.zeros((len(shown), len(mu))),
        X,
        y.astype(float),
        offset + a @ mu,
        np.ones(len(mu)),
        steps,
        mask.astype(float),
    )
    estimate = mu + z @ root.T
    return centred_correlation(estimate @ attrs.T, taste @ attrs.T)


def _calibrate(planted: np.ndarray, mask: np.ndarray, rate: float) -> float:
    """The offset at which the mean of sigmoid(offset + planted) over `mask` is `rate`."""
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if sigmoid(mid + planted[mask]).mean() < rate:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def uniform_recovery_bound(
    truth: dict,
    courses: list[Course],
    labels: tuple[int, ...],
    base_rate: float,
    members: int = 1000,
    seed: int = 0,
) -> list[float]:
    """The oracle's recovery for each count in `labels`, when the first `members` planted
    members each have that many labels on courses drawn uniformly from the catalog."""
    attrs = taste_attributes(courses, truth["member_taste_features"])
    population = np.array(list(truth["member_taste"].values()))
    taste = population[:members]
    rng = np.random.default_rng(seed)
    return [
        recovery_bound(
            taste,
            population,
            attrs,
            list(rng.integers(len(courses), size=(len(taste), n))),
            base_rate,
            seed,
        )
        for n in labels
    ]
