import numpy as np
import pytest
from scipy.optimize import minimize

from models.newton import (
    fit_entities,
    gradient_hessian,
    group,
    newton,
    newton_step,
    objective,
)
from models.posterior import sigmoid


def stacked_problem(seed=0, e=3, rows=7, d=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(e, rows, d))
    y = (rng.random((e, rows)) < 0.4).astype(float)
    return X, y, rng.normal(size=(e, rows)), rng.normal(size=(e, d)), rng.uniform(0.5, 2, d)


def test_gradient_and_hessian_match_finite_differences():
    X, y, offset, theta, l2 = stacked_problem()
    g, H = gradient_hessian(theta, X, y, offset, l2)
    eps = 1e-6
    for j, step in enumerate(np.eye(theta.shape[1]) * eps):
        up, down = (
            objective(theta + step, X, y, offset, l2),
            objective(theta - step, X, y, offset, l2),
        )
        np.testing.assert_allclose(g[:, j], (up - down) / (2 * eps), rtol=1e-6, atol=1e-8)
        g_up, _ = gradient_hessian(theta + step, X, y, offset, l2)
        g_down, _ = gradient_hessian(theta - step, X, y, offset, l2)
        np.testing.assert_allclose(H[:, :, j], (g_up - g_down) / (2 * eps), rtol=1e-5, atol=1e-7)


def test_masked_padding_rows_do_not_count():
    X, y, offset, theta, l2 = stacked_problem()
    mask = np.ones(y.shape)
    mask[:, 5:] = 0.0
    g, H = gradient_hessian(theta, X, y, offset, l2, mask)
    g_cut, H_cut = gradient_hessian(theta, X[:, :5], y[:, :5], offset[:, :5], l2)
    np.testing.assert_allclose(g, g_cut)
    np.testing.assert_allclose(H, H_cut)


def test_newton_reaches_the_mode_where_full_steps_overshoot():
    # hundreds of labels per entity and logits several units from the start: a full Newton
    # step from zero overshoots and, unchecked, diverges (objective measured to triple)
    rng = np.random.default_rng(0)
    e, rows, d = 100, 500, 4
    truth = rng.normal(0.0, 1.5, (e, d))
    X = np.eye(d)[rng.integers(d, size=(e, rows))]
    offset = np.full((e, rows), -2.5)
    y = (rng.random((e, rows)) < sigmoid(offset + (X @ truth[..., None])[..., 0])).astype(float)
    l2 = np.ones(d)
    start = np.zeros((e, d))
    losses = [objective(newton(start, X, y, offset, l2, k)[0], X, y, offset, l2) for k in range(5)]
    assert (np.diff(losses, axis=0) <= 1e-9).all()
    g, _ = gradient_hessian(newton(start, X, y, offset, l2, 12)[0], X, y, offset, l2)
    assert np.abs(g).max() < 1e-6


def test_masked_padding_rows_do_not_count_in_the_objective():
    X, y, offset, theta, l2 = stacked_problem()
    mask = np.ones(y.shape)
    mask[:, 5:] = 0.0
    np.testing.assert_allclose(
        objective(theta, X, y, offset, l2, mask),
        objective(theta, X[:, :5], y[:, :5], offset[:, :5], l2),
    )


def test_group_covers_each_eligible_entity_rows_exactly_once():
    rng = np.random.default_rng(3)
    entity = rng.integers(50, size=2000) ** 2 % 50  # uneven counts
    blocks = group(entity, 50, min_examples=30)
    counts = np.bincount(entity, minlength=50)
    seen = np.concatenate([b.ents for b in blocks])
    assert sorted(seen) == sorted(np.flatnonzero(counts >= 30))
    for b in blocks:
        for e, rows, mask in zip(b.ents, b.rows, b.mask, strict=True):
            real = rows[mask > 0]
            assert sorted(real) == sorted(np.flatnonzero(entity == e))


def test_batched_solves_equal_independent_optimisations():
    rng = np.random.default_rng(4)
    n, d, n_entities = 900, 3, 6
    table = rng.normal(size=(20, d))
    table_row = rng.integers(20, size=n)
    entity = rng.integers(n_entities, size=n)
    y = (rng.random(n) < 0.3).astype(float)
    offset = rng.normal(size=n)
    blocks = group(entity, n_entities, min_examples=1)
    mean, precision = fit_entities(
        blocks, table, table_row, y, offset, 2.0, np.zeros((n_entities, d)), steps=8
    )
    for e in range(n_entities):
        rows = entity == e
        X = table[table_row[rows]][None]

        def f(t, X=X, rows=rows):
            return objective(t[None], X, y[rows][None], offset[rows][None], 2.0)[0]

        ref = minimize(f, np.zeros(d), method="BFGS", options={"gtol": 1e-10}).x
        np.testing.assert_allclose(mean[e], ref, atol=1e-6)
        _, H = gradient_hessian(ref[None], X, y[rows][None], offset[rows][None], np.full(d, 2.0))
        np.testing.assert_allclose(precision[e], np.diag(H[0]), rtol=1e-6)


@pytest.mark.parametrize("rows", [4, 12])  # fewer rows than features: the Woodbury route
def test_newton_step_solves_the_hessian_system(rows):
    rng = np.random.default_rng(5)
    Z, g = rng.normal(size=(6, rows, 9)), rng.normal(size=(6, 9))
    Z[:, -2:] = 0.0  # padding rows
    l2 = np.full(9, 3.0)
    H = np.swapaxes(Z, 1, 2) @ Z + np.diag(l2)
    expected = np.linalg.solve(H, g[..., None])[..., 0]
    np.testing.assert_allclose(newton_step(g, Z, l2), expected, rtol=1e-10)


def test_converged_entities_stop_where_every_step_would_have_left_them():
    X, y, offset, _, l2 = stacked_problem(e=40, rows=30, d=5)
    start = np.zeros((40, 5))
    stopped, precision = newton(start, X, y, offset, l2, 30)
    every, precision_every = newton(start, X, y, offset, l2, 30, tol=0.0)
    np.testing.assert_allclose(stopped, every, atol=1e-8)
    np.testing.assert_allclose(precision, precision_every, rtol=1e-8)
    # a tolerance far above the optimum's gap stops every entity after the first step
    assert np.array_equal(
        newton(start, X, y, offset, l2, 30, tol=1e9)[0], newton(start, X, y, offset, l2, 1)[0]
    )
