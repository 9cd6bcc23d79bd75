import numpy as np
import pytest

from models.catalog import Catalog
from models.examples import FeatureState, build_examples
from models.features import Profile
from models.glmix import RandomEffects
from models.recovery import member_recovery, recovery_bound, taste_attributes
from models.spec import DIFFICULTIES, FeatureSpec
from models.synthetic import planted_records
from models.train import train


@pytest.fixture(scope="module")
def fitted():
    courses, members, labels = planted_records(n_members=40, n_courses=30, n_labels=4000, seed=2)
    spec = FeatureSpec.for_courses(courses)
    state = FeatureState(
        Catalog(spec, courses), {m.member_id: Profile.of(spec, m) for m in members}
    )
    ex, _ = build_examples(labels, state)
    names = [f"category:{c}" for c in spec.categories] + [f"difficulty:{d}" for d in DIFFICULTIES]
    rng = np.random.default_rng(4)
    truth = {
        "member_taste_features": names,
        "member_taste": {m: rng.normal(0.0, 1.0, len(names)).tolist() for m in ex.member_ids},
    }
    return train(ex, spec, min_examples=10), ex, courses, truth


def with_member_means(model, mean):
    model.members = RandomEffects(model.members.ids, mean, model.members.precision)
    return model


def test_a_model_holding_the_planted_tastes_recovers_them_exactly(fitted):
    model, ex, courses, truth = fitted
    columns = [model.spec.x_c_names.index(f) for f in truth["member_taste_features"]]
    mean = np.zeros_like(model.members.mean)
    mean[:, columns] = [truth["member_taste"][m] for m in model.members.ids]
    rec = member_recovery(with_member_means(model, mean), ex, courses, truth, min_labels=50)
    assert rec.r == pytest.approx(1.0) and rec.members > 20
    assert 0.0 < rec.bound < 1.0


def test_unrelated_member_effects_recover_nothing(fitted):
    model, ex, courses, truth = fitted
    noise = np.random.default_rng(9).normal(size=model.members.mean.shape)
    rec = member_recovery(with_member_means(model, noise), ex, courses, truth, min_labels=50)
    assert abs(rec.r) < 0.15


def test_taste_attributes_mark_each_course_category_and_difficulty(fitted):
    _, _, courses, truth = fitted
    attrs = taste_attributes(courses, truth["member_taste_features"])
    assert (attrs.sum(axis=1) == 2).all()
    c = courses[0]
    assert attrs[0, truth["member_taste_features"].index(f"category:{c.category}")] == 1


def test_the_oracle_bound_approaches_one_with_many_labels_and_nothing_without_signal():
    rng = np.random.default_rng(1)
    taste, attrs = rng.normal(0.0, 1.0, (200, 5)), np.eye(5)
    shown = list(rng.integers(5, size=(200, 3000)))
    assert recovery_bound(taste, taste, attrs, shown, base_rate=0.3) > 0.95
    # tastes far below the offset: no member ever clicks, so nothing is learnt
    assert abs(recovery_bound(taste, taste, attrs, shown, base_rate=1e-7)) < 0.1
