"""Off-policy estimates on logs whose propensities are known exactly."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from evaluation.ips import ips, softmax_policy


def test_ips_is_exact_on_a_log_that_enumerates_a_randomised_policy():
    # Logging: uniform over 3 courses in 2 contexts; click chances known. A log holding
    # every (context, course) in proportion to its chance, with expected rewards as
    # fractional rewards, makes the IPS average the expectation itself.
    click = np.array([[0.1, 0.5, 0.2], [0.3, 0.0, 0.6]])
    target = np.array([[0.0, 1.0, 0.0], [0.2, 0.2, 0.6]])  # the new policy's choices
    rows = list(itertools.product(range(2), range(3)))
    rewards = np.array([click[x, a] for x, a in rows])
    pi = np.array([target[x, a] for x, a in rows])
    out = ips(rewards, pi, np.full(len(rows), 1 / 3), clip=100.0)
    truth = float(np.mean((target * click).sum(axis=1)))
    assert out["value"] == pytest.approx(truth)
    assert out["logged"] == pytest.approx(click.mean())


def test_ips_of_the_logging_policy_is_its_logged_mean():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.9, 50)
    r = (rng.random(50) < 0.3).astype(float)
    out = ips(r, p, p)
    assert out["value"] == pytest.approx(r.mean()) and out["snips"] == pytest.approx(r.mean())
    assert out["ess"] == pytest.approx(50)


def test_clipping_caps_the_weights():
    out = ips(np.array([1.0, 1.0]), np.array([1.0, 0.5]), np.array([0.01, 0.5]), clip=10.0)
    assert out["value"] == pytest.approx((10.0 + 1.0) / 2)
    assert out["clipped"] == 1


def test_softmax_policy_sums_to_one_over_allowed_items():
    p = softmax_policy(np.array([1.0, 2.0, 3.0, 4.0]), np.array([True, False, True, True]))
    assert p[1] == 0.0 and p.sum() == pytest.approx(1.0)
    assert p[3] / p[2] == pytest.approx(np.e)
