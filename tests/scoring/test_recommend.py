"""The rescoring core: lists per channel from the member's state, never a dismissed or
retired course, variants as assigned, and the learner's halves moving the lists."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from models.catalog import Catalog
from models.learner import CourseState, Learner, MemberState, dismiss, provisional_click
from models.posterior import Posterior
from models.scorer import Scorer
from models.synthetic import T0, planted_records
from models.train import train_from_labels
from schemas import Click, Dismissal
from scoring.recommend import Recommender, parse_treatments, single_variant, top_k
from scoring.trending import Trends

CHANNELS = ("email", "feed")


@pytest.fixture(scope="module")
def world():
    courses, members, labels = planted_records(n_members=60, n_courses=40, n_labels=3000)
    model = train_from_labels(labels, courses, members, min_examples=5)
    return courses, members, model


def _recommender(world, treatments=None, k=10, trends=None) -> Recommender:
    courses, _, model = world
    learner = Learner(Scorer(model, Catalog(model.spec, courses)))
    return Recommender(learner, treatments or single_variant(CHANNELS), k=k, trends=trends)


def _ids(record, channel="feed") -> list[str]:
    return [i.course_id for i in record.view(channel).items]


def test_lists_are_top_k_by_score_for_every_channel(world):
    rec = _recommender(world)
    member = world[1][0]
    record = rec.recommend(member.member_id, rec.learner.new_member(member), now=T0)
    for channel in CHANNELS:
        view = record.view(channel)
        scores = [i.score for i in view.items]
        assert len(scores) == 10 and scores == sorted(scores, reverse=True)
    assert len(record.courses) == 10  # both channels share one list: stored once


def test_dismissed_and_retired_courses_are_never_served(world):
    rec = _recommender(world, k=40)
    member = world[1][1]
    state = rec.learner.new_member(member)
    first = _ids(rec.recommend(member.member_id, state, now=T0))
    dismiss(state, Dismissal(event_id="d", member_id=member.member_id, course_id=first[0], ts=T0))
    retired = next(c for c in world[0] if c.course_id == first[1])
    rec.learner.scorer.catalog.upsert(retired.model_copy(update={"retired": True}))
    after = _ids(rec.recommend(member.member_id, state, now=T0))
    assert first[0] not in after and first[1] not in after
    assert set(after) == set(first) - {first[0], first[1]}


def test_clicks_on_one_category_raise_it(world):
    courses, members, _ = world
    rec = _recommender(world)
    catalog = rec.learner.scorer.catalog
    member = members[2]
    state = rec.learner.new_member(member)
    before = _ids(rec.recommend(member.member_id, state, now=T0))
    shown = {c: sum(catalog.category[catalog.row(i)] == c for i in before) for c in range(5)}
    target = min(shown, key=shown.get)
    clicked = [c for c in courses if catalog.category[catalog.row(c.course_id)] == target][:6]
    for i, course in enumerate(clicked):
        click = Click(
            event_id=f"k{i}",
            member_id=member.member_id,
            course_id=course.course_id,
            channel="feed",
            ts=T0 + i,
        )
        update = rec.learner.learn_member(state, provisional_click(click))
        assert update is not None and update.y == 1
    after = _ids(rec.recommend(member.member_id, state, now=T0))
    assert sum(catalog.category[catalog.row(i)] == target for i in after) > shown[target]
    assert state.engaged[0] == clicked[-1].course_id


def test_a_course_clicked_in_a_title_trends_for_that_title_only(world):
    """Members of one title click a course: another member of that title is offered it
    as trending for their title; a member of another title gets their own title's trend."""
    courses, members, _ = world
    trends = Trends()
    rec = _recommender(world, k=len(courses), trends=trends)
    # no skills or history: the trending sources are the only specific ones
    profile = members[0].model_copy(update={"skills": {}, "followed_skills": (), "industry": None})
    clicks = [
        ("nurse-1", "Nurse", courses[3].course_id),
        ("nurse-2", " nurse", courses[3].course_id),
        ("pilot-1", "Pilot", courses[7].course_id),
    ]
    for i, (member_id, title, course_id) in enumerate(clicks):
        state = rec.learner.new_member(
            profile.model_copy(update={"member_id": member_id, "title": title})
        )
        click = Click(
            event_id=f"t{i}", member_id=member_id, course_id=course_id, channel="feed", ts=T0 + i
        )
        update = rec.learner.learn_member(state, provisional_click(click))
        trends.learn(state.member, update.course_id, update.y, update.ts)

    def reasons(member_id: str, title: str) -> dict[str, str]:
        state = rec.learner.new_member(
            profile.model_copy(update={"member_id": member_id, "title": title})
        )
        state.seen_at = T0 + 60_000
        items = rec.recommend(member_id, state, now=T0).view("feed").items
        return {i.course_id: i.reason for i in items}

    nurse, pilot = reasons("nurse-3", "NURSE"), reasons("pilot-2", "pilot")
    assert nurse[courses[3].course_id] == "Trending for your job title"
    assert pilot[courses[7].course_id] == "Trending for your job title"
    assert [c for c, r in nurse.items() if r.startswith("Trending")] == [courses[3].course_id]
    assert [c for c, r in pilot.items() if r.startswith("Trending")] == [courses[7].course_id]
    clerk = reasons("clerk-1", "Clerk")  # a title nobody engaged in: new courses only
    assert clerk and not any(r.startswith("Trending") for r in clerk.values())


