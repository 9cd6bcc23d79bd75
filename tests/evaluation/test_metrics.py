"""Each metric on small hand-checked inputs, AUC and log-loss against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score

from evaluation.metrics import auc, calibration, log_loss, quality, top_k


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_equals_scikit_learn_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.random(200) < 0.3
    score = np.round(rng.normal(size=200) + y, 1)  # rounding makes ties
    assert auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)


def test_auc_of_hand_checked_ranking():
    # positives at 0.8 and 0.4; negatives at 0.6 and 0.2: 3 of 4 pairs ordered
    assert auc(np.array([1, 0, 1, 0]), np.array([0.8, 0.6, 0.4, 0.2])) == 0.75


def test_auc_is_none_for_one_class():
    assert auc(np.array([0, 0]), np.array([0.1, 0.2])) is None


def test_log_loss_equals_scikit_learn():
    rng = np.random.default_rng(3)
    y = (rng.random(100) < 0.2).astype(float)
    p = rng.uniform(0.01, 0.99, 100)
    assert log_loss(y, p) == pytest.approx(sk_log_loss(y, p), abs=1e-12)


def test_calibration_bins_and_error_are_hand_checked():
    y = np.array([0, 0, 1, 1, 1])
    p = np.array([0.05, 0.15, 0.15, 0.95, 0.95])
    table, ece = calibration(y, p, bins=10)
    assert [(b["bin"], b["n"], b["rate"]) for b in table] == [(0, 1, 0.0), (1, 2, 0.5), (9, 2, 1.0)]
    # gaps: 0.05 (n 1), |0.15 - 0.5| (n 2), 0.05 (n 2)
    assert ece == pytest.approx((0.05 + 2 * 0.35 + 2 * 0.05) / 5)


def test_quality_of_logits_counts_positives():
    q = quality(np.array([1.0, 0.0, 0.0]), np.array([2.0, -1.0, 0.0]))
    assert (q["auc"], q["n"], q["positives"]) == (1.0, 3, 1)
    assert q["logloss"] == pytest.approx(
        sk_log_loss([1, 0, 0], 1 / (1 + np.exp(-np.array([2.0, -1.0, 0.0]))))
    )


def test_top_k_precision_recall_and_hit_rate():
    lists = [["a", "b", "c"], ["d", "e", "f"], ["g", "h", "i"]]
    relevant = [{"a", "c", "z"}, {"q"}, {"i"}]
    out = top_k(lists, relevant, k=2)
    # first list: a in top 2 (1 of 2 slots, 1 of 3 relevant); third: i is third, out of k
    assert out["precision"] == pytest.approx((1 / 2) / 3)
    assert out["recall"] == pytest.approx((1 / 3) / 3)
    assert out["hit_rate"] == pytest.approx(1 / 3)
    assert top_k(lists, relevant, k=3)["hit_rate"] == pytest.approx(2 / 3)
