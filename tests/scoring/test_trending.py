"""Cohort trends: decayed positives per course of a title or industry cohort, stored as
compact bytes, read as per-catalog-row candidate sources."""

from __future__ import annotations

import numpy as np
import pytest

from models.catalog import Catalog
from models.history import DAY_MS
from models.spec import FeatureSpec
from schemas import Course, Member
from scoring.trending import (
    FORGOTTEN,
    HALF_LIFE_DAYS,
    CohortCounts,
    CohortUpdate,
    Trends,
    cohort_key,
    cohort_updates,
    cohorts_of,
    engage,
)

T0 = 1_767_225_600_000
HALF = int(HALF_LIFE_DAYS * DAY_MS)


def _catalog(n: int) -> Catalog:
    courses = [
        Course(
            course_id=f"c{i}",
            title=f"C{i}",
            skills={"sql": 1.0},
            category="data",
            difficulty="beginner",
            duration_s=600,
            released_at=T0,
        )
        for i in range(n)
    ]
    return Catalog(FeatureSpec(), courses)


def _member(member_id: str, title: str | None = None, industry: str | None = None) -> Member:
    return Member(member_id=member_id, skills={}, title=title, industry=industry)


def _count(c: CohortCounts, course_id: str) -> float:
    return float(c.scores(_catalog(4), c.updated_at)[int(course_id[1:])])


def test_spelling_variants_of_a_title_are_one_cohort_and_kinds_never_collide():
    assert cohort_key("title", "Data Engineer") == cohort_key("title", "data engineer ")
    assert cohort_key("title", "DATA\tengineer") == "title:data engineer"
    assert cohort_key("title", "Software") != cohort_key("industry", "Software")
    assert cohorts_of(_member("m", title="Analyst", industry="Banking")) == (
        "title:analyst",
        "industry:banking",
    )


def test_a_member_without_a_field_is_in_no_cohort_of_that_kind():
    assert cohorts_of(_member("m", industry="Banking")) == (None, "industry:banking")
    assert cohorts_of(None) == (None, None)
    assert cohort_updates(_member("m"), "c1", y=1, ts=T0) == []


def test_only_positives_update_cohorts():
    member = _member("m", title="Analyst", industry="Banking")
    assert cohort_updates(member, "c1", y=0, ts=T0) == []
    assert cohort_updates(member, "c1", y=1, ts=T0) == [
        CohortUpdate("title:analyst", "c1", T0),
        CohortUpdate("industry:banking", "c1", T0),
    ]
    updates = cohort_updates(member, "c1", y=1, ts=T0)
    sent = b"[" + b",".join(u.to_json() for u in updates) + b"]"  # one record of halves
    assert CohortUpdate.many_from_json(sent) == updates


def test_counts_halve_after_one_half_life():
    c = engage(CohortCounts(), "c1", ts=T0)
    c = engage(c, "c1", ts=T0 + HALF)
    c = engage(c, "c2", ts=T0 + HALF)
    assert _count(c, "c1") == pytest.approx(1.5)
    assert _count(c, "c2") == pytest.approx(1.0)
    assert c.updated_at == T0 + HALF


def test_counts_faded_below_the_threshold_are_forgotten():
    c = engage(engage(CohortCounts(), "c1", ts=T0), "c2", ts=T0 + 9 * HALF)
    assert _count(c, "c1") == pytest.approx(2.0**-9) and len(c.keys) == 2
    c = engage(c, "c2", ts=T0 + 11 * HALF)  # c1 at 2^-11 < FORGOTTEN: dropped
    assert len(c.keys) == 1 and _count(c, "c2") == pytest.approx(1.25)
    assert 2.0**-11 < FORGOTTEN < 2.0**-9


def test_a_late_engagement_counts_as_if_it_had_come_in_order():
    events = [("c1", T0), ("c2", T0 + DAY_MS), ("c1", T0 + 3 * DAY_MS), ("c3", T0 + 9 * DAY_MS)]
    in_order, shuffled = CohortCounts(), CohortCounts()
    for course_id, ts in events:
        in_order = engage(in_order, course_id, ts=ts)
    for course_id, ts in reversed(events):
        shuffled = engage(shuffled, course_id, ts=ts)
    assert shuffled.updated_at == in_order.updated_at
    np.testing.assert_array_equal(shuffled.keys, in_order.keys)
    np.testing.assert_allclose(shuffled.counts, in_order.counts)


def test_engage_does_not_mutate_the_previous_state():
    before = engage(CohortCounts(), "c1", ts=T0)
    raw = before.to_bytes()
    engage(before, "c1", ts=T0 + DAY_MS)
    engage(before, "c2", ts=T0 - DAY_MS)
    assert before.to_bytes() == raw


def test_counts_round_trip_as_bytes_and_check_their_version():
    c = engage(engage(CohortCounts(), "c2", ts=T0), "c1", ts=T0 + 5)
    raw = c.to_bytes()
    assert len(raw) == 13 + 2 * 16  # header, then a key and a count per course
    back = CohortCounts.from_bytes(raw)
    assert back == c and back.updated_at == T0 + 5
    np.testing.assert_array_equal(back.counts, c.counts)
    assert CohortCounts.from_bytes(CohortCounts().to_bytes()) == CohortCounts()
    with pytest.raises(ValueError, match="version 2"):
        CohortCounts.from_bytes(b"\x02" + raw[1:])


def test_scores_are_per_catalog_row_faded_to_the_scoring_time():
    catalog = _catalog(4)
    c = engage(engage(CohortCounts(), "c2", ts=T0), "c2", ts=T0)
    c = engage(c, "c0", ts=T0)
    c = engage(c, "gone", ts=T0)  # a course the catalog does not hold
    np.testing.assert_allclose(c.scores(catalog, T0), [1.0, 0.0, 2.0, 0.0])
    np.testing.assert_allclose(c.scores(catalog, T0 + 2 * HALF), [0.25, 0.0, 0.5, 0.0])
    np.testing.assert_allclose(c.scores(catalog, T0 - HALF), [1.0, 0.0, 2.0, 0.0])  # never grows
    assert c.scores(_catalog(0), T0).shape == (0,)


def test_trends_give_a_member_their_own_cohorts_only():
    catalog = _catalog(3)
    trends = Trends()
    trends.learn(_member("a", title="Data Engineer", industry="Retail"), "c1", y=1, ts=T0)
    trends.learn(_member("b", title="Nurse", industry="Health"), "c2", y=1, ts=T0)
    trends.learn(_member("c", title="Nurse"), "c0", y=0, ts=T0)  # a negative: not counted
    title, industry = trends.sources(_member("x", title=" data engineer"), catalog, T0)
    np.testing.assert_array_equal(title, [0.0, 1.0, 0.0])
    assert industry is None  # no industry on the profile
    title, industry = trends.sources(_member("y", title="Pilot", industry="Health"), catalog, T0)
    assert title is None  # a cohort nobody engaged in yet
    np.testing.assert_array_equal(industry, [0.0, 0.0, 1.0])
    assert trends.sources(None, catalog, T0) == (None, None)
