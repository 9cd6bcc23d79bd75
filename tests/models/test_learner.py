"""The learner's per-member values: the member as scored is kept until it changes."""

from __future__ import annotations

from models.catalog import Catalog
from models.learner import Learner
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
