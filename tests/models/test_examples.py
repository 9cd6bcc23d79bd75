import numpy as np

from models.catalog import Catalog
from models.examples import Examples, FeatureState, build_examples, in_time_order
from models.features import Profile
from models.spec import FeatureSpec
from models.synthetic import planted_records


def fresh(spec, courses, members):
    return FeatureState(Catalog(spec, courses), {m.member_id: Profile.of(spec, m) for m in members})


def records():
    courses, members, labels = planted_records(n_members=60, n_courses=40, n_labels=3000)
    spec = FeatureSpec.for_courses(courses, history_size=8)  # forgetting happens too
    # a member without a profile record (no seniority) and a course not in the catalog
    odd = [labels[5].model_copy(update={"member_id": "nobody"}), labels[6]]
    odd[1] = odd[1].model_copy(update={"course_id": "gone"})
    return spec, courses, members[1:], labels + odd


def test_replayed_rows_equal_the_serving_features_of_each_label():
    """Training replay gathers the member side per label and builds rows at once; each row
    must be what `member_course_features` (serving, near-line learning) gives from the
    state just before that label."""
    spec, courses, members, labels = records()
    ex, skipped = build_examples(labels, fresh(spec, courses, members))
    state = fresh(spec, courses, members)
    one_by_one = []
    for label in in_time_order(labels):
        if label.course_id in state.catalog.index:
            one_by_one.append(state.features(label)[1])
            state.learn(label)
    assert skipped == 1 and len(ex) == len(labels) - 1
    # equal but for the last bit of BLAS products (skill cosines)
    np.testing.assert_allclose(ex.x_mc, np.array(one_by_one), rtol=1e-14, atol=1e-15)
    assert ex.x_mc[:, 9].max() > np.log1p(2)  # courses shown before, as the state says


def test_replays_in_pieces_concatenate_to_one_replay():
    spec, courses, members, labels = records()
    ordered = in_time_order(labels)
    whole, _ = build_examples(ordered, fresh(spec, courses, members))
    state = fresh(spec, courses, members)
    parts = [build_examples(ordered[a:b], state)[0] for a, b in ((0, 1000), (1000, None))]
    joined = Examples.concat(parts)
    np.testing.assert_allclose(joined.x_mc, whole.x_mc, rtol=1e-14, atol=1e-15)
    assert [joined.member_ids[i] for i in joined.member] == [
        whole.member_ids[i] for i in whole.member
    ]
    np.testing.assert_array_equal(joined.x_m[joined.member], whole.x_m[whole.member])


def test_a_snapshot_does_not_move_while_learning_goes_on():
    spec, courses, members, labels = records()
    ordered = in_time_order(labels)
    state = fresh(spec, courses, members)
    build_examples(ordered[:1000], state)
    kept = state.snapshot()
    before = [kept.features(lb)[1] for lb in ordered[1000:1100]]
    build_examples(ordered[1000:], state)
    np.testing.assert_array_equal([kept.features(lb)[1] for lb in ordered[1000:1100]], before)
    assert any(
        not np.array_equal(state.features(lb)[1], x)
        for lb, x in zip(ordered[1000:1100], before, strict=True)
    )
