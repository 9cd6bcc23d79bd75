"""The logged propensities are the logging policy's true sampling probabilities."""

from __future__ import annotations

import numpy as np

from replay.policy import LoggingPolicy


def test_fill_samples_slots_with_the_logged_propensities() -> None:
    probs = np.tile([0.4, 0.3, 0.2, 0.1], (40_000, 1))
    chosen, propensity, valid = LoggingPolicy().fill(probs, 2, np.random.default_rng(0))
    assert valid.all()
    first_is_0 = chosen[:, 0] == 0
    assert abs(first_is_0.mean() - 0.4) < 0.01
    np.testing.assert_allclose(propensity[first_is_0, 0], 0.4)
    # Given course 0 first, course 1 is chosen second with probability 0.3 / 0.6.
    second_is_1 = chosen[first_is_0, 1] == 1
    assert abs(second_is_1.mean() - 0.5) < 0.015
    np.testing.assert_allclose(propensity[first_is_0][second_is_1, 1], 0.5)


def test_fill_never_picks_disallowed_courses_and_marks_missing_slots() -> None:
    policy = LoggingPolicy()
    allowed = np.array([[True, False, True, False], [False, False, False, False]])
    probs = policy.probabilities(np.zeros((2, 4)), np.zeros(4), np.zeros(4), allowed)
    chosen, propensity, valid = policy.fill(probs, 3, np.random.default_rng(1))
    assert valid.tolist() == [[True, True, False], [False, False, False]]
    assert set(chosen[0, :2].tolist()) == {0, 2}
    assert propensity[0, :2].tolist() == [0.5, 1.0]


def test_probabilities_mix_exploration_into_every_allowed_course() -> None:
    policy = LoggingPolicy(explore=0.2)
    probs = policy.probabilities(
        np.array([[1.0, 0.0, 0.0]]), np.zeros(3), np.zeros(3), np.ones((1, 3), dtype=bool)
    )
    assert abs(probs.sum() - 1.0) < 1e-12
    assert (probs >= 0.2 / 3).all()
