"""Ranked source lists follow catalog changes by patching the changed course into the
lists it is or was in, and end up as if built afresh."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.catalog import Catalog
from models.history import CourseStats
from models.spec import FeatureSpec, bucket
from models.synthetic import planted_records
from scoring.sources import Ranked, SourceLists

SPEC = FeatureSpec(categories=("data", "design", "business", "dev", "ops"))
SKILLS = [f"skill{i}" for i in range(40)]


def _same_prefix(patched: Ranked, fresh: Ranked) -> None:
    """`patched` is a prefix of the fresh list that does not split equal scores."""
    n = len(patched)
    np.testing.assert_array_equal(patched.rows, fresh.rows[:n])
    np.testing.assert_array_equal(patched.values, fresh.values[:n])
    if patched.complete:
        assert n == len(fresh)
    elif n < len(fresh):
        assert fresh.values[n] < patched.values[-1]


def _assert_like_fresh(lists: SourceLists, catalog: Catalog, watched: list[int]) -> None:
    fresh = SourceLists(depth=len(catalog))  # whole lists
    fresh.sync(catalog)
    for k in range(SPEC.skill_buckets):
        _same_prefix(lists.skill(k), fresh.skill(k))
    _same_prefix(lists.released, fresh.released)
    _same_prefix(lists.popular, fresh.popular)
    for row in watched:
        _same_prefix(lists.neighbours(row), fresh.neighbours(row))


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_lists_patched_course_by_course_equal_lists_built_afresh(data):
    courses, _, _ = planted_records(n_members=1, n_courses=40, n_labels=1)
    catalog = Catalog(SPEC, courses)
    lists = SourceLists(depth=data.draw(st.integers(1, 12)))
    lists.sync(catalog)
    watched = data.draw(st.lists(st.integers(0, 39), min_size=1, max_size=6))
    for row in watched:
        lists.neighbours(row)
    for step in range(data.draw(st.integers(1, 6))):
        row = data.draw(st.integers(0, len(catalog) + 1))
        base = courses[row % len(courses)]
        change = {
            "course_id": catalog.ids[row] if row < len(catalog) else f"new{step}-{row}",
            "skills": {s: 1.0 for s in data.draw(st.lists(st.sampled_from(SKILLS), max_size=3))},
            "retired": data.draw(st.booleans()),
            "released_at": base.released_at + data.draw(st.integers(-3, 3)) * 86_400_000,
        }
        catalog.upsert(base.model_copy(update=change))
        for popular in data.draw(st.lists(st.integers(0, len(catalog) - 1), max_size=3)):
            catalog.set_stats(popular, CourseStats(impressions=data.draw(st.sampled_from([0, 5]))))
        lists.sync(catalog)
        _assert_like_fresh(lists, catalog, watched)


def test_a_change_touches_only_the_lists_of_the_changed_course(monkeypatch):
    courses, _, _ = planted_records(n_members=1, n_courses=60, n_labels=1)
    catalog = Catalog(SPEC, courses)
    lists = SourceLists()
    lists.sync(catalog)
    before = [lists.skill(k) for k in range(SPEC.skill_buckets)]
    monkeypatch.setattr(lists, "_rebuild", lambda _: pytest.fail("rebuilt the whole catalog"))
    course = courses[7]
    edited = course.model_copy(update={"skills": {"skill0": 1.0}})
    catalog.upsert(edited)
    lists.sync(catalog)
    touched = {bucket(s, SPEC.skill_buckets, "skill") for s in (*course.skills, "skill0")}
    for k in range(SPEC.skill_buckets):
        assert (lists.skill(k) is before[k]) == (k not in touched)
    assert 7 in lists.skill(bucket("skill0", SPEC.skill_buckets, "skill")).rows
    lists.sync(catalog)  # nothing changed since: nothing patched
    assert all(lists.skill(k) is before[k] for k in set(range(16)) - touched)
