"""x_mc: member-course features, one vectorised pass over candidate rows of the catalog.

A row's features come from the member side (profile, history state), the course's
columns and context (day of week, hour bucket) of the event time, in UTC. Serving and
near-line learning score one member's candidates (`member_course_features`); training
replay gathers the member side of every label first and builds all rows at once
(`from_parts`, shared by both). Column order is `MC_NAMES` of the spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np

from models.catalog import Catalog
from models.history import DAY_MS, MemberHistory, decay
from models.spec import DAYS, HOUR_BUCKET_H, MC_NAMES, FeatureSpec
from schemas import Member

HOUR_MS = 3_600_000
NEW_DAYS = 30.0
_CTX = MC_NAMES.index("dow_mon")
_HOURS = _CTX + len(DAYS)
_INTERACT = _HOURS + 24 // HOUR_BUCKET_H
_DENSE = (*range(_CTX), _INTERACT, _INTERACT + 1)  # the columns not one-hot, in order


@dataclass(frozen=True)
class Profile:
    """The parts of a member record the features read, encoded once per profile update.

    >>> p = Profile.of(FeatureSpec(), Member(member_id="m1", skills={"sql": 1.0}, seniority=9))
    >>> p.x_m.shape, p.skill_pair.shape, p.seniority
    ((37,), (16, 2), 1.0)
    """

    x_m: np.ndarray
    skill_pair: np.ndarray  # (K, 2): skill clusters, followed-skill clusters (both unit norm)
    seniority: float | None  # 0 entry .. 1 executive

    @classmethod
    def of(cls, spec: FeatureSpec, member: Member) -> Profile:
        skills = spec.skill_vector(member.skills)
        pair = np.empty((spec.skill_buckets, 2))
        pair[:, 0], pair[:, 1] = skills, spec.skill_vector(member.followed_skills)
        level = None if member.seniority is None else member.seniority / 9.0
        return cls(spec.member_vector(member, skills), pair, level)


def context(ts: int) -> tuple[int, int]:
    """(day of week, Monday = 0; hour bucket) of an epoch-ms time, in UTC.

    >>> context(1767225600000)  # 2026-01-01T00:00Z, a Thursday
    (3, 0)
    """
    dow, hour = _day_and_hour(ts)
    return dow, hour // HOUR_BUCKET_H


@numba.njit(cache=True, nogil=True)
def _day_and_hour(ts: int) -> tuple[int, int]:
    """(day of week, Monday = 0; hour of the day) of an epoch-ms time, in UTC."""
    return (ts // DAY_MS + 3) % 7, ts % DAY_MS // HOUR_MS


@dataclass(frozen=True)
class Seen:
    """What members' histories say of candidate rows at scoring time, one entry per row:
    the decayed positives in the row's category and in all categories, how often the
    course was shown and how many days ago (inf: never)."""

    engaged: np.ndarray
    total: np.ndarray
    impressions: np.ndarray
    ago_days: np.ndarray

    @classmethod
    def of(cls, history: MemberHistory, catalog: Catalog, rows: np.ndarray, ts: int) -> Seen:
        """One member's history against candidate rows."""
        factor = np.array([decay(history.updated_at, ts, catalog.spec.half_life_days)])
        imps, last = shown_rows([history], np.zeros(len(rows), np.int64), catalog.keys[rows])
        category = catalog.category[rows]
        return cls.stacked(history.category_counts[None], factor, None, category, imps, last, ts)

    @classmethod
    def stacked(
        cls,
        counts: np.ndarray,
        factor: np.ndarray,
        which: np.ndarray | None,
        category: np.ndarray,
        impressions: np.ndarray,
        last_seen: np.ndarray,
        ts: int | np.ndarray,
    ) -> Seen:
        """Rows read from `which` of several histories' category counts (float32,
        faded by `factor`; None: one history for every row), with the shown courses'
        counts and times already looked up."""
        faded = counts * factor.astype(np.float32)[:, None]
        ago = np.maximum(ts - last_seen, 0) / DAY_MS
        if which is None:
            return cls(faded[0, category], faded[0].sum(), impressions, ago)
        return cls(faded[which, category], faded.sum(axis=1)[which], impressions, ago)


