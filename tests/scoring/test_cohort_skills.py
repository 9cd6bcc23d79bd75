"""Cohort skills: learned from profiles, corrected when a profile changes, blended."""

from __future__ import annotations

import numpy as np
import pytest

from nearline.config import Settings
from schemas import Member
from scoring.cohort_skills import CohortSkills, CohortSkillTable, SkillUpdate, skill_updates


def member(mid: str, skills: dict[str, float], title: str | None = "Analyst", **kw) -> Member:
    return Member(member_id=mid, skills=skills, title=title, **kw)


def test_a_member_without_skills_gets_their_title_cohorts_skills():
    table = CohortSkillTable()
    table.learn(None, member("m1", {"sql": 1.0}))
    table.learn(None, member("m2", {"sql": 1.0, "excel": 1.0}))
    table.learn(None, member("m3", {"figma": 1.0}, title="Designer"))
    skills = table.effective_skills(member("new", {}, title="  analyst "))
    assert list(skills) == ["excel", "sql"] and skills["sql"] == pytest.approx(2 * skills["excel"])


def test_a_members_skills_follow_their_cohorts_changes_and_only_theirs():
    table = CohortSkillTable()
    table.learn(None, member("m1", {"sql": 1.0}))
    table.learn(None, member("d1", {"figma": 1.0}, title="Designer"))
    analyst, designer = member("new", {"git": 1.0}), member("d2", {}, title="Designer")
    first = table.effective_skills(analyst)
    assert set(first) == {"git", "sql"}
    assert table.effective_skills(designer) == {"figma": 1.0}
    blend = table.cohort_skills(designer)
    table.learn(None, member("m2", {"excel": 1.0}))  # the analysts' cohort changes
    assert set(table.effective_skills(analyst)) == {"git", "sql", "excel"}
    assert table.cohort_skills(designer) is blend  # another cohort's change leaves it
    assert table.effective_skills(analyst.model_copy(update={"skills": {}})) == {
        "sql": pytest.approx(0.7071067811865475),
        "excel": pytest.approx(0.7071067811865475),
    }


def test_a_changed_profile_takes_its_old_skills_out_of_its_old_cohort():
    table = CohortSkillTable()
    before = member("m1", {"sql": 1.0})
    table.learn(None, before)
    table.learn(None, member("m2", {"excel": 1.0}))
    moved = member("m1", {"python": 1.0}, title="Engineer")
    table.learn(before, moved)
    assert table.cohorts["title:analyst"].mean() == {"excel": 1.0}
    assert table.cohorts["title:engineer"].mean() == {"python": 1.0}
    table.learn(moved, None)  # a deleted profile leaves no trace
    assert (
        table.cohorts["title:engineer"].mean() == {}
        and table.cohorts["title:engineer"].skills == ()
    )


def test_learning_in_any_order_of_members_gives_the_same_cohort():
    profiles = [member(f"m{i}", {f"s{i % 3}": 0.5 + i / 10, "sql": 1.0}) for i in range(6)]
    a, b = CohortSkillTable(), CohortSkillTable()
    for p in profiles:
        a.learn(None, p)
    for p in reversed(profiles):
        b.learn(None, p)
    assert a.cohorts["title:analyst"].mean() == pytest.approx(b.cohorts["title:analyst"].mean())


def test_blend_weighs_profile_and_cohort_by_the_deltas():
    table = CohortSkillTable(profile_weight=1.0, cohort_weight=0.25)
    table.learn(None, member("m1", {"sql": 1.0}, industry="Finance"))
    skills = table.effective_skills(member("m2", {"python": 1.0}, industry="finance"))
    assert skills == {"python": 1.0, "sql": pytest.approx(0.25)}
    alone = CohortSkillTable().effective_skills(member("m3", {"go": 2.0}, title=None))
    assert alone == {"go": 2.0}, "no cohort: the profile's own skills"


