"""Simulate a world's activity log: what members were shown, and how they responded.

Each day a random subset of members (heavy and light users, fewer at weekends) visits
some channels; the logging policy fills each visit's slots, the planted GLMix decides
clicks, previews autoplay with a per-member watch scale, uninteresting courses get
dismissed. Events then go through a delivery step that makes a few arrive late and
redelivers a few, and are written in arrival order (see `replay.logs`).

Work is vectorised per day and per chunk of members; writing JSON lines dominates.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from replay.logs import (
    COURSES_FILE,
    EVENTS_FILE,
    MEMBERS_FILE,
    TRUTH_FILE,
    write_records,
)
from replay.policy import LoggingPolicy
from replay.world import (
    DAY_MS,
    World,
    WorldConfig,
    build_world,
    course_records,
    logit,
    member_records,
    truth,
)


@dataclass(frozen=True)
class ChannelBehaviour:
    """How members meet a channel: how often, how many slots, when, how fast they click.

    >>> [(ch.name, ch.slots) for ch in CHANNELS]
    [('learning_home', 6), ('feed', 3), ('email', 4)]
    """

    name: str
    visit_share: float  # chance an active member visits it on a day
    slots: int
    autoplay_slots: int  # leading positions whose preview autoplays
    hour_mean: float  # visit time of day (UTC hours), normal
    hour_sd: float
    click_delay_s: float  # median delay from impression to click, log-normal


CHANNELS = (
    ChannelBehaviour("learning_home", 0.6, 6, 2, 13.0, 4.0, 120.0),
    ChannelBehaviour("feed", 0.7, 3, 2, 13.0, 4.0, 90.0),
    ChannelBehaviour("email", 0.15, 4, 0, 7.5, 0.3, 2400.0),
)
WEEKEND_ACTIVITY = 0.6
AUTOPLAY_SHARE = 0.3
# Watched share of a preview: sigmoid(BASE + member scale + INTEREST * interest + noise).
WATCH_BASE, WATCH_INTEREST, WATCH_NOISE = -1.0, 0.8, 0.7
DISMISS_RATE = 0.03  # times sigmoid(-2 * interest - 1), unclicked impressions only
CLICK_WITH_ID_SHARE = 0.7  # the rest must be attributed by (member, course, channel)
CLICK_DELAY_SD = 1.2
MAX_CLICK_DELAY_MS = 6 * 3_600_000
MIN_LATE_MS = 60_000
MAX_REDELIVERY_MS = 60_000  # a duplicate arrives this long after the original at most
CHUNK_ROWS = 2048

KINDS = ("impression", "click", "autoplay", "dismissal")
ID_PREFIXES = ("i", "k", "a", "d")


@dataclass
class _Shown:
    """One day's impressions as columns, with the planted interest and logit."""

    member: np.ndarray
    course: np.ndarray
    channel: np.ndarray
    position: np.ndarray
    propensity: np.ndarray
    ts: np.ndarray
    interest: np.ndarray
    logit: np.ndarray


@dataclass
class _Batch:
    """Formatted events waiting to be written, ordered by (arrival, seq)."""

    arrival: np.ndarray
    seq: np.ndarray
    kind: np.ndarray
    lines: list[str]

    @classmethod
    def empty(cls) -> _Batch:
        none = np.empty(0, dtype=np.int64)
        return cls(none, none, none, [])

    @classmethod
    def ordered(
        cls, arrival: np.ndarray, seq: np.ndarray, kind: np.ndarray, lines: list[str]
    ) -> _Batch:
        order = np.lexsort((seq, arrival))
        return cls(arrival[order], seq[order], kind[order], [lines[i] for i in order.tolist()])

    def merge(self, other: _Batch) -> _Batch:
        return _Batch.ordered(
            np.concatenate([self.arrival, other.arrival]),
            np.concatenate([self.seq, other.seq]),
            np.concatenate([self.kind, other.kind]),
            self.lines + other.lines,
        )

    def split(self, before_ms: int) -> tuple[_Batch, _Batch]:
        n = int(np.searchsorted(self.arrival, before_ms))
        head = _Batch(self.arrival[:n], self.seq[:n], self.kind[:n], self.lines[:n])
        return head, _Batch(self.arrival[n:], self.seq[n:], self.kind[n:], self.lines[n:])