def shown_rows(
    histories: list[MemberHistory], which: np.ndarray, keys: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(times shown, last shown epoch ms; -inf if never) of courses by key, row i in
    `histories[which[i]]`: one compiled lookup for a block's rows."""
    sizes = [len(h.course_keys) for h in histories]
    return _shown(
        np.asarray(which, np.int64),
        np.asarray(keys, np.uint64),
        np.cumsum([0, *sizes], dtype=np.int64),
        np.concatenate([np.zeros(0, np.uint64), *(h.course_keys for h in histories)]),
        np.concatenate([np.zeros(0, np.uint32), *(h.imp_counts for h in histories)]),
        np.concatenate([np.zeros(0, np.int64), *(h.last_seen for h in histories)]),
    )


@numba.njit(cache=True, nogil=True)
def _shown(which, keys, bounds, course_keys, imp_counts, last_seen):
    """`shown_rows` over the histories' sorted keys laid end to end (history m: from
    bounds[m] to bounds[m + 1])."""
    imps, last = np.zeros(len(keys)), np.full(len(keys), -np.inf)
    for i in range(len(keys)):
        lo, hi = bounds[which[i]], bounds[which[i] + 1]
        at = lo + np.searchsorted(course_keys[lo:hi], keys[i])
        if at < hi and course_keys[at] == keys[i]:
            imps[i], last[i] = imp_counts[at], last_seen[at]
    return imps, last


class Parts(NamedTuple):
    """What x_mc of candidate rows is computed from: the member side per row (skill
    cosines, seniority (nan: unknown), history); `ts` and the popularity columns are per
    row or shared. One member's candidates and many labels' rows go through here alike."""

    catalog: Catalog
    rows: np.ndarray
    skill_cos: np.ndarray
    seniority: float | np.ndarray
    seen: Seen
    ts: int | np.ndarray
    ctr_logit: np.ndarray
    log_impressions: np.ndarray


def member_course_features(
    catalog: Catalog, rows: np.ndarray, profile: Profile, history: MemberHistory, ts: int
) -> np.ndarray:
    """x_mc of shape (len(rows), len(MC_NAMES)) for one member, from state as of `ts`."""
    return from_parts(
        Parts(
            catalog,
            rows,
            skill_cosines(catalog.skills[rows], profile.skill_pair),
            np.nan if profile.seniority is None else profile.seniority,
            Seen.of(history, catalog, rows, ts),
            ts,
            catalog.ctr_logit[rows],
            catalog.log_impressions[rows],
        )
    )


def skill_cosines(skills: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """(n, 2) cosines of course skill rows with the member's skill and followed-skill
    clusters: pairs is one member's (K, 2) or one per row (n, K, 2). BLAS products: how
    many rows go together may change the last bit, nothing more."""
    return skills @ pairs if pairs.ndim == 2 else (skills[:, None, :] @ pairs)[:, 0]


def from_parts(parts: Parts) -> np.ndarray:
    """x_mc of the candidate rows `parts` gives, one row per candidate."""
    x = np.zeros((len(parts.rows), len(MC_NAMES)))
    _features(*_per_row(parts), np.zeros(0), x, np.zeros(0))
    return x


def fixed_from_parts(parts: Parts, w: np.ndarray, b: float) -> np.ndarray:
    """x_mc @ w + b of the rows `from_parts` lays out, without laying them out: each
    feature is weighed as it is computed (equal up to rounding; no (rows x features)
    matrix to allocate and read back)."""
    z = np.full(len(parts.rows), float(b))
    _features(*_per_row(parts), np.asarray(w, float), np.zeros((0, len(MC_NAMES))), z)
    return z


def _per_row(parts: Parts) -> tuple[np.ndarray, ...]:
    """The arguments of `_features`: what `parts` holds once per row or for all rows,
    as one value per row. The logarithms of values that are rarely 0 are taken here,
    where numpy's are vectorised."""
    catalog, rows, skill_cos, seniority, seen, ts, ctr_logit, log_impressions = parts
    n = len(rows)

    def each(values: object, dtype: type) -> np.ndarray:
        array = np.asarray(values, dtype)
        return array if array.ndim else np.full(n, array)

    age_days = np.maximum(ts - catalog.released_at[rows], 0) / DAY_MS
    return (
        np.asarray(rows, np.int64),
        catalog.difficulty,
        catalog.long,
        np.asarray(skill_cos, float).reshape(n, 2),
        each(seniority, float),
        each(seen.engaged / (seen.total + 1.0), float),
        each(np.log1p(seen.engaged), float),
        each(age_days, float),
        each(np.log1p(age_days), float),
        each(seen.impressions, float),
        each(seen.ago_days, float),
        each(ts, np.int64),
        each(ctr_logit, float),
        each(log_impressions, float),
    )


@numba.njit(cache=True, nogil=True)
def _features(
    rows,
    difficulty,
    long,
    skill_cos,
    seniority,
    share,
    log_engaged,
    age_days,
    log_age,
    impressions,
    ago_days,
    ts,
    ctr_logit,
    log_impressions,
    w,
    x,
    z,
):
    """The one home of the features: row i's into x[i] when x has rows, else weighed by
    w and added to z[i]. Seniority nan: unknown (fit 0); ago_days inf: never shown."""
    lay_out = x.shape[0] > 0
    dense = np.empty(len(_DENSE))
    for i in range(len(rows)):
        r = rows[i]
        fit = 1.0 - abs(seniority[i] - difficulty[r])
        dow, hour = _day_and_hour(ts[i])
        dense[0], dense[1] = skill_cos[i, 0], skill_cos[i, 1]
        dense[2], dense[3] = share[i], log_engaged[i]
        dense[4], dense[5] = ctr_logit[i], log_impressions[i]
        dense[6], dense[7] = log_age[i], age_days[i] < NEW_DAYS
        dense[8] = 0.0 if np.isnan(fit) else fit
        dense[9] = np.log1p(impressions[i]) if impressions[i] != 0.0 else 0.0
        dense[10] = np.exp(-ago_days[i]) if np.isfinite(ago_days[i]) else 0.0
        dense[11] = long[r] if dow >= 5 else 0.0
        dense[12] = long[r] if hour < 8 or hour >= 18 else 0.0
        day, hours = _CTX + dow, _HOURS + hour // HOUR_BUCKET_H
        if lay_out:
            for c in range(len(_DENSE)):
                x[i, _DENSE[c]] = dense[c]
            x[i, day] = x[i, hours] = 1.0
        else:
            for c in range(len(_DENSE)):
                z[i] += dense[c] * w[_DENSE[c]]
            z[i] += w[day] + w[hours]


def block_features(
    catalog: Catalog,
    profiles: list[Profile],
    histories: list[MemberHistory],
    rows: list[np.ndarray],
    ts: list[int],
    skill_cos: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """x_mc of several members' candidates in one pass (member i: catalog `rows[i]` at
    `ts[i]`), each block what `member_course_features` gives that member alone; and the
    member of each row. `skill_cos`: the rows' (n, 2) skill cosines where the caller has
    them already (candidate generation does)."""
    parts, which = _block_parts(catalog, profiles, histories, rows, ts, skill_cos)
    return from_parts(parts), which


def block_fixed_logits(
    catalog: Catalog,
    profiles: list[Profile],
    histories: list[MemberHistory],
    rows: list[np.ndarray],
    ts: list[int],
    w: np.ndarray,
    b: float,
    skill_cos: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """`block_features` @ w + b (see `fixed_from_parts`) and the member of each row."""
    parts, which = _block_parts(catalog, profiles, histories, rows, ts, skill_cos)
    return fixed_from_parts(parts, w, b), which


def _block_parts(
    catalog: Catalog,
    profiles: list[Profile],
    histories: list[MemberHistory],
    rows: list[np.ndarray],
    ts: list[int],
    skill_cos: np.ndarray | None,
) -> tuple[Parts, np.ndarray]:
    """What `from_parts` reads for a block's rows, and the member of each row."""
    spec = catalog.spec
    which = np.repeat(np.arange(len(profiles)), [len(r) for r in rows])
    at = np.concatenate([np.zeros(0, np.intp), *rows])
    imps, last = shown_rows(histories, which, catalog.keys[at])
    times = np.array(ts, np.int64)[which]
    seen = Seen.stacked(
        stacked([h.category_counts for h in histories], np.float32, spec.n_categories),
        np.array(
            [
                decay(h.updated_at, t, spec.half_life_days)
                for h, t in zip(histories, ts, strict=True)
            ]
        ),
        which,
        catalog.category[at],
        imps,
        last,
        times,
    )
    if skill_cos is None:
        skill_cos = member_skill_cosines(catalog, profiles, which, at)
    seniority = _seniority(profiles)[which]
    popularity = catalog.ctr_logit[at], catalog.log_impressions[at]
    return Parts(catalog, at, skill_cos, seniority, seen, times, *popularity), which


def stacked(arrays: list[np.ndarray], dtype: type, width: int) -> np.ndarray:
    """Equal-width vectors as the rows of one matrix (an empty list: no rows)."""
    return np.array(arrays, dtype).reshape(-1, width)


def rows_features(
    catalog: Catalog,
    rows: np.ndarray,
    profiles: list[Profile],
    which: np.ndarray,
    seen: Seen,
    ts: np.ndarray,
    popularity: tuple[np.ndarray, np.ndarray],
    skill_cos: np.ndarray,
) -> np.ndarray:
    """x_mc of catalog rows, row i for the member of `profiles[which[i]]`; popularity is
    (ctr_logit, log_impressions) per row, skill_cos the rows' (n, 2) skill cosines."""
    seniority = _seniority(profiles)[which]
    return from_parts(Parts(catalog, rows, skill_cos, seniority, seen, ts, *popularity))


def _seniority(profiles: list[Profile]) -> np.ndarray:
    """Each profile's seniority, nan where unknown."""
    return np.array([np.nan if p.seniority is None else p.seniority for p in profiles])


def _pairs(catalog: Catalog, profiles: list[Profile]) -> np.ndarray:
    k = catalog.spec.skill_buckets
    return stacked([p.skill_pair for p in profiles], float, k * 2).reshape(-1, k, 2)


def row_skill_cosines(
    catalog: Catalog, profiles: list[Profile], which: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """Skill cosines of catalog `rows`, row i for `profiles[which[i]]`: a small product
    per row (for many members with a row or two each)."""
    return skill_cosines(catalog.skills[rows], _pairs(catalog, profiles)[which])


def member_skill_cosines(
    catalog: Catalog, profiles: list[Profile], which: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """The same from one product of each member with the whole catalog, then a gather
    (for a few members with many rows each: less work and memory than per row)."""
    return np.matmul(catalog.skills, _pairs(catalog, profiles))[which, rows]