def test_course_half_moves_beta_toward_the_label(world):
    rec = _recommender(world)
    member = world[1][3]
    state = rec.learner.new_member(member)
    course = world[0][5].course_id
    click = Click(event_id="k", member_id=member.member_id, course_id=course, channel="feed", ts=T0)
    update = rec.learner.learn_member(state, provisional_click(click))
    before = rec.learner.learn_course(CourseState(), update)
    x_m = np.array(update.x_m)
    start = rec.learner.scorer.model.courses.posterior(course)
    start_score = 0.0 if start is None else float(start.mean @ x_m)
    assert float(before.beta.mean @ x_m) > start_score
    assert CourseState.from_bytes(before.to_bytes()).beta == before.beta


def test_variants_follow_treatments_and_thompson_is_reproducible(world):
    treatments = parse_treatments(
        '{"feed": {"glmix-thompson": 1.0}, "email": {"popular": 1.0}}', CHANNELS
    )
    rec = _recommender(world, treatments)
    member = world[1][4]
    state = rec.learner.new_member(member)
    state.alpha = Posterior.prior(rec.learner.spec.dims[0], 0.5)  # wide: samples differ
    state.seen_at = T0
    a = rec.recommend(member.member_id, state, now=T0)
    b = rec.recommend(member.member_id, state, now=T0 + 5)
    assert a.view("feed").model_id == "glmix-thompson-v1"
    assert _ids(a) == _ids(b)  # seeded by member and event time, not by wall time
    popular = a.view("email")
    catalog = rec.learner.scorer.catalog
    pops = [catalog.log_impressions[catalog.row(i.course_id)] for i in popular.items]
    assert pops == sorted(pops, reverse=True)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("{", "not JSON"),
        ('{"feed": 1, "email": 2}', "expected"),
        ('{"feed": {"glmix": 1}}', "no split for channel(s) email"),
        ('{"feed": {"glmix": 1}, "email": {"magic": 1}}', "unknown variants"),
        ('{"feed": {"glmix": 0.7}, "email": {"glmix": 1}}', "sum to"),
    ],
)
def test_bad_treatments_are_refused_with_the_reason(text, error):
    with pytest.raises(ValueError) as caught:
        parse_treatments(text, CHANNELS)
    assert error in str(caught.value)


def test_member_state_round_trip_keeps_everything(world):
    rec = _recommender(world)
    member = world[1][5]
    state = rec.learner.new_member(member)
    click = Click(
        event_id="k",
        member_id=member.member_id,
        course_id=world[0][0].course_id,
        channel="feed",
        ts=T0,
    )
    rec.learner.learn_member(state, provisional_click(click))
    dismiss(
        state,
        Dismissal(
            event_id="d", member_id=member.member_id, course_id=world[0][1].course_id, ts=T0 + 9
        ),
    )
    again = MemberState.from_bytes(state.to_bytes())
    assert again == state
    assert again.member == member and again.alpha.n_seen == 1 and again.seen_at == T0 + 9


def test_features_take_the_profiles_skills_whatever_skills_drew_the_candidates(world, monkeypatch):
    rec = _recommender(world, k=5)
    member = world[1][0]
    state = rec.learner.new_member(member)
    drawn = rec.signals
    other = {"welding": 1.0, "pottery": 2.0}  # not the member's: other cosines

    def signals(s, ts, trending=None):
        return dataclasses.replace(drawn(s, ts, trending), skills=other)

    monkeypatch.setattr(rec, "signals", signals)
    view = rec.recommend(member.member_id, state, now=T0).view("feed")
    catalog, learner = rec.learner.scorer.catalog, rec.learner
    rows = np.array([catalog.row(item.course_id) for item in view.items])
    want = learner.scorer.predict_proba(
        learner.profile(member.member_id, state),
        state.history,
        rows,
        T0,
        learner.alpha(member.member_id, state).mean,
    )
    assert member.skills and len(rows) == 5
    np.testing.assert_allclose([item.score for item in view.items], want, atol=2e-6)


@pytest.mark.parametrize("seed", range(20))
def test_top_k_keeps_what_a_stable_sort_of_each_member_keeps(seed):
    """Members of random sizes (none, fewer than k, many), scores with many ties."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 300, rng.integers(1, 8)).tolist()
    scores = rng.integers(0, rng.integers(2, 50), sum(sizes)) / 7.0
    k = int(rng.integers(1, 60))
    starts = np.cumsum([0, *sizes])[:-1]
    for (positions, top), lo, n in zip(top_k(scores, sizes, k), starts, sizes, strict=True):
        mine = scores[lo : lo + n]
        expected = np.argsort(-mine, kind="stable")[:k]
        assert positions.tolist() == expected.tolist()
        assert top.tolist() == mine[expected].tolist()
