"""Skills of a member's cohort (paper §3, eq. 1): f = δ1·f_profile + δ2·f_title,industry.

A profile lists few skills, or none; members who share a job title, or an industry, tend
to share skills, so a member's effective skills blend their own with their cohorts'. A
cohort's skills are the mean profile of its members, learned near-line from the `members`
topic: a changed profile takes its old skills out of its old cohorts and puts the new
ones in, so a cohort always equals the mean of its members' current profiles. Cohorts
are the title and industry cohorts of `scoring.trending` (same normalised keys). The
member's partition, which holds the old profile, emits the `SkillUpdate`s; the cohort's
state (`CohortSkills`) applies them, as `Trends` does for engagements.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import orjson

from models.history import expect_version
from models.learner import MEMBERS_KEPT
from schemas import Member
from scoring.trending import cohorts_of

_HEADER = struct.Struct("<BII")  # version, members, skills
_ZERO = 1e-9  # a sum taken back to about 0 by removals is dropped
COHORT_TOP = 10  # a cohort's heaviest skills that a member's skills are blended with


@dataclass(frozen=True)
class SkillUpdate:
    """One profile's skills added to (`sign` 1) or taken out of (-1) one cohort."""

    cohort: str
    skills: dict[str, float]
    sign: int

    def to_json(self) -> bytes:
        return orjson.dumps(self.__dict__, option=orjson.OPT_SORT_KEYS)  # per profile change

    @classmethod
    def from_json(cls, raw: bytes) -> SkillUpdate:
        return cls(**orjson.loads(raw))


def skill_updates(old: Member | None, new: Member | None) -> list[SkillUpdate]:
    """What a profile change does to the cohorts: per cohort kind, nothing when the
    cohort and skills are unchanged, else the old profile out and the new one in.

    >>> a = Member(member_id="m1", skills={"sql": 1.0}, title="Analyst")
    >>> [(u.cohort, u.sign) for u in skill_updates(None, a)]
    [('title:analyst', 1)]
    >>> b = a.model_copy(update={"skills": {"python": 1.0}})
    >>> [(u.cohort, u.skills, u.sign) for u in skill_updates(a, b)]
    [('title:analyst', {'sql': 1.0}, -1), ('title:analyst', {'python': 1.0}, 1)]
    >>> skill_updates(b, b.model_copy(update={"seniority": 3}))
    []
    """
    was_skills = {} if old is None else dict(old.skills)
    now_skills = {} if new is None else dict(new.skills)
    out = []
    for was, now in zip(cohorts_of(old), cohorts_of(new), strict=True):
        if was == now and was_skills == now_skills:
            continue
        if was is not None and was_skills:
            out.append(SkillUpdate(was, was_skills, -1))
        if now is not None and now_skills:
            out.append(SkillUpdate(now, now_skills, 1))
    return out