def test_title_and_industry_cohorts_count_alike():
    table = CohortSkillTable()
    table.learn(None, member("m1", {"sql": 1.0}, title="Analyst"))
    table.learn(None, member("m2", {"excel": 1.0}, title=None, industry="Finance"))
    skills = table.effective_skills(member("m3", {}, title="analyst", industry="finance"))
    assert skills == {"excel": pytest.approx(0.5**0.5), "sql": pytest.approx(0.5**0.5)}


def test_unchanged_cohort_and_skills_send_nothing():
    a = member("m1", {"sql": 1.0}, industry="Tech")
    assert skill_updates(a, a.model_copy(update={"seniority": 4})) == []
    retitled = a.model_copy(update={"title": "Engineer"})
    assert [(u.cohort, u.sign) for u in skill_updates(a, retitled)] == [
        ("title:analyst", -1),
        ("title:engineer", 1),
    ]


def test_state_and_updates_round_trip_through_bytes():
    c = CohortSkills()
    for u in skill_updates(None, member("m1", {"sql": 0.3, "données": 1.0, "c++": 0.7})):
        c = c.apply(u)
    assert CohortSkills.from_bytes(c.to_bytes()) == c and c.members == 1
    assert CohortSkills.from_bytes(c.to_bytes()).mean() == c.mean()
    u = SkillUpdate("industry:tech", {"sql": 0.5}, -1)
    assert SkillUpdate.from_json(u.to_json()) == u


def test_another_state_version_is_refused():
    raw = bytearray(CohortSkills().to_bytes())
    raw[0] = 9
    with pytest.raises(ValueError, match="CohortSkills version 9 is not supported"):
        CohortSkills.from_bytes(bytes(raw))


def test_the_deltas_come_from_the_settings():
    env = {"NEARLINE_PROFILE_SKILL_WEIGHT": "0.8", "NEARLINE_COHORT_SKILL_WEIGHT": "0.2"}
    table = Settings.from_env(env).cohort_skill_table()
    assert (table.profile_weight, table.cohort_weight) == (0.8, 0.2)


def test_a_member_is_blended_with_their_cohorts_heaviest_skills_only():
    table = CohortSkillTable(top=2)
    table.learn(None, member("m1", {"sql": 1.0, "excel": 0.5, "vba": 0.1}))
    assert list(table.effective_skills(member("new", {}))) == ["excel", "sql"]


def test_a_cohort_follows_profiles_in_and_out_as_sums_from_scratch_do():
    """Profiles come and go (skills new to the cohort, skills taken back to 0): the
    state equals the sums taken over the profiles still in, bytes and all."""
    rng = np.random.default_rng(8)
    names = [f"s{i}" for i in range(12)]
    profiles = [
        {str(n): float(rng.integers(1, 4)) / 4 for n in rng.choice(names, 3, replace=False)}
        for _ in range(40)
    ]
    state, inside, shrank = CohortSkills(), [], 0
    for step in range(200):
        before = len(state.skills)
        if inside and rng.random() < 0.45:
            skills = inside.pop(int(rng.integers(len(inside))))
            state = state.apply(SkillUpdate("title:analyst", skills, -1))
        else:
            skills = profiles[step % len(profiles)]
            inside.append(skills)
            state = state.apply(SkillUpdate("title:analyst", skills, 1))
        totals: dict[str, float] = {}
        for p in inside:
            for name, w in p.items():
                totals[name] = totals.get(name, 0.0) + w
        kept = sorted(n for n, v in totals.items() if abs(v) > 1e-9)
        assert state.skills == tuple(kept) and state.members == len(inside)
        np.testing.assert_allclose(state.sums, [totals[n] for n in kept], atol=1e-12)
        assert CohortSkills.from_bytes(state.to_bytes()) == state
        shrank += len(state.skills) < before
    assert shrank > 0  # skills taken back to 0 left the cohort on the way
