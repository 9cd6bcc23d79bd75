import numpy as np
import pytest

from models.catalog import Catalog
from models.history import DAY_MS, CourseStats
from models.spec import FeatureSpec, bucket
from schemas import Course
from scoring.candidates import Signals, generate

TS = 1_767_225_600_000 + 400 * DAY_MS
SKILLS = {  # course -> (skills, age in days); each skill has its own hash bucket
    "c0": (("sql",), 100),
    "c1": (("sql", "statistics"), 100),
    "c2": (("python",), 100),
    "c3": (("design", "figma"), 100),
    "c4": (("spark",), 5),
    "c5": (("sql",), 100),
    "c6": (("statistics",), 100),
}


@pytest.fixture
def catalog() -> Catalog:
    names = {s for skills, _ in SKILLS.values() for s in skills}
    assert len({bucket(s, 16, "skill") for s in names}) == len(names)
    courses = [
        Course(
            course_id=cid,
            title=f"Course {cid}",
            skills=dict.fromkeys(skills, 1.0),
            category="data",
            difficulty="beginner",
            duration_s=3600,
            released_at=TS - age * DAY_MS,
            retired=cid == "c5",
        )
        for cid, (skills, age) in SKILLS.items()
    ]
    return Catalog(FeatureSpec(categories=("data",)), courses)


def served(catalog: Catalog, signals: Signals, limit: int = 1000) -> dict[str, str]:
    c = generate(catalog, signals, TS, limit)
    return dict(zip([catalog.ids[r] for r in c.rows], c.reasons(), strict=True))


def test_skill_affinity_proposes_courses_sharing_a_skill_and_never_retired_ones(catalog):
    got = served(catalog, Signals(skills={"sql": 1.0}))
    assert got == {
        "c0": "Because of your skill sql",
        "c1": "Because of your skill sql",
        "c4": "New",
    }


def test_dismissed_courses_are_removed_from_every_source(catalog):
    got = served(catalog, Signals(skills={"sql": 1.0}, dismissed=(catalog.row("c0"),)))
    assert set(got) == {"c1", "c4"}


def test_courses_similar_to_an_engaged_one_give_because_you_watched(catalog):
    got = served(catalog, Signals(engaged=((catalog.row("c6"), "Stats 101"),)))
    assert got["c1"] == "Because you watched Stats 101"
    assert "c6" not in got  # not similar to itself, and no other source proposes it


def test_followed_skills_trending_new_and_popular_each_give_their_reason(catalog):
    catalog.set_stats(catalog.row("c2"), CourseStats(impressions=500.0, clicks=20.0))
    industry = np.zeros(len(catalog))
    industry[catalog.row("c6")] = 12.0
    got = served(catalog, Signals(followed=("figma",), trending_industry=industry))
    assert got == {
        "c2": "Popular",
        "c3": "Because you follow figma",
        "c4": "New",
        "c6": "Trending in your industry",
    }


def test_each_candidate_takes_the_source_that_ranks_it_best_among_the_candidates(catalog):
    title = np.arange(len(catalog), dtype=float)  # c6 trends most, c0 not at all
    c = generate(catalog, Signals(skills={"sql": 2.0}, trending_title=title), TS)
    assert c.labels == (
        "Because of your skill sql",
        "Trending for your job title",
        "New",
        "Popular",
    )
    got = dict(zip([catalog.ids[r] for r in c.rows], c.reasons(), strict=True))
    # c1: 2nd for sql, 5th trending; c4: 2nd trending, 1st new
    assert got == {
        "c0": "Because of your skill sql",
        "c1": "Because of your skill sql",
        "c2": "Trending for your job title",
        "c3": "Trending for your job title",
        "c4": "New",
        "c6": "Trending for your job title",
    }


def test_the_cap_keeps_the_best_of_every_source_before_the_rest_of_any(catalog):
    title = np.arange(len(catalog), dtype=float)  # scores every live course, best last
    c = generate(catalog, Signals(skills={"statistics": 1.0}, trending_title=title), TS, 3)
    kept = {catalog.ids[r] for r in c.rows}
    # 1st of each source: c6 (statistics), c6 (trending), c4 (new), then 2nd places: c1, c4
    assert kept == {"c6", "c4", "c1"}


def test_an_empty_signal_still_offers_new_courses(catalog):
    assert served(catalog, Signals()) == {"c4": "New"}
