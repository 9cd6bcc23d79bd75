"""Batched Newton solves of many small L2-regularised logistic regressions at once.

GLMix random effects are thousands of tiny problems (one per member or course, d ~ 30).
Rows are grouped by entity and padded into blocks of entities with similar counts, so a
block is a stacked (E, L, d) array: Hessians come from one batched matmul and steps from
one `np.linalg.solve` on the stacked (E, d, d) systems.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.posterior import sigmoid

ROW_BUDGET = 1 << 17  # padded rows per block: bounds the (E, L, d) gather to ~40 MB
MAX_HALVINGS = 20  # step halvings per Newton step before taking the (tiny) step anyway


@dataclass(frozen=True)
class Block:
    """Entities `ents` whose rows are `rows[e, :counts[e]]` (padding repeats a row, masked)."""

    ents: np.ndarray  # (E,)
    rows: np.ndarray  # (E, L)
    mask: np.ndarray  # (E, L) float: 1 for real rows, 0 for padding


def group(entity: np.ndarray, n_entities: int, min_examples: int) -> list[Block]:
    """Blocks of the entities with at least `min_examples` rows; the others get no model.

    >>> [b.rows.tolist() for b in group(np.array([1, 0, 1, 2]), 3, min_examples=2)]
    [[[0, 2]]]
    """
    order = np.argsort(entity, kind="stable")
    counts = np.bincount(entity, minlength=n_entities)
    starts = np.cumsum(counts) - counts
    eligible = np.flatnonzero(counts >= max(min_examples, 1))
    size = 1 << np.ceil(np.log2(counts[eligible])).astype(int)  # pad to a power of two
    blocks = []
    for length in np.unique(size):
        ents = eligible[size == length]
        per_block = max(ROW_BUDGET // length, 1)
        for lo in range(0, len(ents), per_block):
            e = ents[lo : lo + per_block]
            offs = np.arange(length)
            mask = offs < counts[e][:, None]
            at = starts[e][:, None] + np.minimum(offs, counts[e][:, None] - 1)
            blocks.append(Block(e, order[at], mask.astype(float)))
    return blocks


def objective(
    theta: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    offset: np.ndarray,
    l2: np.ndarray,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Per entity: log-loss of `y` under logits X @ theta + offset, plus l2/2 ||theta||²."""
    z = np.matmul(X, theta[..., None])[..., 0] + offset
    loss = np.logaddexp(0.0, z) - y * z
    if mask is not None:
        loss = loss * mask
    return loss.sum(-1) + 0.5 * (l2 * theta**2).sum(-1)


def gradient_hessian(
    theta: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    offset: np.ndarray,
    l2: np.ndarray,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient (E, d) and Hessian (E, d, d) of `objective` for stacked entities (E, L, d)."""
    p = sigmoid(np.matmul(X, theta[..., None])[..., 0] + offset)
    r, s = p - y, p * (1.0 - p)
    if mask is not None:
        r, s = r * mask, s * mask
    g = np.matmul(r[:, None, :], X)[:, 0, :] + l2 * theta
    Z = X * np.sqrt(s)[..., None]
    H = np.matmul(np.swapaxes(Z, 1, 2), Z)
    H[:, np.arange(X.shape[-1]), np.arange(X.shape[-1])] += l2
    return g, H


def newton(
    theta: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    offset: np.ndarray,
    l2: np.ndarray,
    steps: int,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """`steps` Newton iterations from `theta`; returns (mode, diagonal of the Hessian there),
    the mean and precision of the Laplace posterior.

    Far from the mode a full logistic Newton step can overshoot and diverge (an entity
    with many labels whose logit must move by several units), so each entity's step is
    halved until its objective does not increase."""
    current = objective(theta, X, y, offset, l2, mask)
    for _ in range(steps):
        g, H = gradient_hessian(theta, X, y, offset, l2, mask)
        step = np.linalg.solve(H, g[..., None])[..., 0]
        scale = np.ones(len(theta))
        for _ in range(MAX_HALVINGS):
            trial = theta - scale[:, None] * step
            after = objective(trial, X, y, offset, l2, mask)
            worse = after > current
            if not worse.any():
                break
            scale = np.where(worse, 0.5 * scale, scale)
        theta, current = trial, after
    _, H = gradient_hessian(theta, X, y, offset, l2, mask)
    return theta, np.diagonal(H, axis1=1, axis2=2).copy()


def fit_entities(
    blocks: list[Block],
    X_table: np.ndarray,
    table_row: np.ndarray,
    y: np.ndarray,
    offset: np.ndarray,
    l2: float,
    init: np.ndarray,
    steps: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit every entity of `blocks` on rows `X_table[table_row[i]]`, warm-started at `init`
    (n_entities, d); returns (means, precisions), untouched for entities without a block."""
    mean = init.copy()
    precision = np.full_like(init, l2)
    l2_vec = np.full(init.shape[1], l2)
    for b in blocks:
        X = X_table[table_row[b.rows]] * b.mask[..., None]
        mean[b.ents], precision[b.ents] = newton(
            init[b.ents], X, y[b.rows], offset[b.rows], l2_vec, steps, b.mask
        )
    return mean, precision
