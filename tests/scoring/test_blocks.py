"""The block path (`Recommender.recommend_many`) gives every member the record the
one-member code gave them alone (`tests/scoring/reference.py`): same courses in the same
order, scores to float tolerance, same reasons, whatever the block, catalog and member."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.catalog import Catalog
from models.history import DAY_MS, CourseStats
from models.learner import Learner, dismiss, provisional_click
from models.scorer import Scorer
from models.synthetic import T0, planted_records
from models.train import train_from_labels
from schemas import DIFFICULTIES, Click, Course, Dismissal, Member, Recommendations
from scoring.recommend import Recommender, parse_treatments
from scoring.trending import Trends
from tests.scoring import reference

CHANNELS = ("email", "feed", "learning_home")
SKILLS = ("sql", "python", "stats", "design", "spark", "excel")  # few: shared buckets, ties
TITLES = ("analyst", "nurse", None)
TS = T0 + 20 * DAY_MS
SPLITS = (
    '{"feed": {"glmix": 1}, "email": {"glmix": 1}, "learning_home": {"glmix": 1}}',
    '{"feed": {"glmix": 0.5, "glmix-thompson": 0.5}, "email": {"popular": 0.5, "glmix": 0.5},'
    ' "learning_home": {"glmix-thompson": 1}}',
    '{"feed": {"popular": 1}, "email": {"glmix-thompson": 1}, "learning_home": {"glmix": 1}}',
)


@pytest.fixture(scope="module")
def model():
    courses, members, labels = planted_records(n_members=40, n_courses=30, n_labels=1500)
    return train_from_labels(labels, courses, members, min_examples=5)


skill_maps = st.dictionaries(st.sampled_from(SKILLS), st.sampled_from([0.5, 1.0, 2.0]), max_size=3)


@st.composite
def courses(draw) -> list[Course]:
    n = draw(st.integers(1, 30))
    released = draw(st.lists(st.integers(-5, 60), min_size=n, max_size=n))
    return [
        Course(
            course_id=f"c{i}",  # the model knows some of these ids: their beta_c
            title=f"Course {i}",
            skills=draw(skill_maps),
            category=draw(st.sampled_from(["data", "design", "ops"])),
            difficulty=draw(st.sampled_from(DIFFICULTIES)),
            duration_s=float(draw(st.sampled_from([900, 3600, 36_000]))),
            # distinct times: no two courses score exactly alike under GLMix
            released_at=TS - days * DAY_MS - i * 1000,
            retired=draw(st.booleans()) and draw(st.booleans()),
        )
        for i, days in enumerate(released)
    ]


@st.composite
def members(draw, n_courses: int) -> list[tuple[Member, list[int], list[int], int]]:
    """(profile, clicked courses, dismissed courses, seconds since TS) per member."""
    out = []
    for i in range(draw(st.integers(1, 6))):
        member = Member(
            member_id=f"m{i}",
            skills=draw(skill_maps),
            title=draw(st.sampled_from(TITLES)),
            industry=draw(st.sampled_from(["tech", None])),
            seniority=draw(st.none() | st.integers(0, 9)),
            followed_skills=tuple(draw(st.lists(st.sampled_from(SKILLS), max_size=2, unique=True))),
        )
        course = st.integers(0, n_courses - 1)
        clicked = draw(st.lists(course, max_size=4))
        dismissed = draw(st.lists(course, max_size=3))
        out.append((member, clicked, dismissed, draw(st.integers(0, 3600))))
    return out


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_block_gives_every_member_what_the_one_member_code_gives(model, data):
    catalog_courses = data.draw(courses())
    catalog = Catalog(model.spec, catalog_courses)
    impressions = data.draw(st.lists(st.sampled_from([0, 3, 40]), min_size=len(catalog)))
    for row, n in zip(range(len(catalog)), impressions, strict=False):
        catalog.set_stats(row, CourseStats(impressions=float(n)))
    learner = Learner(Scorer(model, catalog))
    trends = Trends()
    treatments = parse_treatments(data.draw(st.sampled_from(SPLITS)), CHANNELS)
    rec = Recommender(
        learner,
        treatments,
        k=data.draw(st.integers(1, 8)),
        candidates=data.draw(st.integers(1, len(catalog) + 2)),
        trends=trends,
    )
    ids, states = [], []
    for member, clicked, dismissed, after_s in data.draw(members(len(catalog))):
        state = learner.new_member(member)
        for j, row in enumerate(clicked):
            course_id = catalog.ids[row]
            click = Click(
                event_id=f"{member.member_id}-{j}",
                member_id=member.member_id,
                course_id=course_id,
                channel="feed",
                ts=TS + j,
            )
            learner.learn_member(state, provisional_click(click))
            trends.learn(member, course_id, 1, TS + j)
        for row in dismissed:
            d = Dismissal(
                event_id="d", member_id=member.member_id, course_id=catalog.ids[row], ts=TS
            )
            dismiss(state, d)
        state.seen_at = TS + after_s * 1000 if state.seen_at or after_s else 0
        ids.append(member.member_id)
        states.append(state)
    order = data.draw(st.permutations(range(len(ids))))
    block = rec.recommend_many([ids[i] for i in order], [states[i] for i in order], now=TS)
    for i, rescored in zip(order, block, strict=True):
        got = Recommendations.model_validate_json(rescored.record)
        want = reference.recommend(rec, ids[i], states[i], now=TS)
        assert got.member_id == want.member_id and rescored.courses == got.courses
        assert len(got.lists) == len(want.lists)
        for g, w in zip(got.lists, want.lists, strict=True):
            assert (g.channel, g.model_id) == (w.channel, w.model_id)
            assert [got.courses[j] for j in g.items] == [want.courses[j] for j in w.items]
            assert [got.reasons[j] for j in g.reasons] == [want.reasons[j] for j in w.reasons]
            np.testing.assert_allclose(g.scores, w.scores, atol=2e-6)


def test_a_record_is_the_bytes_the_schema_dumps(model):
    courses, members, _ = planted_records(n_members=5, n_courses=40, n_labels=10)
    learner = Learner(Scorer(model, Catalog(model.spec, courses)))
    rec = Recommender(learner, parse_treatments(SPLITS[1], CHANNELS), k=5)
    states = [learner.new_member(m) for m in members]
    block = rec.recommend_many([m.member_id for m in members], states, T0)
    for m, r in zip(members, block, strict=True):
        parsed = Recommendations.model_validate_json(r.record)
        assert parsed.model_dump_json().encode() == r.record
        assert parsed == reference.recommend(rec, m.member_id, learner.new_member(m), T0)
