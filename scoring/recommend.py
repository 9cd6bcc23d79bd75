"""Rescoring members in blocks: candidates, one vectorised GLMix pass per assigned variant
for the whole block, top-K per channel with reasons, one compact record per member. The
worker calls this after members' states change; offline evaluation scores its top-K lists
and off-policy slots with the same block products (`evaluation.serving`).

Variants are scoring modes of the loaded model: `glmix` ranks by the posterior mean of
alpha_m, `glmix-thompson` by a posterior sample (exploration; the sample is seeded by
member and time so a rescore is reproducible), `popular` by course popularity alone (a
control arm). Only the variants assigned to the member's channels are scored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numba
import numpy as np

from models.catalog import Catalog
from models.features import Profile, skill_cosines
from models.learner import Learner, MemberState
from models.posterior import sigmoid
from models.spec import FeatureSpec
from schemas import Course, Recommendations
from scoring.candidates import Candidates, Signals, generate, generate_many
from scoring.compact import Ranking, record_bytes
from scoring.nomination import rank_in_full
from scoring.sources import SourceLists
from scoring.treatments import Treatments, stable_u64
from scoring.trending import Trends, cohorts_of

VARIANTS = ("glmix", "glmix-thompson", "popular")
SCORE_DECIMALS = 6  # served scores: enough to order and compare, short on the wire


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


@dataclass(frozen=True)
class Rescored:
    """One member's new compact record (`schemas.Recommendations` as JSON bytes) and the
    courses it holds (for the reverse index course -> members)."""

    member_id: str
    courses: tuple[str, ...]
    record: bytes


class Recommender:
    """Top-`k` lists per channel for members from a learner's model and catalog.

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
    >>> [r.member_id for r in rec.recommend_many(["m0", "m1"],
    ...     [learner.new_member(m) for m in members[:2]], now=1767225600000)]
    ['m0', 'm1']
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
        self.lists = SourceLists()  # follows the catalog by itself (see `SourceLists.sync`)

    def signals(self, state: MemberState, ts: int, trending: dict | None = None) -> Signals:
        """What the member's candidates are drawn from, trends faded to `ts`; `trending`
        memoises cohort vectors across a block's members."""
        catalog = self.learner.scorer.catalog
        member = state.member and self.learner.member(state.member.member_id, state)
        title = industry = None
        if self.trends is not None:
            memo = {} if trending is None else trending
            key = (cohorts_of(member), ts)
            if key not in memo:
                memo[key] = self.trends.sources(member, catalog, ts)
            title, industry = memo[key]
        index = catalog.index
        engaged = tuple((index[c], catalog.titles[index[c]]) for c in state.engaged if c in index)
        return Signals(
            skills=member.skills if member else {},
            followed=member.followed_skills if member else (),
            engaged=engaged,
            dismissed=tuple(index[c] for c in state.dismissed if c in index),
            trending_title=title,
            trending_industry=industry,
            skill_pair=self.learner.profile(member.member_id, state).skill_pair if member else None,
        )

    def recommend(self, member_id: str, state: MemberState, now: int) -> Recommendations:
        """The member's record generated at `now` (epoch ms): the block of one."""
        rescored = self.recommend_many([member_id], [state], now)[0]
        return Recommendations.model_validate_json(rescored.record)

    def recommend_many(
        self, member_ids: Sequence[str], states: Sequence[MemberState], now: int
    ) -> list[Rescored]:
        """Every member's record generated at `now` (epoch ms), in order, each what it
        would be alone. Features are computed at each member's newest event time
        (replays run in the past), or `now` without one."""
        scorer = self.learner.scorer
        catalog = scorer.catalog
        states = [self.learner.fit(s) for s in states]
        ts = [s.seen_at or now for s in states]
        trending: dict = {}
        signals = [self.signals(s, t, trending) for s, t in zip(states, ts, strict=True)]
        candidates = generate_many(catalog, self.lists, signals, ts, self.candidates)
        assigned = [self.treatments.assign(m) for m in member_ids]
        ranked: list[dict[str, tuple[np.ndarray, np.ndarray]]] = [{} for _ in member_ids]
        for variant in sorted({v for a in assigned for v in a.values()}):
            block = [i for i, a in enumerate(assigned) if variant in a.values()]
            scores = self._scores(variant, block, member_ids, states, ts, candidates)
            for i, top in zip(
                block, top_k(scores, [len(candidates[i].rows) for i in block], self.k), strict=True
            ):
                ranked[i][variant] = top
        out = []
        for i, member_id in enumerate(member_ids):
            c = candidates[i]
            served = {}  # variant -> (course ids, scores, reasons), shared by its channels
            for variant, (top, scores) in ranked[i].items():
                ids = [catalog.ids[r] for r in c.rows[top].tolist()]
                served[variant] = ids, np.round(scores, SCORE_DECIMALS), c.reasons(top)
            lists = [
                Ranking(channel, f"{variant}-{self.model_version}", *served[variant])
                for channel, variant in sorted(assigned[i].items())
            ]
            record, courses = record_bytes(member_id, now, lists)
            out.append(Rescored(member_id, courses, record))
        return out

    def _scores(
        self,
        variant: str,
        block: list[int],
        member_ids: Sequence[str],
        states: Sequence[MemberState],
        ts: list[int],
        candidates: list[Candidates],
    ) -> np.ndarray:
        """Scores of the candidates of members `block` (concatenated) under `variant`:
        for GLMix, one feature pass and one product for the block."""
        scorer = self.learner.scorer
        rows = [candidates[i].rows for i in block]
        if variant == "popular":
            return scorer.catalog.log_impressions[np.concatenate([np.zeros(0, np.intp), *rows])]
        learner = self.learner
        profiles = [learner.profile(member_ids[i], states[i]) for i in block]
        coefs = []
        for i in block:
            alpha = learner.alpha(member_ids[i], states[i])
            if variant == "glmix-thompson":
                coefs.append(learner.member_effect.sample(alpha, sample_rng(member_ids[i], ts[i])))
            else:
                coefs.append(alpha.mean)
        fixed, which = scorer.block_fixed(
            profiles,
            [states[i].history for i in block],
            rows,
            [ts[i] for i in block],
            np.concatenate(
                [
                    np.zeros((0, 2)),
                    *(
                        _skill_cos(scorer.catalog, candidates[i], p)
                        for i, p in zip(block, profiles, strict=True)
                    ),
                ]
            ),
        )
        at = np.concatenate([np.zeros(0, np.intp), *rows])
        d_c, d_m = learner.spec.dims[:2]
        alphas = np.array(coefs).reshape(-1, d_c)
        x_m = np.array([p.x_m for p in profiles]).reshape(-1, d_m)
        return sigmoid(scorer.block_logits(fixed, at, which, alphas, x_m))


