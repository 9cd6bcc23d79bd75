"""The learner: the member as scored kept until it changes; member halves learned together
equal to the same halves learned one label at a time."""

from __future__ import annotations

import numpy as np

from models.catalog import Catalog
from models.learner import CourseState, Learner
from models.scorer import Scorer
from models.synthetic import planted_records
from models.train import train_from_labels
from schemas import Member


def test_member_as_scored_is_kept_until_profile_or_effective_skills_change():
    courses, members, labels = planted_records(n_members=10, n_courses=10, n_labels=400)
    model = train_from_labels(labels, courses, members, min_examples=5)
    extra = {"sql": 1.0}
    learner = Learner(Scorer(model, Catalog(model.spec, courses)), lambda m: {**m.skills, **extra})
    state = learner.new_member(Member(member_id="m1", skills={"python": 1.0}))
    first = learner.member("m1", state)
    assert first.skills == {"python": 1.0, "sql": 1.0}
    assert learner.member("m1", state) is first
    assert learner.profile("m1", state) is learner.profile("m1", state)
    extra["sql"] = 2.0  # the member's cohorts changed
    assert learner.member("m1", state).skills["sql"] == 2.0
    state.member = Member(member_id="m1", skills={"go": 1.0})  # a new profile
    assert learner.member("m1", state).skills == {"go": 1.0, "sql": 2.0}


def test_learn_members_equals_learning_each_label_in_order():
    courses, members, labels = planted_records(n_members=30, n_courses=20, n_labels=1500)
    model = train_from_labels(labels[:1000], courses, members, min_examples=5)
    learner = Learner(Scorer(model, Catalog(model.spec, courses)))
    stream = labels[1000:1300]  # members repeat: a member's labels go in rounds
    stream.insert(7, stream[3].model_copy(update={"course_id": "not-in-the-catalog"}))
    assert len({lb.member_id for lb in stream}) < len(stream)
    by_member = {m.member_id: m for m in members}

    def states():
        return {m: learner.new_member(by_member[m]) for m in {lb.member_id for lb in stream}}

    alone, together = states(), states()
    one_by_one = [learner.learn_member(alone[lb.member_id], lb) for lb in stream]
    at_once = learner.learn_members([(together[lb.member_id], lb) for lb in stream])

    assert [u is None for u in at_once] == [u is None for u in one_by_one]
    assert sum(u is None for u in at_once) == 1
    for a, b in zip(one_by_one, at_once, strict=True):
        if a is not None:
            assert (a.course_id, a.y, a.ts, a.x_m) == (b.course_id, b.y, b.ts, b.x_m)
            assert abs(a.offset - b.offset) < 1e-9
    for member_id, a in alone.items():
        b = together[member_id]
        assert a.history == b.history and a.engaged == b.engaged and a.seen_at == b.seen_at
        np.testing.assert_allclose(a.alpha.mean, b.alpha.mean, rtol=1e-5, atol=1e-7)
        assert a.alpha.n_seen == b.alpha.n_seen > 0


def test_learn_courses_equals_learning_each_update_in_order():
    courses, members, labels = planted_records(n_members=30, n_courses=20, n_labels=1500)
    model = train_from_labels(labels[:1000], courses, members, min_examples=5)
    learner = Learner(Scorer(model, Catalog(model.spec, courses)))
    by_member = {m.member_id: m for m in members}
    course_id = labels[1000].course_id
    updates = [
        learner.learn_member(learner.new_member(by_member[lb.member_id]), lb)
        for lb in labels[1000:]
        if lb.course_id == course_id
    ]
    assert len(updates) > 3 and {u.y for u in updates} == {0, 1}
    one_by_one = CourseState()
    for update in updates:
        one_by_one = learner.learn_course(one_by_one, update)
    at_once = learner.learn_courses(CourseState(), updates)
    assert at_once.to_bytes() == one_by_one.to_bytes()
    assert at_once.beta.n_seen == len(updates) and at_once.stats.impressions > 0
    assert learner.learn_courses(at_once, []) is at_once
