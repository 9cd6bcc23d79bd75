"""Batch GLMix training by coordinate descent (the Photon ML recipe).

The fixed effect is fit first (a logistic regression, by Newton to convergence); then each
random effect is refit with the other components' scores as offset, all entities of a kind
at once by batched Newton solves, for `sweeps` sweeps (the fixed effect is refit with
offsets from the second sweep). One sweep by default, short of the joint optimum on
purpose: a random effect fit over the whole window already knows every later label of
its member, so a fixed effect refit against it learns that the history columns (what a
member engaged with so far) add nothing, or even count against a course. Served, a
member's effect knows only the past, and their history columns are what lets a run of
clicks on one category raise that category. On the simulator each further sweep fits the
training labels better and the held-out ones worse (see `benchmarks/glmix_table.py`).
Entities with fewer than `min_examples` rows get no model and contribute 0.

With side features the fixed effect also reads the course's x_c and the member's x_m (a
global model over profiles and catalog records, as GDMix's is); those weights are folded
into the per-course table (`folded`: each course's mean is the shared weights plus its
own effect), so the artifact scores like any GLMix.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

from models.catalog import Catalog
from models.examples import Examples, FeatureState, build_examples, event_ts
from models.features import Profile
from models.glmix import GLMixModel, RandomEffects
from models.newton import fit_entities, group, newton
from models.posterior import L2_RANDOM_EFFECT
from models.spec import FeatureSpec
from schemas import Course, Label, Member

RANDOM_EFFECTS = ("member", "course")
_CHUNK = 1 << 16
FIXED_STEPS = 50  # cap on the first fit of the fixed effect, which stops at convergence


def row_dots(table: np.ndarray, table_row: np.ndarray, coef: np.ndarray, entity: np.ndarray):
    """table[table_row[i]] · coef[entity[i]] for every i, in chunks to bound memory."""
    out = np.empty(len(table_row))
    for lo in range(0, len(out), _CHUNK):
        s = slice(lo, lo + _CHUNK)
        out[s] = np.einsum("ij,ij->i", table[table_row[s]], coef[entity[s]])
    return out


def quality(y: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    """AUC and mean log-loss of logits against 0/1 labels (both classes present): the
    values of scikit-learn's roc_auc_score and log_loss without their input checks, which
    cost more than the sums for the trace of every sweep.

    >>> quality(np.array([0, 1, 0, 1]), np.array([-1.0, 2.0, 0.0, 0.0]))["auc"]
    0.875
    """
    pos = np.asarray(y) > 0
    loss = np.mean(np.logaddexp(0.0, logits) - pos * logits)  # -log sigmoid(±logit)
    return {"auc": rank_auc(pos, logits), "log_loss": float(loss)}


def rank_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC by the rank-sum (Mann-Whitney) formula, ties counted half; both classes
    must be present."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    return float((rankdata(score)[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


class GLMixTrainer(BaseEstimator):
    """Coordinate-descent GLMix trainer; `random_effects` picks which effects to fit
    (both for full GLMix, one of them for the ablations of the paper's Table 7).

    >>> from models.synthetic import planted
    >>> ex, spec, _ = planted(n_members=50, n_courses=20, n=4000, seed=1)
    >>> model = GLMixTrainer(min_examples=10).fit(ex, spec).model_
    >>> model.meta["metrics"]["auc"] > model.meta["metrics"]["trace"][0]["auc"]
    True
    """

    def __init__(
        self,
        l2_fixed: float = 1.0,
        l2_member: float = L2_RANDOM_EFFECT,
        l2_course: float = L2_RANDOM_EFFECT,
        min_examples: int = 5,
        sweeps: int = 1,
        newton_steps: int = 4,
        random_effects: tuple[str, ...] = RANDOM_EFFECTS,
        side_features: bool = False,
    ):
        self.l2_fixed = l2_fixed
        self.l2_member = l2_member
        self.l2_course = l2_course
        self.min_examples = min_examples
        self.sweeps = sweeps
        self.newton_steps = newton_steps
        self.random_effects = random_effects
        self.side_features = side_features

    def fit(self, ex: Examples, spec: FeatureSpec, init: GLMixModel | None = None) -> GLMixTrainer:
        """Fit on `ex`; with `init` (e.g. yesterday's model), coordinate descent continues
        from its coefficients instead of starting from zero (a warm start)."""
        # thousands of tiny batched products: BLAS threads only add overhead (measured
        # 20x slower on a busy 2-core machine), so train single-threaded
        with threadpool_limits(limits=1):
            return self._fit(ex, spec, init)

    def _fit(self, ex: Examples, spec: FeatureSpec, init: GLMixModel | None) -> GLMixTrainer:
        unknown = set(self.random_effects) - set(RANDOM_EFFECTS)
        if unknown:
            raise ValueError(f"unknown random effects {sorted(unknown)}; use {RANDOM_EFFECTS}")
        if len(np.unique(ex.y)) < 2:
            raise ValueError("training needs both positive and negative labels")
        if self.side_features and init is not None:
            raise ValueError("side features are folded into the random effects: no warm start")
        started = time.perf_counter()
        # per kind: (coefficient table, row of it per example, entity of each example, l2)
        kinds = {
            "member": (ex.x_c, ex.course, ex.member, self.l2_member),
            "course": (ex.x_m, ex.member, ex.course, self.l2_course),
        }
        effects: dict[str, Any] = {}
        scores = {}
        for name in self.random_effects:
            table, table_row, entity, l2 = kinds[name]
            ids = ex.member_ids if name == "member" else ex.course_ids
            blocks = group(entity, len(ids), self.min_examples)
            mean = np.zeros((len(ids), table.shape[1]))
            scores[name] = np.zeros(len(ex))
            if init is not None:  # warm start for the entities that get a model here
                ents = np.concatenate([b.ents for b in blocks] or [np.zeros(0, int)])
                start = (init.members if name == "member" else init.courses).matrix(ids)
                mean[ents] = start[ents]
                scores[name] = row_dots(table, table_row, mean, entity)
            effects[name] = {"blocks": blocks, "mean": mean, "precision": mean * 0 + l2}
        side = [ex.x_c[ex.course], ex.x_m[ex.member]] if self.side_features else []
        x1 = np.hstack([ex.x_mc, *side, np.ones((len(ex), 1))])
        l2_fixed = np.append(np.full(x1.shape[1] - 1, self.l2_fixed), 0.0)  # free intercept
        offset = sum(scores.values(), np.zeros(len(ex)))
        # L2-regularised logistic regression of x_mc with a free intercept (scikit-learn's
        # LogisticRegression with C = 1 / l2_fixed), by Newton to convergence: from the
        # base rate (w = 0, b its logit) about 5 steps of one (d, d) solve each, where
        # L-BFGS took 70 gradients to stop short of the optimum
        if init is None:
            rate = ex.y.mean()
            wb = np.append(np.zeros(x1.shape[1] - 1), np.log(rate / (1.0 - rate)))
        else:
            wb = np.append(init.w, init.b)
        wb = newton(wb[None], x1[None], ex.y[None], offset[None], l2_fixed, FIXED_STEPS)[0][0]
        fixed = x1 @ wb
        trace = [{"step": "fixed", **quality(ex.y, fixed + offset)}]
        for sweep in range(self.sweeps):
            if sweep > 0:
                offset = sum(scores.values(), np.zeros(len(ex)))
                wb = newton(
                    wb[None], x1[None], ex.y[None], offset[None], l2_fixed, self.newton_steps
                )[0][0]
                fixed = x1 @ wb
                trace.append({"step": f"fixed/{sweep}", **quality(ex.y, fixed + offset)})
            for name in self.random_effects:
                table, table_row, entity, l2 = kinds[name]
                e = effects[name]
                offset = fixed + sum(s for k, s in scores.items() if k != name)
                e["mean"], e["precision"] = fit_entities(
                    e["blocks"], table, table_row, ex.y, offset, l2, e["mean"], self.newton_steps
                )
                scores[name] = row_dots(table, table_row, e["mean"], entity)
                trace.append({"step": f"{name}/{sweep}", **quality(ex.y, offset + scores[name])})

        d_mc, d_c = ex.x_mc.shape[1], ex.x_c.shape[1]

        def fitted(
            name: str, ids: list[str], dim: int, l2: float, shift: np.ndarray | None = None
        ) -> RandomEffects:
            e = effects.get(name)
            if shift is not None:  # every entity: the shared weights plus its own effect
                if e is None:
                    return RandomEffects(ids, shift, np.full_like(shift, l2))
                return RandomEffects(ids, shift + e["mean"], e["precision"])
            if e is None:
                return RandomEffects([], np.zeros((0, dim)), np.zeros((0, dim)))
            keep = np.sort(np.concatenate([b.ents for b in e["blocks"]] or [np.zeros(0, int)]))
            return RandomEffects([ids[i] for i in keep], e["mean"][keep], e["precision"][keep])

        members = fitted("member", ex.member_ids, d_c, self.l2_member)
        shift = (
            folded(ex.x_c, wb[d_mc : d_mc + d_c], wb[d_mc + d_c : -1])
            if self.side_features
            else None
        )
        courses = fitted("course", ex.course_ids, ex.x_m.shape[1], self.l2_course, shift)
        meta = {
            "hyperparameters": {
                k: list(v) if isinstance(v, tuple) else v for k, v in self.get_params().items()
            },
            "data": {
                "examples": len(ex),
                "positives": int(ex.y.sum()),
                "members": len(ex.member_ids),
                "courses": len(ex.course_ids),
                "members_with_model": len(members.ids),
                "courses_with_model": len(courses.ids),
                "first_ts": int(ex.ts.min()),
                "last_ts": int(ex.ts.max()),
            },
            "metrics": {**trace[-1], "trace": trace},
            "train_seconds": round(time.perf_counter() - started, 3),
        }
        self.model_ = GLMixModel(spec, wb[:d_mc].copy(), float(wb[-1]), members, courses, meta)
        return self


def folded(x_c: np.ndarray, w_c: np.ndarray, w_m: np.ndarray) -> np.ndarray:
    """Side weights as a per-course effect over x_m, one row per course of `x_c`: w_m
    itself, plus the course's own w_c · x_c on x_m's bias column (column 0, always 1).
    The course table, unlike the member table, covers the whole catalog, so a member
    first seen after training still gets the whole global model.

    >>> folded(np.array([[1.0, 2.0]]), np.array([0.5, 1.0]), np.array([0.1, 0.2]))
    array([[2.6, 0.2]])
    """
    shift = np.tile(w_m, (len(x_c), 1))
    shift[:, 0] += x_c @ w_c
    return shift


def train(
    ex: Examples, spec: FeatureSpec, init: GLMixModel | None = None, **hyperparameters: Any
) -> GLMixModel:
    """Fit a GLMix on feature matrices (see `GLMixTrainer` for the hyper-parameters),
    warm-started from `init` if given."""
    return GLMixTrainer(**hyperparameters).fit(ex, spec, init).model_


def train_from_labels(
    labels: Iterable[Label],
    courses: Iterable[Course],
    members: Iterable[Member],
    *,
    spec: FeatureSpec | None = None,
    progress: bool = False,
    **hyperparameters: Any,
) -> GLMixModel:
    """Featurise labels by replaying them through the near-line feature state, then train."""
    courses = list(courses)
    spec = FeatureSpec.for_courses(courses) if spec is None else spec
    ex, skipped = featurise(labels, courses, members, spec, progress=progress)
    model = train(ex, spec, **hyperparameters)
    model.meta["data"]["skipped_unknown_course"] = skipped
    return model


def featurise(
    labels: Iterable[Label],
    courses: Iterable[Course],
    members: Iterable[Member],
    spec: FeatureSpec,
    progress: bool = False,
) -> tuple[Examples, int]:
    """Examples of `labels` replayed through a fresh feature state of this catalog and
    these profiles, and the number skipped for a course not in the catalog."""
    state = FeatureState(
        Catalog(spec, courses), {m.member_id: Profile.of(spec, m) for m in members}
    )
    return build_examples(labels, state, progress=progress)


def settled(labels: Iterable[Label], window_ms: int) -> list[Label]:
    """The labels of impressions whose attribution window had closed by the newest label:
    a batch can only learn those. A younger impression's click is already a label but its
    "no click" is not yet, so keeping them would skew the newest days toward positives.

    >>> from models.examples import event_ts
    >>> t = 1767225600000
    >>> lb = lambda imp, at, y: Label(member_id="m", course_id="c", channel="feed", label=y,
    ...     source="click" if y else "timeout", impression_ts=imp, label_ts=at, rule="r")
    >>> [event_ts(x) - t for x in settled([lb(t, t + 60, 1), lb(t + 55, t + 58, 1),
    ...     lb(t, t + 10, 0)], window_ms=10)]
    [0, 0]
    """
    labels = list(labels)
    newest = max((lb.label_ts for lb in labels), default=0)
    return [lb for lb in labels if event_ts(lb) + window_ms <= newest]


def run_train_cli(
    labels_path: str | Path,
    log_dir: str | Path | None,
    out_dir: str | Path,
    progress: bool = True,
    *,
    window_ms: int = 86_400_000,
    courses: Iterable[Course] | None = None,
    members: Iterable[Member] | None = None,
    **hyperparameters: Any,
) -> dict[str, Any]:
    """`nearline train LABELS --out MODEL_DIR`: courses and members come from the recorded
    logs in `log_dir` unless given; trains on the settled labels (see `settled`); returns
    the artifact's data summary and metrics."""
    from replay.logs import read_courses, read_labels, read_members  # the recorder's readers

    if courses is None or members is None:
        courses = read_courses(log_dir) if courses is None else courses
        members = read_members(log_dir) if members is None else members
    labels = read_labels(labels_path)
    usable = settled(labels, window_ms)
    model = train_from_labels(usable, courses, members, progress=progress, **hyperparameters)
    model.meta["data"]["unsettled_left_out"] = len(labels) - len(usable)
    out = model.save(out_dir)
    metrics = {k: v for k, v in model.meta["metrics"].items() if k != "trace"}
    return {"out": str(out), **model.meta["data"], **metrics}
