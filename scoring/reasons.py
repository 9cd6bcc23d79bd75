"""Why an item is shown (paper §3.4): every reason source scores some items, each reason's
scores become inverted ranks 1/k, and an item takes the reason that ranks it highest.

Raw scores are not comparable across reasons (a skill cosine vs a trending count); ranks
are, so a course that is 2nd "Because you watched X" beats being 40th "Popular".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from schemas.fields import Name

POPULAR = "Popular"
REASON_CHARS = Name.__metadata__[0].max_length  # the longest reason a record admits


def reason_text(label: str) -> str:
    """A reason as the record's schema admits it (stripped, at most `REASON_CHARS`).

    >>> reason_text("Because of your skill  sql ")
    'Because of your skill  sql'
    """
    return label.strip()[:REASON_CHARS]


def inverted_ranks(scores: np.ndarray) -> np.ndarray:
    """1/k per (reason, item) of a (reasons x items) matrix, k the 1-based rank of the item
    within its reason; equal scores share the better rank (so the outcome does not depend
    on item order); 0 where the reason does not apply (NaN or -inf).

    >>> inverted_ranks(np.array([[0.2, 0.9, np.nan, 0.9]])).tolist()
    [[0.3333333333333333, 1.0, 0.0, 1.0]]
    """
    s = np.where(np.isnan(scores), -np.inf, scores)
    order = np.argsort(-s, axis=1, kind="stable")
    ranked = np.take_along_axis(s, order, axis=1)
    position = np.broadcast_to(np.arange(s.shape[1]), s.shape)
    starts = np.ones(s.shape, bool)
    starts[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    first = np.maximum.accumulate(np.where(starts, position, 0), axis=1)
    inverted = np.empty(s.shape)
    np.put_along_axis(inverted, order, 1.0 / (first + 1.0), axis=1)
    return np.where(np.isneginf(s), 0.0, inverted)


def best_reasons(scores: np.ndarray) -> np.ndarray:
    """Per item, the row of its arg-max inverted rank, or -1 when no reason applies. Rows
    are in priority order: a tie goes to the earlier row.

    >>> best_reasons(np.array([[3.0, 1.0, np.nan], [5.0, 9.0, np.nan]])).tolist()
    [0, 1, -1]
    """
    inverted = inverted_ranks(scores)
    if not len(inverted):
        return np.full(inverted.shape[1], -1)
    best = np.argmax(inverted, axis=0)  # first maximum: the higher-priority reason
    return np.where(inverted.max(axis=0, initial=0.0) > 0.0, best, -1)


def explain(labels: Sequence[str], scores: np.ndarray, default: str = POPULAR) -> list[str]:
    """The reason label of every item; `default` for items no reason applies to.

    >>> explain(["Because you watched SQL", "Trending in your industry"],
    ...         np.array([[0.8, np.nan, np.nan], [np.nan, 12.0, np.nan]]))
    ['Because you watched SQL', 'Trending in your industry', 'Popular']
    """
    if len(labels) != len(scores):
        raise ValueError(f"{len(labels)} labels for {len(scores)} reason rows")
    return [labels[r] if r >= 0 else default for r in best_reasons(scores).tolist()]
