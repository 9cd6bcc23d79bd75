import numpy as np
import pytest

from models.catalog import Catalog
from models.examples import FeatureState
from models.features import Profile, context, member_course_features
from models.history import DAY_MS, CourseStats
from models.spec import MC_NAMES, FeatureSpec
from models.synthetic import T0, planted_records
from schemas import Course, Label, Member


@pytest.fixture(scope="module")
def world():
    courses, members, _ = planted_records(n_members=5, n_courses=30)
    spec = FeatureSpec.for_courses(courses)
    return spec, courses, members


def col(name):
    return MC_NAMES.index(name)


def test_vectorised_features_equal_one_candidate_at_a_time(world):
    spec, courses, members = world
    state = FeatureState(
        Catalog(spec, courses), {m.member_id: Profile.of(spec, m) for m in members}
    )
    for i in range(0, 60, 3):
        state.learn(
            Label(
                member_id="m0",
                course_id=f"c{i % 30}",
                channel="feed",
                label=i % 2,
                source="click",
                impression_ts=T0 + i * 3_600_000,
                label_ts=T0 + i * 3_600_000 + 1,
                rule="click",
            )
        )
    rows = np.arange(30)
    args = (state.profile("m0"), state.history("m0"), T0 + 70 * 3_600_000)
    together = member_course_features(state.catalog, rows, *args)
    one_by_one = np.vstack([member_course_features(state.catalog, rows[[r]], *args) for r in rows])
    np.testing.assert_array_equal(together, one_by_one)
    assert together[:, col("log_imp_count")].max() > 0
    assert together[:, col("category_share")].max() > 0


def test_impression_discount_and_popularity_reflect_the_state(world):
    spec, courses, members = world
    catalog = Catalog(spec, courses)
    state = FeatureState(catalog, {"m0": Profile.of(spec, members[0])})
    catalog.set_stats(1, CourseStats(impressions=100, clicks=50))
    for hours in (0, 12):
        state.learn(
            Label(
                member_id="m0",
                course_id="c0",
                channel="feed",
                label=0,
                source="timeout",
                impression_ts=T0 + hours * 3_600_000,
                label_ts=T0 + hours * 3_600_000,
                rule="click",
            )
        )
    x = member_course_features(
        catalog,
        np.array([0, 1]),
        state.profile("m0"),
        state.history("m0"),
        T0 + DAY_MS + 12 * 3_600_000,
    )
    assert x[0, col("log_imp_count")] == pytest.approx(np.log(3))
    assert x[0, col("last_seen_recency")] == pytest.approx(np.exp(-1.0))
    assert x[1, col("log_imp_count")] == 0 and x[1, col("last_seen_recency")] == 0
    assert x[1, col("ctr_logit")] == pytest.approx(np.log(51 / 69))  # (50 + 20 * 0.05) / 120
    assert x[1, col("ctr_logit")] > x[0, col("ctr_logit")]


def test_context_one_hots_follow_the_event_time(world):
    spec, courses, members = world
    catalog = Catalog(spec, courses)
    saturday_night = T0 + 2 * DAY_MS + 23 * 3_600_000  # 2026-01-03T23:00Z
    assert context(saturday_night) == (5, 5)
    x = member_course_features(
        catalog,
        np.arange(3),
        Profile.of(spec, members[0]),
        FeatureState(catalog).history("m0"),
        saturday_night,
    )
    assert (x[:, col("dow_sat")] == 1).all() and (x[:, col("hour_20")] == 1).all()
    assert x[:, MC_NAMES.index("dow_mon") : MC_NAMES.index("weekend_x_long")].sum() == 6
    np.testing.assert_array_equal(x[:, col("weekend_x_long")], catalog.long[:3])


def test_skill_overlap_is_a_cosine(world):
    spec, _, _ = world
    course = Course(
        course_id="c",
        title="t",
        skills={"sql": 2.0},
        category="data",
        difficulty="advanced",
        duration_s=60,
        released_at=T0,
    )
    catalog = Catalog(spec, [course])
    member = Profile.of(spec, Member(member_id="m", skills={"sql": 1.0}, seniority=9))
    x = member_course_features(
        catalog, np.array([0]), member, FeatureState(catalog).history("m"), T0
    )
    assert x[0, col("skill_cos")] == pytest.approx(1.0)
    assert x[0, col("seniority_fit")] == pytest.approx(1.0)  # executive x advanced
