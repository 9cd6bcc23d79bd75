"""Variants as the worker serves them: candidates from `scoring.candidates.generate_many`,
features as `member_course_features` gives them (`FeatureState.grid`: many members at
once), logits from `Scorer.block_logits` with the scorer's course coefficients. Used for top-k
lists and for the target policy of the off-policy estimate, both at the start of a day
from the state learned before it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from evaluation.ips import softmax_policy
from models.examples import FeatureState
from models.glmix import GLMixModel
from models.online import OnlineGLMix
from models.scorer import Scorer
from scoring.candidates import Signals, generate_many
from scoring.sources import SourceLists


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

    def logits(
        self,
        state: FeatureState,
        member_ids: list[str],
        which: np.ndarray,
        rows: np.ndarray,
        fixed: np.ndarray,
        x_m: np.ndarray,
    ) -> np.ndarray:
        """Logits of catalog `rows`, row i for member `member_ids[which[i]]`, given
        x_mc @ w per row and the members' x_m; a member without an effect scores
        alpha = 0."""
        zero = np.zeros(state.catalog.x_c.shape[1])
        alphas = np.array([self.alphas.get(m, zero) for m in member_ids]).reshape(-1, len(zero))
        return self.scorer.block_logits(fixed + self.scorer.model.b, rows, which, alphas, x_m)


def logits(
    served: Mapping[str, Served],
    state: FeatureState,
    member_ids: list[str],
    rows: list[np.ndarray],
    ts: list[int],
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every variant's logits of several members' candidates (member i: catalog `rows[i]`
    at `ts[i]`), concatenated, and the catalog row of each: one feature pass and one
    product with all the variants' fixed effects."""
    x_mc, which = state.grid(member_ids, rows, ts)
    at = np.concatenate([np.zeros(0, np.intp), *rows])
    fixed = x_mc @ np.column_stack([s.scorer.model.w for s in served.values()])
    d_m = state.catalog.spec.dims[1]
    x_m = np.array([state.profile(m).x_m for m in member_ids]).reshape(-1, d_m)
    return {
        name: s.logits(state, member_ids, which, at, fixed[:, i], x_m)
        for i, (name, s) in enumerate(served.items())
    }, at


def block_size(catalog_rows: int) -> int:
    """Members scored together, so that a block's feature rows and member x catalog
    products hold about `GRID_ROWS` entries."""
    return max(1, GRID_ROWS // max(catalog_rows, 1))


def top_lists(
    served: Mapping[str, Served],
    state: FeatureState,
    signals: Mapping[str, Signals],
    ts: int,
    k: int,
) -> dict[str, list[list[str]]]:
    """Per variant, each member's top-k course ids among their generated candidates; all
    members' candidates are featurised and scored together."""
    members, ids = list(signals), state.catalog.ids
    out: dict[str, list[list[str]]] = {name: [] for name in served}
    step = block_size(len(ids))
    lists = SourceLists()
    for first in range(0, len(members), step):
        part = members[first : first + step]
        found = generate_many(state.catalog, lists, [signals[m] for m in part], [ts] * len(part))
        rows = [c.rows for c in found]
        z, at = logits(served, state, part, rows, [ts] * len(part))
        sizes = [len(r) for r in rows]
        ends = np.cumsum(sizes)
        for name, zs in z.items():
            out[name] += [
                [ids[r] for r in at[lo:hi][np.argsort(-zs[lo:hi], kind="stable")[:k]].tolist()]
                for lo, hi in zip(ends - sizes, ends, strict=True)
            ]
    return out


@dataclass(frozen=True)
class Slot:
    """A logged first slot: whose, when, the catalog rows a policy could show there and
    the row the logging policy showed."""

    member_id: str
    ts: int
    allowed: np.ndarray
    logged_row: int


GRID_ROWS = 50_000  # feature rows scored at once (~10 MB of x_mc: stays in cache)


def target_probabilities(
    served: Mapping[str, Served], state: FeatureState, slots: list[Slot], temperature: float
) -> dict[str, np.ndarray]:
    """Per variant, the chance its softmax policy over the allowed catalog rows shows the
    logged course in each logged slot (see `evaluation.ips`), in blocks of slots."""
    n_rows = len(state.catalog)
    every = np.arange(n_rows)
    step = block_size(n_rows)
    out: dict[str, list[np.ndarray]] = {name: [np.zeros(0)] for name in served}
    for lo in range(0, len(slots), step):
        block = slots[lo : lo + step]
        members = [slot.member_id for slot in block]
        z, _ = logits(served, state, members, [every] * len(block), [slot.ts for slot in block])
        allowed = np.array([slot.allowed for slot in block])
        logged = np.array([slot.logged_row for slot in block])
        for name, zs in z.items():
            p = softmax_policy(zs.reshape(len(block), n_rows), allowed, temperature)
            out[name].append(p[np.arange(len(block)), logged])
    return {name: np.concatenate(parts) for name, parts in out.items()}
