import numpy as np
import pytest

from models.newton import newton
from models.posterior import GaussianEffect, Posterior, sigmoid


def one_example_objective(theta, p, x, y, offset):
    z = theta @ x + offset
    return np.logaddexp(0.0, z) - y * z + 0.5 * np.sum(p.precision * (theta - p.mean) ** 2)


@pytest.mark.parametrize("y", [0, 1])
def test_learn_one_reaches_the_mode_of_prior_times_likelihood(y):
    rng = np.random.default_rng(0)
    x = rng.normal(size=5)
    p = Posterior(rng.normal(size=5).astype(np.float32), rng.uniform(0.5, 3, 5).astype(np.float32))
    prior = Posterior.from_bytes(p.to_bytes())
    GaussianEffect(newton_steps=8).learn_one(p, x, y, offset=0.3)
    theta = p.mean.astype(float)
    # gradient of the penalised objective by central finite differences vanishes at the mean
    eps = 1e-5
    grad = [
        (
            one_example_objective(theta + eps * e, prior, x, y, 0.3)
            - one_example_objective(theta - eps * e, prior, x, y, 0.3)
        )
        / (2 * eps)
        for e in np.eye(5)
    ]
    assert np.max(np.abs(grad)) < 1e-5


def test_scalar_newton_step_equals_full_newton_step():
    rng = np.random.default_rng(1)
    x = rng.normal(size=4)
    mean, precision = rng.normal(size=4), rng.uniform(0.5, 2, 4)
    p = Posterior(mean.astype(np.float32), precision.astype(np.float32))
    GaussianEffect(newton_steps=1).learn_one(p, x, 1, offset=-0.2)
    # one full Newton step on 1/2 (t-m)' diag(l) (t-m) + logloss, with a d x d solve
    q = sigmoid(x @ mean - 0.2)
    H = np.diag(precision) + q * (1 - q) * np.outer(x, x)
    step = mean - np.linalg.solve(H, (q - 1) * x)
    z = step @ x
    expected = mean - (sigmoid(z - 0.2) - 1) * x / precision  # then the closed-form mean
    np.testing.assert_allclose(p.mean, expected, rtol=1e-5, atol=1e-6)


def test_precision_gains_fisher_information():
    x = np.array([2.0, 0.0, -1.0])
    p = GaussianEffect(l2=1.0).learn_one(Posterior.prior(3, 1.0), x, 0, offset=0.0)
    q = sigmoid(float(p.mean @ x))
    np.testing.assert_allclose(p.precision, 1.0 + q * (1 - q) * x**2, rtol=1e-6)