def simulate(config: WorldConfig, out_dir: str | Path, progress: bool = True) -> dict[str, int]:
    """Write a log directory for `config`; returns lines written per kind (duplicates
    included) plus the number of `duplicate` and `late` events. Same seed, same bytes."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    world = build_world(config)
    policy = LoggingPolicy()
    write_records(out / COURSES_FILE, course_records(world))
    write_records(out / MEMBERS_FILE, member_records(world))
    counts = dict.fromkeys([*KINDS, "duplicate"], 0)
    late_ids: list[str] = []
    dismissed: dict[int, list[int]] = {}
    pending, next_id = _Batch.empty(), 0
    with (out / EVENTS_FILE).open("w", encoding="utf-8") as f:
        for day in tqdm(range(config.days), desc="simulate", unit="day", disable=not progress):
            rng = np.random.default_rng([config.seed, 1, day])
            shown = _show(world, policy, day, rng, dismissed)
            ids, ts, kind, lines = _respond(world, shown, rng, dismissed, next_id)
            batch, late, dup = _deliver(ts, kind, lines, next_id, config, rng)
            next_id += len(ids)
            late_ids += [ids[i] for i in late]
            counts["duplicate"] += dup
            ready, pending = pending.merge(batch).split(config.start_ms + (day + 1) * DAY_MS)
            _write(f, ready, counts)
        _write(f, pending, counts)
    counts["late"] = len(late_ids)
    planted = {
        **truth(world),
        "logging_policy": {"model_id": config.model_id, **policy.describe()},
        "behaviour": _behaviour(),
        "counts": counts,
        "late_event_ids": late_ids,
    }
    (out / TRUTH_FILE).write_text(json.dumps(planted, separators=(",", ":")), encoding="utf-8")
    return counts


def _write(f: Any, batch: _Batch, counts: dict[str, int]) -> None:
    f.writelines(batch.lines)
    for code, n in enumerate(np.bincount(batch.kind, minlength=len(KINDS)).tolist()):
        counts[KINDS[code]] += n


def _behaviour() -> dict[str, Any]:
    """Simulation constants that are not GLMix parameters, recorded for evaluation."""
    return {
        "channels": [asdict(ch) for ch in CHANNELS],
        "weekend_activity": WEEKEND_ACTIVITY,
        "autoplay_share": AUTOPLAY_SHARE,
        "watch_share": "sigmoid(watch_base + member_watch_scale + watch_interest * interest"
        " + normal(0, watch_noise)), interest = planted logit without intercept and context",
        "watch_base": WATCH_BASE,
        "watch_interest": WATCH_INTEREST,
        "watch_noise": WATCH_NOISE,
        "dismiss": f"{DISMISS_RATE} * sigmoid(-2 * interest - 1) on unclicked impressions",
        "click_with_impression_id_share": CLICK_WITH_ID_SHARE,
        "max_click_delay_ms": MAX_CLICK_DELAY_MS,
        "late_delay_ms": [MIN_LATE_MS, "max_late_s * 1000"],
        "max_redelivery_ms": MAX_REDELIVERY_MS,
    }


def _weekday(config: WorldConfig, day: int) -> int:
    return (config.start.weekday() + day) % 7


def _show(
    world: World,
    policy: LoggingPolicy,
    day: int,
    rng: np.random.Generator,
    dismissed: dict[int, list[int]],
) -> _Shown:
    """Pick the active members, their channel visits and what the policy showed them."""
    config = world.config
    day_ms = config.start_ms + day * DAY_MS
    weekend = WEEKEND_ACTIVITY if _weekday(config, day) >= 5 else 1.0
    active = np.flatnonzero(rng.random(config.members) < world.activity * weekend)
    parts = []
    for code, channel in enumerate(CHANNELS):
        visitors = active[rng.random(active.size) < channel.visit_share]
        hours = np.clip(rng.normal(channel.hour_mean, channel.hour_sd, visitors.size), 0, 23.99)
        visit_ms = day_ms + (hours * 3_600_000).astype(np.int64)
        for lo in range(0, visitors.size, CHUNK_ROWS):
            chunk = slice(lo, lo + CHUNK_ROWS)
            visits = (visitors[chunk], visit_ms[chunk])
            parts.append(_fill_visits(world, policy, visits, code, day, rng, dismissed))
    none = np.empty(0, dtype=np.int64)  # a day nobody visited
    return _Shown(
        *(np.concatenate([getattr(p, f.name) for p in parts] or [none]) for f in fields(_Shown))
    )


def _fill_visits(
    world: World,
    policy: LoggingPolicy,
    visits: tuple[np.ndarray, np.ndarray],
    code: int,
    day: int,
    rng: np.random.Generator,
    dismissed: dict[int, list[int]],
) -> _Shown:
    """The policy fills the slots of channel visits given as (members, visit times)."""
    members, visit_ms = visits
    day_ms = world.config.start_ms + day * DAY_MS
    overlap = world.member_skills[members] @ world.course_skills
    allowed = np.repeat((world.course_released_ms <= day_ms)[None, :], members.size, axis=0)
    for r, m in enumerate(members.tolist()):
        if m in dismissed:
            allowed[r, dismissed[m]] = False
    probs = policy.probabilities(overlap, world.popularity, world.recency(day_ms), allowed)
    chosen, propensity, valid = policy.fill(probs, CHANNELS[code].slots, rng)
    visit, position = np.nonzero(valid)
    member, course = members[visit], chosen[visit, position]
    interest = world.interest(member, course, overlap[visit, course], day_ms)
    weekday = _weekday(world.config, day)
    return _Shown(
        member=member,
        course=course,
        channel=np.full(visit.size, code),
        position=position,
        propensity=propensity[visit, position],
        ts=visit_ms[visit] + position,
        interest=interest,
        logit=logit(interest, position, CHANNELS[code].name, weekday),
    )


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _respond(
    world: World,
    shown: _Shown,
    rng: np.random.Generator,
    dismissed: dict[int, list[int]],
    first_id: int,
) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """Clicks, autoplays and dismissals for the shown impressions, formatted as lines.

    Returns (event ids, event times, kind codes, lines), impressions first, and records
    the dismissals in `dismissed` so that the policy stops showing those courses.
    """
    n = shown.member.size
    clicked = rng.random(n) < _sigmoid(shown.logit)
    median_ms = np.array([ch.click_delay_s * 1000 for ch in CHANNELS])[shown.channel]
    delay = rng.lognormal(np.log(median_ms), CLICK_DELAY_SD)
    click_ts = shown.ts + np.clip(delay, 1000, MAX_CLICK_DELAY_MS).astype(np.int64)
    with_id = rng.random(n) < CLICK_WITH_ID_SHARE
    autoplay_slots = np.array([ch.autoplay_slots for ch in CHANNELS])[shown.channel]
    played = (shown.position < autoplay_slots) & (rng.random(n) < AUTOPLAY_SHARE)
    video_s = world.course_video_s[shown.course]
    share = _sigmoid(
        WATCH_BASE
        + world.watch_scale[shown.member]
        + WATCH_INTEREST * shown.interest
        + rng.normal(0.0, WATCH_NOISE, n)
    )
    watched_s = np.round(share * video_s, 1)
    autoplay_ts = shown.ts + 1000 + (watched_s * 1000).astype(np.int64)
    dismiss = ~clicked & (rng.random(n) < DISMISS_RATE * _sigmoid(-2.0 * shown.interest - 1.0))
    dismiss_ts = shown.ts + rng.integers(2000, 60_000, n)
    for m, c in zip(shown.member[dismiss].tolist(), shown.course[dismiss].tolist(), strict=True):
        dismissed.setdefault(m, []).append(c)

    masks = (np.ones(n, dtype=bool), clicked, played, dismiss)
    sizes = [int(mask.sum()) for mask in masks]
    starts = np.cumsum([0, *sizes[:-1]]).tolist()
    ids = [
        f"{ID_PREFIXES[k]}{e:09d}"
        for k, (start, size) in enumerate(zip(starts, sizes, strict=True))
        for e in range(first_id + start, first_id + start + size)
    ]
    fmt = _Formatter(world, shown, ids)
    lines = (
        fmt.impressions(world.config.model_id)
        + fmt.clicks(clicked, with_id, click_ts, starts[1])
        + fmt.autoplays(played, watched_s, video_s, autoplay_ts, starts[2])
        + fmt.dismissals(dismiss, dismiss_ts, starts[3])
    )
    ts = np.concatenate([shown.ts, click_ts[clicked], autoplay_ts[played], dismiss_ts[dismiss]])
    kind = np.repeat(np.arange(len(KINDS)), sizes)
    return ids, ts, kind, lines


class _Formatter:
    """JSON lines per kind, `kind` first. Ids and channels are generated ASCII tokens, so
    f-strings need no escaping; floats use short `g`/`f` forms, which are valid JSON."""

    def __init__(self, world: World, shown: _Shown, ids: list[str]):
        member_ids, course_ids = world.member_ids, world.course_ids
        self.ids = ids
        self.member = [member_ids[m] for m in shown.member.tolist()]
        self.course = [course_ids[c] for c in shown.course.tolist()]
        self.channel = [CHANNELS[c].name for c in shown.channel.tolist()]
        self.shown = shown

    def impressions(self, model_id: str) -> list[str]:
        s = self.shown
        return [
            f'{{"kind":"impression","event_id":"{e}","member_id":"{m}","course_id":"{c}",'
            f'"channel":"{ch}","position":{p},"model_id":"{model_id}","propensity":{q:.6g},'
            f'"ts":{t}}}\n'
            for e, m, c, ch, p, q, t in zip(
                self.ids[: len(self.member)],
                self.member,
                self.course,
                self.channel,
                s.position.tolist(),
                s.propensity.tolist(),
                s.ts.tolist(),
                strict=True,
            )
        ]

    def clicks(
        self, clicked: np.ndarray, with_id: np.ndarray, ts: np.ndarray, first: int
    ) -> list[str]:
        rows = np.flatnonzero(clicked).tolist()
        return [
            f'{{"kind":"click","event_id":"{self.ids[first + j]}","member_id":"{self.member[i]}",'
            f'"course_id":"{self.course[i]}","channel":"{self.channel[i]}",'
            + (f'"impression_id":"{self.ids[i]}",' if has_id else "")
            + f'"ts":{t}}}\n'
            for j, (i, has_id, t) in enumerate(
                zip(rows, with_id[rows].tolist(), ts[rows].tolist(), strict=True)
            )
        ]

    def autoplays(
        self,
        played: np.ndarray,
        watched_s: np.ndarray,
        video_s: np.ndarray,
        ts: np.ndarray,
        first: int,
    ) -> list[str]:
        rows = np.flatnonzero(played).tolist()
        return [
            f'{{"kind":"autoplay","event_id":"{self.ids[first + j]}",'
            f'"member_id":"{self.member[i]}","course_id":"{self.course[i]}",'
            f'"impression_id":"{self.ids[i]}","watched_s":{w:.1f},"video_s":{v:.1f},"ts":{t}}}\n'
            for j, (i, w, v, t) in enumerate(
                zip(
                    rows,
                    watched_s[rows].tolist(),
                    video_s[rows].tolist(),
                    ts[rows].tolist(),
                    strict=True,
                )
            )
        ]

    def dismissals(self, dismiss: np.ndarray, ts: np.ndarray, first: int) -> list[str]:
        rows = np.flatnonzero(dismiss).tolist()
        return [
            f'{{"kind":"dismissal","event_id":"{self.ids[first + j]}",'
            f'"member_id":"{self.member[i]}","course_id":"{self.course[i]}","ts":{t}}}\n'
            for j, (i, t) in enumerate(zip(rows, ts[rows].tolist(), strict=True))
        ]


def _deliver(
    ts: np.ndarray,
    kind: np.ndarray,
    lines: list[str],
    first_id: int,
    config: WorldConfig,
    rng: np.random.Generator,
) -> tuple[_Batch, list[int], int]:
    """Arrival times: most events arrive at their event time, `late_share` up to
    `max_late_s` later, and `duplicate_share` are delivered twice (same bytes) within
    MAX_REDELIVERY_MS. Ties in arrival keep generation order (event number, original
    before copy). Returns (batch, indices of late events, number of duplicates)."""
    n = ts.size
    late = np.flatnonzero(rng.random(n) < config.late_share)
    arrival = ts.copy()
    arrival[late] += rng.integers(MIN_LATE_MS, config.max_late_s * 1000 + 1, late.size)
    dup = np.flatnonzero(rng.random(n) < config.duplicate_share)
    seq = (first_id + np.arange(n, dtype=np.int64)) * 2
    batch = _Batch.ordered(
        np.concatenate([arrival, arrival[dup] + rng.integers(0, MAX_REDELIVERY_MS + 1, dup.size)]),
        np.concatenate([seq, seq[dup] + 1]),
        np.concatenate([kind, kind[dup]]),
        lines + [lines[i] for i in dup.tolist()],
    )
    return batch, late.tolist(), int(dup.size)
