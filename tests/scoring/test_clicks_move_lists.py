"""A run of clicks on one category raises that category in the member's list, for every
category and member tried, with a model trained on the world's own labels: the served
list follows what the member does now, not only what the batch model knew of them."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

import pytest

from labels import Labeller, label_log
from models.catalog import Catalog
from models.learner import Learner, MemberState, provisional_click
from models.scorer import Scorer
from models.train import train_from_labels
from replay.logs import last_event_ts, read_courses, read_events, read_members
from replay.simulate import WorldConfig, simulate
from schemas import Click, Label
from scoring.recommend import Recommender, single_variant

CLICKS = 6
MIN_COURSES = 12  # categories with courses left to show once six of them were clicked
TOP = 10


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world")
    simulate(WorldConfig(members=400, courses=200, days=7, seed=5), out, progress=False)
    return out


@pytest.fixture(scope="module")
def replayed(world: Path) -> tuple[Recommender, dict[str, MemberState]]:
    """A recommender with the model trained on the world's labels, and every member's
    state after learning those labels in time order (as a worker would hold it)."""
    labeller = Labeller("percentile:95:member", window_ms=86_400_000, lateness_ms=4 * 3600_000)
    labels = [r for r in label_log(read_events(world), labeller, close_open=True)]
    labels = sorted((r for r in labels if isinstance(r, Label)), key=lambda r: r.label_ts)
    courses, members = read_courses(world), read_members(world)
    model = train_from_labels(labels, courses, members, min_examples=3)
    learner = Learner(Scorer(model, Catalog(model.spec, courses)))
    states = {m.member_id: learner.new_member(m) for m in members}
    for label in labels:
        learner.learn_member(states.setdefault(label.member_id, learner.new_member()), label)
    return Recommender(learner, single_variant({"feed"}), k=TOP), states


def _feed(rec: Recommender, member_id: str, state: MemberState, ts: int) -> list[str]:
    return [i.course_id for i in rec.recommend(member_id, state, ts).view("feed").items]


def test_clicks_on_any_category_raise_it_in_the_list(world, replayed):
    rec, states = replayed
    courses = read_courses(world)
    category = {c.course_id: c.category for c in courses}
    sizes = Counter(category.values())
    tried = sorted(c for c, n in sizes.items() if n >= MIN_COURSES)
    assert len(tried) >= 4
    ts = last_event_ts(world) + 60_000
    unchanged = []
    for member in read_members(world)[:4]:
        mid = member.member_id
        before = Counter(category[c] for c in _feed(rec, mid, states[mid], ts))
        for cat in tried:
            state = copy.deepcopy(states[mid])
            for i, course in enumerate([c for c in courses if c.category == cat][:CLICKS]):
                click = Click(
                    event_id=f"c{i}",
                    impression_id=f"i{i}",
                    member_id=mid,
                    course_id=course.course_id,
                    channel="feed",
                    ts=ts + i,
                )
                rec.learner.learn_member(state, provisional_click(click))
            after = Counter(category[c] for c in _feed(rec, mid, state, ts + CLICKS))
            if before[cat] < TOP and after[cat] <= before[cat]:
                unchanged.append((mid, cat, before[cat], after[cat]))
    assert unchanged == []
