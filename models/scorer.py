"""Scoring one member against a matrix of candidate courses in one vectorised pass:

    logits = X_mc @ w + b  +  X_c @ alpha_m  +  B_c @ x_m

where B_c stacks the candidates' beta_c rows (zero for courses without a model) and a
member without a model (alpha_m = None) scores as the fixed effect plus course effects.
"""

from __future__ import annotations

import numba
import numpy as np

from models.catalog import Catalog
from models.features import Profile, block_fixed_logits, member_course_features
from models.glmix import GLMixModel
from models.history import MemberHistory
from models.posterior import sigmoid


def glmix_logits(
    x_mc: np.ndarray,
    w: np.ndarray,
    b: float,
    x_c: np.ndarray,
    alpha: np.ndarray | None,
    betas: np.ndarray,
    x_m: np.ndarray,
) -> np.ndarray:
    """GLMix logits of n candidates (x_mc: n x d_mc, x_c: n x d_c, betas: n x d_m)."""
    z = x_mc @ w + betas @ x_m
    if alpha is not None:
        z += x_c @ alpha
    return z + b


def sided_logits(
    fixed: np.ndarray, courses: np.ndarray, members: np.ndarray, rows: np.ndarray, which: np.ndarray
) -> np.ndarray:
    """GLMix logits of several members' candidates at once: candidate i is catalog row
    rows[i] of the course sides (x_c beside beta_c, one row per course) for member
    which[i] of the member sides (alpha_m beside x_m; zeros for a member without
    alpha_m), with fixed[i] = x_mc[i] @ w + b (computed by the caller, who may share one
    pass over x_mc between models). Both terms come from one dot per candidate of the
    two sides, in compiled code: a member x catalog product would compute every course
    for every member, most of which are no candidate. Equal to `glmix_logits` per member
    up to rounding."""
    return _sided(
        np.asarray(fixed, float),
        np.ascontiguousarray(courses, float),
        np.ascontiguousarray(members, float),
        np.asarray(rows, np.int64),
        np.asarray(which, np.int64),
    )


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _sided(fixed, courses, members, rows, which):
    """`sided_logits`: reassociated sums, so the dots are vectorised."""
    out = np.empty(len(rows))
    for i in range(len(rows)):
        r, m, z = rows[i], which[i], 0.0
        for k in range(courses.shape[1]):
            z += courses[r, k] * members[m, k]
        out[i] = fixed[i] + z
    return out


class Scorer:
    """A GLMix model bound to a catalog: course coefficients stacked in catalog row order,
    refreshed per course as near-line updates arrive.

    >>> from models.synthetic import planted_records
    >>> from models.train import train_from_labels
    >>> courses, members, labels = planted_records(n_labels=3000)
    >>> model = train_from_labels(labels, courses, members, min_examples=10)
    >>> scorer = Scorer(model, Catalog(model.spec, courses))
    >>> p = Profile.of(model.spec, members[0])
    >>> h = MemberHistory.empty(model.spec.n_categories)
    >>> scorer.predict_proba(p, h, np.arange(5), ts=labels[-1].label_ts).shape
    (5,)
    """

    def __init__(self, model: GLMixModel, catalog: Catalog):
        model.spec.check(catalog.spec)
        self.model = model
        self.catalog = catalog
        self.betas = model.courses.matrix(catalog.ids)
        self._sides = np.zeros((0, 0))  # see _course_sides
        self._sides_version = -1

    def set_course(self, course_id: str, mean: np.ndarray) -> None:
        """Use `mean` as the course's beta_c (after a near-line update or a catalog add)."""
        self._cover_catalog()
        self.betas[self.catalog.row(course_id)] = mean

    def beta(self, row: int | np.ndarray) -> np.ndarray:
        """The current beta_c of a catalog row, or of rows (zeros for a course without a
        model)."""
        self._cover_catalog()
        return self.betas[row]

    def _cover_catalog(self) -> None:
        """Rows for courses added to the catalog since binding: the batch model's beta_c,
        zero for a course it has no model of."""
        n = len(self.betas)
        if len(self.catalog) > n:
            added = self.model.courses.matrix(self.catalog.ids[n:])
            self.betas = np.vstack([self.betas, added])

    def _course_sides(self) -> np.ndarray:
        """Every course's x_c beside its beta_c (see `sided_logits`), kept: `betas` becomes
        a view of its columns, so `set_course` writes through, and x_c is copied again
        when the catalog's courses change."""
        self._cover_catalog()
        if self._sides_version != self.catalog.version or self.betas.base is not self._sides:
            d_c = self.catalog.x_c.shape[1]
            self._sides = np.hstack([self.catalog.x_c, self.betas])
            self.betas = self._sides[:, d_c:]
            self._sides_version = self.catalog.version
        return self._sides

    def logits(
        self,
        profile: Profile,
        history: MemberHistory,
        rows: np.ndarray,
        ts: int,
        alpha: np.ndarray | None = None,
    ) -> np.ndarray:
        """Logits of the catalog `rows` for one member at time `ts`; `alpha` is the
        member's coefficient vector (posterior mean or a Thompson sample), if any."""
        self._cover_catalog()
        x_mc = member_course_features(self.catalog, rows, profile, history, ts)
        return glmix_logits(
            x_mc,
            self.model.w,
            self.model.b,
            self.catalog.x_c[rows],
            alpha,
            self.betas[rows],
            profile.x_m,
        )

    def block_fixed(
        self,
        profiles: list[Profile],
        histories: list[MemberHistory],
        rows: list[np.ndarray],
        ts: list[int],
        skill_cos: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """x_mc @ w + b of several members' candidates (member i: catalog `rows[i]` at
        `ts[i]`; see `block_fixed_logits`) and the member of each row."""
        model = self.model
        return block_fixed_logits(
            self.catalog, profiles, histories, rows, ts, model.w, model.b, skill_cos
        )

    def block_logits(
        self,
        fixed: np.ndarray,
        rows: np.ndarray,
        which: np.ndarray,
        alphas: np.ndarray,
        x_m: np.ndarray,
    ) -> np.ndarray:
        """Logits of several members' candidates: row i is catalog `rows[i]` for member
        `which[i]` (of `alphas`, zeros for a member without alpha_m, and `x_m`), with
        fixed effect `fixed[i]` (`block_fixed`; see `sided_logits`)."""
        return sided_logits(fixed, self._course_sides(), np.hstack([alphas, x_m]), rows, which)

    def predict_proba(
        self,
        profile: Profile,
        history: MemberHistory,
        rows: np.ndarray,
        ts: int,
        alpha: np.ndarray | None = None,
    ) -> np.ndarray:
        return sigmoid(self.logits(profile, history, rows, ts, alpha))
