import numpy as np
import pytest

from scoring.reasons import POPULAR, best_reasons, explain, inverted_ranks

NA = np.nan


def test_inverted_ranks_are_one_over_the_rank_within_each_reason():
    scores = np.array([[0.1, 0.7, 0.4], [30.0, 10.0, 20.0]])
    np.testing.assert_allclose(inverted_ranks(scores), [[1 / 3, 1, 1 / 2], [1, 1 / 3, 1 / 2]])


def test_equal_scores_share_the_better_rank_and_the_next_rank_is_skipped():
    np.testing.assert_allclose(
        inverted_ranks(np.array([[5.0, 7.0, 7.0, 1.0]])), [[1 / 3, 1, 1, 1 / 4]]
    )


def test_reasons_that_do_not_apply_get_zero_and_do_not_take_a_rank():
    scores = np.array([[NA, 0.2, -np.inf, 0.5]])
    np.testing.assert_allclose(inverted_ranks(scores), [[0, 1 / 2, 0, 1]])


def test_an_item_takes_the_reason_that_ranks_it_highest_not_the_highest_raw_score():
    popular = [100.0, 90.0, 80.0, 70.0]  # counts: large raw scores
    watched = [NA, NA, 0.2, 0.1]  # cosines: small raw scores, but items 2 and 3 lead them
    assert explain(["popular", "watched"], np.array([popular, watched])) == [
        "popular",
        "popular",
        "watched",
        "watched",
    ]


def test_a_tie_in_inverted_rank_goes_to_the_earlier_reason_row():
    scores = np.array([[1.0, 2.0], [2.0, 1.0], [2.0, 1.0]])
    assert best_reasons(scores).tolist() == [1, 0]
    assert best_reasons(scores[::-1]).tolist() == [0, 2]


def test_items_no_reason_applies_to_fall_back_to_the_default():
    scores = np.array([[NA, 1.0, NA], [NA, NA, -np.inf]])
    assert explain(["skill"], scores[:1]) == [POPULAR, "skill", POPULAR]
    assert explain(["a", "b"], scores, default="New") == ["New", "a", "New"]
    assert explain([], np.zeros((0, 2))) == [POPULAR, POPULAR]


def test_labels_must_match_the_reason_rows():
    with pytest.raises(ValueError, match="labels"):
        explain(["only one"], np.zeros((2, 3)))


def test_ranks_match_a_loop_over_random_matrices_with_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, (6, 40)).astype(float)
    scores[rng.random(scores.shape) < 0.3] = NA
    expected = np.zeros_like(scores)
    for r, row in enumerate(scores):
        for i, s in enumerate(row):
            if not np.isnan(s):
                expected[r, i] = 1 / (1 + np.sum(row[~np.isnan(row)] > s))
    np.testing.assert_allclose(inverted_ranks(scores), expected)
