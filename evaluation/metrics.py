"""Quality of scores against 0/1 labels: ranking (AUC), probabilities (log-loss,
calibration) and top-k lists against later engagement.

Not scikit-learn's, so that an empty or one-class group yields None instead of an
exception (AUC is the trainer's rank-sum `models.train.rank_auc`); the tests check both
against scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence, Set

import numpy as np

from models.posterior import sigmoid
from models.train import rank_auc

EPS = 1e-15


def auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """ROC-AUC by the rank-sum (Mann-Whitney) formula, ties counted half; None with one class.

    >>> auc(np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.5, 0.5]))
    0.875
    """
    y = np.asarray(y, bool)
    return rank_auc(y, score) if 0 < y.sum() < len(y) else None


def log_loss(y: np.ndarray, p: np.ndarray) -> float | None:
    """Mean negative log-likelihood of 0/1 labels under probabilities p; None when empty.

    >>> round(log_loss(np.array([1, 0]), np.array([0.5, 0.5])), 4)
    0.6931
    """
    if len(y) == 0:
        return None
    p = np.clip(p, EPS, 1.0 - EPS)
    return float(-np.mean(np.where(np.asarray(y) > 0, np.log(p), np.log1p(-p))))


def calibration(y: np.ndarray, p: np.ndarray, bins: int = 10) -> tuple[list[dict], float | None]:
    """Reliability bins of equal width over [0, 1] (non-empty ones: mean prediction vs
    observed rate) and the expected calibration error, their n-weighted mean gap.

    >>> table, ece = calibration(np.array([0, 1, 1, 1]), np.array([0.1, 0.1, 0.9, 0.9]))
    >>> [(b["n"], b["rate"]) for b in table], round(ece, 3)
    ([(2, 0.5), (2, 1.0)], 0.25)
    """
    if len(y) == 0:
        return [], None
    which = np.minimum((np.asarray(p) * bins).astype(int), bins - 1)
    table, gap = [], 0.0
    for b in range(bins):
        inside = which == b
        n = int(inside.sum())
        if n == 0:
            continue
        mean_p, rate = float(p[inside].mean()), float(np.mean(y[inside]))
        table.append({"bin": b, "n": n, "mean_p": mean_p, "rate": rate})
        gap += n * abs(mean_p - rate)
    return table, gap / len(y)


def quality(y: np.ndarray, logits: np.ndarray) -> dict[str, float | int | None]:
    """AUC, log-loss, calibration error, count and positives of logits against labels."""
    p = sigmoid(logits)
    _, ece = calibration(y, p)
    return {
        "auc": auc(y, logits),
        "logloss": log_loss(y, p),
        "ece": ece,
        "n": len(y),
        "positives": int(np.sum(y)),
    }


def top_k(
    lists: Sequence[Sequence[str]], relevant: Sequence[Set[str]], k: int
) -> dict[str, float | int | None]:
    """Precision@k, recall@k and hit rate (share of lists with at least one relevant item
    in the first k) of ranked lists against each list's set of later-engaged items.

    >>> top_k([["a", "b"], ["c", "d"]], [{"a", "x"}, {"y"}], k=2)
    {'precision': 0.25, 'recall': 0.25, 'hit_rate': 0.5, 'lists': 2, 'k': 2}
    """
    hits = [len(set(items[:k]) & rel) for items, rel in zip(lists, relevant, strict=True)]
    n = len(hits)
    if n == 0:
        return {"precision": None, "recall": None, "hit_rate": None, "lists": 0, "k": k}
    return {
        "precision": float(np.mean([h / k for h in hits])),
        "recall": float(np.mean([h / len(r) for h, r in zip(hits, relevant, strict=True)])),
        "hit_rate": float(np.mean([h > 0 for h in hits])),
        "lists": n,
        "k": k,
    }
