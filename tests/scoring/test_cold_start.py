"""Cold start: lists from the prior model with the profile blended with its cohorts'
skills, effects learned from zero, and the first trained version rolled in over it."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from models.catalog import Catalog
from models.learner import CourseState, Learner, MemberState, provisional_click
from models.prior import PRIOR_VERSION, prior_model
from models.scorer import Scorer
from models.spec import FeatureSpec
from models.synthetic import T0
from models.train import train_from_labels
from nearline.config import Settings
from schemas import Click, Course, Label, Member
from scoring.cohort_skills import CohortSkillTable
from scoring.recommend import Recommender, single_variant
from streams.served import Served

DAY_MS = 86_400_000
CATEGORIES = {"data": ("sql", "excel"), "design": ("figma", "color"), "code": ("python", "git")}


def _courses() -> list[Course]:
    out = []
    for category, skills in CATEGORIES.items():
        for i in range(8):
            out.append(
                Course(
                    course_id=f"{category}{i}",
                    title=f"{category.title()} {i}",
                    skills={skills[i % 2]: 1.0},
                    category=category,
                    difficulty="beginner",
                    duration_s=600 + 60 * i,
                    released_at=T0 - 400 * DAY_MS,
                )
            )
    return out


def _recommender(table: CohortSkillTable | None = None, k: int = 10) -> Recommender:
    courses = _courses()
    spec = FeatureSpec.for_courses(courses)
    skills_of = None if table is None else table.effective_skills
    learner = Learner(Scorer(prior_model(spec), Catalog(spec, courses)), skills_of)
    return Recommender(learner, single_variant({"feed"}), k=k, model_version=PRIOR_VERSION)


def _feed(rec: Recommender, member_id: str, state: MemberState, now: int = T0) -> list:
    return rec.recommend(member_id, state, now).view("feed").items


def _category(course_id: str) -> str:
    return course_id.rstrip("0123456789")


def test_a_member_without_skills_gets_their_title_cohorts_skills_as_reasons():
    table = CohortSkillTable()
    for i in range(3):
        table.learn(None, Member(member_id=f"a{i}", skills={"figma": 1.0}, title="Designer"))
    table.learn(None, Member(member_id="b", skills={"python": 1.0}, title="Engineer"))
    rec = _recommender(table)
    newcomer = Member(member_id="new", skills={}, title="designer ")
    items = _feed(rec, "new", rec.learner.new_member(newcomer))
    reasons = Counter(i.reason for i in items)
    assert reasons["Because of your skill figma"] >= 4
    assert {i.course_id for i in items[:4]} <= {f"design{i}" for i in range(0, 8, 2)}
    # without the cohort table the same member has no skill to be recommended by
    plain = _recommender()
    items = _feed(plain, "new", plain.learner.new_member(newcomer))
    assert not any("skill" in i.reason for i in items)


def test_a_member_with_skills_blends_them_with_their_cohorts():
    table = CohortSkillTable(profile_weight=1.0, cohort_weight=0.5)
    table.learn(None, Member(member_id="a", skills={"git": 1.0}, title="Engineer"))
    rec = _recommender(table, k=20)
    member = Member(member_id="m", skills={"sql": 1.0}, title="Engineer")
    reasons = {i.reason for i in _feed(rec, "m", rec.learner.new_member(member))}
    assert {"Because of your skill sql", "Because of your skill git"} <= reasons
    assert rec.learner.member("m", rec.learner.new_member(member)).skills["sql"] > 0.5


def test_a_profile_is_encoded_anew_when_its_record_or_its_cohorts_skills_change():
    table = CohortSkillTable()
    learner = _recommender(table).learner
    state = MemberState.empty(0)
    state.member = Member(member_id="m1", skills={}, title="Analyst")
    before = learner.profile("m1", state)
    assert learner.profile("m1", state) is before  # nothing changed: kept
    table.learn(None, Member(member_id="m2", skills={"sql": 1.0}, title="Analyst"))
    cohort = learner.profile("m1", state)
    assert cohort is not before and cohort.skill_pair[:, 0].any()
    state.member = state.member.model_copy()  # the same record decoded again
    assert learner.profile("m1", state) is cohort
    state.member = Member(member_id="m1", skills={"figma": 1.0}, title="Analyst")
    assert not np.array_equal(learner.profile("m1", state).skill_pair, cohort.skill_pair)


def test_an_empty_profile_without_cohort_gets_new_and_popular_courses():
    rec = _recommender(CohortSkillTable())
    catalog = rec.learner.scorer.catalog
    catalog.upsert(_courses()[5].model_copy(update={"released_at": T0 - DAY_MS}))
    items = _feed(rec, "x", rec.learner.new_member(Member(member_id="x", skills={})))
    assert items[0].course_id == "data5" and items[0].reason == "New"
    assert {i.reason for i in items} <= {"New", "Popular"}


def _click(member_id: str, course_id: str, ts: int) -> Label:
    click = Click(
        event_id=f"{member_id}-{course_id}-{ts}",
        member_id=member_id,
        course_id=course_id,
        channel="feed",
        ts=ts,
    )
    return provisional_click(click)


def test_clicks_move_a_list_learned_from_zero():
    """A member whose profile says data but who clicks design: after a few clicks the
    list holds more design than the cold-start one, through both effects learned from
    the prior (alpha_m from zero, beta_c of the clicked courses from zero)."""
    rec = _recommender(CohortSkillTable())
    learner = rec.learner
    state = learner.new_member(Member(member_id="m", skills={"sql": 1.0, "excel": 1.0}))
    before = [_category(i.course_id) for i in _feed(rec, "m", state)]
    courses: dict[str, CourseState] = {}
    for n, course_id in enumerate(["design0", "design1", "design2", "design3"]):
        update = learner.learn_member(state, _click("m", course_id, T0 + n * 60_000))
        courses[course_id] = learner.learn_course(courses.get(course_id, CourseState()), update)
    after = [_category(i.course_id) for i in _feed(rec, "m", state, T0 + 3_600_000)]
    assert before.count("design") < after.count("design")
    assert after.count("design") >= 2 * max(before.count("design"), 1)
    assert state.alpha is not None and np.abs(state.alpha.mean).sum() > 0
    beta = courses["design0"].beta
    assert beta is not None and np.abs(beta.mean).sum() > 0


def test_a_worker_serves_the_prior_until_a_version_is_written(tmp_path):
    served = Served(replace(Settings(), model_dir=tmp_path / "models"))
    assert served.recommender is None and served.model_name is None
    served.start_cold()  # no course yet: nothing to serve
    assert served.recommender is None
    courses = _courses()
    served.upsert(courses)
    served.start_cold()
    assert served.model_name == PRIOR_VERSION and served.artifact is None
    served.roll_in()  # the folder holds no version yet: the prior stays
    assert served.model_name == PRIOR_VERSION
    catalog = served.learner.scorer.catalog
    members = [Member(member_id="m", skills={"sql": 1.0})]
    labels = [
        _click("m", c.course_id, T0).model_copy(update={"label": int(c.category == "data")})
        for c in courses
    ]
    model = train_from_labels(labels, courses, members, min_examples=1)
    model.save(tmp_path / "models" / "v0001")
    served.roll_in()
    assert served.model_name == "v0001" and served.learner.scorer.model.members.ids == ["m"]
    assert served.learner.scorer.catalog is catalog  # same spec: catalog and counters stay
    record = served.recommender.recommend("m", served.learner.new_member(members[0]), T0)
    assert record.view("feed").model_id == "glmix-v0001"


def test_a_worker_without_a_model_folder_serves_the_prior():
    served = Served(Settings())
    served.upsert(_courses())
    served.start_cold()
    served.roll_in()
    assert served.model_name == PRIOR_VERSION
    record = served.recommender.recommend("m", served.learner.new_member(), T0)
    assert record.view("feed").model_id == "glmix-prior"


@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_the_cohort_weight_comes_from_the_settings(weight):
    served = Served(replace(Settings(), cohort_skill_weight=weight))
    served.cohort_skills.learn(None, Member(member_id="a", skills={"git": 1.0}, title="Eng"))
    skills = served.cohort_skills.effective_skills(
        Member(member_id="m", skills={"sql": 1.0}, title="Eng")
    )
    assert skills.get("git", 0.0) == pytest.approx(weight)


def test_a_version_with_a_new_category_rolls_in_over_states_learned_under_the_prior(tmp_path):
    served = Served(replace(Settings(), model_dir=tmp_path))
    courses = _courses()
    served.upsert(courses)
    served.start_cold()
    state = served.learner.new_member(Member(member_id="m", skills={"sql": 1.0}))
    for n, course in enumerate(courses[:3]):
        served.learner.learn_member(state, _click("m", course.course_id, T0 + n))
    old_dims = len(state.alpha.mean)
    added = courses[0].model_copy(update={"course_id": "video0", "category": "video"})
    served.upsert([added])
    labels = [_click("x", c.course_id, T0).model_copy(update={"label": n % 2})
              for n, c in enumerate([*courses, added])]  # fmt: skip
    members = [Member(member_id="x", skills={})]
    train_from_labels(labels, [*courses, added], members, min_examples=1).save(tmp_path / "v0001")
    served.roll_in()
    learner = served.learner
    assert learner.spec.categories == ("code", "data", "design", "video")
    assert learner.scorer.catalog.category[learner.scorer.catalog.row("video0")] == 3
    record = served.recommender.recommend("m", state, T0 + 10)  # the state is laid out anew
    assert record.view("feed").model_id == "glmix-v0001" and record.view("feed").items
    assert learner.learn_member(state, _click("m", "video0", T0 + 20)) is not None
    assert len(state.alpha.mean) == learner.spec.dims[0] == old_dims + 1