@dataclass
class CohortSkills:
    """One cohort's summed skill weights over its members with skills, and their number.

    >>> c = CohortSkills().apply(SkillUpdate("title:analyst", {"sql": 1.0}, 1))
    >>> c = c.apply(SkillUpdate("title:analyst", {"sql": 0.5, "excel": 1.0}, 1))
    >>> c.mean()
    {'excel': 0.5, 'sql': 0.75}
    >>> CohortSkills.from_bytes(c.to_bytes()) == c
    True
    """

    skills: tuple[str, ...] = ()  # sorted
    sums: np.ndarray = field(default_factory=lambda: np.zeros(0))  # float64, per skill
    members: int = 0
    version: int = 1
    # Each skill's position in `skills` (derived, shared by the states that follow with
    # the same skills): a profile in or out mostly adds to skills the cohort lists
    # already, and a cohort of many members lists many
    _at: dict[str, int] | None = field(default=None, init=False, repr=False, compare=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CohortSkills) and self.to_bytes() == other.to_bytes()

    def apply(self, update: SkillUpdate) -> CohortSkills:
        """The state after one profile in or out (a new state; this one is unchanged)."""
        if self._at is None:
            self._at = {skill: i for i, skill in enumerate(self.skills)}
        at, sums, new = self._at, self.sums.copy(), {}
        for skill, w in update.skills.items():
            i = at.get(skill)
            if i is None:
                new[skill] = 0.0 + update.sign * w
            else:
                sums[i] += update.sign * w
        members = max(self.members + update.sign, 0)
        if not new and all(abs(sums[at[s]]) > _ZERO for s in update.skills):
            state = CohortSkills(self.skills, sums, members, self.version)
            state._at = at
            return state
        merged = {**dict(zip(self.skills, sums.tolist(), strict=True)), **new}
        kept = sorted(s for s, v in merged.items() if abs(v) > _ZERO)
        return CohortSkills(tuple(kept), np.array([merged[s] for s in kept]), members, self.version)

    def mean(self) -> dict[str, float]:
        """Mean weight per skill over the cohort's members (a missing skill counts 0)."""
        if not self.members:
            return {}
        return dict(zip(self.skills, (self.sums / self.members).tolist(), strict=True))

    def to_bytes(self) -> bytes:
        names = [s.encode() for s in self.skills]
        return b"".join(
            [
                _HEADER.pack(self.version, self.members, len(names)),
                self.sums.astype(np.float64).tobytes(),
                np.array([len(n) for n in names], np.uint16).tobytes(),
                *names,
            ]
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> CohortSkills:
        version, members, n = _HEADER.unpack_from(raw)
        expect_version("CohortSkills", version)
        at = _HEADER.size
        sums = np.frombuffer(raw, np.float64, n, at).copy()
        lengths = np.frombuffer(raw, np.uint16, n, at + 8 * n).tolist()
        at += 10 * n
        skills = []
        for length in lengths:
            skills.append(raw[at : at + length].decode())
            at += length
        return cls(tuple(skills), sums, members, version)


class CohortSkillTable:
    """Every cohort's skills in memory, fed profile by profile; and the skills a member
    is scored with.

    >>> table = CohortSkillTable()
    >>> table.learn(None, Member(member_id="m1", skills={"sql": 1.0}, title="Analyst"))
    >>> table.effective_skills(Member(member_id="m2", skills={}, title="analyst"))
    {'sql': 1.0}
    """

    def __init__(
        self, profile_weight: float = 1.0, cohort_weight: float = 0.5, top: int = COHORT_TOP
    ):
        self.profile_weight = profile_weight  # δ1
        self.cohort_weight = cohort_weight  # δ2
        self.top = top  # heaviest cohort skills blended in
        self.cohorts: dict[str, CohortSkills] = {}  # change through `put` or `apply`
        self._blends: dict[tuple[str | None, ...], dict[str, float]] = {}  # per cohort pair
        self._in: dict[str, set[tuple[str | None, ...]]] = {}  # cohort -> blends it is in
        # member id -> (their skills, the blend, their effective skills): asked per label
        # learned and per list, and the same while neither changed
        self._effective: dict[str, tuple[Mapping[str, float], dict, dict[str, float]]] = {}

    def put(self, cohort: str, skills: CohortSkills) -> None:
        """A cohort's state as its stage wrote it (every worker follows them); the
        blends it is part of are worked out again when next asked for."""
        self.cohorts[cohort] = skills
        for key in self._in.pop(cohort, ()):
            self._blends.pop(key, None)

    def apply(self, update: SkillUpdate) -> None:
        self.put(update.cohort, self.cohorts.get(update.cohort, CohortSkills()).apply(update))

    def learn(self, old: Member | None, new: Member | None) -> None:
        """A member's profile changed from `old` (None: first seen) to `new` (None: gone)."""
        for update in skill_updates(old, new):
            self.apply(update)

    def cohort_skills(self, member: Member) -> dict[str, float]:
        """f_title,industry: the mean of the member's cohorts' skills, each unit-norm, cut
        to its `top` heaviest (a cohort of many members lists a long tail of skills, and
        every skill named is a candidate source and a reason). Shared: not to be changed."""
        key = cohorts_of(member)
        blend = self._blends.get(key)
        if blend is None:
            blend = self._blends[key] = self._blend(key)
            for cohort in key:
                if cohort is not None:
                    self._in.setdefault(cohort, set()).add(key)
        return blend

    def _blend(self, cohorts: tuple[str | None, ...]) -> dict[str, float]:
        parts = [
            _unit(self.cohorts[c].mean())
            for c in cohorts
            if c is not None and c in self.cohorts and self.cohorts[c].members
        ]
        if not parts:
            return {}
        mean = _sum(parts, [1.0 / len(parts)] * len(parts))
        heaviest = sorted(mean, key=lambda s: (-mean[s], s))[: self.top]
        return _unit({s: mean[s] for s in sorted(heaviest)})

    def effective_skills(self, member: Member) -> dict[str, float]:
        """δ1·f_profile + δ2·f_title,industry, both unit-norm (so the δ weigh directions);
        a member without skills gets their cohorts' skills, one without cohorts their own.
        Shared while the member's skills and cohorts' stay the same: not to be changed."""
        cohort = self.cohort_skills(member)
        known = self._effective.get(member.member_id)
        if known is not None and known[0] is member.skills and known[1] is cohort:
            return known[2]
        if not member.skills or not cohort:
            effective = dict(member.skills or cohort)
        else:
            weights = [self.profile_weight, self.cohort_weight]
            effective = _sum([_unit(member.skills), cohort], weights)
        if len(self._effective) >= MEMBERS_KEPT:
            del self._effective[next(iter(self._effective))]
        self._effective[member.member_id] = (member.skills, cohort, effective)
        return effective


def as_scored(members: Iterable[Member], table: CohortSkillTable) -> list[Member]:
    """The profiles as a worker scores them, for batch training: each with its effective
    skills, the cohorts learned from these profiles (`table`, empty, gives the blend).

    >>> a = Member(member_id="a", skills={"sql": 1.0}, title="Analyst")
    >>> [m.skills for m in as_scored([a, Member(member_id="b", skills={}, title="Analyst")],
    ...     CohortSkillTable())]
    [{'sql': 1.5}, {'sql': 1.0}]
    """
    members = list(members)
    for member in members:
        table.learn(None, member)
    return [m.model_copy(update={"skills": table.effective_skills(m)}) for m in members]


def _unit(skills: Mapping[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(w * w for w in skills.values()))
    return {s: w / norm for s, w in skills.items()} if norm > 0 else {}


def _sum(parts: list[dict[str, float]], weights: list[float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for part, weight in zip(parts, weights, strict=True):
        for s, w in part.items():
            out[s] = out.get(s, 0.0) + weight * w
    return dict(sorted(out.items()))
