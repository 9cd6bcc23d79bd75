"""The simulator writes valid, deterministic logs whose planted structure is recoverable."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from replay.logs import (
    COURSES_FILE,
    EVENTS_FILE,
    MEMBERS_FILE,
    TRUTH_FILE,
    read_courses,
    read_events,
    read_members,
    read_truth,
)
from replay.simulate import MAX_REDELIVERY_MS, simulate
from replay.world import DAY_MS, WorldConfig
from schemas import Autoplay, Click, Dismissal, Impression

FILES = (COURSES_FILE, MEMBERS_FILE, EVENTS_FILE, TRUTH_FILE)
TINY = WorldConfig(members=300, courses=60, days=3, seed=3)
# Large enough for the statistical checks below, small enough to run in about a second.
MEDIUM = WorldConfig(members=4000, courses=200, days=14, seed=11)


@pytest.fixture(scope="module")
def medium(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("medium")
    return out, simulate(MEDIUM, out, progress=False)


@pytest.fixture(scope="module")
def events(medium: tuple[Path, dict[str, int]]) -> list:
    return list(read_events(medium[0]))


@pytest.fixture(scope="module")
def raw_lines(medium: tuple[Path, dict[str, int]]) -> list[dict]:
    with (medium[0] / EVENTS_FILE).open("rb") as f:
        return [json.loads(line) for line in f]


def _of(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def test_same_seed_writes_identical_bytes(tmp_path: Path) -> None:
    simulate(TINY, tmp_path / "a", progress=False)
    simulate(TINY, tmp_path / "b", progress=False)
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_different_seed_writes_different_logs(tmp_path: Path) -> None:
    simulate(TINY, tmp_path / "a", progress=False)
    simulate(WorldConfig(members=300, courses=60, days=3, seed=4), tmp_path / "b", progress=False)
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "b" / name).read_bytes(), name


@pytest.mark.parametrize(("members", "courses", "days"), [(1, 1, 2), (50, 3, 20)])
def test_tiny_worlds_with_fewer_courses_than_slots_still_write_valid_logs(
    tmp_path: Path, members: int, courses: int, days: int
) -> None:
    config = WorldConfig(members=members, courses=courses, days=days, seed=1)
    counts = simulate(config, tmp_path, progress=False)
    assert sum(1 for _ in read_events(tmp_path)) == sum(
        counts[k] for k in ("impression", "click", "autoplay", "dismissal")
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"members": 0}, "members must be >= 1"),
        ({"seed": -1}, "seed must be >= 0"),
        ({"courses": -1}, "courses must be >= 1"),
        ({"days": 0}, "days must be >= 1"),
        ({"late_share": 1.5}, "late_share must be within"),
        ({"max_late_s": 5}, "max_late_s must be >= 60"),
    ],
)
def test_bad_config_raises_one_line_value_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        WorldConfig(**{"members": 10, "courses": 10, "days": 1, **kwargs})
    assert "\n" not in str(info.value)


def test_every_line_of_every_file_parses(medium: tuple[Path, dict[str, int]], events) -> None:
    out, counts = medium
    assert len(read_courses(out)) == MEDIUM.courses
    assert len(read_members(out)) == MEDIUM.members
    kinds = Counter(e.kind for e in events)
    assert {k: kinds[k] for k in ("impression", "click", "autoplay", "dismissal")} == {
        k: counts[k] for k in ("impression", "click", "autoplay", "dismissal")
    }
    assert min(kinds.values()) > 0
    assert read_truth(out)["config"]["members"] == MEDIUM.members


def test_event_ids_are_unique_except_exact_redeliveries(medium, raw_lines) -> None:
    lines = (medium[0] / EVENTS_FILE).read_bytes().splitlines()
    by_id = defaultdict(set)
    for record, line in zip(raw_lines, lines, strict=True):
        by_id[record["event_id"]].add(line)
    assert all(len(variants) == 1 for variants in by_id.values())
    duplicates = len(lines) - len(by_id)
    assert duplicates == medium[1]["duplicate"]
    assert 0.0025 < duplicates / len(by_id) < 0.0085  # configured 0.5 %


def test_events_are_in_time_order_except_bounded_late_and_redelivered(medium, raw_lines) -> None:
    late = set(read_truth(medium[0])["late_event_ids"])
    assert 0.006 < len(late) / len(raw_lines) < 0.014  # configured 1 %
    seen: set[str] = set()
    latest, out_of_order = 0, 0
    bound = MEDIUM.max_late_s * 1000 + MAX_REDELIVERY_MS
    for record in raw_lines:
        event_id, ts = record["event_id"], record["ts"]
        if ts < latest:
            out_of_order += 1
            assert event_id in late or event_id in seen, event_id
            assert latest - ts <= bound
        seen.add(event_id)
        latest = max(latest, ts)
    assert out_of_order > len(late) / 2  # late events really do arrive after later ones


def test_overall_click_rate_is_realistic(events) -> None:
    ctr = len(_of(events, Click)) / len(_of(events, Impression))
    assert 0.02 < ctr < 0.08


def test_propensities_are_probabilities(events) -> None:
    props = np.array([e.propensity for e in _of(events, Impression)])
    assert ((props > 0) & (props <= 1)).all()
    assert {e.model_id for e in _of(events, Impression)} == {MEDIUM.model_id}


def test_clicks_follow_their_impressions(events) -> None:
    impressions = {e.event_id: e for e in _of(events, Impression)}
    clicks = _of(events, Click)
    with_id = [c for c in clicks if c.impression_id is not None]
    assert 0.6 < len(with_id) / len(clicks) < 0.8  # the rest needs (member, course, channel)
    for c in with_id:
        shown = impressions[c.impression_id]
        assert (shown.member_id, shown.course_id, shown.channel) == (
            c.member_id,
            c.course_id,
            c.channel,
        )
        assert shown.ts < c.ts <= shown.ts + 6 * 3_600_000


def test_unreleased_and_dismissed_courses_are_not_shown(medium, events) -> None:
    released = {c.course_id: c.released_at for c in read_courses(medium[0])}
    assert all(e.ts >= released[e.course_id] for e in _of(events, Impression))
    assert any(r > MEDIUM.start_ms for r in released.values())  # some courses are new
    dismissed_day = {(d.member_id, d.course_id): d.ts // DAY_MS for d in _of(events, Dismissal)}
    assert dismissed_day
    for e in _of(events, Impression):
        day = dismissed_day.get((e.member_id, e.course_id))
        assert day is None or e.ts // DAY_MS <= day


def test_members_with_a_strong_taste_click_that_category_more(medium, events) -> None:
    category = {c.course_id: c.category for c in read_courses(medium[0])}
    strong = read_truth(medium[0])["member_strong_categories"]
    shown, clicked = Counter(), Counter()
    for e in events:
        if isinstance(e, Impression | Click):
            group = "liked" if category[e.course_id] in strong.get(e.member_id, ()) else "other"
            (shown if isinstance(e, Impression) else clicked)[group] += 1
    assert shown["liked"] > 300
    assert clicked["liked"] / shown["liked"] > 2 * clicked["other"] / shown["other"]


def test_members_with_a_high_watch_scale_watch_longer(medium, events) -> None:
    scale = read_truth(medium[0])["member_watch_scale"]
    watched = defaultdict(list)
    for e in _of(events, Autoplay):
        watched[e.member_id].append(e.watched_s)
    high = [np.median(w) for m, w in watched.items() if scale[m] > 1.0]
    low = [np.median(w) for m, w in watched.items() if scale[m] < -1.0]
    assert len(high) > 50 and len(low) > 50
    assert np.median(high) > 2 * np.median(low)
