"""Near-line GLMix updates split at the co-partitioning boundary.

A label updates two entities that live on different partitions: the member's alpha_m
(keyed by member, next to the member's history and profile) and the course's beta_c
(keyed by course). The member side runs first, from the state *before* the label: it
computes the features, updates alpha_m with the course's current beta_c as offset,
counts the label into the history, and returns a `CourseUpdate` carrying everything the
course side needs (x_m and the offset with the pre-update alpha_m). Both halves are pure
functions of their state; the worker's agents and offline replay call the same ones.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import orjson

from models.examples import event_ts
from models.features import Profile, block_fixed_logits, row_skill_cosines
from models.history import CourseStats, MemberHistory, count, expect_version, observe
from models.online import effects
from models.posterior import Posterior
from models.scorer import Scorer
from models.spec import FeatureSpec
from schemas import Click, Dismissal, Label, Member

ENGAGED = 5  # recent positives kept for "Because you watched X" candidates
DISMISSED = 512  # dismissed courses kept (oldest forgotten first)
# Members whose derived values (encoded profile, effective skills, decoded states) a
# process keeps, oldest forgotten first: more than one worker's members, which its sweeps
# and rescores walk through in turn (a cycle over more keys than kept misses every time).
MEMBERS_KEPT = 131_072
_MEMBER_HEADER = struct.Struct("<BIII")  # version, len(history), len(alpha), len(json)
_COURSE_HEADER = struct.Struct("<BI")  # version, len(beta)


@dataclass
class MemberState:
    """Everything keyed by one member that scoring reads: profile, engagement history,
    alpha_m (None until the first label: the batch posterior or the prior is used), recent
    positives and dismissed courses, and the newest event time seen (the scoring clock).

    >>> s = MemberState.empty(3)
    >>> s.dismissed = ("c9",)
    >>> MemberState.from_bytes(s.to_bytes()) == s
    True
    """

    history: MemberHistory
    member: Member | None = None
    alpha: Posterior | None = None
    engaged: tuple[str, ...] = ()
    dismissed: tuple[str, ...] = ()
    seen_at: int = 0
    version: int = field(default=1)

    @classmethod
    def empty(cls, n_categories: int) -> MemberState:
        return cls(MemberHistory.empty(n_categories))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MemberState) and self.to_bytes() == other.to_bytes()

    def to_bytes(self) -> bytes:
        history = self.history.to_bytes()
        alpha = b"" if self.alpha is None else self.alpha.to_bytes()
        rest = orjson.dumps(
            {
                "member": None if self.member is None else self.member.model_dump(),
                "engaged": self.engaged,
                "dismissed": self.dismissed,
                "seen_at": self.seen_at,
            }
        )
        head = _MEMBER_HEADER.pack(self.version, len(history), len(alpha), len(rest))
        return head + history + alpha + rest

    @classmethod
    def from_bytes(cls, raw: bytes) -> MemberState:
        version, n_history, n_alpha, n_rest = _MEMBER_HEADER.unpack_from(raw)
        expect_version("MemberState", version)
        at = _MEMBER_HEADER.size
        history = MemberHistory.from_bytes(raw[at : at + n_history])
        at += n_history
        alpha = Posterior.from_bytes(raw[at : at + n_alpha]) if n_alpha else None
        rest = orjson.loads(raw[at + n_alpha : at + n_alpha + n_rest])
        member = None if rest["member"] is None else Member.model_validate(rest["member"])
        return cls(
            history,
            member,
            alpha,
            tuple(rest["engaged"]),
            tuple(rest["dismissed"]),
            rest["seen_at"],
            version,
        )


@dataclass(frozen=True)
class CourseUpdate:
    """What one label tells its course's beta_c: the member's features and the rest of
    the logit (fixed effect + alpha_m . x_c before the update)."""

    course_id: str
    y: int
    ts: int
    x_m: tuple[float, ...]
    offset: float

    def to_json(self) -> bytes:
        return orjson.dumps(self.__dict__)  # once per label: the stdlib's costs 5x

    @classmethod
    def many_from_json(cls, raw: bytes) -> list[CourseUpdate]:
        """The halves of a JSON array of `to_json` objects, in order (a course's halves
        from one record of the member stage travel together)."""
        return [
            cls(d["course_id"], d["y"], d["ts"], tuple(d["x_m"]), d["offset"])
            for d in orjson.loads(raw)
        ]


@dataclass
class CourseState:
    """beta_c (None until the first label) and the decayed popularity counters."""

    beta: Posterior | None = None
    stats: CourseStats = field(default_factory=CourseStats)
    version: int = 1

    def to_bytes(self) -> bytes:
        beta = b"" if self.beta is None else self.beta.to_bytes()
        return _COURSE_HEADER.pack(self.version, len(beta)) + beta + self.stats.to_bytes()

    @classmethod
    def from_bytes(cls, raw: bytes) -> CourseState:
        version, n_beta = _COURSE_HEADER.unpack_from(raw)
        expect_version("CourseState", version)
        at = _COURSE_HEADER.size
        beta = Posterior.from_bytes(raw[at : at + n_beta]) if n_beta else None
        return cls(beta, CourseStats.from_bytes(raw[at + n_beta :]), version)


class Learner:
    """The two halves of a near-line update for a scorer's model and catalog.

    >>> from models.synthetic import planted_records
    >>> from models.train import train_from_labels
    >>> from models.catalog import Catalog
    >>> courses, members, labels = planted_records(n_labels=2000)
    >>> model = train_from_labels(labels, courses, members, min_examples=10)
    >>> learner = Learner(Scorer(model, Catalog(model.spec, courses)))
    >>> state = learner.new_member(members[0])
    >>> positive = labels[0].model_copy(update={"member_id": "m0", "label": 1})
    >>> update = learner.learn_member(state, positive)
    >>> course = learner.learn_course(CourseState(), update)
    >>> state.history.imp_counts.tolist(), course.stats.clicks, state.engaged == (update.course_id,)
    ([1], 1.0, True)
    """

    def __init__(
        self,
        scorer: Scorer,
        skills_of: Callable[[Member], Mapping[str, float]] | None = None,
    ):
        self.scorer = scorer
        self.skills_of = skills_of  # a member's effective skills (profile + cohort), if not own
        self.member_effect, self.course_effect = effects(scorer.model)
        # member_id -> (the profile record, its effective skills, the member as scored, its
        # encoding): a member's labels and rescores come in runs, and encoding a profile
        # costs more than comparing two records
        self._profiles: dict[
            str, tuple[Member | None, Mapping[str, float] | None, Member, Profile]
        ] = {}

    @property
    def spec(self) -> FeatureSpec:
        return self.scorer.model.spec

    def new_member(self, member: Member | None = None) -> MemberState:
        return replace(MemberState.empty(self.spec.n_categories), member=member)

    def fit(self, state: MemberState) -> MemberState:
        """`state` laid out for this model's spec (in place): a version trained with other
        categories than the one the state was learned under (the prior's catalog, or a
        retrain after a new category) makes its alpha_m and per-category counts mean
        nothing, so they start again (the batch posterior or the prior; zero counts)."""
        d_c, n = self.spec.dims[0], self.spec.n_categories
        if state.alpha is not None and len(state.alpha.mean) != d_c:
            state.alpha = None
        if len(state.history.category_counts) != n:
            counts = np.zeros(n, np.float32)
            state.history = replace(state.history, category_counts=counts)
        return state

    def member(self, member_id: str, state: MemberState) -> Member:
        """The member as scored: their profile with their effective skills (eq. 1 of the
        paper, when `skills_of` blends in their cohorts'), an empty one before any.
        Shared while their record and effective skills stay the same: not to be changed."""
        return self._scored(member_id, state)[0]

    def profile(self, member_id: str, state: MemberState) -> Profile:
        """The member's encoded profile (shared, as `member`)."""
        return self._scored(member_id, state)[1]

    def _scored(self, member_id: str, state: MemberState) -> tuple[Member, Profile]:
        """`member` and `profile`, kept while the record and effective skills stay the
        same: looked at per label and per rescore, far more often than either changes."""
        record = state.member
        skills = None if record is None or self.skills_of is None else self.skills_of(record)
        known = self._profiles.get(member_id)
        if (
            known is not None
            and (known[1] is skills or known[1] == skills)
            and (known[0] is record or known[0] == record)
        ):
            return known[2], known[3]
        member = record or Member(member_id=member_id, skills={})
        if skills is not None:
            member = member.model_copy(update={"skills": dict(skills)})
        profile = Profile.of(self.spec, member)
        profile.x_m.flags.writeable = profile.skill_pair.flags.writeable = False  # shared
        if len(self._profiles) >= MEMBERS_KEPT:
            del self._profiles[next(iter(self._profiles))]
        self._profiles[member_id] = (record, skills, member, profile)
        return member, profile

    def alpha(self, member_id: str, state: MemberState) -> Posterior:
        """alpha_m: near-line posterior, else the batch model's, else the prior."""
        if state.alpha is not None:
            return state.alpha
        batch = self.scorer.model.members.posterior(member_id)
        return batch or self.member_effect.prior(self.spec.dims[0])

    def learn_member(self, state: MemberState, label: Label) -> CourseUpdate | None:
        """Member half (mutates `state`); None for a course missing from the catalog."""
        return self.learn_members([(state, label)])[0]

    def learn_members(
        self, pairs: Sequence[tuple[MemberState, Label]]
    ) -> list[CourseUpdate | None]:
        """`learn_member` of every (state, label) pair, in order: the labels of one member
        (one state object) one after another, those of different members together, with
        one feature pass and one posterior update for each round of distinct members."""
        out: list[CourseUpdate | None] = [None] * len(pairs)
        rounds: list[list[int]] = []
        seen: dict[int, int] = {}  # id(state) -> labels of it so far
        for i, (state, _) in enumerate(pairs):
            n = seen[id(state)] = seen.get(id(state), -1) + 1
            if n == len(rounds):
                rounds.append([])
            rounds[n].append(i)
        for block in rounds:
            for i, update in zip(block, self._learn_round([pairs[i] for i in block]), strict=True):
                out[i] = update
        return out

    def _learn_round(self, pairs: list[tuple[MemberState, Label]]) -> list[CourseUpdate | None]:
        """The member halves of labels of distinct members."""
        catalog, model = self.scorer.catalog, self.scorer.model
        out: list[CourseUpdate | None] = [None] * len(pairs)
        live = []  # (position, state, label, row) of labels whose course is in the catalog
        for i, (state, label) in enumerate(pairs):
            self.fit(state)
            row = catalog.index.get(label.course_id)
            if row is not None:
                live.append((i, state, label, row))
        if not live:
            return out
        rows = np.array([row for *_, row in live])
        ts = [event_ts(label) for _, _, label, _ in live]
        profiles = [self.profile(label.member_id, state) for _, state, label, _ in live]
        fixed, _ = block_fixed_logits(
            catalog,
            profiles,
            [state.history for _, state, _, _ in live],
            [rows[j : j + 1] for j in range(len(live))],
            ts,
            model.w,
            model.b,
            row_skill_cosines(catalog, profiles, np.arange(len(live)), rows),
        )
        x_c = catalog.x_c[rows]
        x_m = np.array([p.x_m for p in profiles])
        alphas = [self.alpha(label.member_id, state) for _, state, label, _ in live]
        course_score = np.einsum("ij,ij->i", self.scorer.beta(rows), x_m)
        labels = [label.label for _, _, label, _ in live]
        member_score = self.member_effect.learn_many(alphas, x_c, labels, fixed + course_score, ts)
        for j, (i, state, label, row) in enumerate(live):
            state.alpha = alphas[j]
            state.history = observe(
                state.history,
                category=int(catalog.category[row]),
                key=int(catalog.keys[row]),
                y=label.label,
                ts=ts[j],
                half_life_days=self.spec.half_life_days,
                capacity=self.spec.history_size,
            )
            if label.label:
                rest = tuple(c for c in state.engaged if c != label.course_id)
                state.engaged = (label.course_id, *rest)[:ENGAGED]
            state.seen_at = max(state.seen_at, label.label_ts)
            out[i] = CourseUpdate(
                label.course_id,
                label.label,
                ts[j],
                tuple(x_m[j].tolist()),
                float(fixed[j]) + member_score[j],
            )
        return out

    def learn_course(self, state: CourseState, update: CourseUpdate) -> CourseState:
        """Course half: beta_c and the popularity counters after one label."""
        return self.learn_courses(state, [update])

    def learn_courses(self, state: CourseState, updates: Sequence[CourseUpdate]) -> CourseState:
        """`learn_course` of a course's labels, one after another (one compiled loop)."""
        if not updates:
            return state
        beta = state.beta
        if beta is None:
            batch = self.scorer.model.courses.posterior(updates[0].course_id)
            beta = batch or self.course_effect.prior(self.spec.dims[1])
        self.course_effect.learn_many(
            [beta] * len(updates),
            np.array([u.x_m for u in updates]),
            [u.y for u in updates],
            [u.offset for u in updates],
            [u.ts for u in updates],
        )
        stats, half_life = state.stats, self.spec.half_life_days
        for u in updates:
            stats = count(stats, y=u.y, ts=u.ts, half_life_days=half_life)
        return CourseState(beta, stats)


def dismiss(state: MemberState, dismissal: Dismissal) -> None:
    """Never serve this course to this member again (the oldest dismissals fade out)."""
    rest = tuple(c for c in state.dismissed if c != dismissal.course_id)
    state.dismissed = (dismissal.course_id, *rest)[:DISMISSED]
    state.engaged = tuple(c for c in state.engaged if c != dismissal.course_id)
    state.seen_at = max(state.seen_at, dismissal.ts)


def provisional_click(click: Click) -> Label:
    """The positive a click will become, learned when the click arrives.

    The labeller emits a click's label only once the watermark passes it (`lateness`
    later), while a click is positive whatever comes after it; so near-line the member
    learns from the click itself, within a second, and skips the `click` labels. Labels
    decided by time (autoplay thresholds, timeouts) are learned when they are final.
    """
    return Label(
        member_id=click.member_id,
        course_id=click.course_id,
        channel=click.channel,
        label=1,
        source="click",
        impression_event_id=click.impression_id,
        label_ts=click.ts,
        rule="click",
    )