def stream_and_batch(X, seed):
    """Incremental posterior after one pass over labels drawn from one planted entity, and
    the batch MAP on the same labels with the same L2 prior."""
    rng = np.random.default_rng(seed)
    n, d = X.shape
    offset = rng.normal(0, 0.5, n)
    y = (rng.random(n) < sigmoid(X @ rng.normal(0, 1, d) + offset)).astype(float)
    effect = GaussianEffect(l2=1.0)
    p = effect.prior(d)
    for i in range(n):
        effect.learn_one(p, X[i], int(y[i]), float(offset[i]))
    batch, _ = newton(np.zeros((1, d)), X[None], y[None], offset[None], np.ones(d), steps=10)
    return p.mean.astype(float), batch[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stream_from_one_entity_converges_to_the_batch_coefficients(seed):
    """Disjoint one-hot features (x_c's category block): one pass over 3000 labels lands
    within 0.05 of the batch MAP on every coefficient."""
    X = np.eye(6)[np.random.default_rng(seed).integers(6, size=3000)]
    online, batch = stream_and_batch(X, seed)
    assert np.max(np.abs(online - batch)) < 0.05


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stream_with_correlated_features_converges_to_the_batch_coefficients(seed):
    """A bias column overlapping the one-hots (x_c's layout) makes the raw split between
    bias and one-hots a matter of the prior, and the diagonal posterior splits it otherwise
    than the batch MAP (raw coefficients differ by up to ~0.2). What the data identify is
    the centred one-hot block (contrasts between categories) and the level (bias + block
    mean); together they give every logit, and both land near the batch MAP."""
    rng = np.random.default_rng(seed)
    X = np.hstack([np.ones((3000, 1)), np.eye(5)[rng.integers(5, size=3000)]])
    online, batch = stream_and_batch(X, seed)
    for theta in (online, batch):
        theta[0] += theta[1:].mean()  # level
        theta[1:] -= theta[1:].mean()  # contrasts
    assert np.max(np.abs(online[1:] - batch[1:])) < 0.03
    assert abs(online[0] - batch[0]) < 0.1


def test_precision_fades_toward_the_prior_with_the_half_life():
    """A label with x = 0 moves nothing but the fading: precision 5 -> 3 after one
    half-life toward l2 = 1; without a half-life, nothing fades."""
    for effect, expected in (
        (GaussianEffect(l2=1.0, half_life_days=10), [3.0, 1.0]),
        (GaussianEffect(l2=1.0), [5.0, 1.0]),
    ):
        p = Posterior(np.zeros(2, np.float32), np.array([5.0, 1.0], np.float32), updated_at=0)
        effect.learn_one(p, np.zeros(2), 1, offset=0.0, ts=10 * 86_400_000)
        np.testing.assert_allclose(p.precision, expected, rtol=1e-6)
        assert p.updated_at == 10 * 86_400_000


def test_forgetting_follows_a_drifting_preference():
    """After a member's taste flips, a forgetting learner predicts the new taste better."""
    x = np.array([1.0])
    fading, frozen = GaussianEffect(half_life_days=2.0), GaussianEffect()
    states = [fading.prior(1), frozen.prior(1)]
    for t in range(400):
        y = int(t < 300)  # clicks for 300 days, then never
        for effect, p in zip((fading, frozen), states, strict=True):
            effect.learn_one(p, x, y, offset=0.0, ts=t * 86_400_000)
    assert (
        fading.predict_proba_one(states[0], x, 0.0)
        < 0.2
        < frozen.predict_proba_one(states[1], x, 0.0)
    )


def test_thompson_samples_are_seeded_and_spread_by_the_precision():
    p = Posterior(np.array([1.0, -1.0], np.float32), np.array([100.0, 1.0], np.float32))
    effect = GaussianEffect()
    draws = np.array([effect.sample(p, np.random.default_rng(s)) for s in range(2000)])
    np.testing.assert_array_equal(
        effect.sample(p, np.random.default_rng(7)), effect.sample(p, np.random.default_rng(7))
    )
    np.testing.assert_allclose(draws.std(0), [0.1, 1.0], rtol=0.1)
    np.testing.assert_allclose(draws.mean(0), [1.0, -1.0], atol=0.1)


def test_posterior_bytes_round_trip_and_version_check():
    p = Posterior(np.array([0.5, -2.0], np.float32), np.array([1.5, 3.0], np.float32), 7, 123)
    raw = p.to_bytes()
    assert Posterior.from_bytes(raw) == p and len(raw) == 15 + 16
    with pytest.raises(ValueError, match="version 9"):
        Posterior.from_bytes(bytes([9]) + raw[1:])


def test_predict_proba_matches_predict_proba_one():
    p = Posterior(np.array([0.5, -2.0], np.float32), np.ones(2, np.float32))
    X = np.array([[1.0, 0.0], [0.3, 0.2]])
    effect = GaussianEffect()
    np.testing.assert_allclose(
        effect.predict_proba(p, X, 0.1), [effect.predict_proba_one(p, x, 0.1) for x in X]
    )


def test_learn_many_learns_each_entity_as_learn_one_does():
    rng = np.random.default_rng(4)
    effect = GaussianEffect(l2=2.0, half_life_days=3.0)
    X, y = rng.normal(size=(6, 4)), [1, 0, 0, 1, 1, 0]
    offset, ts = rng.normal(size=6).tolist(), [(i + 1) * 86_400_000 for i in range(6)]

    def entities():
        means = np.random.default_rng(5).normal(size=(6, 4)).astype(np.float32)
        return [
            Posterior(m, np.full(4, 3.0, np.float32), 0, i * 3_600_000) for i, m in enumerate(means)
        ]

    together = entities()
    before = [float(p.mean @ X[i]) for i, p in enumerate(together)]
    assert effect.learn_many(together, X, y, offset, ts) == pytest.approx(before, rel=1e-12)
    alone = [effect.learn_one(p, X[i], y[i], offset[i], ts[i]) for i, p in enumerate(entities())]
    assert [p.to_bytes() for p in together] == [p.to_bytes() for p in alone]
    assert all(p.n_seen == 1 and p.updated_at == t for p, t in zip(together, ts, strict=True))


def test_learn_many_learns_a_repeated_posterior_label_after_label():
    """One posterior's labels in one call are learned in order, as learn_one would."""
    rng = np.random.default_rng(6)
    effect = GaussianEffect(l2=2.0, half_life_days=3.0)
    X, y = rng.normal(size=(5, 3)), [1, 0, 1, 1, 0]
    offset, ts = rng.normal(size=5).tolist(), [7, 3, 9, 9, 20]  # out of order: no fading back

    def entity():
        return Posterior(np.array([0.2, -0.1, 0.4], np.float32), np.full(3, 3.0, np.float32))

    p = entity()
    margins = effect.learn_many([p] * 5, X, y, offset, [t * 86_400_000 for t in ts])
    q, before = entity(), []
    for i in range(5):
        before.append(float(q.mean.astype(float) @ X[i]))
        effect.learn_one(q, X[i], y[i], offset[i], ts[i] * 86_400_000)
    assert p.to_bytes() == q.to_bytes() and p.n_seen == 5 and p.updated_at == 20 * 86_400_000
    assert margins == pytest.approx(before, rel=1e-12)