def _skill_cos(catalog: Catalog, candidates: Candidates, profile: Profile) -> np.ndarray:
    """The candidates' skill cosines with the profile's skills: those of candidate
    generation where it drew on the same skills, else one product."""
    if np.array_equal(candidates.skill_pair, profile.skill_pair):
        return candidates.skill_cos
    return skill_cosines(catalog.skills[candidates.rows], profile.skill_pair)


def top_k(scores: np.ndarray, sizes: Sequence[int], k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per member (the concatenated `scores` of members with `sizes` candidates each), the
    positions of the `k` best candidates, best first (ties: the earlier position), and
    their scores: what a stable sort of each member's scores keeps, by one partition
    per member in compiled code.

    >>> [t[0].tolist() for t in top_k(np.array([0.1, 0.3, 0.3, 0.9, 0.2]), [3, 2], k=2)]
    [[1, 2], [0, 1]]
    """
    scores = np.asarray(scores, float)
    bounds = np.concatenate([[0], np.cumsum(np.asarray(sizes, np.int64))]).astype(np.int64)
    top, count = _top_positions(scores, bounds, max(k, 0))
    out = []
    for j, (lo, n) in enumerate(zip(bounds[:-1].tolist(), count.tolist(), strict=True)):
        positions = top[j, :n]
        out.append((positions, scores[lo + positions]))
    return out


@numba.njit(cache=True, nogil=True)
def _top_positions(scores, bounds, k):
    """(P, k) positions of each member's best scores, best first, and how many each has.
    The k-th best is looked for only among the scores at or above the lowest of the
    maxima of k chunks (k scores reach it), a few times k of the member's."""
    p = len(bounds) - 1
    top = np.zeros((p, k), np.int64)
    count = np.zeros(p, np.int64)
    kept = np.empty(np.max(bounds[1:] - bounds[:-1]) if p else 0, np.int64)
    for j in range(p):
        s = scores[bounds[j] : bounds[j + 1]]
        n = len(s)
        kk = min(k, n)
        if kk == 0:
            continue
        size, floor = n // kk, np.inf
        for c in range(kk):
            best = -np.inf
            for i in range(c * size, n if c == kk - 1 else (c + 1) * size):
                best = max(best, s[i])
            floor = min(floor, best)
        m = 0
        for i in range(n):  # branch-free: most scores are below the floor
            kept[m] = i
            m += s[i] >= floor
        kth = -np.partition(-s[kept[:m]], kk - 1)[kk - 1]
        room = kk  # ties with the k-th best go in by position, as far as there is room
        for q in range(m):
            room -= s[kept[q]] > kth
        chosen = np.empty(kk, np.int64)
        c = 0
        for q in range(m):
            i = kept[q]
            if s[i] > kth or (s[i] == kth and room > 0):
                room -= s[i] == kth
                chosen[c] = i
                c += 1
        order = np.argsort(-s[chosen], kind="mergesort")  # stable: earlier positions first
        top[j, :kk] = chosen[order]
        count[j] = kk
    return top, count


def compile_kernels() -> None:
    """Compile the rescorer's numba kernels for the argument types it passes. numba
    caches them next to their modules, so an install step pays the compilation (some
    seconds) once instead of every fresh worker's first rescore."""
    course = Course(
        course_id="c0",
        title="C0",
        skills={"sql": 1.0},
        category="data",
        difficulty="beginner",
        duration_s=600,
        released_at=1767225600000,
    )
    catalog = Catalog(FeatureSpec(), [course])
    generate(catalog, Signals(skills={"sql": 1.0}, engaged=((0, "C0"),)), course.released_at)
    rank_in_full(np.ones(1), np.zeros(1, np.int64), 0, 1)
    top_k(np.ones(1), [1], 1)


def sample_rng(member_id: str, ts: int) -> np.random.Generator:
    """The Thompson variant's generator for one rescore: seeded by member and time."""
    return np.random.default_rng(stable_u64(f"{member_id}:{ts}"))
