import numpy as np
import pytest

from models.history import DAY_MS, CourseStats, MemberHistory, count, course_key, observe


def seen(h, course_ids, start=0, y=0):
    for i, c in enumerate(course_ids):
        h = observe(
            h, category=0, key=course_key(c), y=y, ts=start + i, half_life_days=30, capacity=3
        )
    return h


def test_history_keeps_only_the_most_recently_seen_courses():
    h = seen(MemberHistory.empty(2), ["a", "b", "c", "a", "d"])
    kept = {int(k) for k in h.course_keys}
    assert kept == {course_key(c) for c in ["a", "c", "d"]}
    assert list(h.course_keys) == sorted(h.course_keys)
    assert h.imp_counts[list(h.course_keys).index(course_key("a"))] == 2


def test_category_engagement_halves_after_one_half_life():
    h = observe(MemberHistory.empty(2), category=1, key=1, y=1, ts=0, half_life_days=30, capacity=8)
    h = observe(h, category=0, key=2, y=1, ts=30 * DAY_MS, half_life_days=30, capacity=8)
    np.testing.assert_allclose(h.category_counts, [1.0, 0.5])


def test_observe_does_not_mutate_the_previous_state():
    before = seen(MemberHistory.empty(2), ["a"], y=1)
    raw = before.to_bytes()
    seen(before, ["a", "b"], start=10, y=1)
    assert before.to_bytes() == raw


def test_member_history_round_trips_and_checks_its_version():
    h = seen(MemberHistory.empty(4), ["a", "b", "a"], start=1_767_225_600_000, y=1)
    back = MemberHistory.from_bytes(h.to_bytes())
    assert back == h and back.updated_at == h.updated_at
    np.testing.assert_array_equal(back.last_seen, h.last_seen)
    with pytest.raises(ValueError, match="version 2"):
        MemberHistory.from_bytes(bytes([2]) + h.to_bytes()[1:])


def test_course_stats_count_decays_and_round_trips():
    s = count(CourseStats(), y=1, ts=0, half_life_days=10)
    s = count(s, y=0, ts=10 * DAY_MS, half_life_days=10)
    assert (s.impressions, s.clicks) == pytest.approx((1.5, 0.5))
    assert CourseStats.from_bytes(s.to_bytes()) == s
    assert s.ctr(prior=0.1, strength=0.0) == pytest.approx(1 / 3)
