import numpy as np
import pytest

from models.catalog import Catalog
from models.examples import FeatureState
from models.features import Profile, member_course_features
from models.scorer import Scorer
from models.synthetic import planted_records
from models.train import train_from_labels


@pytest.fixture(scope="module")
def trained():
    courses, members, labels = planted_records(n_labels=3000, seed=9)
    model = train_from_labels(labels, courses, members, min_examples=10)
    catalog = Catalog(model.spec, courses)
    return model, catalog, members, labels[-1].label_ts, courses


def test_scores_are_the_sum_of_the_three_components(trained):
    model, catalog, members, ts, _ = trained
    scorer = Scorer(model, catalog)
    member = members[1]
    profile, history = Profile.of(model.spec, member), FeatureState(catalog).history("m1")
    rows = np.array([3, 0, 7])
    alpha = model.members.posterior(member.member_id).mean
    x_mc = member_course_features(catalog, rows, profile, history, ts)
    for r, z in zip(rows, scorer.logits(profile, history, rows, ts, alpha), strict=True):
        beta = model.courses.posterior(catalog.ids[r])
        expected = x_mc[list(rows).index(r)] @ model.w + model.b + catalog.x_c[r] @ alpha
        expected += 0.0 if beta is None else beta.mean @ profile.x_m
        assert z == pytest.approx(expected, rel=1e-6)


def test_an_entity_without_data_scores_as_the_fixed_effect(trained):
    model, catalog, members, ts, _ = trained
    scorer = Scorer(model, catalog)
    for course_id in list(model.courses.ids):
        scorer.set_course(course_id, np.zeros(model.spec.dims[1]))
    profile, history = Profile.of(model.spec, members[0]), FeatureState(catalog).history("new")
    rows = np.arange(len(catalog))
    fixed = member_course_features(catalog, rows, profile, history, ts) @ model.w + model.b
    np.testing.assert_allclose(scorer.logits(profile, history, rows, ts), fixed)


def test_new_courses_score_without_a_course_effect_until_updated(trained):
    model, _, members, ts, courses = trained
    catalog = Catalog(model.spec, courses[:3])
    scorer = Scorer(model, catalog)
    row = catalog.upsert(courses[0].model_copy(update={"course_id": "new"}))
    profile = Profile.of(model.spec, members[0])
    history = FeatureState(catalog).history("m0")
    z = scorer.logits(profile, history, np.array([0, row]), ts)
    beta0 = model.courses.posterior("c0")
    assert z[0] - z[1] == pytest.approx(0.0 if beta0 is None else beta0.mean @ profile.x_m)
    scorer.set_course("new", np.ones(model.spec.dims[1]))
    assert scorer.logits(profile, history, np.array([row]), ts)[0] == pytest.approx(
        z[1] + profile.x_m.sum()
    )


def test_members_scored_together_equal_each_member_scored_alone(trained):
    """Offline evaluation featurises and scores a day's members at once (`grid`,
    `Scorer.block_logits`); each member must get what the worker's path gives."""
    model, catalog, members, ts, _ = trained
    _, _, labels = planted_records(n_labels=3000, seed=9)
    state = FeatureState(catalog, {m.member_id: Profile.of(model.spec, m) for m in members})
    for label in labels[:2000]:
        state.learn(label)
    scorer = Scorer(model, catalog)
    ids = [members[1].member_id, "no-profile", members[2].member_id, members[1].member_id]
    rows = [np.array([3, 0, 7]), np.arange(10), np.array([], np.intp), np.array([5, 1])]
    times = [ts, ts + 1, ts + 2, ts + 86_400_000 * 3]
    x_mc, which = state.grid(ids, rows, times)
    alphas = [model.members.posterior(m) for m in ids]
    means = np.array([np.zeros(model.spec.dims[0]) if a is None else a.mean for a in alphas])
    x_ms = np.array([state.profile(m).x_m for m in ids])
    at = np.concatenate(rows)
    together = scorer.block_logits(x_mc @ model.w + model.b, at, which, means, x_ms)
    for i, (m, r, t) in enumerate(zip(ids, rows, times, strict=True)):
        alone = member_course_features(catalog, r, state.profile(m), state.history(m), t)
        np.testing.assert_allclose(x_mc[which == i], alone, rtol=1e-14, atol=1e-15)
        alpha = None if alphas[i] is None else alphas[i].mean
        expected = scorer.logits(state.profile(m), state.history(m), r, t, alpha)
        np.testing.assert_allclose(together[which == i], expected, rtol=1e-12, atol=1e-12)
    assert x_mc[:, 9].max() > 0  # histories were read


def test_block_logits_follow_course_updates_after_a_block(trained):
    """The block path keeps the course sides between blocks: a new beta_c must show."""
    model, catalog, members, _, _ = trained
    scorer = Scorer(model, catalog)
    x_m = Profile.of(model.spec, members[0]).x_m[None]
    alphas, rows, which = np.zeros((1, model.spec.dims[0])), np.array([2, 5]), np.zeros(2, int)
    before = scorer.block_logits(np.zeros(2), rows, which, alphas, x_m)
    scorer.set_course(catalog.ids[5], scorer.beta(5) + 1.0)
    after = scorer.block_logits(np.zeros(2), rows, which, alphas, x_m)
    assert after[0] == before[0]
    assert after[1] == pytest.approx(before[1] + x_m[0].sum())
