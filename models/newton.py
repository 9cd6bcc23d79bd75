"""Batched Newton solves of many small L2-regularised logistic regressions at once.

GLMix random effects are thousands of tiny problems (one per member or course, d ~ 30).
Rows are grouped by entity and padded into blocks of entities with similar counts, so a
block is a stacked (E, L, d) array: Hessians come from one batched matmul and steps from
one `np.linalg.solve` on the stacked (E, d, d) systems, or (E, L, L) ones where L < d.
Entities leave the batch as they converge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.posterior import sigmoid

ROW_BUDGET = 1 << 17  # padded rows per block: bounds the (E, L, d) gather to ~40 MB
MAX_HALVINGS = 20  # step halvings per Newton step before taking the (tiny) step anyway
TOLERANCE = 1e-10  # relative decrease of the objective below which an entity has converged
ROUNDING = 1e-12  # relative increase of the objective that is rounding, not overshoot


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


def _gradient_root(
    theta: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    offset: np.ndarray,
    l2: np.ndarray,
    mask: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient (E, d) of `objective` and Z = √s·X (E, L, d), s = p (1 - p) per row (0 on
    padding): the Hessian is ZᵀZ + diag(l2)."""
    p = sigmoid(np.matmul(X, theta[..., None])[..., 0] + offset)
    r, s = p - y, p * (1.0 - p)
    if mask is not None:
        r, s = r * mask, s * mask
    g = np.matmul(r[:, None, :], X)[:, 0, :] + l2 * theta
    return g, X * np.sqrt(s)[..., None]


def _hessian(Z: np.ndarray, l2: np.ndarray) -> np.ndarray:
    H = np.matmul(np.swapaxes(Z, 1, 2), Z)
    H[:, np.arange(Z.shape[-1]), np.arange(Z.shape[-1])] += l2
    return H


def gradient_hessian(
    theta: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    offset: np.ndarray,
    l2: np.ndarray,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient (E, d) and Hessian (E, d, d) of `objective` for stacked entities (E, L, d)."""
    g, Z = _gradient_root(theta, X, y, offset, l2, mask)
    return g, _hessian(Z, l2)


def newton_step(g: np.ndarray, Z: np.ndarray, l2: np.ndarray) -> np.ndarray:
    """The Newton step H⁻¹g (E, d) for H = ZᵀZ + diag(l2), Z (E, L, d).

    With fewer rows L than features d and one l2 for all of them (a member's few labels),
    by the Woodbury identity H⁻¹g = (g - Zᵀ(l2·I + ZZᵀ)⁻¹Zg) / l2: an (L, L) solve in
    place of a (d, d) one."""
    rows, d = Z.shape[-2:]
    if rows >= d or np.any(l2 != l2[0]):
        return np.linalg.solve(_hessian(Z, l2), g[..., None])[..., 0]
    K = np.matmul(Z, np.swapaxes(Z, 1, 2))
    K[:, np.arange(rows), np.arange(rows)] += l2[0]
    Zg = np.matmul(Z, g[..., None])
    return (g - np.matmul(np.swapaxes(Z, 1, 2), np.linalg.solve(K, Zg))[..., 0]) / l2[0]


def newton(
    theta: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    offset: np.ndarray,
    l2: np.ndarray,
    steps: int,
    mask: np.ndarray | None = None,
    tol: float = TOLERANCE,
) -> tuple[np.ndarray, np.ndarray]:
    """At most `steps` Newton iterations from `theta`; returns (mode, diagonal of the
    Hessian there), the mean and precision of the Laplace posterior.

    Far from the mode a full logistic Newton step can overshoot and diverge (an entity
    with many labels whose logit must move by several units), so each entity's step is
    halved until its objective does not increase. An entity whose step promises less than
    `tol` (relative) is done after taking it: Newton converges quadratically, so the
    steps it skips would move it by the square of that one, and most entities of a warm
    start need one or two steps."""
    theta = theta.copy()
    current = objective(theta, X, y, offset, l2, mask)
    live = np.arange(len(theta))  # entities still moving
    for _ in range(steps):
        if len(live) == 0:
            break
        at = slice(None) if len(live) == len(theta) else live
        Xs, ys, os, ms = X[at], y[at], offset[at], None if mask is None else mask[at]
        g, Z = _gradient_root(theta[at], Xs, ys, os, l2, ms)
        step = newton_step(g, Z, l2)
        scale = np.ones(len(live))
        for _ in range(MAX_HALVINGS):
            trial = theta[at] - scale[:, None] * step
            after = objective(trial, Xs, ys, os, l2, ms)
            worse = after > current[at] + ROUNDING * (1.0 + np.abs(current[at]))
            if not worse.any():
                break
            scale = np.where(worse, 0.5 * scale, scale)
        # g · step is twice the decrease the quadratic model predicts
        moving = (g * step).sum(-1) > 2 * tol * (1.0 + np.abs(current[at]))
        theta[at], current[at] = trial, after
        live = live[moving]
    _, Z = _gradient_root(theta, X, y, offset, l2, mask)
    return theta, (Z * Z).sum(1) + l2  # the Hessian's diagonal


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
